"""A shared deployment: LAB_READ_ONLY shows results to everyone and lets nobody launch, upload
or store; LAB_PASSWORD lets those who log in do it. Pages as a browser user meets them."""

from conftest import queue_held
from streamlit.testing.v1 import AppTest
from test_app_experiments import HOME, TIMEOUT, button, experiments, fill, widget

from core.queue import jobs


def worlds_page(kind: str = "reversals"):
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT).switch_page("views/1_Worlds.py")
    at.query_params["kind"] = kind
    return at


def labels(at) -> list[str]:
    return [b.label for b in at.button]


def test_read_only_lets_nobody_launch_upload_store_or_rerun(data_dir, monkeypatch):
    monkeypatch.setenv("LAB_READ_ONLY", "1")
    fill(data_dir / "lab.duckdb")  # holds an interrupted run, which a writer could rerun
    with queue_held():
        jobs.launch(["run", "--world", "reversals", "--model", "tiny", "--methods", "pretrained"],
                    str(data_dir / "lab.duckdb"))
        at = home().run()
        assert not at.exception
        assert button(at, "Run the quick demo").disabled
        assert "read-only" in at.sidebar.info[0].value

        at = experiments().run()
        assert not at.exception
        assert button(at, "Launch").disabled
        assert "Cancel" not in labels(at) and "Rerun" not in labels(at)
        assert jobs.list_jobs()[0]["state"] == "queued"  # seen, not touched

    at = worlds_page("custom").run()
    assert not at.exception
    assert not at.get("file_uploader")
    assert button(at, "Store this world").disabled
    assert not (data_dir / "uploads").exists()


def home():
    return AppTest.from_file(HOME, default_timeout=TIMEOUT)


def test_a_password_opens_launching_to_those_who_log_in(data_dir, monkeypatch):
    monkeypatch.setenv("LAB_PASSWORD", "correct horse")
    at = experiments().run()
    assert not at.exception
    assert button(at, "Launch").disabled
    assert widget(at.sidebar.text_input, "Password")  # results stay readable without it

    widget(at.sidebar.text_input, "Password").set_value("wrong")
    at.sidebar.button[0].click().run()
    assert "Wrong password." in [e.value for e in at.error]
    assert button(at, "Launch").disabled

    widget(at.sidebar.text_input, "Password").set_value("correct horse")
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert not button(at, "Launch").disabled
    button(at, "Log out").click().run()
    assert button(at, "Launch").disabled


def test_without_either_setting_everything_is_open(data_dir):
    at = experiments().run()
    assert not button(at, "Launch").disabled
    assert not at.sidebar.get("text_input")
