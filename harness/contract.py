"""The narrow model contract between suites and backends.

Suites never call models. A suite turns each document into *requests*; the engine groups
requests by kind and makes one batched call per kind on the backend; the suite's scorer then
turns the responses back into per-sample scores. Kinds (as in lm-eval's ``Instance`` types):

- ``loglikelihood``: log P(continuation | context) and whether it is the greedy continuation.
  Requests of one document that share a ``context`` are scored with the context computed once.
- ``loglikelihood_rolling``: total log-likelihood of a whole text (perplexity suites).
- ``generate_until``: greedy generation from a prompt until a stop string or a token budget.
- ``token_labels``: per-word label predictions of a token-classification model (NER suites).
- ``token_logprobs``: per-token log-probabilities of a text (at most ``max_tokens`` tokens, scored
  after the BOS/EOS prefix token), with the mean and standard deviation of log p over the model's
  whole next-token distribution at each position (what Min-K%++ membership inference needs).

A backend implements any subset; ``supports(kind)`` says which. New kinds are added here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

KINDS = ("loglikelihood", "loglikelihood_rolling", "generate_until", "token_labels", "token_logprobs")


@dataclass(frozen=True)
class Request:
    """One call into a model. ``doc_index`` and ``index`` let the engine route the response back."""

    kind: str
    doc_index: int
    index: int  # position among the document's requests of this kind (e.g. option number)
    args: tuple


def loglikelihood(doc_index: int, index: int, context: str, continuation: str) -> Request:
    return Request("loglikelihood", doc_index, index, (context, continuation))


def loglikelihood_rolling(doc_index: int, text: str) -> Request:
    return Request("loglikelihood_rolling", doc_index, 0, (text,))


def generate_until(doc_index: int, prompt: str, until: Sequence[str] = (), max_new_tokens: int = 64) -> Request:
    return Request("generate_until", doc_index, 0, (prompt, tuple(until), int(max_new_tokens)))


def token_labels(doc_index: int, words: Sequence[str]) -> Request:
    return Request("token_labels", doc_index, 0, (tuple(words),))


def token_logprobs(doc_index: int, text: str, max_tokens: int = 128) -> Request:
    return Request("token_logprobs", doc_index, 0, (text, int(max_tokens)))


@dataclass
class TokenLogprobs:
    """Per scored token t: log p(x_t | x_<t), and the mean / std of log p(z) over the vocabulary at t."""

    logprob: Any  # 1-D float array (numpy), one entry per scored token
    mean: Any
    std: Any


@dataclass
class LoglikelihoodResult:
    logprob: float  # sum of log-probabilities of the continuation tokens
    is_greedy: bool  # every continuation token is the argmax
    n_tokens: int  # continuation length in tokens


@dataclass
class RollingResult:
    logprob: float  # sum over every token of the text
    n_tokens: int


@dataclass
class ModelInfo:
    """What the store records about the backend that produced a run."""

    name: str
    path: str
    kind: str  # "causal" | "encoder"
    dtype: str
    device: str
    n_params: int
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LanguageModel(Protocol):
    info: ModelInfo

    def supports(self, kind: str) -> bool: ...

    def loglikelihood(self, requests: list[Request], progress=None) -> list[LoglikelihoodResult]: ...

    def loglikelihood_rolling(self, requests: list[Request], progress=None) -> list[RollingResult]: ...

    def generate_until(self, requests: list[Request], progress=None) -> list[str]: ...

    def token_labels(self, requests: list[Request], progress=None) -> list[list[str]]: ...

    def token_logprobs(self, requests: list[Request], progress=None) -> list[TokenLogprobs]: ...
