"""medtune dashboard: ``medtune dashboard --db results.duckdb`` (or ``streamlit run dashboards/app.py``
with MEDTUNE_DB set). Read-only; every page reads the DuckDB schema through dashboards/data.py."""

import streamlit as st

st.set_page_config(page_title="medtune", page_icon=":material/monitoring:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/table_chart:", default=True),
    st.Page("pages/learn_forget.py", title="Learn vs forget", icon=":material/balance:"),
    st.Page("pages/lineage.py", title="Lineage", icon=":material/account_tree:"),
    st.Page("pages/suite.py", title="Suite drill-down", icon=":material/compare_arrows:"),
    st.Page("pages/leakage.py", title="Leakage", icon=":material/water_drop:"),
    st.Page("pages/robustness.py", title="Robustness", icon=":material/shield:"),
    st.Page("pages/history.py", title="History", icon=":material/timeline:"),
    st.Page("pages/monitoring.py", title="Monitoring", icon=":material/monitor_heart:"),
    st.Page("pages/rubric.py", title="Rubric grading", icon=":material/checklist:"),
]

st.navigation(PAGES).run()
