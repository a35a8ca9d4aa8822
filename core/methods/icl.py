"""In-context learning: the training documents in the prompt, then the item.

If they don't fit the model's context (or the user's token limit), documents are subsampled.
By default (`sample`) the subsample is a seeded random one that never looks at the test items:
building the prompt from what the test needs would favour ICL. `needed_first` takes the
documents that cover facts the items need first: an upper bound, like the oracle augmentation,
to be labelled as such. Either way the run records the fraction of needed facts that made it
into the context (a measurement of the run, not an input to it)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import LabError
from core.lm.models import LM
from core.methods.config import FILLS
from core.worlds import Document, Item

INSTRUCTION = "Use the following facts to answer.\n\n"
SEPARATOR = "\n\n"


@dataclass
class ICLContext:
    text: str
    tokens: int
    documents_used: int
    documents_total: int
    needed_fact_coverage: float  # fraction of facts the items need that are in the context


def build_context(lm: LM, documents: Sequence[Document], items: Sequence[Item],
                  max_tokens: int = 0, seed: int = 0, fill: str = "sample") -> ICLContext:
    """The ICL prompt prefix; `max_tokens` 0 means the model's context less the longest item.
    `fill` chooses the documents when they do not all fit (see the module's docstring)."""
    if fill not in FILLS:
        raise LabError(f"ICL fill must be one of {', '.join(FILLS)}, got '{fill}'")
    longest_item = max(len(lm.encode(i.prompt + max(i.choices, key=len))) for i in items)
    budget = (max_tokens or lm.max_context) - longest_item  # for instruction and documents
    limit = budget - len(lm.encode(INSTRUCTION)) - 2
    if limit <= 0:
        raise LabError(f"the ICL context limit ({max_tokens or lm.max_context} tokens) leaves no "
                       "room for documents; raise it or use a model with a longer context")
    costs = [len(lm.encode(d.text + SEPARATOR)) for d in documents]
    chosen = list(range(len(documents)))
    if sum(costs) > limit:
        rng = random.Random(seed)
        chosen = (_needed_first(documents, items, costs, limit, rng) if fill == "needed_first"
                  else _sample(costs, limit, rng))

    def render() -> str:
        return INSTRUCTION + "".join(documents[i].text + SEPARATOR for i in chosen)

    # Pieces can tokenize a little differently once joined: trim until the whole fits.
    while chosen and len(lm.encode(text := render())) > budget:
        chosen.pop()
    text = render()
    needed = {f for item in items for f in item.fact_ids}
    present = {f for i in chosen for f in documents[i].fact_ids}
    return ICLContext(text, len(lm.encode(text)), len(chosen), len(documents),
                      len(needed & present) / len(needed) if needed else 1.0)


def _sample(costs: list[int], limit: int, rng: random.Random) -> list[int]:
    """Documents in a seeded random order while they fit, shown in document order."""
    order = list(range(len(costs)))
    rng.shuffle(order)
    chosen, used = [], 0
    for i in order:
        if used + costs[i] <= limit:
            chosen.append(i)
            used += costs[i]
    return sorted(chosen)


def _needed_first(documents: Sequence[Document], items: Sequence[Item], costs: list[int],
                  limit: int, rng: random.Random) -> list[int]:
    """Greedy: documents that add needed facts not yet covered, then any others, in document
    order, while they fit."""
    needed = {f for item in items for f in item.fact_ids}
    order = list(range(len(documents)))
    rng.shuffle(order)
    order.sort(key=lambda i: -len(needed & set(documents[i].fact_ids)))
    chosen, covered, used = set(), set(), 0
    for prefer_new in (True, False):
        for i in order:
            if i in chosen or used + costs[i] > limit:
                continue
            new = set(documents[i].fact_ids) & needed - covered
            if prefer_new and not new:
                continue
            chosen.add(i)
            covered |= new
            used += costs[i]
    return sorted(chosen)
