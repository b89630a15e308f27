"""Variants x suites: the latest score of each, with its 95% CI, filterable by suite family; each
tuned variant's significant changes against its parent (paired on the same items) marked green or red."""

import plotly.express as px
import streamlit as st

from dashboards import data, significance, ui
from harness import prior

st.title("Overview")
store = ui.open_store()
scores = ui.require(ui.safe(data.latest_scores, store),
                    f"This DB has no results tables yet. Run `{ui.EVAL_HINT}`.",
                    f"No runs recorded yet. Run `{ui.EVAL_HINT}` and reload.")

left, right = st.columns([2, 1])
families = sorted(scores["family"].unique())
chosen = left.multiselect("Suite family", families, default=families, key="family")
metrics = sorted(scores["metric"].unique())
metric = right.selectbox("Metric", metrics, index=metrics.index("acc") if "acc" in metrics else 0, key="metric")
view = scores[scores["family"].isin(chosen) & (scores["metric"] == metric)]
if view.empty:
    st.info(f"No suite in the chosen families reports `{metric}`: pick another family or metric.")
    st.stop()

c1, c2, c3 = st.columns(3)
c1.metric("Variants", view["variant"].nunique())
c2.metric("Suites", view["suite"].nunique())
c3.metric("Latest run", str(view["finished_at"].max())[:16])

st.subheader(f"{metric} by variant and suite")
st.caption("Latest run per variant x suite, suites grouped by family. Click a column header to sort. "
           "The chart below draws each score with its 95% bootstrap CI.")
order = view.sort_values(["family", "suite"])["suite"].unique().tolist()
wide = view.pivot_table(index="variant", columns="suite", values="value")[order]
wide.insert(0, "mean", wide.mean(axis=1))
# the scoring protocol of each variant's runs (suites._protocol: cloze / letter / generative, chat, shots)
wide.insert(1, "protocol", view.assign(protocol=view["protocol"].fillna("")).groupby("variant")["protocol"].agg(
    lambda p: ", ".join(sorted({x for x in p if x})) or "not recorded"))
if st.toggle("Show the 95% CI of each score as text", key="ci_text"):
    ci = view.assign(ci=[ui.fmt_ci(v, lo, hi) for v, lo, hi in zip(view.value, view.ci_low, view.ci_high)])
    ci_wide = ci.pivot_table(index="variant", columns="suite", values="ci", aggfunc="first")
    for s in order:
        wide[f"{s} 95% CI"] = ci_wide[s]
config = {s: ui.share_column(s) for s in order
          if view.loc[view.suite == s, "value"].between(0, 1).all()}
config["mean"] = st.column_config.NumberColumn("mean", format="%.3f", help="mean over the suites shown")
lower_first = not data.metric_direction(store, metric)  # best first: the lowest perplexity, the highest accuracy
st.dataframe(wide.sort_values("mean", ascending=lower_first).reset_index(), hide_index=True, column_config=config,
             width="stretch", key="scores")
# a run that gives one answer to (almost) every item scores the label prior, whatever its score (harness.prior)
runs = view.drop_duplicates("run_id")
found = ui.safe(prior.mixes, store, list(runs["run_id"]))
for r in runs.itertuples():
    mix = found.get(r.run_id)
    if mix is not None and mix.collapsed:
        st.warning(f"**{r.variant}** on **{r.suite}** {mix.answers_text()}; {mix.baseline_text()}. "
                   "See the Suite drill-down page.")

st.subheader("Changes against the parent")
changes = significance.vs_parent(store, view, ui.safe(data.variants, store), metric, not lower_first)
if changes.empty:
    st.caption("No variant here has its parent scored on the same items: score both with the same --limit "
               "(`medtune forgetting --variant NAME` does).")
else:
    better, worse = (changes["mark"] == "better").sum(), (changes["mark"] == "worse").sum()
    st.markdown(f"**{better}** significantly better, **{worse}** significantly worse than the parent "
                f"(p < {significance.ALPHA:g}), of {len(changes)} variant x suite pairs.")
    st.caption("Paired on the same items: McNemar for 0/1 scores, paired bootstrap of the mean otherwise. "
               "Green: significantly better, red: significantly worse; n.s.: not significant.")
    st.dataframe(significance.style(changes.sort_values(["p_value", "variant"])), hide_index=True, width="stretch",
                 key="vs_parent")

st.subheader("Scores with 95% CIs")
fig = px.scatter(view, x="value", y="variant", color="variant", facet_col="suite", facet_col_wrap=3,
                 category_orders={"suite": order, "variant": sorted(view["variant"].unique())},
                 hover_data=["n", "ci_low", "ci_high", "engine", "protocol"], **ui.error_bars(view))
fig.update_layout(showlegend=False, height=260 * ((view["suite"].nunique() + 2) // 3), margin=dict(t=40))
fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
st.plotly_chart(fig, width="stretch")

with st.expander("All rows"):
    st.dataframe(view.drop(columns=["run_id"]), hide_index=True, width="stretch")
