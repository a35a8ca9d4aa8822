"""Nonsense words: pronounceable, 4-5 letters, never English, so no model knows them."""

import functools
import random

ONSETS = ["b", "bl", "br", "d", "dr", "f", "fl", "fr", "g", "gl", "gr", "k", "kl", "kr", "m",
          "n", "p", "pl", "pr", "sk", "sl", "sn", "sp", "st", "t", "tr", "v", "y", "z", "zw"]
VOWELS = ["a", "e", "i", "o", "u", "oo", "ee", "ai", "au", "ie"]
CODAS = ["mp", "nk", "ff", "lk", "rb", "sk", "st", "x", "zz", "lm", "nd", "rp", "ft", "ng", "rk",
         "b", "d", "g", "k", "m", "n", "p", "t", "sh", "rn", "lt", "ck", "nt"]


@functools.cache
def _english() -> frozenset[str]:
    # Two large dictionaries (web2 has many rare words): anything in either is excluded.
    from english_words import get_english_words_set
    return frozenset(get_english_words_set(["web2", "gcide"], lower=True))


def nonsense_words(rng: random.Random, count: int, exclude: set[str] = frozenset()) -> list[str]:
    """`count` distinct nonsense words drawn with `rng` (deterministic for a seeded rng)."""
    english, words, seen = _english(), [], set(exclude)
    for _ in range(count * 200):
        word = rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
        if 4 <= len(word) <= 5 and word not in english and word not in seen:
            seen.add(word)
            words.append(word)
            if len(words) == count:
                return words
    raise ValueError(f"could not draw {count} distinct nonsense words")
