"""The study command on the tiny model: every method and source, summarized, and resumable."""

import dataclasses
import json
import re
from pathlib import Path

from core.lm import models
from core.methods import METHODS
from core.methods.finetune import FTConfig
from core.results import results_file
from core.running.study import CAPTION, markdown, run_study, study_records, study_specs, study_table
from core.storage.store import Store


def test_study_runs_every_method_and_source_once_and_resumes(tiny_lm, tmp_path):
    store = Store(tmp_path / "study.duckdb")
    specs = study_specs(["syllogisms"], [0], model="tiny")
    assert len(specs) == len(METHODS) + 3  # the three augmented methods once per source
    for spec in specs:  # the study's machinery, not its recipe: one epoch keeps it quick
        spec.ft = FTConfig(epochs=1, seed=spec.seed)
    # With a results file, each run is in the file as soon as it is stored (a study cut off
    # keeps what it finished).
    published = tmp_path / "published.jsonl"
    lines_seen = []
    def on_result(result, spec, error):
        assert error is None
        lines_seen.append(len(published.read_text().splitlines()))
    assert run_study(specs, store, on_result=on_result, results_path=published) == len(specs)
    assert lines_seen == list(range(1, len(specs) + 1))
    assert run_study(specs, store) == 0  # already complete: nothing runs again
    records = study_records(store, specs)
    table = study_table(records)
    assert len(table) == len(specs) and set(table["seeds"]) == {1}
    text = markdown(table)
    assert "**syllogisms**" in text and "ft_local (model)" in text and "ft_local (oracle)" in text
    assert text.startswith(CAPTION) and "Student's t" in text
    coverage = dict(zip(table["method"].str.removesuffix(" (adds nothing)"), table["coverage"]))
    # Nothing given covers nothing; the oracle's global inferences are the syllogisms' answers.
    assert coverage["pretrained"] == coverage["ft"] == "0.00"
    assert coverage["ft_global (oracle)"] == "1.00"

    # The results file rebuilds the same table, and a colleague's file extends it.
    path = tmp_path / "results.jsonl"
    assert results_file.write(path, records) == len(specs)
    assert markdown(study_table(results_file.read(path))) == text
    theirs = [dict(r, run_id=r["run_id"] + "x", seed=1, world_seed=1) for r in records]
    merged = results_file.merge(results_file.read(path), theirs, theirs)
    assert len(merged) == 2 * len(specs)
    assert set(study_table(merged)["seeds"]) == {2}
    assert set(table["model"]) == {"tiny"} and table["code"].str.len().min() > 0
    # Each trained run says how it trained (the CPU decides), the others that they did not.
    precision = "bf16" if models.bf16_supported(tiny_lm.device) else "float32"
    by_training = {(r["method"] in ("pretrained", "icl"), r["train_precision"]) for r in records}
    assert by_training == {(True, None), (False, precision)}
    assert set(table["training"]) == {"", precision}


def test_a_study_resumes_from_its_results_file_without_the_database(tiny_lm, tmp_path):
    # Seed 1 with the spec's own training config (whose seed field stays 0: training takes
    # the run's seed), as `study_specs` makes them: the key must still match the record.
    specs = study_specs(["reversals"], [1], model="tiny", sources=("oracle",))[:3]
    for spec in specs:
        spec.ft = dataclasses.replace(spec.ft, epochs=1)
    published = tmp_path / "published.jsonl"
    assert run_study(specs, Store(tmp_path / "a.duckdb"), results_path=published) == 3
    first = published.read_text()
    assert all(r["world_id"] for r in results_file.read(published))
    # Another machine, the file but not the database: nothing runs, the file is unchanged.
    assert run_study(specs, Store(tmp_path / "b.duckdb"), results_path=published) == 0
    assert published.read_text() == first
    # A run missing from the file runs again, and the others stay as they were.
    published.write_text("".join(first.splitlines(keepends=True)[1:]))
    assert run_study(specs, Store(tmp_path / "c.duckdb"), results_path=published) == 1
    assert len(results_file.read(published)) == 3
    # A file written before records named their world (no `world_id`) still reads; its runs
    # match no spec, so they run again, and each rerun replaces its stale line.
    published.write_text("".join(
        json.dumps({k: v for k, v in r.items() if k != "world_id"}) + "\n"
        for r in results_file.read(published)))
    assert [r["world_id"] for r in results_file.read(published)] == [None] * 3
    assert run_study(specs, Store(tmp_path / "d.duckdb"), results_path=published) == 3
    assert [bool(r["world_id"]) for r in results_file.read(published)] == [True] * 3


def test_merging_keeps_each_run_once_and_the_newest_run_of_each_spec(tmp_path):
    record = {key: None for key in results_file.RUN_KEYS} | {
        "run_id": "a", "kind": "reversals", "preset": "quick", "world_seed": 0, "seed": 0,
        "method": "ft", "aug_source": None, "model": "default", "world_params": "{}",
        "settings": '{"ft": {"lr": 0.0002, "seed": 0}}', "created_at": "2026-11-30 10:00:00",
        "metrics": []}
    rerun = record | {"run_id": "b", "created_at": "2026-12-01 10:00:00",
                      "settings": '{"ft": {"lr": 0.0002}}'}  # the same spec, recorded later
    other_seed = record | {"run_id": "c", "seed": 1, "world_seed": 1}
    assert results_file.merge([record, other_seed], [rerun]) == [rerun, other_seed]
    assert results_file.merge([rerun], [record]) == [rerun]  # older never replaces newer
    # Two pieces of a study merging into one file keep each other's runs.
    path = tmp_path / "results.jsonl"
    assert results_file.update(path, [record]) == [record]
    assert len(results_file.update(path, [other_seed])) == 2
    assert {r["run_id"] for r in results_file.read(path)} == {"a", "c"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".results.jsonl.lock",
                                                          "results.jsonl"]


def test_the_published_tables_are_rebuilt_from_the_published_results_file():
    # Every table under "Today's table" in docs/study.md is what `study --from` prints for its
    # kind from docs/study/results.jsonl: the docs cannot drift from the runs they cite.
    root = Path(__file__).resolve().parents[1]
    today = (root / "docs" / "study.md").read_text().split("## Today's table", 1)[1]
    today = today.split("\n## ", 1)[0]
    published = dict(re.findall(r"\*\*(\w+)\*\*\n\n(\|.*?)\n\n", today, re.S))
    rebuilt = dict(re.findall(r"\*\*(\w+)\*\*\n\n(\|.*?)\n(?:\n|$)",
                              markdown(study_table(results_file.read(
                                  root / "docs" / "study" / "results.jsonl"))), re.S))
    assert set(published) == {"celebrities", "family", "reversals", "semantic", "syllogisms"}
    for kind, table in published.items():
        assert table == rebuilt[kind], kind


def test_a_kinds_table_does_not_change_when_other_kinds_are_added():
    # Columns are the kind's own splits in name order, whichever kind's rows came first.
    records = results_file.read(Path(__file__).resolve().parents[1] / "docs/study/results.jsonl")
    tables = _tables(markdown(study_table(records)))
    assert len(tables) >= 3
    for kind, table in tables.items():
        alone = _tables(markdown(study_table([r for r in records if r["kind"] == kind])))
        assert alone == {kind: table}
        splits = table.splitlines()[0].split(" | ")[3:-4]
        assert splits == sorted(splits), kind


def _tables(text: str) -> dict[str, str]:
    return dict(re.findall(r"\*\*(\w+)\*\*\n\n(\|.*?)\n(?:\n|$)", text, re.S))
