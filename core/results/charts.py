"""Plotly figures shared by the app's pages and the HTML report (no streamlit here).

Each builder takes the data frames of `core.results.analysis` and returns a titled figure whose axes
carry units and whose legend names methods as a newcomer reads them.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.results.analysis import frontier

# The toolbar's camera icon downloads the chart; SVG keeps it sharp in slides and papers.
CONFIG = {"displaylogo": False,
          "toImageButtonOptions": {"format": "svg", "filename": "icl-vs-ft-chart"}}
X_AXES = {"flops": "total compute (FLOPs, log scale)", "seconds": "total time (seconds)"}
ACCURACY = "accuracy (fraction correct)"


# Named, not the default: importing streamlit makes its own template the default, whose
# colours are placeholders only the Streamlit page fills in (a saved report would be black).
TEMPLATE = "plotly_white"


def compute_chart(totals: pd.DataFrame, x: str = "flops") -> go.Figure:
    """Held-out accuracy against compute, one point per run, with the Pareto frontier as a
    step line: the best accuracy reached for at most that much compute."""
    points = totals.dropna(subset=["heldout_accuracy", x])
    if x == "flops":
        points = points[points[x] > 0]  # a log axis has no zero
    fig = px.scatter(points, x=x, y="heldout_accuracy", color="label", log_x=x == "flops",
                     template=TEMPLATE,
                     hover_data={"run_id": True, "model": True, "seed": True, "label": False,
                                 **({"heldout_coverage": ":.2f"}
                                    if "heldout_coverage" in points else {})},
                     title="Held-out accuracy vs compute, one point per run; Pareto frontier dashed",
                     labels={x: X_AXES[x], "heldout_accuracy": "held-out " + ACCURACY,
                             "label": "method", "seed": "seed", "run_id": "run",
                             "heldout_coverage": "held-out items given word for word"})
    best = frontier(points, x)
    if len(best):
        fig.add_trace(go.Scatter(x=best[x], y=best["heldout_accuracy"], mode="lines",
                                 line={"shape": "hv", "dash": "dash", "color": "black", "width": 1.5},
                                 name="Pareto frontier (no run is both cheaper and better)",
                                 hoverinfo="skip"))
    fig.update_traces(marker={"size": 10}, selector={"mode": "markers"})
    fig.update_yaxes(range=[-0.05, 1.05])
    fig.update_layout(legend_title_text="method")
    return fig


def accuracy_chart(acc: pd.DataFrame, color: str = "label", color_title: str = "method",
                   title: str = "Accuracy per split, with 95% intervals and chance (dashed)") -> go.Figure:
    """Grouped bars: one group per split, one bar per `color` value, with 95% intervals from
    the frame's `low` and `high` columns and a dashed line at each split's chance level."""
    acc = acc.assign(above=acc["high"] - acc["accuracy"], below=acc["accuracy"] - acc["low"])
    hover = {"low": ":.2f", "high": ":.2f", "above": False, "below": False}
    if "runs" in acc:
        hover["runs"] = True
    fig = px.bar(acc, x="split", y="accuracy", color=color, barmode="group", template=TEMPLATE,
                 error_y="above", error_y_minus="below", hover_data=hover, title=title,
                 labels={"split": "split (test item type)", "accuracy": ACCURACY, color: color_title,
                         "runs": "runs pooled"})
    chances = acc.groupby("chance")["split"].unique()
    for chance, splits in chances.items():
        where = f" ({', '.join(splits)})" if len(chances) > 1 else ""
        fig.add_hline(y=chance, line_dash="dash", line_color="gray",
                      annotation_text=f"chance {chance:.2f}{where}")
    fig.update_yaxes(range=[0, 1.05])
    return fig


def loss_chart(curves: pd.DataFrame) -> go.Figure:
    """Training loss per optimizer step, one line per run (`label` names the run)."""
    fig = px.line(curves, x="step", y="loss", color="label", markers=len(curves) < 200,
                  template=TEMPLATE,
                  title="Training loss per step",
                  labels={"step": "optimizer step", "loss": "training loss (cross-entropy, nats per token)",
                          "label": "run"})
    return fig
