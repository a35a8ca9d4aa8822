"""The study command on the tiny model: every method and source, summarized, and resumable."""

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
    assert run_study(specs, store) == len(specs)
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
