"""Scoring a request file as evaluation harnesses write them: (context, continuation) pairs,
often many questions behind one long context (a passage, a few-shot preamble). Pairs whose
contexts start with the same tokens are grouped (contexts sorted, so that neighbours share the
longest prefixes, as in a radix tree); each group's shared prefix is encoded once and attended
to in place (core/lm/prefix_attention.py), and the rest of each context and its continuation
are batched as the lab's own ICL scoring does (core/lm/scoring.py).

Where the context ends and the continuation begins (`CONVENTIONS`):
- `harness`, lm-evaluation-harness's: no start token; a context's trailing spaces move to the
  front of the continuation; the continuation's tokens are those of `context + continuation`
  after the context's own tokens (so a word split across the boundary is tokenized as in the
  whole text); an empty context is the end-of-text token.
- `lab`, the lab's own: the model's start token, then context and continuation tokenized
  apart, as training, ICL and the study score them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from core.errors import LabError
from core.lm import scoring
from core.lm.models import LM

CONVENTIONS = ("harness", "lab")
MIN_SHARED_TOKENS = 32  # a shorter common prefix is not worth a forward pass of its own


def read_request_file(path: Path) -> list[tuple[object, str, str, int]]:
    """(id, context, continuation, line number) of each line {"id", "context", "continuation"}
    of a JSON Lines file; anything else is a LabError naming the line."""
    if not path.is_file():
        raise LabError(f"--pairs {path}: file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise LabError(f"{path} is not UTF-8 text (a JSON Lines file is)") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append((row["id"], str(row["context"]), str(row["continuation"]), number))
        except (json.JSONDecodeError, KeyError, TypeError, IndexError, RecursionError) as error:
            raise LabError(f"{path} line {number}: expected "
                           f'{{"id", "context", "continuation"}} ({error})') from None
    return rows


def encode_pair(lm: LM, context: str, continuation: str, convention: str) -> tuple[list[int], list[int]]:
    """Token ids of (context, continuation) under `convention`."""
    if convention == "lab":
        return lm.start_ids + lm.encode(context), lm.encode(continuation)
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    if not context:
        return [lm.tokenizer.eos_token_id], lm.encode(continuation)
    context_ids = lm.encode(context)
    return context_ids, lm.encode(context + continuation)[len(context_ids):]


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def prefix_groups(contexts: Sequence[Sequence[int]],
                  min_shared: int = MIN_SHARED_TOKENS) -> list[tuple[int, list[int]]]:
    """(shared prefix length, indices) for runs of contexts that share at least `min_shared`
    leading tokens and are not all the same context; everything else in one group with no
    shared prefix (an item's choices still share their context's encoding there)."""
    order = sorted(range(len(contexts)), key=lambda i: list(contexts[i]))
    groups, loose = [], []
    start, shared = 0, 0

    def close(end: int) -> None:
        members = order[start:end]
        distinct = len({tuple(contexts[i]) for i in members})
        if distinct > 1 and shared >= min_shared:
            groups.append((shared, members))
        else:
            loose.extend(members)

    for position in range(len(order)):
        if position == start:
            shared = len(contexts[order[position]])
            continue
        common = _common(contexts[order[position - 1]], contexts[order[position]])
        if min(shared, common) >= min_shared:
            shared = min(shared, common)
        else:
            close(position)
            start, shared = position, len(contexts[order[position]])
    if order:
        close(len(order))
    return groups + ([(0, sorted(loose))] if loose else [])


def score_requests(lm: LM, pairs: Sequence[tuple[str, str]], convention: str = "harness",
                   progress=None) -> list[float]:
    """Summed log-probability of each continuation after its context, every shared prefix
    encoded once."""
    return score_encoded(lm, [encode_pair(lm, c, x, convention) for c, x in pairs], progress)


def score_encoded(lm: LM, encoded: Sequence[tuple[list[int], list[int]]],
                  progress=None) -> list[float]:
    """`score_requests` on pairs already encoded by `encode_pair`."""
    results = [0.0] * len(encoded)
    done = 0
    for length, members in prefix_groups([context for context, _ in encoded]):
        prefix = encoded[members[0]][0][:length]
        scores = scoring.loglikelihoods_of_ids(
            lm, prefix, [(encoded[i][0][length:], encoded[i][1]) for i in members])
        for index, score in zip(members, scores):
            results[index] = score
        done += len(members)
        if progress:
            progress(done, len(encoded))
    return results
