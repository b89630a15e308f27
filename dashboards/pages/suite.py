"""Per-sample diff of two variants on one suite: which items flipped, and why (prompt, options, scores)."""

import pandas as pd
import streamlit as st

from dashboards import data, ui
from harness.stats import mcnemar_test

st.title("Suite drill-down")
store = ui.open_store()
scores = ui.require(ui.safe(data.latest_scores, store), f"No results tables yet. Run `{ui.EVAL_HINT}`.",
                    f"No runs yet. Run `{ui.EVAL_HINT}`.")

suite = st.selectbox("Suite", sorted(scores["suite"].unique()), key="suite")
names = ui.safe(data.suite_variants, store, suite)
if len(names) < 2:
    st.info(f"Only {len(names)} variant scored on {suite}: score a second one to compare, e.g. "
            f"`medtune eval --variant OTHER --suite {suite}` with the same --limit.")
    st.stop()
c1, c2 = st.columns(2)
a = c1.selectbox("Variant A (reference)", names, index=0, key="a")
b = c2.selectbox("Variant B", names, index=1 if names[0] == a else 0, key="b")
diff = ui.safe(data.sample_diff, store, suite, a, b)
both = diff.dropna(subset=["pred_a", "pred_b"])
if len(both) < len(diff):
    st.warning(f"{len(diff) - len(both)} items were scored by only one of the two variants "
               "(different --limit?); they are left out of the comparison.")
if both.empty:
    st.info("The two runs share no items.")
    st.stop()

ca, cb = both["correct_a"].astype("boolean"), both["correct_b"].astype("boolean")
binary = ca.notna().all() and cb.notna().all()
if binary:
    gained, lost = int((~ca & cb).sum()), int((ca & ~cb).sum())
    test = mcnemar_test(cb.to_numpy(bool), ca.to_numpy(bool))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Items", len(both))
    m2.metric(f"Fixed by {b}", gained)
    m3.metric(f"Broken by {b}", lost)
    m4.metric("McNemar p", f"{test.p_value:.3g}")
    flipped = both[ca != cb]
else:
    flipped = both[(both["score_a"] - both["score_b"]).abs() > 1e-9]
    st.metric("Items whose score changed", len(flipped))

show = st.radio("Show", ["flipped", "all"], horizontal=True, key="show")
table = (flipped if show == "flipped" else both)[["doc_id", "target", "pred_a", "pred_b", "correct_a", "correct_b",
                                                  "score_a", "score_b"]]
st.dataframe(table, hide_index=True, width="stretch")
if table.empty:
    st.info("No item flipped between the two variants.")
    st.stop()

doc = st.selectbox("Item", list(table["doc_id"]), key="doc")
item = both[both["doc_id"] == doc].iloc[0]
rec_a, rec_b = data.loads(item["record_a"]) or {}, data.loads(item["record_b"]) or {}
if rec_a.get("prompt"):
    st.text_area("Prompt", rec_a["prompt"], height=160, disabled=True, key="prompt")
st.write(f"**Target:** `{item['target']}` · **{a}:** `{item['pred_a']}` · **{b}:** `{item['pred_b']}`")
options = rec_a.get("options") or rec_b.get("options")
if options:
    st.dataframe(pd.DataFrame({
        "option": options,
        f"loglik {a}": rec_a.get("loglikelihoods"),
        f"loglik {b}": rec_b.get("loglikelihoods"),
        "gold": [str(i) == str(item["target"]) for i in range(len(options))],
    }), hide_index=True, width="stretch")
ents_a, ents_b = rec_a.get("entities") or {}, rec_b.get("entities") or {}
if ents_a or ents_b:  # NER: the sentence, then gold and each variant's predicted entities
    if rec_a.get("words"):
        st.text_area("Sentence", " ".join(rec_a["words"]), height=90, disabled=True, key="sentence")

    def spans(entities):
        return {(e.get("start"), e.get("end"), e.get("type")): e.get("text") for e in entities or []}

    gold, pa, pb = spans(ents_a.get("gold")), spans(ents_a.get("predicted")), spans(ents_b.get("predicted"))
    rows = [{"entity": text, "type": key[2], "span": f"{key[0]}-{key[1]}", "gold": key in gold,
             a: key in pa, b: key in pb} for key, text in {**gold, **pa, **pb}.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
with st.expander("Raw records"):
    c1, c2 = st.columns(2)
    c1.json(rec_a)
    c2.json(rec_b)
