"""No work without a limit: seeds per launch, jobs in the queue, upload size and the length of
a scored pair are capped by named settings, and each refusal is a clear message before
anything starts. The command line's score command checks its files before loading a model."""

import json
from pathlib import Path

import pytest
from test_cli import cli  # noqa: F401 - the fixture
from test_jobs import experiment

from core.errors import LabError
from core.limits import Limits, limits
from core.queue import jobs
from core.worlds.custom import save_upload


def test_the_defaults_and_the_settings_that_change_them(monkeypatch):
    assert limits() == Limits()
    monkeypatch.setenv("LAB_MAX_SEEDS_PER_LAUNCH", "3")
    monkeypatch.setenv("LAB_MAX_UPLOAD_MB", "0.5")
    assert (limits().seeds_per_launch, limits().upload_mb) == (3, 0.5)
    monkeypatch.setenv("LAB_MAX_ACTIVE_JOBS", "many")
    with pytest.raises(LabError, match="LAB_MAX_ACTIVE_JOBS must be a number"):
        limits()


def test_a_launch_of_too_many_seeds_starts_nothing(data_dir, monkeypatch):
    monkeypatch.setenv("LAB_MAX_SEEDS_PER_LAUNCH", "4")
    with pytest.raises(LabError, match="training seeds in one launch: 5 asked for, at most 4"):
        experiment(seeds=range(5)).launch()
    assert jobs.list_jobs() == []


def test_the_queue_takes_no_more_jobs_than_its_limit(data_dir, monkeypatch):
    monkeypatch.setenv("LAB_MAX_ACTIVE_JOBS", "2")
    with pytest.raises(LabError, match="jobs queued or running: 3 asked for, at most 2"):
        experiment(seeds=[0, 1, 2]).launch()
    assert jobs.list_jobs() == []  # refused as a whole, not after two


def test_an_upload_over_the_limit_is_refused_and_not_kept(data_dir, monkeypatch):
    monkeypatch.setenv("LAB_MAX_UPLOAD_MB", "1")
    with pytest.raises(LabError, match="LAB_MAX_UPLOAD_MB"):
        save_upload(b"x" * (2 * 2**20), "big.jsonl")
    assert not (data_dir / "uploads").exists() or not any((data_dir / "uploads").iterdir())


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "folder", "is a folder"),
    (lambda d: d / "missing" / "out.jsonl", "does not exist"),
    (lambda d: Path("/proc/out.jsonl"), "cannot be written"),  # root may, by access(); not really
])
def test_score_checks_its_output_before_loading_a_model(cli, tmp_path, make, message):  # noqa: F811
    (tmp_path / "folder").mkdir()
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"id": 1, "context": "a", "continuation": " b"}\n')
    result = cli("score", "--model", "/no/such/model", "--pairs", str(pairs),
                 "--out", str(make(tmp_path)))
    assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\x00binary", "not UTF-8 text"),
    (b"[" * 100_000 + b"\n", "line 1: expected"),
])
def test_score_refuses_unreadable_pairs_with_one_line(cli, tmp_path, content, message):  # noqa: F811
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(content)
    result = cli("score", "--model", "tiny", "--pairs", str(pairs), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_score_refuses_a_pair_longer_than_the_models_context(cli, tmp_path):  # noqa: F811
    pairs = tmp_path / "pairs.jsonl"
    short = {"id": 1, "context": "a", "continuation": " b"}
    long = {"id": 2, "context": "word " * 5000, "continuation": " b"}
    pairs.write_text(json.dumps(short) + "\n" + json.dumps(long) + "\n")
    result = cli("score", "--model", "tiny", "--pairs", str(pairs), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "line 2:" in result.stderr and "more than the model's 2048" \
        in result.stderr
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_the_uploads_folder_as_a_whole_is_capped(data_dir, monkeypatch):
    monkeypatch.setenv("LAB_MAX_UPLOADS_MB", "1.5")
    first = save_upload(b"a" * 2**20, "one.jsonl")
    assert save_upload(b"a" * 2**20, "one.jsonl") == first  # the same file again costs nothing
    with pytest.raises(LabError, match="uploads kept in .* 2 asked for, at most 1.5.*LAB_MAX_UPLOADS_MB"):
        save_upload(b"b" * 2**20, "two.jsonl")
    assert [p.name for p in (data_dir / "uploads").iterdir()] == [first.name]


def test_a_world_over_the_document_or_item_cap_is_refused(data_dir, monkeypatch):
    from core.worlds import build_world
    monkeypatch.setenv("LAB_MAX_ITEMS_PER_WORLD", "39")
    with pytest.raises(LabError, match="test items in the reversals world: 40 asked for, at most 39"):
        build_world("reversals", 0, "quick")  # 40 items
    monkeypatch.setenv("LAB_MAX_DOCUMENTS_PER_WORLD", "9")
    path = data_dir / "big.jsonl"
    path.write_text("".join(json.dumps({"type": "document", "doc_id": f"d{k}", "text": f"x{k}"})
                            + "\n" for k in range(10)))
    with pytest.raises(LabError, match="documents in custom world .*big.jsonl: 10 asked for, "
                                       "at most 9.*LAB_MAX_DOCUMENTS_PER_WORLD"):
        build_world("custom", 0, "quick", {"path": str(path)})


def test_study_checks_its_results_file_before_running_anything(cli, tmp_path):  # noqa: F811
    result = cli("study", "--kinds", "reversals", "--seeds", "0", "--model", "/no/such/model",
                 "--db", str(tmp_path / "s.duckdb"), "--results", "/proc/results.jsonl")
    assert result.returncode == 2 and "--results /proc/results.jsonl cannot be written" in result.stderr
    assert not (tmp_path / "s.duckdb").exists()
