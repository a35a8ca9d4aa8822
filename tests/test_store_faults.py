"""A write that fails (a full disk) leaves things clear: the run is marked failed with the
reason, the error is one line, and the runs stored before it read as they were."""

import contextlib

import duckdb
import pytest

from core.errors import LabError
from core.running.runner import RunSpec, run_all
from core.storage.store import Store

SMALL = {"n_facts": 6, "n_dimensions": 2}


class _DiskFullOnMetrics:
    """A connection that fails, as a full disk does, when a run's metrics are written."""

    def __init__(self, con):
        self.con = con

    def executemany(self, sql, rows):
        if sql.startswith("INSERT INTO metrics"):
            raise duckdb.IOException("could not write file: No space left on device")
        return self.con.executemany(sql, rows)

    def __getattr__(self, name):
        return getattr(self.con, name)


@pytest.mark.parametrize("held", [False, True], ids=["own connection", "held connection"])
def test_a_full_disk_fails_the_run_with_its_reason_and_keeps_earlier_results(tiny_lm, tmp_path,
                                                                               monkeypatch, held):
    """Held (`Store.connection()`), the failed transaction must be rolled back on the same
    connection before the run can be marked failed; on its own, closing it does that."""
    store = Store(tmp_path / "lab.duckdb")
    spec = RunSpec(method="pretrained", model="tiny", overrides=SMALL)
    run_all([spec], store, lm_cache={"tiny": tiny_lm})
    before = store.run_totals()

    connect = Store._connect

    @contextlib.contextmanager
    def full_disk(self, read_only=False):
        with connect(self, read_only) as con:
            yield con if read_only else _DiskFullOnMetrics(con)

    monkeypatch.setattr(Store, "_connect", full_disk)
    with (store.connection() if held else contextlib.nullcontext()), \
            pytest.raises(LabError, match="cannot store the results .* No space left on device"):
        run_all([spec], store, lm_cache={"tiny": tiny_lm})
    monkeypatch.undo()

    runs = Store(store.path, read_only=True).runs()
    assert runs.status.tolist() == ["complete", "failed"]
    assert "No space left on device" in runs.error.iloc[1]
    assert Store(store.path, read_only=True).run_totals().equals(before)  # nothing half-written
    assert Store(store.path, read_only=True).metrics()["run_id"].nunique() == 1
