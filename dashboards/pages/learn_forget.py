"""Domain gain against forgetting index per variant, with 95% CIs (from `medtune forgetting`)."""

import plotly.express as px
import streamlit as st

from dashboards import data, significance, ui

st.title("Learn vs forget")
st.caption("Domain gain: mean change on the medical QA suites. Forgetting index: mean drop on HellaSwag, "
           "ARC-Challenge and WinoGrande. Both against the reference (parent or base), on the same items.")
store = ui.open_store()
summary = ui.require(
    ui.safe(data.forgetting_summary, store),
    "No forgetting results in this DB. Score a tuned variant and its base on the general and medical suites, "
    "then run `medtune forgetting --variant NAME`.")

roles = sorted(summary["reference_role"].unique())
role = st.radio("Compare against", roles, horizontal=True, key="role")
view = summary[summary["reference_role"] == role]

fig = px.scatter(view, x="forgetting_index", y="domain_gain", text="variant", color="variant",
                 hover_data=["reference"],
                 error_x=(view["fi_ci_high"] - view["forgetting_index"]).fillna(0),
                 error_x_minus=(view["forgetting_index"] - view["fi_ci_low"]).fillna(0),
                 error_y=(view["dg_ci_high"] - view["domain_gain"]).fillna(0),
                 error_y_minus=(view["domain_gain"] - view["dg_ci_low"]).fillna(0))
fig.add_hline(y=0, line_dash="dot", line_color="grey")
fig.add_vline(x=0, line_dash="dot", line_color="grey")
fig.update_traces(textposition="top center")
fig.update_layout(xaxis_title="forgetting index (lower is better)", yaxis_title="domain gain (higher is better)",
                  showlegend=False, height=480)
st.plotly_chart(fig, width="stretch")
st.caption("Top left is the goal: the variant learned medicine and kept its general skills.")

table = view.assign(forgetting=[ui.fmt_ci(*r) for r in zip(view.forgetting_index, view.fi_ci_low, view.fi_ci_high)],
                    gain=[ui.fmt_ci(*r) for r in zip(view.domain_gain, view.dg_ci_low, view.dg_ci_high)])
st.dataframe(table[["variant", "reference", "forgetting", "gain", "computed_at"]], hide_index=True, width="stretch")

newest_first = list(view.sort_values("computed_at", ascending=False)["variant"])  # the latest measured (the demo's)
variant = st.selectbox("Per-task changes for", newest_first, key="variant")
ref = view.loc[view["variant"] == variant, "reference"].iloc[0]
tasks = ui.safe(data.forgetting_tasks, store, variant, ref)
if tasks is None or tasks.empty:
    st.info(f"No per-task rows for {variant} against {ref}.")
else:
    tasks = tasks.assign(mark=[significance.mark(d, p, data.metric_direction(store, m, s)) for d, p, m, s in
                               zip(tasks["delta"], tasks["p_value"], tasks["metric"], tasks["suite"])])
    better, worse = (tasks["mark"] == "better").sum(), (tasks["mark"] == "worse").sum()
    st.markdown(f"**{variant}** vs **{ref}**: {better} task(s) significantly better, {worse} significantly worse "
                f"(p < {significance.ALPHA:g}; green better, red worse).")
    st.dataframe(significance.style(tasks), hide_index=True, width="stretch", key="tasks")
