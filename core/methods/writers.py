"""Writers of augmentations: the model being trained, another model on this machine, or a model
behind an OpenAI-compatible server (vLLM, llama.cpp's server, `transformers serve`, a hosted
API). Each gets the same prompts (core/methods/augment.py) and reports what writing cost.

A teacher is named by one string, kept in the run's settings:
- `default`, `tiny` or a model folder: loaded here and run with the lab's own generation;
- `http://HOST:PORT/v1`: a server; the model is the one it lists (or name it after a `#`:
  `https://api.example.com/v1#some-model`). A key, where the server wants one, comes from the
  environment (`LAB_TEACHER_API_KEY`), never from the run's settings.

FLOPs are counted where the model is known: always for a local one, and for a served one when
the name it serves is a model folder on this machine (as `transformers serve FOLDER` does).
Otherwise the tokens and seconds are recorded and the FLOPs are not (`flops_known` false).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import LabError
from core.limits import positive_setting
from core.lm import generation
from core.lm.models import LM
from core.running.costs import forward_flops, matmul_shape

TIMEOUT_S = 120.0  # LAB_TEACHER_TIMEOUT: seconds one answer may take
CONCURRENCY = 4  # LAB_TEACHER_CONCURRENCY: requests in flight at once (servers batch them)


@dataclass
class Written:
    outputs: list[str]
    tokens: int
    flops: float


def generation_cost(lm: LM, prompts: Sequence[str], outputs: Sequence[str],
                    prefix_tokens: int) -> tuple[int, float]:
    """Tokens and FLOPs: the shared prefix once; prompt tokens are one forward each (attending
    to the prefix); each generated token is one more forward at the current context length."""
    shape = matmul_shape(lm)
    flops = forward_flops(shape, prefix_tokens, prefix_tokens / 2, head_tokens=1)
    tokens = prefix_tokens
    for prompt, output in zip(prompts, outputs):
        p, g = len(lm.encode(prompt)), len(lm.encode(output)) + 1
        tokens += p + g
        flops += forward_flops(shape, p, prefix_tokens + p / 2, head_tokens=1)
        flops += forward_flops(shape, g, prefix_tokens + p + g / 2)
    return tokens, flops


class LocalWriter:
    """A loaded model writes, with the shared prefix encoded once (core/lm/generation.py)."""

    served = False
    flops_known = True

    def __init__(self, lm: LM):
        self.lm, self.name, self.max_context = lm, lm.name, lm.max_context

    def encode(self, text: str) -> list[int]:
        return self.lm.encode(text)

    def write(self, prompts: Sequence[str], shared_prefix: str, max_new_tokens: int, stop: str,
              progress: Callable[[int, int], None] | None = None) -> Written:
        outputs = generation.generate(self.lm, prompts, max_new_tokens=max_new_tokens, stop=stop,
                                      shared_prefix=shared_prefix, progress=progress)
        prefix_tokens = len(self.lm.encode(shared_prefix))
        return Written(outputs, *generation_cost(self.lm, prompts, outputs, prefix_tokens))


class ServedWriter:
    """A model behind an OpenAI-compatible `/v1/completions`: one request per prompt (the
    shared prefix in each; a server with prefix caching reuses it), greedy, several in flight.
    Tokens are the server's own count (`usage`)."""

    served = True

    def __init__(self, url: str, model: str, shape: LM | None, student: LM):
        self.url, self.model, self.name = url, model, f"{url}#{model}"
        self.shape = shape  # the served model's architecture, for FLOPs, where known
        self.flops_known = shape is not None
        # Pass planning counts tokens with the served model's tokenizer where known; otherwise
        # with the student's, and within the student's context (a safe guess for larger models).
        known = shape or student
        self.encode, self.max_context = known.encode, known.max_context
        self.timeout = positive_setting("LAB_TEACHER_TIMEOUT", TIMEOUT_S)
        self.concurrency = int(positive_setting("LAB_TEACHER_CONCURRENCY", CONCURRENCY))

    def write(self, prompts: Sequence[str], shared_prefix: str, max_new_tokens: int, stop: str,
              progress: Callable[[int, int], None] | None = None) -> Written:
        outputs, tokens, flops = [], 0, 0.0
        shape = matmul_shape(self.shape) if self.shape is not None else None
        with ThreadPoolExecutor(self.concurrency) as pool:
            answers = pool.map(lambda p: self._complete(shared_prefix + p, max_new_tokens, stop),
                               prompts)
            for text, prompt_tokens, new_tokens in answers:
                outputs.append(text.split(stop)[0] if stop else text)
                tokens += prompt_tokens + new_tokens
                if shape is not None:
                    flops += forward_flops(shape, prompt_tokens, prompt_tokens / 2,
                                           head_tokens=1)
                    flops += forward_flops(shape, new_tokens, prompt_tokens + new_tokens / 2)
                if progress:
                    progress(len(outputs), len(prompts))
        return Written(outputs, tokens, flops)

    def _complete(self, prompt: str, max_new_tokens: int, stop: str) -> tuple[str, int, int]:
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_new_tokens,
                "temperature": 0, "stop": [stop] if stop else None}
        answer = request_json(f"{self.url}/completions", self.timeout, body)
        try:
            text = answer["choices"][0]["text"]
            usage = answer.get("usage") or {}
            if not isinstance(text, str):
                raise TypeError("text is not a string")
            if "prompt_tokens" in usage and "completion_tokens" in usage:
                return text, int(usage["prompt_tokens"]), int(usage["completion_tokens"])
            # No count from the server: our tokenizer's (the served model's where known).
            return text, len(self.encode(prompt)), len(self.encode(text)) + 1
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            raise LabError(f"teacher at {self.url} answered something that is not an OpenAI "
                           f"completion ({error}): {json.dumps(answer)[:200]}") from None


