"""Sharing results: a self-contained HTML report, metrics as CSV and Parquet, and the link that
reopens a selection in the app (no streamlit here).

The report's charts are plain SVG (core/results/svg.py): it opens offline, prints, and is
small enough to mail as one file.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd

from core.methods.config import FTConfig
from core.results import charts, numbers, svg, verdict, whatif
from core.results.analysis import Tables, frontier, pool_by_label
from core.shortcuts.warnings import refs_of, shortcut_warnings
from core.storage.store import Store

EXPORT_COLUMNS = ["run_id", "label", "method", "aug_source", "model", "seed", "kind", "preset",
                  "world_seed", "world_params", "settings", "split", "n", "correct", "accuracy",
                  "low", "high", "chance", "heldout_accuracy", "flops", "seconds"]
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1em 0; } figcaption { color: #444; font-size: 0.9em; }
.note { color: #666; font-size: 0.9em; }
"""


def export_table(tables: Tables, run_ids: Sequence[str]) -> pd.DataFrame:
    """One row per selected run and split: the run's settings, the split's accuracy with its
    95% interval, and the run's held-out accuracy and compute."""
    runs = tables.runs[tables.runs["run_id"].isin(run_ids)]
    metrics = tables.metrics[["run_id", "split", "n", "correct", "accuracy", "low", "high", "chance"]]
    frame = runs.merge(metrics, on="run_id", how="inner")
    return frame[EXPORT_COLUMNS].reset_index(drop=True)


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getvalue()


@dataclass
class CostView:
    """The cost section of one world and model: each working method's cost at the reader's
    number of queries, the break-even against ICL, and the curves (FLOPs against queries)."""

    heading: str
    queries: float
    price: float
    at_q: pd.DataFrame  # whatif.totals_at: label, runs, fixed and per-query cost, flops, seconds, dollars
    break_even: pd.DataFrame  # whatif.break_even_table between working methods
    curves: pd.DataFrame  # whatif.curves in FLOPs: label, queries, cost
    calibrated: str  # how seconds were had from FLOPs


def cost_views(store: Store, tables: Tables, run_ids: Sequence[str], queries: float = 1e6,
               price: float = 2.0) -> list[CostView]:
    """One cost section per (world, model) among the selected complete runs, calibrated as the
    What-if page calibrates (the machine's measured throughput for the model)."""
    runs = tables.complete[tables.complete["run_id"].isin(run_ids)]
    views = []
    for (world_id, model), group in runs.groupby(["world_id", "model"], sort=False):
        calibration = whatif.load_calibration(store, world_id, model)
        calibration = calibration[calibration["run_id"].isin(group["run_id"])]
        if calibration.empty:
            continue
        found = verdict.evidence(group, tables.metrics[tables.metrics["run_id"].isin(group["run_id"])])
        working = verdict.decide(found, model=str(model)).working
        methods = whatif.by_method(calibration)
        methods = methods[methods["label"].isin(working)]  # no cost advice for a method at chance
        table = whatif.break_even_table(calibration, price, working=working)
        crossings = [q for column in table.columns if column.startswith("break-even")
                     for q in table[column]]
        throughput = store.calibration(model)
        calibrated = (f"seconds are FLOPs at {numbers.si(throughput['flops_per_second'], 'FLOP/s')}"
                      f", measured for {model} on {throughput['machine']}" if throughput else
                      "seconds are FLOPs at the pooled rate of these runs' evaluations")
        views.append(CostView(
            f"{group['kind'].iloc[0]} ({group['preset'].iloc[0]}), model {model}", queries, price,
            whatif.totals_at(methods, queries, price), table,
            whatif.curves(methods, whatif.query_grid(queries, crossings), "flops", price),
            calibrated))
    return views


