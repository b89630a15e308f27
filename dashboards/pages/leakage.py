"""Leakage audit: contaminated items, clean-subset scores, membership inference, canary exposure."""

import plotly.express as px
import streamlit as st

from dashboards import data, ui

st.title("Leakage")
store = ui.open_store()
audits = ui.require(ui.safe(data.leakage_audits, store),
                    "No leakage audit in this DB. Run `medtune audit leakage --variant NAME ...`.")
audit_id = ui.pick_audit(audits, lambda r: r.variant)


def section(title: str, name: str, empty: str):
    """The audit's rows of one table under a heading, or a note that this audit did not measure it."""
    st.subheader(title)
    df = ui.safe(data.leakage_table, store, name, audit_id)
    if df is None or df.empty:
        st.info(empty)
        return None
    return df


items = section("Contaminated items", "leakage_items", "No contamination check in this audit.")
if items is not None:
    per_suite = items.groupby("suite").agg(items=("doc_id", "size"), contaminated=("contaminated", "sum"))
    per_suite["ratio"] = per_suite["contaminated"] / per_suite["items"]
    st.dataframe(per_suite.reset_index(), hide_index=True, width="stretch",
                 column_config={"ratio": ui.share_column("ratio")})
    hits = items[items["contaminated"]]
    with st.expander(f"{len(hits)} contaminated items"):
        st.dataframe(hits, hide_index=True, width="stretch")

clean = section("Scores on all items vs the clean subset", "leakage_clean_metrics",
                "No clean-subset scores in this audit.")
if clean is not None:
    long = clean.melt(id_vars=["suite", "metric"], value_vars=["full_value", "clean_value"], var_name="items")
    fig = px.bar(long, x="suite", y="value", color="items", barmode="group", facet_col="metric")
    st.plotly_chart(fig, width="stretch")
    st.dataframe(clean, hide_index=True, width="stretch")

c1, c2 = st.columns(2)
with c1:
    mia = section("Membership inference", "membership_inference", "No membership-inference test in this audit.")
    if mia is not None:
        st.caption("AUROC near 0.5: the model does not tell trained-on texts from held-out ones.")
        if "ci_low" in mia and mia["ci_low"].notna().all():
            fig = px.scatter(mia, x="auroc", y="method", error_x=mia["ci_high"] - mia["auroc"],
                             error_x_minus=mia["auroc"] - mia["ci_low"], range_x=[0, 1], height=220)
            fig.add_vline(x=0.5, line_dash="dot", annotation_text="no signal")
            st.plotly_chart(fig, width="stretch")
        st.dataframe(mia, hide_index=True, width="stretch", column_config={"auroc": ui.share_column("auroc")})
with c2:
    canaries = section("Canary exposure", "canary_exposure", "No canaries were planted for this audit.")
    if canaries is not None:
        st.caption("exposure = log2 |candidates| - log2 rank; high exposure means the secret was memorised.")
        st.plotly_chart(px.bar(canaries, x="canary_id", y="exposure", color="reproduced", height=300),
                        width="stretch")
        st.dataframe(canaries, hide_index=True, width="stretch")

overlap = section("Overlap between a dataset's own splits", "split_overlap", "No split-overlap check in this audit.")
if overlap is not None:
    st.dataframe(overlap, hide_index=True, width="stretch")
pii = section("PII in generations", "pii_findings", "No PII found in the audited generations.")
if pii is not None:
    st.dataframe(pii, hide_index=True, width="stretch")
