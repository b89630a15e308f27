import pytest

from harness import judge


@pytest.fixture(autouse=True)
def _judge_runtime():
    """Each test starts from the default judge knobs, with a short backoff (retries stay quick)."""
    saved = dict(judge.RUNTIME)
    judge.RUNTIME.update(backoff=0.01, timeout=5.0)
    yield
    judge.RUNTIME.clear()
    judge.RUNTIME.update(saved)
