"""Generated answers: one ``generate_until`` request per document, an extraction rule, and metrics.

The prompt is the suite's (plain, or through the model's chat template with option
``chat_template: true``; few-shot examples answered with the ``fewshot_target`` template, as
separate chat turns when chat). Generation: greedy, or seeded sampling (``do_sample``,
``temperature``, ``top_p``; the seed is the run's), stopped at any of ``until`` or after
``max_new_tokens``. The answer is extracted by ``extract`` (``suites._extract``: letter, choice,
text or ``regex:<pattern>``) and compared with the gold ``answer`` (``letter``: the gold option's
letter, ``choice``: its text, else a document field).

Per sample: the generation, the extracted answer, how it was found or why extraction failed.
Metrics: ``acc`` / ``exact_match`` (extracted == gold, normalised; a failed extraction is wrong),
``extraction_failed`` (the share of generations with no answer; always reported), and one metric
per ``evaluate`` entry: ``{module: <local .py path or hub id>, name: rougeL, key: rougeL,
reference: long_answer, prediction: generation | extracted, higher_is_better: true}``, computed per
sample with the ``evaluate`` package and averaged with a bootstrap CI.
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.contract import Request
from harness.errors import MedtuneError
from harness.metrics import MCNEMAR, MetricDef, declare, mean_of
from harness.results import Sample
from suites._extract import LETTERS, Extractor, normalise
from suites._types.base import SuiteType

GEN_DEFAULTS = {"max_new_tokens": 256, "until": [], "do_sample": False, "temperature": 1.0, "top_p": 1.0}


class Generative(SuiteType):
    request_kinds = ("generate_until",)
    metrics = declare(mean_of("acc", test=MCNEMAR), mean_of("exact_match", test=MCNEMAR),
                      MetricDef("extraction_failed", ("extraction_failed",), None, higher_is_better=False, test=None,
                                always=True))

    def __init__(self, suite):
        super().__init__(suite)
        opts = suite.options
        where = f"suite {suite.name}: option"
        self.extractor = Extractor(opts.get("extract", "letter"), f"{where} 'extract'")
        self.answer = opts.get("answer", "letter")
        if not isinstance(self.answer, str) or not self.answer:
            raise MedtuneError(f"{where} 'answer' is {self.answer!r}, expected letter, choice or a document field")
        self.gen = {k: opts.get(k, v) for k, v in GEN_DEFAULTS.items()}
        until = self.gen["until"]
        if isinstance(until, str):
            until = [until]
        if not isinstance(until, list) or not all(isinstance(u, str) and u for u in until):
            raise MedtuneError(f"{where} 'until' is {until!r}, expected a list of non-empty stop strings")
        self.gen["until"] = until
        n = self.gen["max_new_tokens"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise MedtuneError(f"{where} 'max_new_tokens' is {n!r}, expected an integer >= 1")
        if not isinstance(self.gen["do_sample"], bool):
            raise MedtuneError(f"{where} 'do_sample' is {self.gen['do_sample']!r}, expected true or false")
        for k in ("temperature", "top_p"):
            v = self.gen[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or (k == "top_p" and v > 1):
                raise MedtuneError(f"{where} '{k}' is {v!r}, expected a number > 0" + (" and <= 1" if k == "top_p" else ""))
        self.scorers = [_EvaluateMetric(e, f"{where} 'evaluate'") for e in _entries(opts.get("evaluate"), where)]

    # -- protocol -----------------------------------------------------------------------------
    def protocol(self) -> dict:
        return {"extraction": f"{self.extractor.rule} -> {self.answer}", "generation": generation_protocol(self),
                "templates": {"fewshot_target": self.suite.options.get("fewshot_target")}}

    def check_model(self, lm, docs=None) -> None:
        """Before scoring: bind the model's chat template when the suite asks for it (one-line error if none)."""
        from suites._chat import bind

        bind(self.suite, lm)

    # -- requests ---------------------------------------------------------------------------------
    def target_text(self, doc: dict) -> str:
        """A few-shot example's answer (the ``fewshot_target`` template; default: the gold answer)."""
        template = self.suite.options.get("fewshot_target")
        text = self.suite.render(template, doc, "options.fewshot_target") if template else self.gold(doc)
        return self.suite.spec.target_delimiter + text

    def sampling(self, doc_index: int) -> tuple:
        if not self.gen["do_sample"]:
            return ()
        return (("do_sample", True), ("temperature", float(self.gen["temperature"])),
                ("top_p", float(self.gen["top_p"])), ("seed", int(self.suite.seed)))

    def requests(self, doc_index, doc):
        args = (self.suite.prompt(doc), tuple(self.gen["until"]), int(self.gen["max_new_tokens"]))
        sampling = self.sampling(doc_index)
        return [Request("generate_until", doc_index, 0, args + ((sampling,) if sampling else ()))]

    # -- scoring ----------------------------------------------------------------------------------
    def gold(self, doc: dict) -> str:
        if self.answer == "letter":
            return LETTERS[int(doc["gold"])]
        if self.answer == "choice":
            return doc["choices"][int(doc["gold"])]
        if self.answer not in doc:
            raise MedtuneError(f"suite {self.suite.name}: option 'answer' names field {self.answer!r}, "
                               f"which document {doc.get('id')} does not have")
        return str(doc[self.answer])

    def score(self, doc, responses):
        generation = responses["generate_until"][0]
        found = self.extractor(generation, doc.get("choices"))
        gold = self.gold(doc)
        correct = found.answer is not None and found.answer == normalise(gold)
        scores = {"acc": float(correct), "exact_match": float(correct), "extraction_failed": float(found.answer is None)}
        for scorer in self.scorers:
            scores[scorer.name] = scorer(generation, found.answer, doc)
        return Sample(doc_id=str(doc["id"]), target=gold, prediction=found.answer, correct=correct, score=float(correct),
                      scores=scores,
                      record={"prompt": self.suite.prompt(doc), "generation": generation, "extracted": found.answer,
                              "extraction": found.how or None, "extraction_failure": found.failure, "gold": gold})

    def metric(self, name: str):
        for scorer in self.scorers:
            if scorer.name == name:
                return mean_of(name, scorer.higher_is_better)
        return super().metric(name)

    def metric_names(self, samples):
        names = super().metric_names(samples)
        return names + [s.name for s in self.scorers if s.name not in names]


