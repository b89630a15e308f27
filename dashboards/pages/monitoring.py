"""Monitoring: a deployed variant's traffic windows over time, drift per feature against its threshold,
example prompts of the drifted windows, the check's alerts, and the variant's lineage and eval runs."""

from datetime import timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards import data, ui
from harness.store import monitor as db

HINT = ("No monitoring analysis in this DB yet. Ingest a deployed variant's traffic and check it:\n\n"
        "```\nmedtune monitor ingest traffic.jsonl --variant NAME\n"
        "medtune monitor check --variant NAME --policy harness/monitor/policies/default.yaml\n```")
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}

st.title("Monitoring")
store = ui.open_store()
runs = ui.require(ui.safe(db.runs, store), HINT)

latest = runs.drop_duplicates("variant")  # newest analysis of each variant; alerting variants first
alerting = [not pd.isna(p) and not bool(p) for p in latest["passed"]]
variants = sorted(latest["variant"], key=lambda v: not alerting[list(latest["variant"]).index(v)])
variant = st.selectbox("Variant", variants, key="variant", help="Variants whose latest check alerted come first")
mine = runs[runs["variant"] == variant]


def _run_label(r) -> str:
    kind = "profile" if pd.isna(r.passed) else ("check passed" if r.passed else f"check: {int(r.n_failed)} alert(s)")
    return f"{str(r.created_at)[:16]} · {r.granularity} · {kind} · {r.run_id}"


labels = {_run_label(r): r.run_id for r in mine.itertuples()}
run_id = labels[st.selectbox("Analysis", list(labels), key="run")]
run = mine[mine["run_id"] == run_id].iloc[0]
settings = data.loads(run["settings"]) or {}
granularity = run["granularity"]

wins = ui.safe(db.windows, store, run_id)
ref = wins[wins["role"] == "reference"]
wins = wins[wins["role"] == "window"].copy()
drift = ui.safe(db.drift, store, run_id)
quality = ui.safe(db.quality, store, run_id)
alerts = ui.safe(db.alerts, store, run_id)
drifted = sorted(set(drift.loc[drift["drifted"].fillna(False).astype(bool), "window_start"])) if len(drift) else []

c1, c2, c3, c4 = st.columns(4)
c1.metric(f"{granularity} windows", len(wins))
c2.metric("records", f"{int(wins['n'].sum()):,}")
c3.metric("windows with drift", len(drifted))
failed = alerts[~alerts["passed"].astype(bool)] if len(alerts) else alerts
c4.metric("alerts", "profile only" if pd.isna(run["passed"]) else len(failed))
st.caption(f"reference: {settings.get('reference_label') or run['reference']} · embeddings: "
           f"{settings.get('embed')} on {settings.get('embed_sample')} records a window · significance "
           f"{settings.get('significance')} ({settings.get('correction')}) · run `{run_id}`")
for note in settings.get("notes") or []:
    st.caption(f"note: {note}")

# -- windows over time ------------------------------------------------------------------------------
st.subheader("Windows over time")
wins["drift"] = ["drifted" if w in drifted else "no drift" for w in wins["window_start"]]
volume = px.bar(wins, x="window_start", y="n", color="drift", height=240, labels={"window_start": "", "n": "records"},
                color_discrete_map={"drifted": "#d62728", "no drift": "#1f77b4"})
st.plotly_chart(volume, width="stretch")
rates = wins[["window_start", "refusal_rate", "pii_rate", "top_response_share", "top_first_token_share"]]
if len(quality):
    rates = rates.merge(quality[["window_start", "value"]].rename(columns={"value": "quality"}), how="left",
                        on="window_start")
long = rates.melt(id_vars=["window_start"], var_name="signal", value_name="share").dropna()
fig = px.line(long, x="window_start", y="share", color="signal", markers=True, height=300,
              labels={"window_start": ""})
st.plotly_chart(fig, width="stretch")
lengths = wins.melt(id_vars=["window_start"], value_vars=["prompt_chars_mean", "response_chars_mean"],
                    var_name="length", value_name="characters")
st.plotly_chart(px.line(lengths, x="window_start", y="characters", color="length", markers=True, height=240,
                        labels={"window_start": ""}), width="stretch")

# -- drift per feature -------------------------------------------------------------------------------
st.subheader("Drift per feature")
if drift.empty:
    st.info("No drift test ran in this analysis (a single window, or every window below the size floor).")
