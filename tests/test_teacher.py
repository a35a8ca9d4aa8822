"""A teacher writes the augmentations: another local model, or one behind an OpenAI-compatible
server. The real server is `transformers serve` on the loopback address, serving the default
model's folder (the tiny random model only echoes its prompt's last line break, so it writes
nothing to audit), started and stopped here; the ways a server fails are played by a small
stdlib server."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import LabError
from core.lm.models import default_model_dir
from core.methods import augment, writers
from core.methods.config import FTConfig
from core.running.runner import run_all
from core.running.spec import RunSpec
from core.storage.store import Store
from core.worlds import build_world


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_default(tmp_path_factory):
    """`transformers serve` on 127.0.0.1 with the default model's folder, for this module."""
    folder = default_model_dir()
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"  # a file: a pipe nobody reads fills up
    server = subprocess.Popen(
        [sys.executable, "-m", "transformers.cli.transformers", "serve", str(folder),
         "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=subprocess.DEVNULL, stderr=open(log, "w"),
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "transformers serve did not start in 120 s"
                time.sleep(0.5)
        yield url, folder
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_run_augmented_by_a_served_teacher_records_its_audit_and_cost(served_default, tiny_lm,
                                                                        tmp_path):
    url, folder = served_default
    store = Store(tmp_path / "lab.duckdb")
    # Two training sentences, so two prompts: the served model writes up to 48 tokens each.
    world_file = tmp_path / "two.jsonl"
    world_file.write_text("\n".join(json.dumps(row) for row in [
        {"type": "document", "doc_id": "d0",
         "text": "femp are more dangerous than glon. glon are faster than zirk."},
        {"type": "item", "item_id": "i0", "split": "reversal", "prompt": "glon are",
         "choices": [" less dangerous than femp", " more dangerous than femp"], "answer": 0}]))
    small = {"path": str(world_file)}
    spec = RunSpec(method="ft_local", world_kind="custom", model="tiny", aug_source="teacher",
                   teacher=url, overrides=small, ft=FTConfig(max_steps=2))
    [result] = run_all([spec], store, lm_cache={"tiny": tiny_lm})

    assert result.extra["augmentation_writer"] == {"teacher": f"{url}#{folder}", "served": True,
                                                   "flops_known": True}
    audit = result.extra["augmentation_audit"]
    assert audit["generated"] == len(result.augmentations) and audit["generated"] > 0
    [cost] = [c for c in result.costs if c.phase == "augment"]
    # The server counted every prompt whole (the shared instruction in each): at least our own
    # count of the prompts' tokens, plus at least one written token per prompt.
    sentences = augment.training_sentences(build_world("custom", 0, "quick", small))
    assert len(sentences) == 2
    prompt_tokens = sum(len(tiny_lm.encode(augment.LOCAL_PROMPT.format(sentence=s)))
                        for s in sentences)
    assert prompt_tokens + len(sentences) <= cost.tokens <= prompt_tokens + 49 * len(sentences)
    teacher_params = 134_515_008  # SmolLM2-135M: at least 2 FLOPs a weight a token
    assert cost.flops > 2 * teacher_params * prompt_tokens * 0.9 and cost.seconds > 0
    stored = store.query("SELECT status, settings FROM runs")
    assert stored["status"].tolist() == ["complete"]
    assert json.loads(stored["settings"][0])["teacher"] == url


def test_a_local_teacher_writes_what_the_same_model_writes_as_its_own(tiny_lm):
    world = build_world("reversals", 0, "quick")
    own = augment.augment(world, ["local"], "model", tiny_lm)
    # No student at all: the teacher alone writes.
    taught = augment.augment(world, ["local"], "teacher", lm=None,
                             teacher=writers.LocalWriter(tiny_lm))
    assert [a.statement for a in taught.statements] == [a.statement for a in own.statements]
    assert (taught.tokens, taught.flops) == (own.tokens, own.flops)


class _Misbehaving(BaseHTTPRequestHandler):
    """Lists one model; answers completions as the server's `answer` says."""

    def do_GET(self):
        self._send(b'{"data": [{"id": "m"}]}')

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        kind = self.server.answer
        if kind == "slow":
            time.sleep(3)
        self._send({"not json": b"<html>502 Bad Gateway</html>", "no choices": b'{"choices": []}',
                    "slow": b"{}", "list": b"[1, 2]"}[kind])

    def _send(self, body: bytes):
        try:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:  # the client gave up first, as it should on a slow answer
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def misbehaving():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("answer, message", [
    ("not json", "not JSON"), ("no choices", "not an OpenAI completion"),
    ("list", "not an object"), ("slow", "did not answer within 0.5 s")])
def test_a_server_that_misbehaves_is_a_clear_error_not_a_hang(answer, message, misbehaving,
                                                              tiny_lm, monkeypatch):
    monkeypatch.setenv("LAB_TEACHER_TIMEOUT", "0.5")
    misbehaving.answer = answer
    teacher = writers.served(f"http://127.0.0.1:{misbehaving.server_port}/v1", tiny_lm)
    assert teacher.model == "m" and not teacher.flops_known
    with pytest.raises(LabError, match=message):
        teacher.write(["Statement: a.\n"], "", max_new_tokens=4, stop="\n\n")


def test_a_server_that_is_down_fails_its_run_and_the_others_go_on(tiny_lm, tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    down = f"http://127.0.0.1:{_free_port()}/v1"
    quick = FTConfig(max_steps=1)
    specs = [RunSpec(method="ft_local", model="tiny", aug_source="teacher", teacher=down, ft=quick),
             RunSpec(method="ft_local", model="tiny", aug_source="oracle", ft=quick)]
    done = run_all(specs, store, lm_cache={"tiny": tiny_lm})
    assert [r.spec for r in done] == [specs[1]]
    failed = store.query("SELECT status, error FROM runs WHERE aug_source = 'teacher'")
    assert failed["status"].tolist() == ["failed"]
    assert "cannot be reached" in failed["error"][0] and down in failed["error"][0]


def test_the_app_launches_only_the_teachers_it_offers(monkeypatch):
    from core.queue.experiment import Experiment
    monkeypatch.setenv("LAB_TEACHERS", "http://127.0.0.1:8000/v1")
    listed = RunSpec(method="ft_local", model="tiny", aug_source="teacher",
                     teacher="http://127.0.0.1:8000/v1")
    Experiment([listed]).validate()
    # A rerun of a stored command-line run, or a crafted form, cannot reach another address.
    other = RunSpec(method="ft_local", model="tiny", aug_source="teacher", teacher="http://10.1.2.3/v1")
    with pytest.raises(LabError, match="not one this app offers"):
        Experiment([other]).validate()
