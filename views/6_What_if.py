"""What-if cost: each method's cost at the user's number of queries, context size and hardware
price, calibrated from measured runs of one world and model, with the break-even Q between ICL
and each fine-tuning method. The cost model is in core.results.whatif; this page draws it."""

import math

import pandas as pd
import plotly.express as px
import streamlit as st

from core.errors import LabError
from core.results import charts, numbers, verdict, whatif
from core.storage.store import Store
from ui.common import database_box, link_number, load_or_stop, load_tables, shortcut_lines

RUN_COMMAND = ("python -m core run --world reversals "
               "--methods pretrained,icl,ft,ft_local,ft_global,ft_local_global")
# 1, 2, 5, 10, 20, 50, ...: a slider that moves in even steps on a log scale.
Q_STEPS = [m * 10**e for e in range(10) for m in (1, 2, 5)]
UNIT_AXES = {"flops": "compute (FLOPs, log scale)", "seconds": "time (seconds, log scale)",
             "dollars": "money (dollars, log scale)"}
DOWNLOAD = {"toImageButtonOptions": {"format": "svg", "filename": "whatif_cost"}}

st.set_page_config(page_title="What-if cost · ICL vs fine-tuning lab", layout="wide")
st.title("What-if cost")
st.caption("ICL pays for its context on every query; fine-tuning pays once (augment + train) and "
           "then serves queries cheaply. Give your number of queries, context size and hardware "
           "price: the costs below are calibrated from the runs you measured.")


@st.cache_data(ttl=10, show_spinner="Reading the database…")
def load_options(db: str) -> pd.DataFrame:
    return whatif.options(Store(db, read_only=True))


@st.cache_data(ttl=10, show_spinner="Reading the runs…")
def load_calibration(db: str, world_id: str, model: str) -> pd.DataFrame:
    return whatif.load_calibration(Store(db, read_only=True), world_id, model)


@st.cache_data(ttl=10, show_spinner=False)
def load_throughput(db: str, model: str) -> dict | None:
    return Store(db, read_only=True).calibration(model)


def pick(column, label: str, options: list[str], link: str, format_func=str) -> str:
    """A selectbox whose value starts from the link and goes back into it."""
    wanted = st.query_params.get(link)
    index = options.index(wanted) if wanted in options else 0
    value = column.selectbox(label, options, index=index, format_func=format_func)
    st.query_params[link] = value
    return value


# The database and every input live in the link, so a copied link reopens this view.
db = database_box()

no_runs = (f"No complete runs in {db} yet. The what-if needs ICL and fine-tuning runs of one "
           "world and model to calibrate from:")

options = load_or_stop(db, load_options, no_runs, RUN_COMMAND)

# What to calibrate from.
left, right = st.columns(2)
worlds = dict(zip(options["world_id"], options["world_label"]))
world_id = pick(left, "World", list(worlds), "world", worlds.get)
model = pick(right, "Model", list(options.loc[options["world_id"] == world_id, "model"]), "model")
try:
    calibration = load_calibration(db, world_id, model)
except LabError as error:
    st.error(str(error))
    st.stop()
has_icl = (calibration["method"] == whatif.ICL).any()
if not has_icl or not calibration["method"].isin(whatif.FINE_TUNING).any():
    st.warning("To find a break-even, this world and model need both an `icl` run and a "
               "fine-tuning run (`ft`, `ft_local`, …); the chart shows the methods there are.")

# The user's situation.
q_column, ctx_column, price_column = st.columns(3)
q_link = int(link_number("q", 10_000))
queries = q_column.select_slider("Number of queries Q", sorted(set(Q_STEPS) | {q_link}),
                                 value=q_link, format_func=lambda q: f"{q:,}",
                                 help="How many questions the adapted model will answer.")
measured_ctx = float(calibration.loc[calibration["method"] == whatif.ICL, "context_tokens"].mean())
if has_icl and math.isfinite(measured_ctx):
    # One input per world and model, starting at its measured context; only the first one
    # shown takes its value from the link, so a switch of world never keeps a stale size.
    ctx_key = f"ctx-{world_id}-{model}"
    if ctx_key not in st.session_state:
        from_link = "ctx_seen" not in st.session_state
        st.session_state[ctx_key] = int(link_number("ctx", measured_ctx) if from_link else measured_ctx)
        st.session_state.ctx_seen = True
    context = ctx_column.number_input(
        "ICL context (tokens)", min_value=0, max_value=10**8, step=1000, key=ctx_key,
        help=f"The measured ICL runs read {measured_ctx:,.0f} tokens of context per query. "
             "Your own documents may be longer.")
    st.query_params["ctx"] = str(context)
else:
    context = None
    ctx_column.caption("No ICL run to scale a context from.")
price = price_column.number_input("Hardware price ($ per hour)", min_value=0.0, step=0.5,
                                  value=link_number("price", 2.0), format="%.2f")
target = float(price_column.number_input(
    "Target held-out accuracy", min_value=0.0, max_value=1.0, step=0.05,
    value=min(1.0, link_number("target", 0.8)),
    help="the accuracy on held-out items a method must reach (on average over its runs) to be "
         "recommended; it must also be above chance with 95% confidence"))
st.query_params.update({"q": str(queries), "price": str(price), "target": str(target)})
unit_link = st.query_params.get("unit")
unit = st.radio("Cost in", list(whatif.UNITS), horizontal=True, format_func=whatif.UNITS.get,
                index=list(whatif.UNITS).index(unit_link) if unit_link in whatif.UNITS else 0)
st.query_params["unit"] = unit

