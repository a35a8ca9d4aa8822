"""The study command on the tiny model: every method and source, summarized, and resumable."""

from core.runner import METHODS
from core.store import Store
from core.study import markdown, run_study, study_specs, study_table


def test_study_runs_every_method_and_source_once_and_resumes(tiny_lm, tmp_path):
    store = Store(tmp_path / "study.duckdb")
    specs = study_specs(["syllogisms"], [0], model="tiny")
    assert len(specs) == len(METHODS) + 3  # the three augmented methods once per source
    assert run_study(specs, store) == len(specs)
    assert run_study(specs, store) == 0  # already complete: nothing runs again
    table = study_table(store)
    assert len(table) == len(specs) and set(table["seeds"]) == {1}
    text = markdown(table)
    assert "**syllogisms**" in text and "ft_local (model)" in text and "ft_local (oracle)" in text
