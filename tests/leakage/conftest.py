"""Tiny models run single-threaded here: on a loaded 2-core box, torch's thread hand-offs cost more
than the 32-wide matrix products they split."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
