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

# One colour per method on every page and in the report: a hue per method, darker for the
# oracle's augmentations and lighter for the model's own.
METHOD_COLOURS = {
    "pretrained": "#7f7f7f", "icl": "#1f77b4", "ft": "#d62728",
    "ft_local (oracle)": "#2ca02c", "ft_local (model)": "#98df8a",
    "ft_global (oracle)": "#9467bd", "ft_global (model)": "#c5b0d5",
    "ft_local_global (oracle)": "#ff7f0e", "ft_local_global (model)": "#ffbb78",
}
OTHER_COLOURS = ["#8c564b", "#e377c2", "#bcbd22", "#17becf", "#c49c94", "#f7b6d2"]


def decades(fig: go.Figure, x: bool = True, y: bool = False) -> go.Figure:
    """Log axes labelled once per power of ten, in SI (1k, 1M, 1G, 1T), never '2 3 4 ... 1T 2'
    nor a mix of 10^16 and 100T."""
    if x:
        fig.update_xaxes(dtick=1, exponentformat="SI", minor={"showgrid": False})
    if y:
        fig.update_yaxes(dtick=1, exponentformat="SI", minor={"showgrid": False})
    return fig


def method_colours(labels) -> dict[str, str]:
    """The colour of each method label ('ft_local (oracle)'); labels this table does not know
    (a method added later) take the next of a fixed list, in sorted order, so they too keep
    their colour from page to page."""
    unknown = sorted({str(label) for label in labels} - set(METHOD_COLOURS))
    return METHOD_COLOURS | {label: OTHER_COLOURS[k % len(OTHER_COLOURS)]
                             for k, label in enumerate(unknown)}


def compute_chart(totals: pd.DataFrame, x: str = "flops") -> go.Figure:
    """Held-out accuracy against compute, one point per run, with the Pareto frontier as a
    step line: the best accuracy reached for at most that much compute."""
    points = totals.dropna(subset=["heldout_accuracy", x])
    if x == "flops":
        points = points[points[x] > 0]  # a log axis has no zero
    fig = px.scatter(points, x=x, y="heldout_accuracy", color="label", log_x=x == "flops",
                     template=TEMPLATE, color_discrete_map=method_colours(points["label"]),
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
    if x == "flops":
        decades(fig)
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
    colours = method_colours(acc[color]) if color == "label" else None
    fig = px.bar(acc, x="split", y="accuracy", color=color, barmode="group", template=TEMPLATE,
                 color_discrete_map=colours,
                 error_y="above", error_y_minus="below", hover_data=hover, title=title,
                 labels={"split": "split (test item type)", "accuracy": ACCURACY, color: color_title,
                         "runs": "runs pooled"})
    chances = acc.groupby("chance")["split"].unique()
    for chance, splits in chances.items():
        where = f" ({', '.join(splits)})" if len(chances) > 1 else ""
        fig.add_hline(y=chance, line_dash="dash", line_color="gray",
                      annotation_text=f"chance {chance:.2f}{where}")
    # Each bar's value written on it: a bar at 0 (a method that got nothing right) still shows.
    fig.update_traces(texttemplate="%{y:.2f}", textposition="outside", cliponaxis=False)
    fig.update_yaxes(range=[0, 1.12])
    return fig


def loss_chart(curves: pd.DataFrame) -> go.Figure:
    """Training loss per optimizer step, one line per run (`label` names the run)."""
    fig = px.line(curves, x="step", y="loss", color="label", markers=len(curves) < 200,
                  template=TEMPLATE,
                  title="Training loss per step",
                  labels={"step": "optimizer step", "loss": "training loss (cross-entropy, nats per token)",
                          "label": "run"})
    return fig
