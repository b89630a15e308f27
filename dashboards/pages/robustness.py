"""Robustness audit: paired clean vs perturbed scores, flip rates, and giskard's scan and HTML report when it ran."""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards import data, ui

st.title("Robustness")
store = ui.open_store()
audits = ui.require(ui.safe(data.robustness_audits, store),
                    "No robustness audit in this DB. Run `medtune audit robustness --variant NAME --suite SUITE`.")
audit_id = ui.pick_audit(audits, lambda r: f"{r.variant} · {r.suite}")
audit = audits[audits["audit_id"] == audit_id].iloc[0]

c1, c2, c3 = st.columns(3)
c1.metric(f"clean {audit['metric']}", f"{audit['clean_value']:.3f}" if audit["clean_value"] == audit["clean_value"] else "—")
c2.metric("items", audit["n"])
scanned = not pd.isna(audit["n_issues"])  # NULL: giskard's scan did not run (giskard not installed, or skipped)
c3.metric("giskard issues", int(audit["n_issues"]) if scanned else "not run")

rows = ui.safe(data.robustness_perturbations, store, audit_id)
if rows is None or rows.empty:
    st.info("No perturbation results for this audit.")
else:
    fig = px.bar(rows, x="flip_rate", y="perturbation", color="flagged", orientation="h", height=320,
                 hover_data=["delta", "ci_low", "ci_high", "n", "p_value"])
    fig.update_layout(xaxis_title="flip rate (share of changed items whose prediction changed)")
    st.plotly_chart(fig, width="stretch")
    st.dataframe(rows, hide_index=True, width="stretch")

if not scanned:
    st.caption("giskard's scan did not run for this audit (giskard not installed, or `--no-giskard-scan`); "
               "the paired perturbation results above are complete without it. For the scan and its HTML report: "
               "`pip install 'medtune[giskard]'` (Python 3.11, numpy<2).")
issues = data.loads(audit["giskard_issues"]) if scanned else None
if isinstance(issues, list) and issues:
    st.subheader("giskard issues")
    st.dataframe(issues, width="stretch")
report = audit["report_path"]
if isinstance(report, str) and report:
    path = Path(report)
    if path.exists():
        st.download_button("giskard HTML report", path.read_bytes(), file_name=path.name, mime="text/html")
    st.caption(f"giskard report: `{report}`" + ("" if path.exists() else " (file not found on this machine)"))
