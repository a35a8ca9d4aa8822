"""Sharing results: a self-contained HTML report, metrics as CSV and Parquet, and the link that
reopens a selection in the app (no streamlit here).

The report embeds plotly.js once, inline, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

import pandas as pd

from core.results import charts, verdict
from core.results.analysis import Tables, pool_by_label

EXPORT_COLUMNS = ["run_id", "label", "method", "aug_source", "model", "seed", "kind", "preset",
                  "world_seed", "world_params", "settings", "split", "n", "correct", "accuracy",
                  "low", "high", "chance", "heldout_accuracy", "flops", "seconds"]
SETTINGS_COLUMNS = {"run_id": "run", "label": "method", "model": "model", "seed": "training seed",
                    "kind": "world", "preset": "preset", "world_seed": "world seed",
                    "world_params": "world parameters", "settings": "settings",
                    "heldout_accuracy": "held-out accuracy", "flops": "total FLOPs",
                    "seconds": "total seconds"}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
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


def html_report(tables: Tables, run_ids: Sequence[str], curves: pd.DataFrame | None = None,
                x: str = "flops", title: str = "ICL vs fine-tuning: results",
                when: datetime | None = None) -> str:
    """A one-file HTML report of the selected runs: their settings, accuracy per split, and the
    charts (held-out accuracy vs compute with the frontier, accuracy per split, loss curves)."""
    when = when or datetime.now(UTC)
    runs = tables.runs[tables.runs["run_id"].isin(run_ids)]
    metrics = tables.metrics[tables.metrics["run_id"].isin(run_ids)]
    figures = [("chart-compute", charts.compute_chart(runs, x))]
    if len(metrics):
        figures.append(("chart-accuracy", charts.accuracy_chart(pool_by_label(metrics))))
    if curves is not None and len(curves):
        figures.append(("chart-loss", charts.loss_chart(curves)))
    # plotly.js goes inline with the first chart only; the others reuse it.
    chart_html = [fig.to_html(full_html=False, include_plotlyjs=index == 0, div_id=div_id,
                              config=charts.CONFIG)
                  for index, (div_id, fig) in enumerate(figures)]
    settings = (runs[list(SETTINGS_COLUMNS)].rename(columns=SETTINGS_COLUMNS)
                .to_html(index=False, na_rep="", float_format="{:.4g}".format))
    return "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Made {when:%Y-%m-%d %H:%M} UTC by the ICL vs fine-tuning lab, "
        f"from {len(runs)} runs. Accuracy intervals are 95% Wilson intervals over test items; "
        "hover a chart for details, its camera icon downloads it as an image.</p>",
        "<h2>Verdict</h2>", _verdicts(runs, metrics),
        "<h2>Charts</h2>", *chart_html,
        "<h2>Accuracy per split</h2>", _accuracy_table(metrics, runs),
        "<h2>Runs and their settings</h2>", settings,
        "</body></html>"])


def _verdicts(runs: pd.DataFrame, metrics: pd.DataFrame) -> str:
    """The verdict in words for each world setting and model among the selected runs."""
    complete = runs[runs["status"] == "complete"]
    parts = []
    for (kind, preset, _, model), group in complete.groupby(
            ["kind", "preset", "world_params", "model"], sort=False, dropna=False):
        found = verdict.evidence(group, metrics[metrics["run_id"].isin(group["run_id"])])
        decision = verdict.decide(found, model=str(model))
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
    cells = metrics.assign(cell=[f"{a:.3f} [{lo:.2f}, {hi:.2f}]"
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
