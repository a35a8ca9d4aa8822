"""The verdict's shortcut caveats: the runs' worlds are built again and checked, and a world
that cannot be built as it was is named, never passed in silence."""

import json

from test_app import fill, open_page

from core.results import report
from core.results.analysis import load_tables
from core.results.published import published
from core.shortcuts.warnings import WorldRef, shortcut_warnings
from core.storage.store import Store
from core.worlds import build_world


def test_the_published_semantic_verdict_names_the_splits_a_surface_rule_answers():
    caveats = [c for c in published("semantic").verdict.caveats if c.startswith("Shortcut check")]
    # docs/shortcuts.md: on the quick semantic world, least_often_first answers 0.51 and 0.53
    # of the syllogism items on seeds 0 and 2, and 0.43 of category_holdout on seed 0.
    assert len(caveats) == 2
    [syllogism] = [c for c in caveats if "`syllogism`" in c]
    assert "seeds 0 and 2" in syllogism and "least_often_first 0.51 on seed 0" in syllogism
    assert not any(c.startswith("Shortcut check") for c in published("reversals").verdict.caveats)


def test_a_world_that_cannot_be_built_as_it_was_is_named():
    world = build_world("reversals", 0, "quick")
    same = WorldRef("reversals", 0, "quick", json.dumps(world.params), world.world_id)
    assert shortcut_warnings([same]) == []
    other = WorldRef("reversals", 0, "quick", json.dumps(world.params), "reversals:0:{}:older")
    [line] = shortcut_warnings([other])
    assert line.startswith("not checked") and "reversals seed 0" in line


def test_a_custom_world_is_checked_and_read_only_inside_the_given_folders(tmp_path):
    # Every held-out answer is the longest choice: a rule that reads choice length answers all.
    rows = [{"type": "document", "doc_id": f"d{k}", "text": f"blick{k} are round."}
            for k in range(12)]
    rows += [{"type": "item", "item_id": f"p{k}", "split": "probe", "prompt": f"blick{k} are",
              "choices": [" purple and round.", " green.", " blue."], "answer": 0}
             for k in range(12)]
    path = tmp_path / "inside" / "world.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    world = build_world("custom", 0, "quick", {"path": str(path)})
    ref = WorldRef("custom", 0, "quick", json.dumps(world.params), world.world_id)
    [line] = shortcut_warnings([ref], custom_roots=[path.parent])
    assert "`probe`" in line and "on seed 0 (" in line and "longest 1.00" in line
    [line] = shortcut_warnings([ref], custom_roots=[tmp_path / "elsewhere"])
    assert line.startswith("not checked") and "custom seed 0" in line


def test_the_results_page_and_the_report_carry_the_check(data_dir):
    path = fill(data_dir / "lab.duckdb")  # a hand-made world: it cannot be built again
    at = open_page("views/4_Results.py", db=str(path))
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Shortcut check: not checked" in text and "reversals seed 0" in text
    tables = load_tables(Store(path, read_only=True))
    page = report.html_report(tables, tables.complete["run_id"].tolist())
    assert "Shortcut check: not checked" in page