# The cost model, and which methods work at all (only those are recommended or compared).
adjusted = whatif.at_context(calibration, context)
methods = whatif.by_method(adjusted)
at_q = whatif.totals_at(methods, queries, price)
tables = load_tables(db)
ours = tables.complete[(tables.complete["world_id"] == world_id) & (tables.complete["model"] == model)]
found = verdict.evidence(ours, tables.metrics[tables.metrics["run_id"].isin(ours["run_id"])])
decision = verdict.decide(found, dict(zip(at_q["label"], at_q[unit])), queries, target,
                          lambda value: numbers.cost(value, unit), model,
                          shortcut_warnings=shortcut_lines(ours))
table = whatif.break_even_table(adjusted, price, working=decision.working)
st.subheader("Verdict")
st.markdown(decision.markdown())
crossings = list(table[f"break-even Q ({'FLOPs' if unit == 'flops' else 'time'})"]) if len(table) else []
curve = whatif.curves(methods, whatif.query_grid(queries, crossings), unit, price)
curve = curve[curve["cost"] > 0]  # a log axis has no zero
fig = px.line(curve, x="queries", y="cost", color="label", log_x=True, log_y=True,
              color_discrete_map=charts.method_colours(curve["label"]),
              title=f"Total cost of each method against the number of queries, in {whatif.UNITS[unit]}",
              labels={"queries": "number of queries Q (log scale)", "cost": UNIT_AXES[unit],
                      "label": "method"})
fig.add_vline(x=queries, line_dash="dash", line_color="gray", annotation_text=f"your Q = {queries:,}")
charts.decades(fig, x=True, y=True)
st.plotly_chart(fig, config=DOWNLOAD)
st.caption("Each line is fixed cost (augment + train) plus Q × cost per query, averaged over the "
           "method's runs. The camera icon in the chart's toolbar downloads it as SVG.")

# What each method costs at the user's Q, and what it buys.
st.subheader(f"At Q = {queries:,} queries")
st.dataframe(
    at_q[["label", "runs", "accuracy", "accuracy_low", "accuracy_high", "fixed_flops",
          "per_query_flops", "flops", "seconds", "dollars"]],
    hide_index=True,
    column_config={
        "label": "method",
        "accuracy": st.column_config.NumberColumn("held-out accuracy", format="%.2f",
                                                  help="mean over runs"),
        "accuracy_low": st.column_config.NumberColumn("lowest run", format="%.2f"),
        "accuracy_high": st.column_config.NumberColumn("highest run", format="%.2f"),
        "fixed_flops": st.column_config.NumberColumn("fixed FLOPs", format="%.3g",
                                                     help="augment + train, paid once"),
        "per_query_flops": st.column_config.NumberColumn("FLOPs per query", format="%.3g"),
        "flops": st.column_config.NumberColumn("total FLOPs", format="%.3g"),
        "seconds": st.column_config.NumberColumn("total seconds", format="%.3g"),
        "dollars": st.column_config.NumberColumn("total dollars", format="$%.4g"),
    })

st.subheader("Break-even between ICL and fine-tuning")
icl_label = next(iter(calibration.loc[calibration["method"] == whatif.ICL, "label"]), None)
if table.empty:
    st.info("No ICL run for this world and model: run `icl` to compare against fine-tuning."
            if icl_label is None else
            f"{icl_label} does not beat chance on held-out items here, so a break-even against "
            "it would compare with a method that does not work." if icl_label not in decision.working
            else "No fine-tuning method beats chance on held-out items here: there is no "
                 "break-even worth giving.")
else:
    st.dataframe(table, hide_index=True,
                 column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                                for c in table.columns if c.startswith("break-even")})
    st.caption("Break-even Q = (fixed cost of fine-tuning − fixed cost of ICL) / (ICL's cost per "
               "query − fine-tuning's), from each method's mean over runs; empty when the lines "
               "don't cross. In time, money gives the same Q (the price cancels). The range is "
               "the lowest and highest break-even over every pair of an ICL run and a fine-tuning "
               "run; 'never' means some pair does not cross.")

throughput = load_throughput(db, model)
throughput_text = (f"{numbers.si(throughput['flops_per_second'], 'FLOP/s')} measured on "
                   f"{throughput['machine']} ({throughput['device']}) at "
                   f"{throughput['measured_at']:%Y-%m-%d %H:%M} UTC, on forwards of "
                   f"{int(throughput['tokens'])} tokens of query-sized rows (median of five)"
                   if throughput else "the pooled rate of these runs' evaluations (no "
                   "calibration is stored for this model: any run on this machine stores one)")
with st.expander("How the costs are calibrated"):
    st.markdown(
        "- **Fixed cost**: the run's augment and train phases (FLOPs estimated, seconds "
        "measured); zero for `icl` and `pretrained`.\n"
        "- **Cost per query**: the run's `per_query_flops`, one query served alone (for ICL, "
        "its whole context read again). Seconds per query are those FLOPs at one throughput "
        f"for the model: {throughput_text}, so the same FLOPs cost the same time whatever "
        "else the machine was doing during a run.\n"
        "- **Your context**: ICL's cost per query × (your context + item tokens) / (measured "
        "context + item tokens); item tokens are the evaluated tokens per item. Linear in "
        "tokens: the attention term that grows with context is left out, which flatters "
        "contexts much longer than the measured one.\n"
        "- **Money** = seconds × price per hour / 3600, on hardware like the one measured.")
st.page_link("views/5_Augmentations.py", label="See what the augmentations wrote, and how much of it is true")