def html_report(tables: Tables, run_ids: Sequence[str], curves: pd.DataFrame | None = None,
                x: str = "flops", title: str = "ICL vs fine-tuning: results",
                when: datetime | None = None, costs: Sequence[CostView] = (),
                custom_roots: list[Path] | None = None) -> str:
    """A one-file HTML report of the selected runs: the verdict, accuracy per split with
    intervals, cost at the reader's volume and the break-even (`costs`, from `cost_views`),
    accuracy against compute, loss curves, and the runs with their settings. Charts are SVG
    (core/results/svg.py): no script, a few kilobytes each. The verdict's shortcut check reads
    custom world files only inside `custom_roots`, when given (the app's confinement)."""
    when = when or datetime.now(UTC)
    runs = tables.runs[tables.runs["run_id"].isin(run_ids)]
    metrics = tables.metrics[tables.metrics["run_id"].isin(run_ids)]
    sections = [
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Made {when:%Y-%m-%d %H:%M} UTC by the ICL vs fine-tuning lab, "
        f"from {len(runs)} runs. Accuracy intervals are 95% Wilson intervals over test items; "
        "hover a point for its run.</p>",
        "<h2>Verdict</h2>", _verdicts(runs, metrics, custom_roots),
        "<h2>Accuracy per split</h2>"]
    if len(metrics):
        sections.append(_accuracy_chart(pool_by_label(metrics)))
    sections += [_accuracy_table(metrics, runs), "<h2>Cost</h2>", _costs(costs),
                 "<h2>Accuracy against compute</h2>", _compute_chart(runs, x)]
    if curves is not None and len(curves):
        sections += ["<h2>Training loss</h2>", _loss_chart(curves)]
    sections += ["<h2>Runs and their settings</h2>", _settings_table(runs), "</body></html>"]
    return "\n".join(sections)


def _accuracy_chart(pooled: pd.DataFrame) -> str:
    splits = list(dict.fromkeys(pooled["split"]))
    colours = charts.method_colours(pooled["label"])
    series = [svg.Series(label, colours[label], [splits.index(s) for s in rows["split"]],
                         list(rows["accuracy"]), list(rows["low"]), list(rows["high"]),
                         tips=[f"{label}, {s}: {a:.2f} [{lo:.2f}, {hi:.2f}], {n} runs"
                               for s, a, lo, hi, n in zip(rows["split"], rows["accuracy"],
                                                          rows["low"], rows["high"], rows["runs"])])
              for label, rows in pooled.groupby("label", sort=False)]
    guides = [svg.Guide(chance, f"chance {chance:.2f}") for chance in sorted(set(pooled["chance"]))]
    return svg.chart("chart-accuracy", "Accuracy per split: mean over runs, with the widest 95% "
                     "interval of any run; chance dashed", series,
                     svg.Axis("split (test item type)", categories=splits),
                     svg.Axis(charts.ACCURACY, limits=(0, 1.05)), guides)


def _compute_chart(runs: pd.DataFrame, x: str) -> str:
    points = runs.dropna(subset=["heldout_accuracy", x])
    points = points[points[x] > 0] if x == "flops" else points
    if points.empty:
        return "<p>No complete runs selected.</p>"
    colours = charts.method_colours(points["label"])
    unit = "FLOP" if x == "flops" else "s"
    series = [svg.Series(label, colours[label], list(rows[x]), list(rows["heldout_accuracy"]),
                         tips=[f"{r}: {a:.2f} held out, {numbers.si(v, unit)}"
                               for r, a, v in zip(rows["run_label"], rows["heldout_accuracy"], rows[x])])
              for label, rows in points.groupby("label", sort=False)]
    best = frontier(points, x)
    if len(best) > 1:
        series.append(svg.Series("Pareto frontier", "#000000", list(best[x]),
                                 list(best["heldout_accuracy"]), mode="steps", dash=True))
    return svg.chart("chart-compute", "Held-out accuracy against compute, one point per run; "
                     "the Pareto frontier (no run is both cheaper and better) dashed", series,
                     svg.Axis(charts.X_AXES[x], log=x == "flops", ticks=lambda v: numbers.si(v)),
                     svg.Axis("held-out " + charts.ACCURACY, limits=(-0.05, 1.05)))