def request_json(url: str, timeout: float, body: dict | None = None) -> dict:
    """GET (no body) or POST JSON; every way a server can fail is one clear LabError."""
    headers = {"Content-Type": "application/json"}
    if key := os.environ.get("LAB_TEACHER_API_KEY"):
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:300].decode(errors="replace")
        raise LabError(f"teacher at {url} refused the request (HTTP {error.code}): {detail}") from None
    except TimeoutError:
        raise LabError(f"teacher at {url} did not answer within {timeout:g} s "
                       "(LAB_TEACHER_TIMEOUT sets the limit)") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise LabError(f"teacher at {url} did not answer within {timeout:g} s "
                           "(LAB_TEACHER_TIMEOUT sets the limit)") from None
        raise LabError(f"teacher at {url} cannot be reached ({reason}): is the server running "
                       "at that address?") from None
    try:
        answer = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise LabError(f"teacher at {url} answered something that is not JSON: "
                       f"{raw[:200]!r}") from None
    if not isinstance(answer, dict):
        raise LabError(f"teacher at {url} answered JSON that is not an object: {raw[:200]!r}")
    return answer


def is_served(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def served(name: str, student: LM) -> ServedWriter:
    """The server behind `name` (`URL` or `URL#MODEL`), asked once which model it serves."""
    url, _, model = name.partition("#")
    url = url.rstrip("/")
    if not model:
        listed = request_json(f"{url}/models", positive_setting("LAB_TEACHER_TIMEOUT", TIMEOUT_S))
        ids = [m.get("id") for m in listed.get("data") or [] if isinstance(m, dict)]
        if len(ids) != 1 or not isinstance(ids[0], str):
            raise LabError(f"teacher at {url} lists {len(ids)} models; name one after a '#': "
                           f"{url}#MODEL")
        model = ids[0]
    return ServedWriter(url, model, _shape(model), student)


def _shape(model: str) -> LM | None:
    """The served model's architecture without its weights (on the meta device), when its name
    is a model folder here; None otherwise."""
    folder = Path(model).expanduser()
    if not (folder / "config.json").exists():
        return None
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config)
    except (OSError, ValueError):
        return None
    return LM(model, skeleton, tokenizer, torch.device("meta"))


Writer = LocalWriter | ServedWriter


def resolve(name: str, student: LM, load: Callable[[str], LM]) -> Writer:
    """The writer a teacher's name stands for: a server (asked now, so a wrong address fails
    before any training), or a local model loaded with `load` (the runner's model cache)."""
    return served(name, student) if is_served(name) else LocalWriter(load(name))

