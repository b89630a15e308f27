"""Rubric grading: per-tag scores per variant with CIs (beside the judge's agreement with human labels), and each
conversation's answer with every criterion met / not met and the judge's reason."""

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards import data as rubric_data, ui

st.title("Rubric grading")
store = ui.open_store()
scores = ui.require(ui.safe(rubric_data.rubric_scores, store),
                    "No rubric suite scored in this DB. Run `medtune eval --variant NAME --suite rubric_clinical_sample "
                    "--judge mock` (or --judge hf:<model> / http://host:port/v1).")
suite = st.selectbox("Suite", sorted(scores["suite"].unique()))
rows = scores[scores["suite"] == suite]

judges = rows.drop_duplicates("variant")[["variant", "judge", "judge_macro_f1", "judge_kappa", "judge_labels_n"]]
st.subheader("Judge")
st.dataframe(judges, hide_index=True, width="stretch",
             column_config={"judge_macro_f1": ui.share_column("agreement: macro F1"),
                            "judge_kappa": st.column_config.NumberColumn("agreement: Cohen's kappa", format="%.3f")})
if judges["judge_macro_f1"].isna().any():
    st.caption("A judge without agreement figures was never checked: `medtune judge check --judge ID --labels FILE`.")
if judges["judge"].nunique() > 1:
    st.warning("These variants were graded by different judges: their scores are not comparable (never paired).")

st.subheader("Scores per tag (95% bootstrap CI)")
fig = px.bar(rows, x="value", y="tag", color="variant", barmode="group", orientation="h",
             height=max(320, 28 * rows["tag"].nunique() * max(1, rows["variant"].nunique())),
             hover_data=["ci_low", "ci_high", "n", "judge"], **ui.error_bars(rows))
fig.update_layout(xaxis_title="score (met points / positive points, clipped to [0, 1])", xaxis_range=[0, 1])
st.plotly_chart(fig, width="stretch")
table = rows.assign(score=[ui.fmt_ci(v, lo, hi) for v, lo, hi in zip(rows["value"], rows["ci_low"], rows["ci_high"])])
st.dataframe(table.pivot(index="tag", columns="variant", values="score"), width="stretch")

st.subheader("Conversations")
variant = st.selectbox("Variant", sorted(rows["variant"].unique()))
run_id = rows[rows["variant"] == variant]["run_id"].iloc[0]
convs = rubric_data.conversations(store, run_id)
pick = st.selectbox("Conversation", list(convs["doc_id"]),
                    format_func=lambda d: f"{d} · score {convs.set_index('doc_id').loc[d, 'score']:.2f}")
conv = convs.set_index("doc_id").loc[pick]
for m in conv["messages"]:
    st.chat_message(m.get("role", "user")).write(m.get("content", ""))
st.chat_message("assistant").write(conv["response"] or "")
crit = pd.DataFrame(conv["criteria"])
if not crit.empty:
    crit["verdict"] = crit.apply(lambda r: "judge_failed" if r.get("judge_failed") else ("met" if r["met"] else "not met"),
                                 axis=1)
    st.dataframe(crit[["verdict", "points", "criterion", "reason", "tags"]], hide_index=True, width="stretch")