def _loss_chart(curves: pd.DataFrame) -> str:
    colours = charts.OTHER_COLOURS + list(charts.METHOD_COLOURS.values())
    series = [svg.Series(label, colours[k % len(colours)], list(rows["step"]), list(rows["loss"]),
                         mode="lines")
              for k, (label, rows) in enumerate(curves.groupby("label", sort=False))]
    return svg.chart("chart-loss", "Training loss per optimizer step, one line per run", series,
                     svg.Axis("optimizer step"),
                     svg.Axis("training loss (cross-entropy, nats per token)"))


def _costs(views: Sequence[CostView]) -> str:
    if not views:
        return ("<p>No cost section: it needs complete runs of ICL and of a fine-tuning "
                "method on one world and model.</p>")
    parts = []
    for view in views:
        parts.append(f"<h3>{html.escape(view.heading)}</h3>")
        q = f"{view.queries:,.0f}"
        if view.at_q.empty:
            parts.append("<p>No method here answers above chance with confidence: no cost "
                         "advice.</p>")
        else:
            rows = view.at_q.sort_values("flops")
            table = pd.DataFrame({
                "method": rows["label"], "runs": rows["runs"],
                "once (augment + train)": [f"{numbers.si(f, 'FLOP')}, {numbers.duration(s)}"
                                           for f, s in zip(rows["fixed_flops"], rows["fixed_seconds"])],
                "per query": [f"{numbers.si(f, 'FLOP')}, {numbers.duration(s)}"
                              for f, s in zip(rows["per_query_flops"], rows["per_query_seconds"])],
                f"total at Q = {q}": [f"{numbers.si(f, 'FLOP')}, {numbers.duration(s)}, "
                                      f"{numbers.money(d)}"
                                      for f, s, d in zip(rows["flops"], rows["seconds"], rows["dollars"])]})
            parts.append(f"<p>Methods that work (held-out interval above chance), cheapest first, "
                         f"at {q} queries and ${view.price:.2f} an hour; {html.escape(view.calibrated)}."
                         f"</p>{table.to_html(index=False)}")
        if not view.break_even.empty:
            shown = view.break_even[[c for c in view.break_even.columns
                                     if not c.startswith("range")]].copy()
            for column in [c for c in shown.columns if c.startswith("break-even")]:
                shown[column] = [whatif.format_q(None if pd.isna(v) else v) for v in shown[column]]
            parts.append("<p>Break-even against ICL (the number of queries above which "
                         f"fine-tuning is cheaper):</p>{shown.to_html(index=False)}")
        if view.curves.empty:
            continue
        colours = charts.method_colours(view.curves["label"])
        series = [svg.Series(label, colours[label], list(rows["queries"]), list(rows["cost"]),
                             mode="lines") for label, rows in view.curves.groupby("label", sort=False)]
        parts.append(svg.chart(
            f"chart-cost-{len(parts)}", "Total compute of each method against the number of "
            "queries it serves (log-log); the reader's Q dashed", series,
            svg.Axis("number of queries Q", log=True, ticks=lambda v: numbers.si(v)),
            svg.Axis("total FLOPs", log=True, ticks=lambda v: numbers.si(v)),
            [svg.Guide(view.queries, f"Q = {numbers.si(view.queries)}", vertical=True)]))
    return "\n".join(parts)


def _settings_table(runs: pd.DataFrame) -> str:
    table = pd.DataFrame({
        "run": runs["run_label"], "run id": runs["run_id"], "status": runs["status"],
        "model": runs["model"],
        "world": [f"{k} ({p}), seed {s}" for k, p, s in zip(runs["kind"], runs["preset"],
                                                          runs["world_seed"])],
        "world parameters": [_readable(v) for v in runs["world_params"]],
        "settings": [_readable(v, DEFAULT_SETTINGS) for v in runs["settings"]],
        "held-out accuracy": [f"{a:.2f}" if pd.notna(a) else "" for a in runs["heldout_accuracy"]],
        "compute": [numbers.si(f, "FLOP") if pd.notna(f) else "" for f in runs["flops"]],
        "time": [numbers.duration(s) if pd.notna(s) else "" for s in runs["seconds"]]})
    return table.to_html(index=False, na_rep="")


