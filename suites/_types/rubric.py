"""Open-ended answers graded against rubrics by a model judge (issue 25; HealthBench's layout and rule).

A document is a conversation and its criteria::

    {"id": ..., "messages": [{"role": "user", "content": ...}, ...],
     "criteria": [{"criterion": "Advises calling emergency services", "points": 8,
                   "tags": ["axis:completeness", "theme:emergency_referrals"]}, ...],
     "tags": ["theme:emergency_referrals"]}

(HealthBench's ``prompt`` / ``rubrics`` / ``example_tags`` / ``prompt_id`` are read as these; a ``docs:``
mapping can name other fields: ``fields: {messages: conversation, criteria: rubric_items}``.)

The variant answers the conversation through its chat template (option ``chat_template``, on by
default in ``_rubric_base.yaml``; without it the turns are written as ``role: text`` lines), with the
generation settings recorded in the run's protocol. Each criterion is then graded by the judge
(option ``judge``: mock | hf:<model> | http://host:port/v1, ``judge_model`` for an endpoint; see
``harness.judge``), whose id and prompt version are part of the protocol: runs graded by different
judges are never paired.

Scores (HealthBench's rule): per conversation, the points of the met criteria (negative points
subtract when met) over the total positive points, clipped to [0, 1] (``rubric_score``). A
criterion the judge failed on (``judge_failed``) is left out of both sums, never guessed; a
conversation with no positive points left has no score. Per tag: ``tag_score_<tag>`` is the same
ratio over the corpus's criteria with that tag (sum of met points / sum of positive points,
clipped), with a bootstrap CI over conversations and a paired bootstrap when two runs are compared.
``judge_failed``: the share of criteria without a verdict (reported, never compared).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.contract import Request
from harness.errors import MedtuneError
from harness.metrics import CORPUS, MEAN, MetricDef, declare
from harness.results import Sample
from suites._types.base import SuiteType

GEN_DEFAULTS = {"max_new_tokens": 512, "do_sample": False, "temperature": 1.0, "top_p": 1.0}
ROLES = ("system", "user", "assistant", "developer")


def _tag_ratio(met, pos, axis=-1):
    met_sum, pos_sum = np.sum(met, axis=axis), np.sum(pos, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(pos_sum > 0, met_sum / np.where(pos_sum > 0, pos_sum, 1.0), 0.0)
    return np.clip(ratio, 0.0, 1.0)


def criteria_of(doc: dict) -> list[dict]:
    raw = doc.get("criteria", doc.get("rubrics"))
    out = []
    for c in raw if isinstance(raw, list) else []:
        if not isinstance(c, dict):
            return []
        text = c.get("criterion", c.get("text"))
        points = c.get("points", c.get("score"))
        tags = c.get("tags") or []
        out.append({"criterion": text, "points": points, "tags": [str(t) for t in tags] if isinstance(tags, list) else tags})
    return out


def messages_of(doc: dict) -> list[dict]:
    raw = doc.get("messages", doc.get("prompt", doc.get("conversation")))
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    return [{"role": m.get("role"), "content": m.get("content")} for m in raw] if isinstance(raw, list) and all(
        isinstance(m, dict) for m in raw) else []


class Rubric(SuiteType):
    request_kinds = ("generate_until",)
    #: the shipped sample suite's data lives beside its YAML (harness.evaluate hashes it from there)
    shipped_data = Path(__file__).resolve().parents[1] / "rubric"
    metrics = declare(MetricDef("rubric_score", ("rubric_score",), None, test=MEAN, always=True),
                      MetricDef("tag_score", ("tag_met", "tag_pos"), _tag_ratio, test=CORPUS, per_label=True),
                      MetricDef("judge_failed", ("judge_failed",), None, higher_is_better=False, test=None, always=True))

    def __init__(self, suite):
        super().__init__(suite)
        opts = suite.options
        where = f"suite {suite.name}: option"
        self.gen = {k: opts.get(k, v) for k, v in GEN_DEFAULTS.items()}
        n = self.gen["max_new_tokens"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise MedtuneError(f"{where} 'max_new_tokens' is {n!r}, expected an integer >= 1")
        if not isinstance(self.gen["do_sample"], bool):
            raise MedtuneError(f"{where} 'do_sample' is {self.gen['do_sample']!r}, expected true or false")
        from harness.judge import judge_id

        spec = opts.get("judge", "mock")
        if not isinstance(spec, str) or not spec.strip():
            raise MedtuneError(f"{where} 'judge' is {spec!r}, expected mock, hf:<model> or http://host:port/v1")
        self.judge_spec, self.judge_model = spec.strip(), opts.get("judge_model") or None
        self.judge_id = judge_id(self.judge_spec, self.judge_model)
        self.judge = None  # made (and checked) when a model is bound, before anything is generated
        self.store = None  # the results DB: the judge cache (harness.evaluate binds it)
        self.tags: list[str] = []
        self._verdicts: dict = {}

    # -- documents ------------------------------------------------------------------------------
    def check_document(self, doc: dict) -> str | None:
        msgs = messages_of(doc)
        if not msgs or any(m["role"] not in ROLES or not isinstance(m["content"], str) for m in msgs):
            return ("without a conversation: 'messages' (or HealthBench's 'prompt') must be a list of "
                    "{role: system|user|assistant, content: text}")
        crit = criteria_of(doc)
        if not crit:
            return "without criteria: 'criteria' (or 'rubrics') must be a list of {criterion, points, tags}"
        for i, c in enumerate(crit):
            if not isinstance(c["criterion"], str) or not c["criterion"].strip():
                return f"with criterion {i} without its text ('criterion')"
            if isinstance(c["points"], bool) or not isinstance(c["points"], (int, float)) or c["points"] == 0:
                return f"with criterion {i} worth {c['points']!r} points, expected a non-zero number"
            if not isinstance(c["tags"], list):
                return f"with criterion {i} whose tags are {c['tags']!r}, expected a list of strings"
        return None

    # -- protocol -------------------------------------------------------------------------------
    def protocol(self) -> dict:
        from harness.judge import PROMPT_VERSION
        from suites._types.generative import generation_protocol

        return {"extraction": f"rubric judge={self.judge_id} prompt={PROMPT_VERSION}",
                "generation": generation_protocol(self),
                "templates": {"rubric_prompt": "chat" if self.suite.options.get("chat_template") else "role-lines"}}

    def check_model(self, lm, docs=None) -> None:
        from harness.judge import make_judge
        from suites._chat import bind

        bind(self.suite, lm)
        self.tags = sorted({t for d in docs or [] for c in criteria_of(d) for t in c["tags"]})
        if self.judge is None:
            self.judge = make_judge(self.judge_spec, self.judge_model)
            self.judge.check()

    def bind_store(self, store) -> None:
        self.store = store

    # -- requests -------------------------------------------------------------------------------
    def prompt(self, doc: dict) -> str:
        msgs = messages_of(doc)
        system = self.suite.options.get("system_prompt")
        if system and not any(m["role"] == "system" for m in msgs):
            msgs = [{"role": "system", "content": system}] + msgs
        if self.suite.chat is not None:
            return self.suite.chat.apply(msgs, add_generation_prompt=True)
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in msgs) + "\n\nassistant:"

    def requests(self, doc_index, doc):
        sampling = ()
        if self.gen["do_sample"]:
            sampling = (("do_sample", True), ("temperature", float(self.gen["temperature"])),
                        ("top_p", float(self.gen["top_p"])), ("seed", int(self.suite.seed)))
        args = (self.prompt(doc), (), int(self.gen["max_new_tokens"]))
        return [Request("generate_until", doc_index, 0, args + ((sampling,) if sampling else ()))]

    # -- judging --------------------------------------------------------------------------------
    def _items(self, doc: dict, response: str):
        from harness.judge import Item

        msgs = tuple(messages_of(doc))
        return [Item(msgs, response, c["criterion"], float(c["points"])) for c in criteria_of(doc)]

    def judge_docs(self, pairs) -> None:
        """Grade every criterion of a chunk of documents at once (the engine calls it before ``score``)."""
        from harness.judge import grade, make_judge

        if self.judge is None:
            self.judge = make_judge(self.judge_spec, self.judge_model)
            self.judge.check()
        items = [item for doc, responses in pairs for item in self._items(doc, responses["generate_until"][0])]
        for item, verdict in zip(items, grade(self.judge, items, store=self.store)):
            self._verdicts[(item.criterion_sha, item.response_sha)] = verdict

    # -- scoring --------------------------------------------------------------------------------
    def score(self, doc, responses):
        response = responses["generate_until"][0]
        items = self._items(doc, response)
        if any((i.criterion_sha, i.response_sha) not in self._verdicts for i in items):
            self.judge_docs([(doc, responses)])
        graded, met_pts, pos_pts, failed = [], 0.0, 0.0, 0
        tag_met = {t: 0.0 for t in self.tags}
        tag_pos = {t: 0.0 for t in self.tags}
        for c, item in zip(criteria_of(doc), items):
            v = self._verdicts.pop((item.criterion_sha, item.response_sha))
            graded.append({"criterion": c["criterion"], "points": c["points"], "tags": c["tags"], **v.to_dict(),
                           "cached": v.cached})
            if v.failed:
                failed += 1
                continue
            pts = float(c["points"])
            met_pts += pts if v.met else 0.0
            pos_pts += max(pts, 0.0)
            for t in c["tags"]:
                tag_met[t] = tag_met.get(t, 0.0) + (pts if v.met else 0.0)
                tag_pos[t] = tag_pos.get(t, 0.0) + max(pts, 0.0)
        scores = {"judge_failed": failed / len(items)}
        value = None
        if pos_pts > 0:
            value = float(min(1.0, max(0.0, met_pts / pos_pts)))
            scores["rubric_score"] = value
        for t in self.tags:
            scores[f"tag_met_{t}"], scores[f"tag_pos_{t}"] = tag_met[t], tag_pos[t]
        return Sample(doc_id=str(doc["id"]), target=None, prediction=response, correct=None,
                      score=value if value is not None else 0.0, scores=scores,
                      record={"messages": messages_of(doc), "response": response, "criteria": graded,
                              "judge": self.judge_id, "met_points": met_pts, "positive_points": pos_pts,
                              "example_tags": doc.get("tags") or doc.get("example_tags") or []})

    def metric_names(self, samples):
        names = super().metric_names(samples)
        tags = sorted({k[len("tag_pos_"):] for s in samples for k in s.scores if k.startswith("tag_pos_")})
        return names + [f"tag_score_{t}" for t in tags if f"tag_score_{t}" not in names]
