"""The verdict's shortcut caveats: the runs' worlds are built again and checked, and a world
that cannot be built as it was is named, never passed in silence."""

import json

import duckdb
import pandas as pd
from test_app import fill, open_page

from core.results import report
from core.results.analysis import load_tables
from core.results.published import published
from core.shortcuts.warnings import WorldRef, refs_of, shortcut_warnings
from core.storage.store import Store
from core.worlds import build_world
from core.worlds.custom import browser_roots


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


def guessable_world_file(folder):
    """A custom world whose every held-out answer is the longest choice."""
    rows = [{"type": "document", "doc_id": f"d{k}", "text": f"blick{k} are round."}
            for k in range(12)]
    rows += [{"type": "item", "item_id": f"p{k}", "split": "probe", "prompt": f"blick{k} are",
              "choices": [" purple and round.", " green.", " blue."], "answer": 0}
             for k in range(12)]
    path = folder / "world.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_custom_world_is_checked_and_read_only_inside_the_given_folders(tmp_path):
    path = guessable_world_file(tmp_path)
    world = build_world("custom", 0, "quick", {"path": str(path)})
    ref = WorldRef("custom", 0, "quick", json.dumps(world.params), world.world_id)
    [line] = shortcut_warnings([ref], custom_roots=[tmp_path])
    assert "`probe`" in line and "on seed 0 (" in line and "longest 1.00" in line
    [line] = shortcut_warnings([ref], custom_roots=[tmp_path / "elsewhere"])
    assert line.startswith("not checked") and "custom seed 0" in line
    # Without a path the preset's example file is read, and that path is the one confined.
    default = WorldRef("custom", 0, "quick", "{}")
    [line] = shortcut_warnings([default], custom_roots=[tmp_path])
    assert line.startswith("not checked")
    # Inside the app's folders it is read, and the example passes the check: no line at all.
    assert shortcut_warnings([default], custom_roots=browser_roots()) == []


def test_runs_without_their_world_and_unreadable_parameters_are_named_not_skipped():
    runs = pd.DataFrame([
        {"kind": None, "world_seed": float("nan"), "preset": None, "world_params": None},
        {"kind": "reversals", "world_seed": 0.0, "preset": "quick", "world_params": "{not json"},
        {"kind": "reversals", "world_seed": 1, "preset": "quick", "world_params": "[1]"},
        {"kind": "custom", "world_seed": 0, "preset": "quick", "world_params": "[1]"}])
    [line] = shortcut_warnings(refs_of(runs), custom_roots=[])
    for name in ("a run whose world is not in the database", "reversals seed 0",
                 "reversals seed 1", "custom seed 0"):
        assert name in line
    # The same world twice (keys in another order, with and without its id) is checked once.
    world = build_world("semantic", 0, "quick")
    params = json.dumps(world.params, sort_keys=True)
    twice = pd.DataFrame([
        {"kind": "semantic", "world_seed": 0, "preset": "quick", "world_params": params,
         "world_id": world.world_id},
        {"kind": "semantic", "world_seed": 0, "preset": "quick", "world_id": None,
         "world_params": json.dumps(dict(reversed(list(world.params.items()))))}])
    assert len(refs_of(twice)) == 1
    [category, syllogism] = sorted(shortcut_warnings(refs_of(twice)))
    assert "least_often_first 0.43" in category and "0.43, " not in category
    assert "a rule that reads only the surface answers `category_holdout`" in category


def custom_world_db(db, world_file):
    """The hand-made database of test_app, its world replaced by a real custom world."""
    path = fill(db)
    world = build_world("custom", 0, "quick", {"path": str(world_file)})
    old = "reversals:0:{}:000000000000"
    con = duckdb.connect(str(path))
    con.execute("UPDATE worlds SET world_id = ?, kind = 'custom', params = ? WHERE world_id = ?",
                [world.world_id, json.dumps(world.params), old])
    for table in ("runs", "items"):
        con.execute(f"UPDATE {table} SET world_id = ? WHERE world_id = ?", [world.world_id, old])
    con.close()
    return path


def test_the_app_reads_custom_world_files_only_inside_the_data_folder(data_dir, tmp_path_factory):
    outside = custom_world_db(data_dir / "outside.duckdb",
                              guessable_world_file(tmp_path_factory.mktemp("outside")))
    at = open_page("views/4_Results.py", db=str(outside))
    text = " ".join(m.value for m in at.markdown)
    assert not at.exception and "Shortcut check: not checked: custom seed 0" in text
    inside = custom_world_db(data_dir / "inside.duckdb", guessable_world_file(data_dir))
    at = open_page("views/4_Results.py", db=str(inside))
    text = " ".join(m.value for m in at.markdown)
    assert not at.exception and "longest 1.00" in text and "not checked" not in text


def test_the_results_page_and_the_report_carry_the_check(data_dir):
    path = fill(data_dir / "lab.duckdb")  # a hand-made world: it cannot be built again
    at = open_page("views/4_Results.py", db=str(path))
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Shortcut check: not checked" in text and "reversals seed 0" in text
    tables = load_tables(Store(path, read_only=True))
    page = report.html_report(tables, tables.complete["run_id"].tolist())
    assert "Shortcut check: not checked" in page