# A run's settings at these values go without saying: the table names what differs.
DEFAULT_SETTINGS = {"ft": dataclasses.asdict(FTConfig()), "icl_max_tokens": 0, "icl_fill": "sample"}


def _readable(value, defaults: dict | None = None) -> str:
    """{"ft": {"epochs": 3, "lr": 0.001, "batch_size": 8}} -> 'ft epochs 3 · ft lr 0.001' (the
    batch size at its default is left out); 'defaults' when nothing differs."""
    loaded = json.loads(value) if isinstance(value, str) and value else value
    if not isinstance(loaded, dict) or not loaded:
        return ""

    def flat(d: dict, base: dict, prefix: str = "") -> list[str]:
        out = []
        for key, item in d.items():
            name, usual = f"{prefix}{key}".replace("_", " "), base.get(key)
            if isinstance(item, dict):
                out += flat(item, usual if isinstance(usual, dict) else {}, name + " ")
            elif item != usual:
                out.append(f"{name} {item:g}" if isinstance(item, float) else f"{name} {item}")
        return out
    return " · ".join(flat(loaded, defaults or {})) or "defaults"


def _verdicts(runs: pd.DataFrame, metrics: pd.DataFrame,
              custom_roots: list[Path] | None = None) -> str:
    """The verdict in words for each world setting and model among the selected runs."""
    complete = runs[runs["status"] == "complete"]
    parts = []
    for (kind, preset, _, model), group in complete.groupby(
            ["kind", "preset", "world_params", "model"], sort=False, dropna=False):
        found = verdict.evidence(group, metrics[metrics["run_id"].isin(group["run_id"])])
        decision = verdict.decide(found, model=str(model), shortcut_warnings=shortcut_warnings(
            refs_of(group), custom_roots))
        items = "".join(f"<li>{html.escape(line)}</li>" for line in decision.details)
        caveats = "".join(f"<li>{html.escape(line)}</li>" for line in decision.caveats)
        parts.append(f"<h3>{html.escape(f'{kind} ({preset}), model {model}')}</h3>"
                     f"<p><strong>{html.escape(decision.headline)}</strong></p><ul>{items}</ul>"
                     + (f"<p>Caveats:</p><ul>{caveats}</ul>" if caveats else ""))
    return "\n".join(parts) or "<p>No complete runs selected.</p>"


def _accuracy_table(metrics: pd.DataFrame, runs: pd.DataFrame) -> str:
    """Runs as rows, splits as columns, each cell 'accuracy [low, high]'."""
    if metrics.empty:
        return "<p>No complete runs selected.</p>"
    cells = metrics.assign(cell=[f"{a:.2f} [{lo:.2f}, {hi:.2f}]"
                                 for a, lo, hi in zip(metrics["accuracy"], metrics["low"], metrics["high"])])
    table = cells.pivot_table(index="run_id", columns="split", values="cell", aggfunc="first")
    names = runs.set_index("run_id")["run_label"]
    table.index = [names.get(run, run) for run in table.index]
    table.index.name = "run"
    return table.to_html(na_rep="")


def view_query(run_ids: Sequence[str], db: str | None = None, **extra: str) -> str:
    """The query string that reopens a selection: '?runs=a,b' (and the database when it is not
    the default one)."""
    params = {"runs": ",".join(run_ids)} if run_ids else {}
    if db:
        params["db"] = db
    params |= {key: value for key, value in extra.items() if value}
    return "?" + urlencode(params, safe=",/:") if params else ""


def page_url(current_url: str, page: str, query: str) -> str:
    """The address of another page of the same app: the current page's address with its last
    path part replaced ('http://host:8501/Share' -> 'http://host:8501/Compare')."""
    base = current_url.split("?")[0].rstrip("/")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{base}/{page}{query}"
