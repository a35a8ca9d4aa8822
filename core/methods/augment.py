"""Augmentation: inferences added to the fine-tuning data, and their audit.

Sources: `oracle` (the world's own true inferences: an upper bound), `model` (the model
itself, in context, as in the study) or `teacher` (another model, local or behind a server:
core/methods/writers.py). The study's prompts are unpublished; ours follow its
description (docs/methods.md). Generated text is split into statements, deduplicated,
and each statement is judged by the world: true, false or unparseable, and whether it merely
repeats a training sentence.

Model generation is greedy and depends only on the writer's (original) weights and the world,
so a process that runs several methods on one world writes each scope's statements once:
`augment` takes a `cache` that `runner.run_all` keeps for its runs. A reused scope still
counts what generating it cost (tokens, FLOPs and the seconds it took), so `ft_local_global`
costs what writing both sets costs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.errors import LabError
from core.lm.models import LM
from core.methods.config import SOURCES
from core.methods.finetune import split_sentences
from core.methods.icl import INSTRUCTION, SEPARATOR
from core.methods.writers import LocalWriter, Writer
from core.worlds import World

SCOPES = ("local", "global")

# The local prompt is the same instruction and examples before every sentence: they are
# encoded once and shared (as the training set is for global prompts), and each prompt adds
# only its sentence. The cut lies where the tokens of the whole prompt and of its two pieces
# are the same (a test checks it on every kind), so the model reads exactly the same tokens.
LOCAL_INSTRUCTION = (
    "Rewrite the statement in several ways that keep its meaning, and state what it directly "
    "implies, such as the same relation read in the opposite direction. One statement per line.\n\n"
    "Statement: tigers are more dangerous than cats.\n"
    "Rewrites:\ncats are less dangerous than tigers.\nCompared to cats, tigers are more dangerous.\n"
    "Compared to tigers, cats are less dangerous.\n\n"
    "Statement: Anna is the mother of Ben.\n"
    "Rewrites:\nBen is the child of Anna.\nBen's mother is Anna.\n\n"
    "Statement:"
)
LOCAL_ITEM = " {sentence}\nRewrites:\n"
LOCAL_PROMPT = LOCAL_INSTRUCTION + LOCAL_ITEM  # one whole prompt, as the model reads it
GLOBAL_PROMPT = (
    "Document:\n{document}\n\nList the inferences that follow from combining this document "
    "with the rest of the knowledge base above, one statement per line.\nInferences:\n"
)
GLOBAL_NEW_TOKENS = 64
# Tokens kept free in each pass: text tokenized whole can take a few more tokens than its
# pieces counted one by one.
CONTEXT_MARGIN = 32
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


@dataclass
class Augmentation:
    statement: str
    scope: str  # local or global
    source: str  # oracle or model
    label: str  # true, false, unparseable
    in_training: bool  # repeats a training sentence


@dataclass
class AugmentResult:
    statements: list[Augmentation] = field(default_factory=list)
    tokens: int = 0
    flops: float = 0.0
    reused_seconds: float = 0.0  # generation seconds of scopes taken from the cache
    reused_scopes: list[str] = field(default_factory=list)
    seen: dict = field(default_factory=dict)  # global_passes, global_context_share

    def training_texts(self) -> list[str]:
        return [a.statement for a in self.statements if not a.in_training]

    def audit(self) -> dict[str, float]:
        total = len(self.statements)
        parsed = sum(a.label != "unparseable" for a in self.statements)
        true = sum(a.label == "true" for a in self.statements)
        return {"generated": total, "parsed": parsed, "true": true,
                "new_true": sum(a.label == "true" and not a.in_training for a in self.statements),
                "precision": true / parsed if parsed else 0.0,
                "hallucination_rate": (parsed - true) / parsed if parsed else 0.0}


def statements_from_text(text: str) -> list[str]:
    """Generated text to statements: one per line or sentence, bullets stripped."""
    out = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        out += [s.strip() for s in split_sentences(line) if len(s.strip()) > 3]
    return out


def training_sentences(world: World) -> list[str]:
    return list(dict.fromkeys(s.strip() for d in world.documents for s in split_sentences(d.text)))


@dataclass(frozen=True)
class Generation:
    """One scope's model-written statements for one world and model, and what they cost."""

    statements: tuple[str, ...]
    tokens: int
    flops: float
    seconds: float
    seen: dict = field(default_factory=dict)  # global: passes and share of the set in context


GenerationCache = dict[tuple[str, str, str], Generation]  # (writer, world id, scope)


