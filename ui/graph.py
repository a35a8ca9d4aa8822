"""A world's structure graph as a Plotly figure, laid out in layers (roots on top)."""

from __future__ import annotations

from collections import defaultdict, deque

import plotly.graph_objects as go


def layered_positions(nodes: list[dict], edges: list[dict]) -> dict[str, tuple[float, float]]:
    """Each node's depth is its longest distance from a root (a node no edge points to);
    nodes of one depth are spread evenly along the row."""
    ids = [n["id"] for n in nodes]
    children, indegree = defaultdict(list), dict.fromkeys(ids, 0)
    for e in edges:
        if e["source"] in indegree and e["target"] in indegree:
            children[e["source"]].append(e["target"])
            indegree[e["target"]] += 1
    depth = dict.fromkeys(ids, 0)
    queue, remaining = deque(i for i in ids if indegree[i] == 0), dict(indegree)
    while queue:
        node = queue.popleft()
        for child in children[node]:
            depth[child] = max(depth[child], depth[node] + 1)
            remaining[child] -= 1
            if remaining[child] == 0:
                queue.append(child)
    rows = defaultdict(list)
    for node in ids:
        rows[depth[node]].append(node)
    positions = {}
    for level, members in rows.items():
        for index, node in enumerate(members):
            positions[node] = ((index + 0.5) / len(members), -level)
    return positions


def graph_figure(graph: dict, title: str, max_nodes: int = 400) -> go.Figure:
    nodes = graph.get("nodes", [])[:max_nodes]
    kept = {n["id"] for n in nodes}
    edges = [e for e in graph.get("edges", []) if e["source"] in kept and e["target"] in kept]
    # "is a" edges point from child to parent; lay them out parent first, so roots sit on top.
    downward = [{"source": e["target"], "target": e["source"]} if e.get("label") == "is a" else e
                for e in edges]
    pos = layered_positions(nodes, downward)
    xs, ys = [], []
    for e in edges:
        (x0, y0), (x1, y1) = pos[e["source"]], pos[e["target"]]
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", line={"width": 1, "color": "#bbb"},
                               hoverinfo="skip", showlegend=False))
    # Each line's relation at its middle: written out while the picture stays readable, on
    # hover beyond that.
    named = [e for e in edges if e.get("label")]
    if named:
        middles = [((pos[e["source"]][0] + pos[e["target"]][0]) / 2,
                    (pos[e["source"]][1] + pos[e["target"]][1]) / 2) for e in named]
        fig.add_trace(go.Scatter(
            x=[m[0] for m in middles], y=[m[1] for m in middles],
            mode="text" if len(named) <= 60 else "markers",
            text=[e["label"] for e in named], textfont={"size": 9, "color": "#777"},
            marker={"size": 4, "color": "#bbb"}, name="relation (on the line)",
            hovertext=[f"{e['source']} {e['label']} {e['target']}" for e in named],
            hoverinfo="text"))
    groups = defaultdict(list)
    for n in nodes:
        groups[str(n.get("group", ""))].append(n["id"])
    for group, members in groups.items():
        fig.add_trace(go.Scatter(
            x=[pos[m][0] for m in members], y=[pos[m][1] for m in members], mode="markers+text",
            text=members, textposition="top center", name=group or "node",
            marker={"size": 9}, hovertext=[f"{m} ({group})" for m in members], hoverinfo="text"))
    shown = f" (first {max_nodes} of {len(graph.get('nodes', []))} nodes)" \
        if len(graph.get("nodes", [])) > max_nodes else ""
    fig.update_layout(title=title + shown, xaxis={"visible": False}, yaxis={"visible": False},
                      legend_title_text="group", height=520, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig
