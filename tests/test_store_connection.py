"""`Store.connection()`: calls made inside it share one DuckDB connection (each connection
costs DuckDB ~20 ms of setup), the file is free for other processes once it ends, and a write
that fails inside it leaves the store as a failed write always has (tests/test_store_faults.py,
held and not)."""

import duckdb
import pytest
from test_store_faults import SMALL

from core.results import analysis
from core.running.runner import RunSpec, run_all
from core.storage.store import Store


@pytest.fixture
def connects(monkeypatch):
    """How many DuckDB connections the code under test opens."""
    opened = []
    connect = duckdb.connect

    def counted(*args, **kwargs):
        opened.append(args)
        return connect(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counted)
    return opened


def _read_everything(store: Store) -> None:
    store.runs()
    store.metrics()
    analysis.load_tables(store)


def test_calls_inside_a_held_connection_open_the_file_once(tiny_lm, tmp_path, connects):
    store = Store(tmp_path / "lab.duckdb")
    run_all([RunSpec(method="pretrained", model="tiny", overrides=SMALL)], store,
            lm_cache={"tiny": tiny_lm})
    for reader in (store, Store(store.path, read_only=True)):
        connects.clear()
        _read_everything(reader)
        one_each = len(connects)
        connects.clear()
        with reader.connection():
            with reader.connection():  # re-entrant: the inner block uses the same connection
                _read_everything(reader)
        assert (len(connects), one_each) == (1, 3)  # load_tables holds one for its five queries


def test_the_file_is_free_once_the_held_connection_ends(tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    with store.connection():
        store.runs()
        # DuckDB refuses a second configuration of a file open in this process: held, it is.
        with pytest.raises(duckdb.Error):
            duckdb.connect(str(store.path), read_only=True)
    duckdb.connect(str(store.path), read_only=True).close()
