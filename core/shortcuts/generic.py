"""Guessers for every kind: position, length, frequency, and association with the prompt."""

from __future__ import annotations

from core.shortcuts.evidence import (
    ASSOCIATION,
    SURFACE,
    Index,
    Scores,
    guesser,
    key_words,
    mean,
)
from core.worlds.base import Item


@guesser(SURFACE, "always the first choice")
def first(index: Index, item: Item) -> Scores:
    return [-float(k) for k in range(len(item.choices))]


@guesser(SURFACE, "always the last choice")
def last(index: Index, item: Item) -> Scores:
    return [float(k) for k in range(len(item.choices))]


@guesser(SURFACE, "the shortest choice (characters)")
def shortest(index: Index, item: Item) -> Scores:
    return [-float(len(c.strip())) for c in item.choices]


@guesser(SURFACE, "the longest choice (characters)")
def longest(index: Index, item: Item) -> Scores:
    return [float(len(c.strip())) for c in item.choices]


@guesser(SURFACE, "the choice whose distinguishing words are most frequent in training")
def most_frequent(index: Index, item: Item) -> Scores:
    return [mean([index.counts[w] for w in ws]) for ws in key_words(item)]


@guesser(SURFACE, "the choice whose distinguishing words are least frequent in training")
def least_frequent(index: Index, item: Item) -> Scores:
    return [-mean([index.counts[w] for w in ws]) for ws in key_words(item)]


@guesser(SURFACE, "the choice whose words most often open a training sentence (for names: "
         "the subject of facts, e.g. a parent)")
def most_often_first(index: Index, item: Item) -> Scores:
    return [mean([_first_share(index, w) for w in ws]) for ws in key_words(item)]


@guesser(SURFACE, "the choice whose words least often open a training sentence (the object "
         "of facts, e.g. a child)")
def least_often_first(index: Index, item: Item) -> Scores:
    return [-mean([_first_share(index, w) for w in ws]) for ws in key_words(item)]


def _first_share(index: Index, word: str) -> float:
    """Of the training sentences that contain the word, the share whose first world word it is."""
    return index.first_share.get(word, 0.0)


@guesser(ASSOCIATION, "the choice whose words share the most training documents with the "
         "prompt's words")
def cooccurrence(index: Index, item: Item) -> Scores:
    docs = index.subject_docs(item)
    return [mean([len(index.postings.get(w, set()) & docs) for w in ws]) for ws in key_words(item)]


@guesser(ASSOCIATION, "the choice whose words share the most training sentences with the "
         "prompt's words")
def cooccurrence_sentence(index: Index, item: Item) -> Scores:
    sentences = set().union(*(index.sentence_postings[w] for w in index.subject(item)))
    return [mean([len(index.sentence_postings.get(w, set()) & sentences) for w in ws])
            for ws in key_words(item)]


@guesser(ASSOCIATION, "a choice in the prompt's group: linked to the prompt's words through "
         "shared documents (the same family, the same syllogism)")
def same_group(index: Index, item: Item) -> Scores:
    groups = {index.group(w) for w in index.subject(item)} - {None}
    return [float(any(index.group(w) in groups for w in ws)) for ws in key_words(item)]


@guesser(ASSOCIATION, "the choice nearest the prompt's words: fewest documents to cross from "
         "one to the other")
def nearest(index: Index, item: Item) -> Scores:
    return [-d for d in _distances(index, item)]


@guesser(ASSOCIATION, "the choice farthest from the prompt's words within its group (the one "
         "not named with the subject)")
def farthest(index: Index, item: Item) -> Scores:
    return [d if d < float("inf") else -1.0 for d in _distances(index, item)]


def _distances(index: Index, item: Item) -> list[float]:
    subject, words = index.subject(item), key_words(item)
    targets = {w for ws in words for w in ws if w in index.world_words}
    found = index.distances(subject, targets) if subject else {}
    return [min((float(found[w]) for w in ws if w in found), default=float("inf")) for ws in words]
