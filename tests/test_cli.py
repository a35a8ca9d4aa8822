"""The command line as a user meets it: bad input gets one clear line and exit code 2.

Commands run in this process through `core.__main__.main` (a Python process and its imports
for every one-line check cost seconds each); one test runs the real `python -m core` entry
point in a child process."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from core.__main__ import main
from core.paths import REPO_ROOT


@pytest.fixture
def cli(capsys):
    def run(*args):
        capsys.readouterr()  # drop what earlier calls printed
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's own usage errors
            code = exit_.code
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)
    return run


def test_python_dash_m_core_is_the_same_command_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "core", "world", "planets", "--out", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 2 and result.stderr.startswith("error: unknown world kind 'planets'")


@pytest.mark.parametrize("args, message", [
    (["world", "planets", "--out", "{tmp}/w"], "unknown world kind 'planets'"),
    (["world", "reversals", "--set", "colour=red", "--out", "{tmp}/w"], "unknown parameter"),
    (["world", "reversals", "--set", "n_facts=100000", "--out", "{tmp}/w"], "between 2 and 400"),
    (["run", "--methods", "pretrained", "--model", "{tmp}/no-such-model", "--db", "{tmp}/x.duckdb"],
     "does not exist"),
    (["run", "--methods", "pretrained", "--model", "tiny", "--db", "/proc/lab.duckdb"],
     "cannot open database"),
    (["run", "--methods", "pretrained", "--model", "tiny", "--db", "{tmp}"], "is a folder"),
    (["run", "--methods", "teleport", "--model", "tiny", "--db", "{tmp}/x.duckdb"], "unknown method"),
    (["score", "--model", "tiny", "--pairs", "{tmp}/missing.jsonl", "--out", "{tmp}/o.jsonl"],
     "file not found"),
    (["run", "--methods", "ft", "--model", "tiny", "--lora-rank", "0", "--db", "{tmp}/x.duckdb"],
     "lora_rank must be between 1 and 512"),
    (["study", "--from", "{tmp}/missing.jsonl"], "file not found"),
    (["run", "--methods", ",", "--model", "tiny", "--db", "{tmp}/x.duckdb"], "at least one method"),
    (["run", "--seed", "99999999999", "--methods", "pretrained", "--model", "tiny",
      "--db", "{tmp}/x.duckdb"], "world seed must be a whole number from 0"),
    (["run", "--train-seed", "-1", "--methods", "pretrained", "--model", "tiny",
      "--db", "{tmp}/x.duckdb"], "training seed must be a whole number from 0"),
    (["world", "reversals", "--seed", "-1", "--out", "{tmp}/w"], "world seed must be"),
    (["study", "--seeds", "abc", "--db", "{tmp}/x.duckdb"], "seeds are whole numbers"),
    (["study", "--kinds", "", "--db", "{tmp}/x.duckdb"], "at least one world kind"),
    (["tune", "--candidates", "8", "--model", "tiny"], "epochs:lr"),
    (["tune", "--candidates", "8:2e-4:0", "--model", "tiny"], "batch_size must be between"),
    (["run", "--methods", "ft_local", "--aug-source", "teacher", "--model", "tiny",
      "--db", "{tmp}/x.duckdb"], "needs --teacher"),
    (["study", "--kinds", "reversals", "--sources", "teacher", "--db", "{tmp}/x.duckdb"],
     "needs --teacher"),
    (["tune", "--seeds", "0,100", "--candidates", "8:2e-4", "--model", "tiny"],
     "reported by the study"),
])
def test_bad_input_is_one_clear_line_with_exit_code_2(args, message, tmp_path, cli):
    result = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr


def test_a_results_file_that_is_not_one_names_the_line(tmp_path, cli):
    results = tmp_path / "results.jsonl"
    results.write_text('{"run_id": "a"}\n')
    result = cli("study", "--from", str(results))
    assert result.returncode == 2 and "line 1: not a study result" in result.stderr


def test_every_fine_tuning_setting_can_be_given_on_the_command_line(tmp_path, cli):
    db = tmp_path / "lab.duckdb"
    result = cli("run", "--set", "n_facts=4", "--methods", "ft", "--model", "tiny", "--epochs", "1",
                 "--ft-mode", "lora", "--lora-rank", "4", "--lora-alpha", "8", "--warmup-steps", "1",
                 "--weight-decay", "0.01", "--batch-size", "4", "--db", str(db), "--quiet")
    assert result.returncode == 0, result.stderr
    from core.storage.store import Store
    settings = json.loads(Store(db, read_only=True).runs()["settings"][0])["ft"]
    assert {k: settings[k] for k in ("mode", "lora_rank", "lora_alpha", "warmup_steps",
                                     "weight_decay", "batch_size", "epochs")} == \
        {"mode": "lora", "lora_rank": 4, "lora_alpha": 8, "warmup_steps": 1, "weight_decay": 0.01,
         "batch_size": 4, "epochs": 1}


def test_malformed_pairs_file_names_the_line(tmp_path, cli):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"id": 1, "context": "a", "continuation": " b"}\n{"id": 2}\n')
    result = cli("score", "--model", "tiny", "--pairs", str(pairs), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "line 2" in result.stderr and "Traceback" not in result.stderr


def test_world_command_writes_the_documented_files(tmp_path, cli):
    result = cli("world", "reversals", "--seed", "5", "--set", "n_facts=6", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "world.json").read_text())
    assert summary["kind"] == "reversals" and summary["seed"] == 5
    assert summary["counts"] == {"forward": 6, "reversal": 6}
    item = json.loads((tmp_path / "items.jsonl").read_text().splitlines()[0])
    assert set(item) == {"item_id", "split", "prompt", "choices", "answer"}
    doc = json.loads((tmp_path / "documents.jsonl").read_text().splitlines()[0])
    assert set(doc) == {"doc_id", "text"}


def test_run_prints_one_json_line_per_run_and_stores_them(tmp_path, cli):
    db = tmp_path / "lab.duckdb"
    result = cli("run", "--world", "reversals", "--set", "n_facts=4", "--methods", "pretrained,ft",
                 "--model", "tiny", "--epochs", "1", "--db", str(db), "--quiet")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["method"] for r in rows] == ["pretrained", "ft"]
    assert set(rows[1]["accuracy"]) == {"forward", "reversal"}
    assert set(rows[1]["cost"]) == {"train", "evaluate"}
    from core.storage.store import Store
    assert list(Store(db).runs().status) == ["complete", "complete"]
