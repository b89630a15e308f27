"""Leakage audit: contaminated items, clean-subset scores, membership inference, canary exposure."""

import plotly.express as px
import streamlit as st

from dashboards import data, ui

st.title("Leakage")
store = ui.open_store()
audits = ui.require(ui.safe(data.leakage_audits, store),
                    "No leakage audit in this DB. Run `medtune audit leakage --variant NAME ...`.")
labels = {f"{r.variant} · {str(r.created_at)[:16]} · {r.audit_id}": r.audit_id for r in audits.itertuples()}
audit_id = labels[st.selectbox("Audit", list(labels), key="audit")]


def table(name):
    return ui.safe(data.leakage_table, store, name, audit_id)


st.subheader("Contaminated items")
items = table("leakage_items")
if items is None or items.empty:
    st.info("No contamination check in this audit.")
else:
    per_suite = items.groupby("suite").agg(items=("doc_id", "size"), contaminated=("contaminated", "sum"))
    per_suite["ratio"] = per_suite["contaminated"] / per_suite["items"]
    st.dataframe(per_suite.reset_index(), hide_index=True, width="stretch",
                 column_config={"ratio": st.column_config.ProgressColumn("ratio", min_value=0.0, max_value=1.0,
                                                                         format="%.3f")})
    hits = items[items["contaminated"]]
    with st.expander(f"{len(hits)} contaminated items"):
        st.dataframe(hits, hide_index=True, width="stretch")

st.subheader("Scores on all items vs the clean subset")
clean = table("leakage_clean_metrics")
if clean is None or clean.empty:
    st.info("No clean-subset scores in this audit.")
else:
    long = clean.melt(id_vars=["suite", "metric"], value_vars=["full_value", "clean_value"], var_name="items")
    fig = px.bar(long, x="suite", y="value", color="items", barmode="group", facet_col="metric")
    st.plotly_chart(fig, width="stretch")
    st.dataframe(clean, hide_index=True, width="stretch")

c1, c2 = st.columns(2)
with c1:
    st.subheader("Membership inference")
    mia = table("membership_inference")
    if mia is None or mia.empty:
        st.info("No membership-inference test in this audit.")
    else:
        st.caption("AUROC near 0.5: the model does not tell trained-on texts from held-out ones.")
        st.dataframe(mia, hide_index=True, width="stretch",
                     column_config={"auroc": st.column_config.ProgressColumn("auroc", min_value=0.0, max_value=1.0,
                                                                             format="%.3f")})
with c2:
    st.subheader("Canary exposure")
    canaries = table("canary_exposure")
    if canaries is None or canaries.empty:
        st.info("No canaries were planted for this audit.")
    else:
        st.caption("exposure = log2 |candidates| - log2 rank; high exposure means the secret was memorised.")
        st.plotly_chart(px.bar(canaries, x="canary_id", y="exposure", color="reproduced", height=300),
                        width="stretch")
        st.dataframe(canaries, hide_index=True, width="stretch")

overlap = table("split_overlap")
if overlap is not None and not overlap.empty:
    st.subheader("Overlap between a dataset's own splits")
    st.dataframe(overlap, hide_index=True, width="stretch")
pii = table("pii_findings")
if pii is not None and not pii.empty:
    st.subheader("PII in generations")
    st.dataframe(pii, hide_index=True, width="stretch")
