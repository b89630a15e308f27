"""What every judge shares: the interface, the runtime knobs, the id a judge is recorded under."""

from __future__ import annotations

from harness.errors import MedtuneError

#: runtime knobs (not part of a run's key: they change how fast, never what, is graded)
RUNTIME = {"concurrency": 8, "timeout": 60.0, "retries": 3, "key_env": None, "backoff": 0.5}


def configure(**kwargs) -> None:
    """Set runtime knobs (``--judge-concurrency``, ``--judge-timeout``, ``--judge-retries``, ``--judge-key-env``)."""
    for key, value in kwargs.items():
        if key not in RUNTIME:
            raise MedtuneError(f"judge setting {key!r}: expected one of {', '.join(RUNTIME)}")
        if value is None:
            continue
        if key == "concurrency" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise MedtuneError(f"--judge-concurrency {value}: expected an integer >= 1")
        if key == "timeout" and not (isinstance(value, (int, float)) and value > 0):
            raise MedtuneError(f"--judge-timeout {value}: expected seconds > 0")
        if key == "retries" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise MedtuneError(f"--judge-retries {value}: expected an integer >= 0")
        RUNTIME[key] = value


class JudgeUnavailable(Exception):
    """The judge cannot be reached at all (connection refused, unknown host): the run stops with one line."""


class Judge:
    """``id`` names the judge in run protocols and the cache; ``complete`` answers many prompts."""

    id: str = "judge"
    #: the reply starts with this text (a local model is primed with it; it is put back before parsing)
    prefill: str = ""
    #: asking again can give another reply (an endpoint); a greedy local model would repeat itself
    repeatable: bool = True

    def check(self) -> None:
        """Before anything is generated: a one-line error when the judge cannot work (endpoint down)."""

    def complete(self, prompts: list[list[dict]]) -> list:
        """Each prompt's raw reply text, or an Exception for a call that failed after its retries."""
        raise NotImplementedError


def judge_id(spec: str, model: str | None = None) -> str:
    """The id a judge is recorded under (without loading it): the endpoint and its model, never a key."""
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        return f"{spec.rstrip('/')}|{model or 'default'}"
    return spec
