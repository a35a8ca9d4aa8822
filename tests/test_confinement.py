"""The app reads and writes only under its data folder: a database, a custom world's file or a
model folder a browser user names elsewhere is refused with a message, and nothing is made."""

import pytest
from streamlit.testing.v1 import AppTest
from test_app import HOME, RUNS, TIMEOUT, open_page

from core.errors import LabError
from core.paths import confined, model_roots

OUTSIDE = ["/etc/passwd", "../escape.duckdb", "/tmp/x/sub/evil.duckdb", "sub/../../up.duckdb"]


@pytest.mark.parametrize("path", OUTSIDE)
def test_a_path_that_leaves_the_data_folder_is_refused(data_dir, path):
    with pytest.raises(LabError, match="must be inside"):
        confined(path, "the database file")


def test_a_path_inside_is_resolved_there(data_dir):
    assert confined("lab.duckdb", "db") == (data_dir / "lab.duckdb").resolve()
    assert confined(data_dir / "runs" / "a.duckdb", "db") == (data_dir / "runs" / "a.duckdb").resolve()


def test_a_link_out_of_the_data_folder_is_refused(data_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (data_dir / "link").symlink_to(outside)
    with pytest.raises(LabError, match="must be inside"):
        confined("link/lab.duckdb", "db")


def test_model_roots_are_a_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_MODEL_ROOTS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert model_roots() == [tmp_path / "a", tmp_path / "b"]
    assert confined(tmp_path / "b" / "m", "model", model_roots()) == (tmp_path / "b" / "m").resolve()


@pytest.mark.parametrize("page", [None, RUNS, "views/2_Experiments.py", "views/1_Worlds.py"])
def test_pages_refuse_a_database_outside_the_data_folder(data_dir, page):
    at = (open_page(page, db="/tmp/x/sub/evil.duckdb") if page else
          AppTest.from_file(HOME, default_timeout=TIMEOUT))
    if not page:
        at.query_params["db"] = "/tmp/x/sub/evil.duckdb"
        at.run()
    assert not at.exception
    assert any("must be inside" in e.value for e in at.error), [e.value for e in at.error]


def _box(at: AppTest, label: str):
    return next(widget for widget in at.text_input if widget.label == label)


def test_the_worlds_page_neither_stores_nor_reads_outside_the_data_folder(data_dir,
                                                                          tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    at = open_page("views/1_Worlds.py")
    _box(at, "Database file").set_value(str(outside / "x" / "evil.duckdb")).run()
    assert any("must be inside" in e.value for e in at.error)
    assert not (outside / "x").exists()  # nothing was made

    at = open_page("views/1_Worlds.py", kind="custom")
    _box(at, "path").set_value("/etc/passwd").run()
    assert any("the custom world file must be inside" in e.value for e in at.error)
    assert not any("not valid JSON" in e.value for e in at.error)  # the file was not read
