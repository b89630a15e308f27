"""One suite: what each variant answers (answer distribution, majority-class baseline, reliability diagram),
then the per-sample diff of two variants: which items flipped, and why (prompt, options, scores)."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards import data, ui
from harness import prior
from harness.stats import ECE_BINS, mcnemar_test

st.title("Suite drill-down")
store = ui.open_store()
scores = ui.require(ui.safe(data.latest_scores, store), f"No results tables yet. Run `{ui.EVAL_HINT}`.",
                    f"No runs yet. Run `{ui.EVAL_HINT}`.")

suite = st.selectbox("Suite", sorted(scores["suite"].unique()), key="suite")


def answers_and_calibration(answers: pd.DataFrame | None) -> None:
    """Per variant (latest run): the commonest answer and its share against the gold share, the majority-class
    baseline and whether the run beats it, and the reliability diagram of the options' probabilities."""
    st.subheader("Answers and calibration")
    rows, curves = [], []
    for variant, items in (answers.groupby("variant", sort=True) if answers is not None else []):
        items = items.reset_index(drop=True)
        mix, rel = prior.answer_mix(items), prior.reliability(items)
        if mix is not None:
            rows.append({"variant": variant, "commonest answer": mix.name(mix.top), "chosen on": mix.top_share,
                         "gold share": mix.top_gold_share, "acc": mix.acc,
                         "majority baseline": mix.majority_acc, "always answers": mix.name(mix.majority),
                         "beats it": "yes" if mix.beats() else "no", "p": mix.p_value, "n": mix.n,
                         "ECE": rel.ece if rel is not None else None})
            if mix.collapsed:
                st.warning(f"**{variant}** {mix.answers_text()}; {mix.baseline_text()}. Its score on {suite} may "
                           "be the label prior, not the task.")
        if rel is not None:
            curves.append((variant, rel))
    if not rows:
        st.caption(f"No answers to count on {suite}: only multiple-choice and generated-label runs have an answer "
                   "distribution (not perplexity, NER or free-text answers).")
        return
    st.caption(f"Latest run per variant. The majority baseline always answers the commonest gold answer of the "
               f"same items; 'beats it': exact one-sided McNemar test on those items, p < {prior.ALPHA:g}. Runs that "
               f"give one answer on {prior.COLLAPSED:.0%} or more of their items are flagged.")
    config = {c: ui.share_column(c) for c in ("chosen on", "gold share", "acc", "majority baseline")}
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=config, key="answers")
    if curves:
        fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="calibrated",
                                    line=dict(dash="dot", color="grey"))])
        for variant, rel in curves:
            fig.add_trace(go.Scatter(
                x=rel.bins["confidence"], y=rel.bins["accuracy"], mode="lines+markers",
                name=f"{variant} (ECE {rel.ece:.3f})", marker=dict(size=[6 + 14 * k / rel.n for k in rel.bins["items"]]),
                customdata=rel.bins[["low", "high", "items"]],
                hovertemplate="bin %{customdata[0]:.1f}-%{customdata[1]:.1f}: %{customdata[2]} items<br>"
                              "confidence %{x:.3f}, accuracy %{y:.3f}"))
        fig.update_layout(xaxis_title="confidence (probability of the chosen option)", yaxis_title="accuracy",
                          xaxis_range=[0, 1], yaxis_range=[0, 1.02], height=420, margin=dict(t=30))
        st.plotly_chart(fig, width="stretch", key="reliability")
        st.caption(f"Reliability diagram: items binned by the probability of the chosen option ({ECE_BINS} "
                   "equal-width bins; the options' probabilities are the softmax of their log-likelihoods), each "
                   "point the bin's mean confidence and accuracy, sized by its items. A calibrated model lies on "
                   "the diagonal. ECE: the items' share in each bin times |accuracy - confidence|, summed.")


answers_and_calibration(ui.safe(data.suite_answers, store, suite))
st.subheader("Two variants, item by item")
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