def augment(world: World, scopes: Sequence[str], source: str, lm: LM | None = None,
            progress: Callable[[int, int], None] | None = None,
            cache: GenerationCache | None = None, teacher: Writer | None = None) -> AugmentResult:
    """The statements of each scope: the world's own (`oracle`), or written by `lm` (`model`)
    or by `teacher` (`teacher`), each judged by the world."""
    if source not in SOURCES:
        raise LabError(f"augmentation source must be one of {', '.join(SOURCES)}, got '{source}'")
    if source == "teacher" and teacher is None:
        raise LabError("augmentation source 'teacher' needs a teacher model (--teacher)")
    writer = teacher if source == "teacher" else LocalWriter(lm) if source == "model" else None
    result = AugmentResult()
    known = {s.lower() for s in training_sentences(world)}
    seen: set[str] = set()
    for done, scope in enumerate(scopes, 1):
        if source == "oracle":
            found = world.oracle_inferences(scope)
            if progress:
                progress(done, len(scopes))
        else:
            found = _generated(writer, world, scope, result, progress, cache)
        for statement in found:
            key = statement.lower()
            if key in seen:
                continue
            seen.add(key)
            result.statements.append(Augmentation(statement, scope, source, world.judge(statement),
                                                  key in known))
    return result


def _generated(writer: Writer, world: World, scope: str, result: AugmentResult, progress,
               cache: GenerationCache | None) -> tuple[str, ...]:
    """The writer's statements for one scope, from the cache when this process wrote them
    already; their cost is added to `result` either way."""
    key = (writer.name, world.world_id, scope)
    if cache is not None and key in cache:
        generation = cache[key]
        result.reused_seconds += generation.seconds
        result.reused_scopes.append(scope)
        if progress:
            progress(1, 1)
    else:
        start = time.perf_counter()
        statements, tokens, flops, seen = (_model_local if scope == "local" else _model_global)(
            writer, world, progress)
        generation = Generation(tuple(statements), tokens, flops, time.perf_counter() - start,
                                seen)
        if cache is not None:
            cache[key] = generation
    result.tokens += generation.tokens
    result.flops += generation.flops
    result.seen.update(generation.seen)
    return generation.statements


def _model_local(writer: Writer, world: World, progress) -> tuple[list[str], int, float]:
    """One prompt per distinct training sentence: rephrasings and direct implications."""
    prompts = [LOCAL_ITEM.format(sentence=s) for s in training_sentences(world)]
    written = writer.write(prompts, LOCAL_INSTRUCTION, max_new_tokens=48, stop="\n\n",
                           progress=progress)
    return _statements(written.outputs), written.tokens, written.flops, {}


def _model_global(writer: Writer, world: World, progress) -> tuple[list[str], int, float, dict]:
    """The training set in context (its cache shared), then each document in turn. A training
    set longer than the model's context is read in passes: consecutive groups of documents
    that each fit beside one document's prompt, so that together they cover every document;
    each document is prompted after its own group. How much of the training set each prompt
    saw is recorded (`context_share`: 1.0 when it all fits in one pass)."""
    groups = global_passes(writer, world)
    statements, tokens, flops, done = [], 0, 0.0, 0
    total_tokens = sum(size for _, size in groups)
    seen = 0.0
    for documents, size in groups:
        knowledge = INSTRUCTION + "".join(d.text + SEPARATOR for d in documents)
        prompts = [GLOBAL_PROMPT.format(document=d.text) for d in documents]
        written = writer.write(
            prompts, knowledge, max_new_tokens=GLOBAL_NEW_TOKENS, stop="\n\n",
            progress=(lambda d, n, before=done: progress(before + d, len(world.documents)))
            if progress else None)
        statements += _statements(written.outputs)
        tokens, flops = tokens + written.tokens, flops + written.flops
        done += len(documents)
        seen += len(documents) * size / total_tokens
    return statements, tokens, flops, {"global_passes": len(groups),
                                       "global_context_share": seen / len(world.documents)}


def global_passes(lm: LM | Writer, world: World) -> list[tuple[list, int]]:
    """The documents in consecutive groups (with each group's tokens) that fit the context
    beside the instruction, the longest document's prompt and the generated inferences."""
    room = (lm.max_context - len(lm.encode(INSTRUCTION)) - GLOBAL_NEW_TOKENS - CONTEXT_MARGIN
            - max(len(lm.encode(GLOBAL_PROMPT.format(document=d.text))) for d in world.documents))
    groups: list[tuple[list, int]] = []
    current, used = [], 0
    for document in world.documents:
        size = len(lm.encode(document.text + SEPARATOR))
        if size > room:
            raise LabError(f"global augmentation: a document of {size} tokens does not fit "
                           f"the model's context ({lm.max_context}) beside its prompt")
        if current and used + size > room:
            groups.append((current, used))
            current, used = [], 0
        current.append(document)
        used += size
    groups.append((current, used))
    return groups


def _statements(outputs: list[str]) -> list[str]:
    return [s for text in outputs for s in statements_from_text(text)]
