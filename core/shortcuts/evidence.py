"""What guessers read: the training documents indexed once (`Index`), an item's
distinguishing words, and the registry every guesser is declared in (`guesser`)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from core.worlds.base import Document, Item

MARGIN = 0.10
WORD = re.compile(r"[a-z]+")
SENTENCE = re.compile(r"(?<=[.?!:])\s+|\n")
QUANTIFIERS = ("all", "some", "no")
Scores = list[float] | None  # one score per choice, higher is picked; None: no opinion


class Index:
    """The training documents read once: word counts, which documents and sentences hold each
    word, and the world's own words (the nonsense words that name its things: not English).
    Groups and distances link world words that share a document, leaving out those in more
    than a quarter of the documents (hubs such as a taxonomy's roots would link everything)."""

    def __init__(self, documents: list[Document]) -> None:
        self.n_docs = len(documents)
        self.counts: Counter[str] = Counter()
        self.postings: dict[str, set[int]] = {}
        self.sentences: list[list[str]] = []  # each sentence's words, in order
        self.doc_sentences: list[list[int]] = []
        for d, document in enumerate(documents):
            words = WORD.findall(document.text.lower())
            self.counts.update(words)
            for w in set(words):
                self.postings.setdefault(w, set()).add(d)
            ids = []
            for sentence in SENTENCE.split(document.text.lower()):
                if found := WORD.findall(sentence):
                    ids.append(len(self.sentences))
                    self.sentences.append(found)
            self.doc_sentences.append(ids)
        self.world_words = {w for w in self.postings if len(w) > 2 and not _english(w)}
        # Words in more than a quarter of the documents are frames and function words: never
        # a prompt's subject, even in a world whose names are English.
        self.common = {w for w, docs in self.postings.items() if len(docs) > self.n_docs / 4}
        self.doc_world_words = [
            tuple(sorted({w for s in ids for w in self.sentences[s]
                          if w in self.world_words and w not in self.common}))
            for ids in self.doc_sentences]
        # Per world word: the sentences that hold it, and how many of them it opens (of the
        # world words: for a name, how often it is the subject of a fact).
        self.sentence_postings: dict[str, set[int]] = {}
        opens: Counter[str] = Counter()
        for s, words in enumerate(self.sentences):
            own = [w for w in words if w in self.world_words]
            for w in set(words):
                self.sentence_postings.setdefault(w, set()).add(s)
            if own:
                opens[own[0]] += 1
        self.first_share = {w: opens[w] / len(self.sentence_postings[w]) for w in self.world_words}
        self._groups = self._components()
        self._searches: dict[frozenset[str], tuple] = {}  # per prompt: a breadth-first search

    def subject(self, item: Item) -> frozenset[str]:
        """The prompt's own words: its world words that training mentions (in a world whose
        names are English, its words outside the frames)."""
        words = [w for w in WORD.findall(item.prompt.lower()) if w in self.postings]
        own = [w for w in words if w in self.world_words]
        return frozenset(own or [w for w in words if w not in self.common])

    def subject_docs(self, item: Item) -> set[int]:
        return set().union(*(self.postings[w] for w in self.subject(item)))

    def _components(self) -> dict[str, str]:
        """Groups: world words linked by sharing a document, transitively (a family, the terms of
        one syllogism, a person and their description)."""
        parent: dict[str, str] = {}

        def find(w: str) -> str:
            while parent.setdefault(w, w) != w:
                parent[w] = parent[parent[w]]
                w = parent[w]
            return w

        for d in range(self.n_docs):
            words = self.doc_world_words[d]
            for w in words[1:]:
                parent[find(w)] = find(words[0])
        return {w: find(w) for w in self.world_words}

    def group(self, word: str) -> str | None:
        return self._groups.get(word)

    def distances(self, sources: frozenset[str], targets: set[str]) -> dict[str, int]:
        """Documents to cross from the prompt's words to each target word (1: they share one),
        breadth first until every target is reached or nothing is left; the search is kept
        per prompt and resumed when a later item asks for words it has not reached yet."""
        if sources not in self._searches:
            self._searches[sources] = ({w: 0 for w in sources}, list(sources), set(), 0)
        found, frontier, seen_docs, depth = self._searches[sources]
        while frontier and not targets <= found.keys():
            depth += 1
            later = []
            for w in frontier:
                for d in self.postings.get(w, ()):
                    if d not in seen_docs:
                        seen_docs.add(d)
                        for v in self.doc_world_words[d]:
                            if v not in found:
                                found[v] = depth
                                later.append(v)
            frontier = later
        self._searches[sources] = (found, frontier, seen_docs, depth)
        return found


def _english(word: str) -> bool:
    """In the English dictionaries, or an inflection of a word there ("records", "recorded",
    "studies"): frame words are English, the world's names are not."""
    from core.worlds.words import _english as english
    words = english()
    stems = [word]
    if word.endswith("s"):
        stems.append(word[:-1])
    if word.endswith("es"):
        stems.append(word[:-2])
    if word.endswith("ies"):
        stems.append(word[:-3] + "y")
    if word.endswith("ed") or word.endswith("ing"):
        cut = word[:-2] if word.endswith("ed") else word[:-3]
        stems += [cut, cut + "e", cut[:-1]]  # recorded, named, mapped
    return any(stem in words for stem in stems if len(stem) > 2)


def key_words(item: Item) -> list[list[str]]:
    """Each choice's words that not every choice has (what tells the choices apart)."""
    return _key_words(item.choices)


@functools.lru_cache(maxsize=4096)
def _key_words(choices: tuple[str, ...]) -> list[list[str]]:
    words = [WORD.findall(c.lower()) for c in choices]
    shared = set.intersection(*(set(w) for w in words))
    return [[w for w in ws if w not in shared] for ws in words]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# ---------------------------------------------------------------- guessers

@dataclass(frozen=True)
class Guesser:
    name: str
    evidence: str  # "surface" or "association" (see ASSOCIATION)
    help: str
    score: Callable[[Index, Item], Scores]
    kinds: tuple[str, ...] | None = None  # None: every kind


GUESSERS: dict[str, Guesser] = {}
# Guessers that read which words go together in training: allowed on one-hop splits.
ASSOCIATION = "association"
SURFACE = "surface"


def guesser(evidence: str, help: str, kinds: tuple[str, ...] | None = None
            ) -> Callable[[Callable[[Index, Item], Scores]], Callable[[Index, Item], Scores]]:
    """Register a scoring function under its name."""
    def register(fn: Callable[[Index, Item], Scores]) -> Callable[[Index, Item], Scores]:
        GUESSERS[fn.__name__] = Guesser(fn.__name__, evidence, help, fn, kinds)
        return fn
    return register