def _entries(value, where: str) -> list[dict]:
    if value in (None, [], {}):
        return []
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        raise MedtuneError(f"{where} 'evaluate' is {value!r}, expected a list of modules")
    return [{"module": v} if isinstance(v, str) else v for v in value]


class _EvaluateMetric:
    """One ``evaluate`` metric module, loaded once (a local .py path offline, or a hub id), scored per sample."""

    KEYS = {"module", "name", "key", "reference", "prediction", "higher_is_better"}

    def __init__(self, entry, where: str):
        if not isinstance(entry, dict) or "module" not in entry or set(entry) - self.KEYS:
            raise MedtuneError(f"{where}: {entry!r} is not a metric entry (keys: module, and optionally "
                               "name, key, reference, prediction, higher_is_better)")
        module = str(entry["module"])
        self.key = entry.get("key")
        self.name = entry.get("name") or self.key or Path(module).stem
        self.reference = entry.get("reference", "gold")
        self.prediction = entry.get("prediction", "generation")
        if self.prediction not in ("generation", "extracted"):
            raise MedtuneError(f"{where}: prediction is {self.prediction!r}, expected generation or extracted")
        self.higher_is_better = bool(entry.get("higher_is_better", True))
        self.module = load_evaluate_module(module, where)

    def __call__(self, generation: str, extracted: str | None, doc: dict) -> float:
        pred = (generation or "").strip() if self.prediction == "generation" else (extracted or "")
        if self.reference == "gold":
            ref = doc["choices"][int(doc["gold"])] if "choices" in doc else str(doc.get("gold", ""))
        else:
            ref = str(doc.get(self.reference, ""))
        out = self.module.compute(predictions=[pred], references=[ref])
        value = out.get(self.key or self.name) if isinstance(out, dict) else out
        if value is None and isinstance(out, dict) and len(out) == 1:
            value = next(iter(out.values()))
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise MedtuneError(f"evaluate module {self.name}: returned {out!r}, no number under {self.key or self.name!r} "
                               "(set key: in the entry)") from None
        return value if math.isfinite(value) else 0.0


def load_evaluate_module(module: str, where: str):
    """``evaluate.load`` of a local script path or a hub id; any failure is one line (offline: no hub)."""
    try:
        import evaluate
    except ImportError:
        raise MedtuneError(f"{where}: the 'evaluate' package is not installed (pip install evaluate)") from None
    local = Path(module).expanduser()
    if module.endswith(".py") and not local.is_file():
        raise MedtuneError(f"{where}: evaluate module {module} does not exist")
    try:
        return evaluate.load(str(local) if local.exists() else module)
    except Exception as exc:  # noqa: BLE001 - evaluate raises many kinds (FileNotFoundError, ConnectionError, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MedtuneError(f"{where}: evaluate module {module!r} cannot be loaded ({first[:200]}); offline, give "
                           "the path of a local metric script (.py)") from None


def generation_protocol(suite_type) -> dict:
    """The generation settings a run records: the seed when sampling, no temperature/top_p when greedy."""
    gen = dict(suite_type.gen)
    if gen["do_sample"]:
        gen["seed"] = suite_type.suite.seed
    else:
        gen.pop("temperature"), gen.pop("top_p")
    return gen
