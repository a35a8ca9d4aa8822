"""The structure picture: roots on top, whichever way a kind points its edges; relations named."""

from ui.graph import graph_figure, layered_positions


def test_parents_sit_above_their_children():
    nodes = [{"id": n} for n in ("gran", "mum", "kid")]
    edges = [{"source": "gran", "target": "mum"}, {"source": "mum", "target": "kid"}]
    pos = layered_positions(nodes, edges)
    assert pos["gran"][1] > pos["mum"][1] > pos["kid"][1]


def test_is_a_edges_put_the_root_category_on_top():
    graph = {"nodes": [{"id": "animal", "group": "a"}, {"id": "dog", "group": "a"}],
             "edges": [{"source": "dog", "target": "animal", "label": "is a"}]}
    markers = [t for t in graph_figure(graph, "t").data if t.mode == "markers+text"][0]
    y = dict(zip(markers.text, markers.y))
    assert y["animal"] > y["dog"]


def test_the_picture_names_its_relations():
    graph = {"nodes": [{"id": "femp", "group": "a"}, {"id": "glon", "group": "b"}],
             "edges": [{"source": "femp", "target": "glon", "label": "more dangerous than"}]}
    traces = graph_figure(graph, "t").data
    relation = next(t for t in traces if t.name == "relation (on the line)")
    assert list(relation.text) == ["more dangerous than"]
    assert list(relation.hovertext) == ["femp more dangerous than glon"]
    assert {"femp", "glon"} <= {m for t in traces if t.mode == "markers+text" for m in t.text}
