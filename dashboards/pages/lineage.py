"""The variant tree: who was tuned from whom, with which method and data, and the loss curves."""

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards import data, ui

st.title("Lineage")
store = ui.open_store()
variants = ui.require(ui.safe(data.variants, store), "This DB has no variants table yet.",
                      f"No variants yet. Run `{ui.EVAL_HINT}` or `medtune tune ...`.")


def dot(df: pd.DataFrame) -> str:
    """Graphviz source of the variant tree (streamlit renders it in the browser)."""
    lines = ['digraph lineage {', 'rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
             'fontname="sans-serif"];']
    for row in df.itertuples():
        label = f"{row.name}\\n({row.method or 'base'})"
        lines.append(f'"{row.name}" [label="{label}"];')
        if isinstance(row.parent, str) and row.parent:
            lines.append(f'"{row.parent}" -> "{row.name}";')
    lines.append("}")
    return "\n".join(lines)


st.graphviz_chart(dot(variants), width="stretch")
st.dataframe(variants.drop(columns=["lineage"]), hide_index=True, width="stretch")

tuned = variants[variants["parent"].notna()]
default = variants.index.get_loc(tuned.index[-1]) if len(tuned) else 0  # the newest tuned variant
name = st.selectbox("Variant", list(variants["name"]), index=default, key="variant")
row = variants[variants["name"] == name].iloc[0]
lineage = data.loads(row["lineage"]) or {}
c1, c2, c3 = st.columns(3)
c1.metric("Method", row["method"] or "base")
c2.metric("Parent", row["parent"] or "—")
c3.metric("Base", row["base"] or name)

data_files = lineage.get("data") or lineage.get("data_files")
if data_files:
    st.subheader("Training data")
    st.json(data_files, expanded=True)
config = lineage.get("config") or lineage.get("recipe")
if config:
    with st.expander("Tuning config"):
        st.json(config)
with st.expander("Full lineage record"):
    st.json(lineage)

st.subheader("Training curves")
curves = ui.safe(data.training_curves, store, name)
if curves is None:
    st.info("This DB has no training_curves table: it is written by `medtune tune`.")
elif curves.empty:
    st.info(f"No training curve for {name} (base models and imported variants have none).")
else:
    long = curves.melt(id_vars=["step"], value_vars=["train_loss", "eval_loss"], var_name="loss").dropna()
    fig = px.line(long, x="step", y="value", color="loss", markers=True)
    fig.update_layout(yaxis_title="loss", height=360)
    st.plotly_chart(fig, width="stretch")
    if curves["learning_rate"].notna().any():
        st.plotly_chart(px.line(curves, x="step", y="learning_rate", height=220), width="stretch")
