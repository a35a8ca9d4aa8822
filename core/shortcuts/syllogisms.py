"""Guessers for syllogisms: rules that read the premises' quantifiers and terms, not their logic."""

from __future__ import annotations

from collections import Counter

from core.shortcuts.evidence import QUANTIFIERS, SURFACE, WORD, Index, Scores, guesser
from core.worlds.base import Item


def _statement(words: list[str]) -> tuple[str, str, str] | None:
    """(quantifier, subject, predicate) of "all x are y", "some x are not y" ("some-not"), ..."""
    if len(words) >= 4 and words[0] in QUANTIFIERS and words[2] == "are":
        if words[3] == "not" and len(words) == 5:
            return f"{words[0]}-not", words[1], words[4]
        if len(words) == 4:
            return words[0], words[1], words[3]
    return None


def _premises(index: Index, item: Item, mentioning: bool) -> list[tuple[str, str, str]]:
    """The statements of the documents the prompt's terms come from (with `mentioning`: only
    those naming one of the prompt's terms)."""
    subject = index.subject(item)
    out = []
    for d in sorted(index.subject_docs(item)):
        for s in index.doc_sentences[d]:
            statement = _statement(index.sentences[s])
            if statement and (not mentioning or subject & set(statement[1:])):
                out.append(statement)
    return out


def _choice_statements(item: Item) -> list[tuple[str, str, str] | None]:
    return [_statement(WORD.findall(c.lower())) for c in item.choices]


def _by_quantifier(item: Item, weights: dict[str, float]) -> Scores:
    statements = _choice_statements(item)
    if not any(statements):
        return None
    return [weights.get(s[0], 0.0) if s else 0.0 for s in statements]


SYLLOGISMS = ("syllogisms",)


@guesser(SURFACE, "the choice whose quantifier is the most common in the source document",
         SYLLOGISMS)
def quantifier_in_document(index: Index, item: Item) -> Scores:
    return _by_quantifier(item, Counter(q for q, _, _ in _premises(index, item, False)))


@guesser(SURFACE, "the choice whose quantifier is the most common among the premises naming "
         "the prompt's terms", SYLLOGISMS)
def quantifier_in_premises(index: Index, item: Item) -> Scores:
    return _by_quantifier(item, Counter(q for q, _, _ in _premises(index, item, True)))


@guesser(SURFACE, "the rarest quantifier among the premises naming the prompt's terms",
         SYLLOGISMS)
def rarest_quantifier(index: Index, item: Item) -> Scores:
    counts = Counter(q for q, _, _ in _premises(index, item, True))
    return _by_quantifier(item, {q: -counts[q] for q in QUANTIFIERS})


@guesser(SURFACE, "the quantifier of a premise that is not 'All' (else 'All'): the issue's "
         "0.83 rule", SYLLOGISMS)
def not_all_premise(index: Index, item: Item) -> Scores:
    found = {q for q, _, _ in _premises(index, item, False) if q != "all"} or {"all"}
    return _by_quantifier(item, {q: 1.0 for q in found})


@guesser(SURFACE, "atmosphere: 'No' if a premise is negative, else 'Some' if one is "
         "particular, else 'All'", SYLLOGISMS)
def atmosphere(index: Index, item: Item) -> Scores:
    found = {q for q, _, _ in _premises(index, item, False)}
    pick = next((q for q in ("no", "some") if q in found), "all")
    return _by_quantifier(item, {pick: 1.0})


@guesser(SURFACE, "the choice whose subject is a premise's subject and whose predicate is a "
         "premise's predicate (of the premises with its quantifier first)", SYLLOGISMS)
def premise_roles(index: Index, item: Item) -> Scores:
    premises = _premises(index, item, True)
    scores = []
    for s in _choice_statements(item):
        if s is None:
            scores.append(0.0)
            continue
        same = [p for p in premises if p[0] == s[0]] or premises
        scores.append(float(any(p[1] == s[1] for p in same)) + float(any(p[2] == s[2] for p in same))
                      + 0.5 * (any(p[1] == s[1] for p in premises) + any(p[2] == s[2] for p in premises)))
    return scores


@guesser(SURFACE, "the choice that names the prompt's terms in the order the source document "
         "first mentions them", SYLLOGISMS)
def document_order(index: Index, item: Item) -> Scores:
    premises = _premises(index, item, True)
    order = list(dict.fromkeys(t for _, x, y in premises for t in (x, y)))
    scores = []
    for s in _choice_statements(item):
        ok = s is not None and s[1] in order and s[2] in order and order.index(s[1]) < order.index(s[2])
        scores.append(float(ok))
    return scores