else:
    d = drift.copy()
    d["drifted"] = d["drifted"].fillna(False).astype(bool)
    parts = [d.assign(series="effect", value=d["effect"]), d.assign(series="threshold", value=d["threshold"]),
             d[d["drifted"]].assign(series="drifted", value=d["effect"])]
    long = pd.concat(parts, ignore_index=True)[["window_start", "feature", "series", "value", "effect_name",
                                                "p_adjusted"]]
    fig = px.line(long, x="window_start", y="value", color="series", facet_col="feature", facet_col_wrap=3,
                  markers=True, height=440, hover_data=["effect_name", "p_adjusted"], labels={"window_start": ""},
                  color_discrete_map={"effect": "#1f77b4", "threshold": "grey", "drifted": "#d62728"})
    fig.update_traces(selector={"name": "threshold"}, line_dash="dash", marker_size=1)
    fig.update_traces(selector={"name": "drifted"}, mode="markers", marker_size=13)
    fig.update_yaxes(matches=None, rangemode="tozero", title_text="", showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    st.plotly_chart(fig, width="stretch")
    st.caption("Each point: a window's effect size against the reference (PSI for lengths and categories, MMD for "
               "embeddings); dashed: the threshold. Drifted = Holm/BH-adjusted p below the significance and the "
               "effect at or above its threshold.")
    st.dataframe(d.sort_values(["drifted", "effect"], ascending=[False, False]), hide_index=True, width="stretch")

# -- alerts ------------------------------------------------------------------------------------------
st.subheader("Alerts")
if pd.isna(run["passed"]):
    st.info(f"This analysis is a profile: `medtune monitor check --variant {variant} --policy POLICY.yaml` judges "
            "it by a policy and records alerts.")
elif failed.empty:
    st.success(f"Every check passed ({len(alerts)} checks).")
else:
    st.error(f"{len(failed)} of {len(alerts)} checks failed, in "
             + ", ".join(sorted({str(w)[:16] for w in failed['window_start'].dropna()})))
    st.dataframe(failed, hide_index=True, width="stretch")

# -- the drifted region ------------------------------------------------------------------------------
st.subheader("Drifted windows")
if not drifted:
    st.info("No window drifted from the reference in this analysis.")
else:
    pick = st.selectbox("Window", [str(w)[:16] for w in drifted], key="drifted_window")
    start = next(w for w in drifted if str(w)[:16] == pick)
    row = wins[wins["window_start"] == start].iloc[0]
    near = data.loads(row["nearest_suites"]) or []
    if near:
        st.markdown("**Nearest eval suites** (cosine of the window's prompt embedding mean to each suite's): "
                    + ", ".join(f"`{x['suite']}` {x['cosine']:.2f}" for x in near)
                    + f" — re-score them: `medtune eval --variant {variant} --suite {near[0]['suite']}`")
    region = data.loads(row["examples"]) or []
    if region:
        embedded = not pd.isna(row["embedded"]) and row["embedded"]
        st.markdown("**Example prompts from the drifted region**" + (
            " (the prompts most over-represented against the reference first)" if embedded else ""))
        st.dataframe(pd.DataFrame({"prompt": region}), hide_index=True, width="stretch", key="region")
    st.dataframe(drift[drift["window_start"] == start], hide_index=True, width="stretch")
    with st.expander("Records of this window (a stable pick)"):
        examples = ui.safe(db.traffic_examples, store, variant, start, start + STEP[granularity], 10)
        st.dataframe(examples, hide_index=True, width="stretch")

# -- lineage and eval runs ------------------------------------------------------------------------------
st.subheader("Lineage and eval runs")
variants_df = ui.safe(data.variants, store)
known = variants_df[variants_df["name"] == variant] if variants_df is not None else pd.DataFrame()
if known.empty:
    st.info(f"`{variant}` is not a registered variant in this DB: no lineage or eval runs to compare with "
            f"(`medtune eval --variant {variant} --suite medical_qa` before deployment).")
else:
    v = known.iloc[0]
    st.markdown(f"`{variant}`: method **{v['method'] or 'base'}**, parent `{v['parent'] or '—'}`, base "
                f"`{v['base'] or variant}`")
    st.page_link("pages/lineage.py", label=f"Lineage of {variant} (tree, training data, curves)",
                 icon=":material/account_tree:")
scores = ui.safe(data.latest_scores, store)
if scores is not None and len(scores[scores["variant"] == variant]):
    st.dataframe(scores[scores["variant"] == variant][["suite", "family", "metric", "value", "ci_low", "ci_high",
                                                       "n", "finished_at", "run_id"]],
                 hide_index=True, width="stretch")
    st.page_link("pages/suite.py", label="Suite drill-down (item by item)", icon=":material/compare_arrows:")
files = ui.safe(db.traffic_files, store, variant)
if files is not None and len(files):
    with st.expander(f"Ingested traffic files ({len(files)})"):
        st.dataframe(files, hide_index=True, width="stretch")
