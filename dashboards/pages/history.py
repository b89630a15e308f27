"""A suite's score over time for one lineage of variants; runs below the best earlier CI are marked."""

import plotly.express as px
import streamlit as st

from dashboards import data, ui

st.title("History")
store = ui.open_store()
scores = ui.require(ui.safe(data.latest_scores, store), f"No results tables yet. Run `{ui.EVAL_HINT}`.",
                    f"No runs yet. Run `{ui.EVAL_HINT}`.")
variants = ui.safe(data.variants, store)
bases = sorted(set(variants["base"].fillna(variants["name"]))) if variants is not None else []

c1, c2, c3 = st.columns(3)
suite = c1.selectbox("Suite", sorted(scores["suite"].unique()), key="suite")
metrics = sorted(scores.loc[scores.suite == suite, "metric"].unique())
metric = c2.selectbox("Metric", metrics, index=metrics.index("acc") if "acc" in metrics else 0, key="metric")
base = c3.selectbox("Variant family (lineage root)", ["all"] + bases, key="base")
runs = ui.require(ui.safe(data.history, store, suite, metric, None if base == "all" else base),
                  "No runs table yet.", f"No run of {suite} for this family.")
runs = data.mark_regressions(runs, data.metric_direction(store, metric, suite))

fig = px.line(runs, x="finished_at", y="value", color="variant", markers=True,
              hover_data=["code_version", "n_samples", "method"],
              error_y=(runs["ci_high"] - runs["value"]).fillna(0), error_y_minus=(runs["value"] - runs["ci_low"]).fillna(0))
bad = runs[runs["regression"]]
if not bad.empty:
    fig.add_scatter(x=bad["finished_at"], y=bad["value"], mode="markers", name="regression",
                    marker=dict(symbol="x", size=14, color="red"))
fig.update_layout(yaxis_title=metric, height=420)
st.plotly_chart(fig, width="stretch")
if bad.empty:
    st.success(f"No regression: every run of {suite} stays within the 95% CI of the best earlier run "
               "of its lineage.")
else:
    st.error(f"{len(bad)} regression(s) (red x): worse than the 95% CI of the best earlier run of the lineage: "
             + ", ".join(f"{r.variant} at {str(r.finished_at)[:16]} ({r.value:.3f})" for r in bad.itertuples()))
st.dataframe(runs.drop(columns=["run_id"]), hide_index=True, width="stretch")

gates = ui.safe(data.gate_runs, store)
if gates is not None and not gates.empty:
    st.subheader("Gate decisions")
    st.dataframe(gates, hide_index=True, width="stretch")
