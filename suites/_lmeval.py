"""An lm-eval task as a medtune suite: ``--suite lmeval:TASK`` (lm-eval's own tasks, or tasks in the
folders of ``--lmeval-include`` / ``MEDTUNE_LMEVAL_INCLUDE``), or an lm-eval task YAML by path.

The suite is named ``lmeval:TASK``, of family ``lmeval`` and type ``lmeval``; its documents are the
task's evaluation documents (read when the evaluation is planned, before a model is loaded: a missing
dataset is one line). ``harness/lmeval_tasks.py`` scores it through ``lm_eval.simple_evaluate`` on the
loaded model and stores every sample and metric like a native suite's. The version hashes the task
file (and the lm-eval version); the run key's data hash covers the task's local data files.
"""

from __future__ import annotations

import hashlib
from functools import cached_property, lru_cache
from pathlib import Path

from harness.errors import MedtuneError
from suites._spec import DataSpec, SuiteSpec

PREFIX = "lmeval:"


class _Type:
    """What the evaluation plan asks of a suite type (one request per document, for progress)."""

    request_kinds = ()
    model_kinds = ("causal",)

    def __init__(self, suite):
        self.suite = suite

    def requests(self, doc_index: int, doc: dict) -> list:
        return [doc_index]


class LmevalSuite:
    """Duck-types ``suites.Suite`` for the evaluation plan and the store; ``lmeval_task`` marks it."""

    def __init__(self, task: str, include: list[Path], num_fewshot: int | None = None, seed: int = 1234,
                 data_root: Path | str | None = None):
        import lm_eval

        self.task, self.include = task, [Path(p) for p in include]
        self.num_fewshot, self.seed, self.options = num_fewshot, seed, {}
        self.data_root = Path(data_root) if data_root is not None else None
        self.path: Path | None = None
        include = tuple(str(p.resolve()) for p in self.include)
        self.manager = _manager(include, False) if include else None  # the user's folders alone: instant
        entry = self.manager.task_index.get(task) if self.manager else None
        if entry is None:  # lm-eval's own tasks: indexing them reads ~15k files (seconds)
            self.manager = _manager(include, True)
            entry = self.manager.task_index.get(task)
        if entry is None:
            where = f" (looked in lm-eval's tasks and {', '.join(map(str, self.include))})" if self.include else \
                " (a task of your own: --lmeval-include FOLDER, or --suite path/to/task.yaml)"
            raise MedtuneError(f"unknown lm-eval task {task!r}{where}")
        if getattr(entry.kind, "name", "TASK") != "TASK":
            raise MedtuneError(f"lm-eval {task!r} is a {entry.kind.name.lower()}, not a task: name one of its tasks")
        self.path = Path(entry.yaml_path) if entry.yaml_path else None
        cfg = dict(entry.cfg or {})
        files = _data_files(cfg)
        h = hashlib.sha256(f"lm-eval {lm_eval.__version__}\0{task}\0".encode())
        if self.path is not None and self.path.is_file():
            h.update(self.path.read_bytes())
        self.version = h.hexdigest()[:16]
        self.metric_list = [m for m in cfg.get("metric_list") or [] if isinstance(m, dict) and "metric" in m]
        self.spec = SuiteSpec(
            name=PREFIX + task, family="lmeval", type="lmeval", process_docs="lm_eval",
            description=f"lm-eval task {task}" + (f" ({self.path})" if self.path else ""),
            data=DataSpec(path=str(files[0] if files else (self.path or task)), format="lmeval",
                          extra={f"file{i}": str(f) for i, f in enumerate(files[1:], 1)}),
            metrics=[str(m["metric"]) for m in self.metric_list] or ["acc"])
        self.type = _Type(self)

    lmeval_task = True

    @property
    def name(self) -> str:
        return self.spec.name

    def settings(self) -> dict:
        return {"options": {}, "num_fewshot": self.num_fewshot, "seed": self.seed}

    @cached_property
    def task_object(self):
        """lm-eval's Task (its dataset loaded): built once, at planning time."""
        from lm_eval.tasks import get_task_dict

        try:
            return get_task_dict([self.task], self.manager)[self.task]
        except Exception as exc:  # the dataset is missing/unreachable, a bad task file, ...
            raise MedtuneError(f"lm-eval task {self.task}: cannot be loaded ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:300]})") from None

    def docs(self, data_root: Path | None = None, limit: int | None = None) -> list[dict]:
        docs = [{"id": str(i), "doc": d} for i, d in enumerate(self.task_object.eval_docs)]
        if not docs:
            raise MedtuneError(f"lm-eval task {self.task}: no documents")
        return docs[:limit] if limit else docs


@lru_cache(maxsize=8)
def _manager(include: tuple[str, ...], defaults: bool):
    """lm-eval's task index (``include``, plus its own tasks if ``defaults``): built once per process."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include) or None, include_defaults=defaults, verbosity="ERROR")


def _data_files(cfg: dict) -> list[Path]:
    """The local files of ``dataset_kwargs.data_files`` (for the run key's data hash)."""
    files = (cfg.get("dataset_kwargs") or {}).get("data_files")
    if isinstance(files, dict):
        files = [f for v in files.values() for f in (v if isinstance(v, list) else [v])]
    elif isinstance(files, str):
        files = [files]
    return [Path(f) for f in files or [] if isinstance(f, str) and Path(f).is_file()]


def load_lmeval_suite(task: str, include: list[Path], options: dict | None = None, num_fewshot: int | None = None,
                      seed: int = 1234, data_root: Path | str | None = None) -> LmevalSuite:
    if options:
        raise MedtuneError(f"suite {PREFIX}{task}: an lm-eval task takes no --option ({sorted(options)[0]!r})")
    return LmevalSuite(task, include, num_fewshot=num_fewshot, seed=seed, data_root=data_root)
