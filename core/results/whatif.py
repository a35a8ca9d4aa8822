"""What-if cost: what each method would cost at a user's number of queries, context size and
hardware price, calibrated from measured runs of one world and model.

The model is two numbers per method (docs/methods.md, "Compute accounting"):

- fixed cost: paid once, before the first query: augment + train (FLOPs and seconds, from
  the run's costs; zero for `icl` and `pretrained`);
- per-query cost: what serving one query costs. FLOPs are the run's measured
  `per_query_flops` (runs.extra: one query served alone; for ICL that includes reading the
  whole context again). Seconds are those FLOPs at the machine's measured throughput for the
  model (`core/running/calibration.py`, stored once per machine and model), so the same
  FLOPs always cost the same seconds; a database without a calibration uses the pooled rate
  of all its runs' evaluations instead (still one rate for every run), never a run's own.

Cost at Q queries = fixed + Q x per-query, in FLOPs, seconds, and money = seconds x price per
hour / 3600. ICL's per-query cost is scaled to the user's context size linearly in tokens
(`scale_per_query`): per-query x (user context + item tokens) / (measured context + item
tokens), which ignores the attention term growing with context, so it slightly flatters
contexts much longer than the measured one.

Break-even between ICL and a fine-tuning method is the Q where their lines cross:
(fixed_ft - fixed_icl) / (per_query_icl - per_query_ft). The central value uses the means of
each method's runs; the interval is min..max of the break-even over every pair (ICL run,
fine-tuning run), so it spans seeds of both methods.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from core.methods import FINE_TUNING, REGISTRY
from core.storage.store import Store

ICL = next(name for name, m in REGISTRY.items() if m.reads_context)
UNITS = {"flops": "FLOPs", "seconds": "seconds", "dollars": "dollars"}


# ------------------------------------------------------------------ arithmetic


def scale_per_query(per_query: float, measured_context: float, user_context: float,
                    item_tokens: float) -> float:
    """Per-query cost of ICL at another context size: proportional to the tokens a query
    reads (its context plus the item itself)."""
    measured = measured_context + item_tokens
    return per_query * (user_context + item_tokens) / measured if measured > 0 else per_query


def cost_at(fixed: float, per_query: float, queries: float) -> float:
    return fixed + queries * per_query


def dollars(seconds: float, price_per_hour: float) -> float:
    return seconds * price_per_hour / 3600.0


def break_even(fixed_ft: float, per_query_ft: float, fixed_icl: float,
               per_query_icl: float) -> float | None:
    """The Q where the cost lines of a fine-tuning method and ICL cross:
    (fixed_ft - fixed_icl) / (per_query_icl - per_query_ft); None when they don't cross at a
    positive Q (parallel lines, or one method cheaper at every Q)."""
    saving = per_query_icl - per_query_ft  # what fine-tuning saves on each query
    if saving == 0 or not math.isfinite(saving):
        return None
    q = (fixed_ft - fixed_icl) / saving
    return q if q > 0 and math.isfinite(q) else None


def verdict(q: float | None, fixed_ft: float, per_query_ft: float, fixed_icl: float,
            per_query_icl: float) -> str:
    """One line for a reader: which method is cheaper, and from when."""
    def gap(queries: float) -> float:  # positive when fine-tuning costs more
        return cost_at(fixed_ft, per_query_ft, queries) - cost_at(fixed_icl, per_query_icl, queries)

    if q is None:
        g = gap(1.0)
        return ("fine-tuning is cheaper at every Q" if g < 0 else
                "ICL is cheaper at every Q" if g > 0 else "they cost the same")
    first, then = ("ICL", "fine-tuning") if gap(q / 2) > 0 else ("fine-tuning", "ICL")
    return f"{first} is cheaper below {format_q(q)} queries, {then} above"


def format_q(q: float | None) -> str:
    if q is None or math.isinf(q):
        return "never"
    if q < 10:
        return f"{q:.2g}"
    if q < 1e6:
        return f"{q:,.0f}"
    return f"{q:.2g}"


# ------------------------------------------------------------------ calibration


def calibrate(raw: pd.DataFrame, flops_per_second: float | None = None) -> pd.DataFrame:
    """Per run (raw columns: run_id, method, aug_source, seed, extra (JSON), augment_flops,
    augment_seconds, train_flops, train_seconds, eval_flops, eval_seconds, eval_tokens,
    items, heldout_accuracy): fixed and per-query cost, measured context and item tokens.
    Runs without `per_query_flops` (older files) fall back to evaluate FLOPs / items.
    Seconds per query are FLOPs / `flops_per_second` (the machine's calibration; without
    one, the pooled rate of these runs' evaluations)."""
    frame = raw.copy()
    extra = [json.loads(e) if isinstance(e, str) else e for e in frame["extra"]]
    extra = [e if isinstance(e, dict) else {} for e in extra]
    fill = frame[["augment_flops", "augment_seconds", "train_flops", "train_seconds"]].fillna(0.0)
    frame["fixed_flops"] = fill["augment_flops"] + fill["train_flops"]
    frame["fixed_seconds"] = fill["augment_seconds"] + fill["train_seconds"]
    items = frame["items"].where(frame["items"] > 0)
    frame["per_query_flops"] = [e.get("per_query_flops", math.nan) for e in extra]
    frame["per_query_flops"] = frame["per_query_flops"].fillna(frame["eval_flops"] / items)
    if not flops_per_second:
        seconds = frame["eval_seconds"].where(frame["eval_flops"] > 0).sum()
        flops_per_second = frame["eval_flops"].where(frame["eval_flops"] > 0).sum() / seconds \
            if seconds > 0 else math.nan
    frame["per_query_seconds"] = (frame["per_query_flops"] / flops_per_second).fillna(
        frame["eval_seconds"] / items)
    context = pd.Series([e.get("icl_context_tokens", 0) for e in extra], index=frame.index)
    frame["context_tokens"] = context.where(frame["method"] == ICL)
    frame["item_tokens"] = (frame["eval_tokens"] - context.fillna(0)) / items
    frame["label"] = [method_label(m, s) for m, s in zip(frame["method"], frame["aug_source"])]
    return frame


def method_label(method: str, source) -> str:
    return f"{method} ({source})" if isinstance(source, str) and source else method


def at_context(calibration: pd.DataFrame, user_context: float | None) -> pd.DataFrame:
    """Per-query costs of ICL runs rescaled to `user_context` tokens (None: as measured)."""
    frame = calibration.copy()
    if user_context is None:
        return frame
    for index in frame.index[frame["method"] == ICL]:
        row = frame.loc[index]
        if not (math.isfinite(row["context_tokens"]) and math.isfinite(row["item_tokens"])):
            continue  # nothing measured to scale from: keep the measured cost
        for column in ("per_query_flops", "per_query_seconds"):
            frame.loc[index, column] = scale_per_query(row[column], row["context_tokens"],
                                                       user_context, row["item_tokens"])
    return frame


def by_method(calibration: pd.DataFrame) -> pd.DataFrame:
    """Means over each method's runs (seeds), with held-out accuracy min..max and run count."""
    return (calibration.groupby(["label", "method"], sort=False)
            .agg(runs=("run_id", "nunique"), fixed_flops=("fixed_flops", "mean"),
                 fixed_seconds=("fixed_seconds", "mean"), per_query_flops=("per_query_flops", "mean"),
                 per_query_seconds=("per_query_seconds", "mean"),
                 accuracy=("heldout_accuracy", "mean"), accuracy_low=("heldout_accuracy", "min"),
                 accuracy_high=("heldout_accuracy", "max"))
            .reset_index())


def _fixed_and_per_query(frame: pd.DataFrame, unit: str, price: float) -> tuple[pd.Series, pd.Series]:
    """Fixed and per-query cost columns in a unit: FLOPs, seconds or dollars."""
    if unit == "flops":
        return frame["fixed_flops"], frame["per_query_flops"]
    scale = price / 3600.0 if unit == "dollars" else 1.0
    return frame["fixed_seconds"] * scale, frame["per_query_seconds"] * scale


def totals_at(methods: pd.DataFrame, queries: float, price: float) -> pd.DataFrame:
    """Each method's cost at `queries` queries in every unit (columns flops, seconds, dollars)."""
    out = methods.copy()
    for unit in UNITS:
        fixed, per_query = _fixed_and_per_query(methods, unit, price)
        out[unit] = fixed + queries * per_query
    return out


def curves(methods: pd.DataFrame, queries: Sequence[float], unit: str, price: float) -> pd.DataFrame:
    """Long frame (label, queries, cost) of each method's cost against Q, for a line chart."""
    fixed, per_query = _fixed_and_per_query(methods, unit, price)
    rows = [{"label": label, "queries": q, "cost": f + q * p}
            for label, f, p in zip(methods["label"], fixed, per_query) for q in queries]
    return pd.DataFrame(rows, columns=["label", "queries", "cost"])


def query_grid(user_q: float, break_evens: Sequence[float | None], points: int = 120) -> np.ndarray:
    """Log-spaced Q from 1 to ten times the largest of the user's Q and the break-evens."""
    finite = [q for q in break_evens if q is not None and math.isfinite(q) and q > 0]
    top = 10 * max([user_q, 10.0, *finite])
    return np.unique(np.concatenate([np.logspace(0, math.log10(top), points), [user_q]]))


def break_even_table(calibration: pd.DataFrame, price: float,
                     working: Collection[str] | None = None) -> pd.DataFrame:
    """One row per fine-tuning method: break-even Q against ICL in FLOPs and in time (money
    gives the same Q as time: the price cancels; NaN where the lines don't cross), with
    min..max over run pairs and a verdict. Only between methods in `working` (labels above
    chance, `core.results.verdict`) when given: a break-even with a method that answers
    nothing is no advice. Empty without a (working) ICL run."""
    if working is not None:
        calibration = calibration[calibration["label"].isin(list(working))]
    icl_runs = calibration[calibration["method"] == ICL]
    if icl_runs.empty:
        return pd.DataFrame()
    methods = by_method(calibration)
    icl = methods[methods["method"] == ICL].iloc[0]
    rows = []
    for _, ft in methods[methods["method"].isin(FINE_TUNING)].iterrows():
        ft_runs = calibration[calibration["label"] == ft["label"]]
        row = {"method": ft["label"], "runs": f"{int(icl['runs'])} ICL × {int(ft['runs'])}"}
        for unit, name in (("flops", "FLOPs"), ("seconds", "time")):
            args = _pair(ft, icl, unit, price)
            q = break_even(*args)
            low, high = _interval(icl_runs, ft_runs, unit, price)
            row[f"break-even Q ({name})"] = math.nan if q is None else q
            row[f"range over runs ({name})"] = (f"{format_q(low)} – {format_q(high)}"
                                                if (len(icl_runs) > 1 or len(ft_runs) > 1) else "")
            row[f"verdict ({name})"] = verdict(q, *args)
        rows.append(row)
    return pd.DataFrame(rows)


def _pair(ft, icl, unit: str, price: float) -> tuple[float, float, float, float]:
    frame = pd.DataFrame([ft, icl])
    fixed, per_query = _fixed_and_per_query(frame, unit, price)
    return fixed.iloc[0], per_query.iloc[0], fixed.iloc[1], per_query.iloc[1]


def _interval(icl_runs: pd.DataFrame, ft_runs: pd.DataFrame, unit: str,
              price: float) -> tuple[float | None, float | None]:
    """min..max break-even over all (ICL run, fine-tuning run) pairs; a pair that never
    crosses counts as infinity, so the upper end reads 'never'."""
    values = [break_even(*_pair(ft, icl, unit, price))
              for _, icl in icl_runs.iterrows() for _, ft in ft_runs.iterrows()]
    values = [math.inf if v is None else v for v in values]
    return (min(values), None if math.isinf(max(values)) else max(values)) if values else (None, None)


# ------------------------------------------------------------------ the store


def options(store: Store) -> pd.DataFrame:
    """(world, model) pairs with complete runs, the most useful first: those with both ICL and
    a fine-tuning method, then the most recent."""
    frame = store.world_model_pairs(ICL, FINE_TUNING)
    frame["world_label"] = [f"{k} {p} seed {s} ({w})" if isinstance(k, str) else w
                            for k, p, s, w in zip(frame["kind"], frame["preset"],
                                                  frame["world_seed"], frame["world_id"])]
    return frame


def load_calibration(store: Store, world_id: str, model: str) -> pd.DataFrame:
    """Calibrated costs (see `calibrate`) of every complete run of one world and model, at the
    newest throughput stored for the model."""
    with store.connection():
        raw = store.phase_costs(world_id, model)
        throughput = store.calibration(model)
    return calibrate(raw, throughput["flops_per_second"] if throughput else None)
