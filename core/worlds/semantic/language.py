"""How a semantic world speaks: the sentence templates of its facts, questions and titles,
the patterns that parse statements back (for the judge and `as_document`), and `say`, which
fills a template in."""

from __future__ import annotations

import re
import string

# Placeholders: {x}/{xs} the subject category (singular/plural), {y}/{ys} the other category,
# {adj} one property, {adjs} one or more ("zept, rony and klub"), {verb} a relation's verb.
# "train" forms appear in documents; "rephrase" and "reverse" forms only in tests and
# augmentations. Item templates end with their answer slot and a full stop.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "isa": {
        "train": ("{xs} are a type of {y}.", "{xs} are a kind of {y}.", "Every {x} is a {y}."),
        "rephrase": ("{xs} are {ys}.", "{xs} are classified as {ys}."),
        "reverse": ("{ys} include {xs}.", "Among the {ys} are {xs}."),
    },
    "property": {
        "train": ("{xs} are {adjs}.", "{xs} are known for being {adjs}.", "A typical {x} is {adjs}."),
        "rephrase": ("{xs} can be described as {adjs}.", "{xs} tend to be {adjs}."),
        "reverse": ("Things that are {adj} include {xs}.",),
    },
    "relation": {
        "train": ("{xs} {verb} {ys}.", "{xs} typically {verb} {ys}."),
        "rephrase": ("{xs} are known to {verb} {ys}.",),
        "reverse": ("{ys} are {verb}ed by {xs}.",),
    },
}
# Templates whose sentence starts with the subject's name: the only ones in the articles that
# guarantee every fact (so the name starts a line there, as in test prompts).
LINE_START = {kind: tuple(t for t in forms["train"] if t.startswith("{xs}"))
              for kind, forms in TEMPLATES.items()}
QUESTIONS = {
    "isa": ("What are {xs}?", "What kind of thing is a {x}?"),
    "property": ("What are {xs} like?",),
    "relation": ("What do {xs} {verb}?",),
}
TITLES = ("{Xs}", "About {xs}", "{Xs} (overview)")

# A slot's word, a slot's list of words ("zept, rony and klub"), and what may precede a
# statement in a model's output (a bullet, a number, "A:"), stripped before parsing.
WORD = r"[a-z]+"
_LIST = r"[a-z]+(?:, [a-z]+)*(?:,? and [a-z]+)?"
LEADING_MARKER = re.compile(r"^(?:[-*\u2022]|\d+[.)]|a:|answer:)\s*")


def _regex(template: str) -> re.Pattern:
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template.lower().rstrip(".")):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>{_LIST if name == 'adjs' else WORD})")
    return re.compile("".join(parts))


PATTERNS = [(kind, _regex(t)) for kind, forms in TEMPLATES.items()
            for group in forms.values() for t in group]


def plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "z", "sh")) else "s")


def join_list(words: list[str] | tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def say(template: str, x: str = "", y: str = "", adjs: tuple[str, ...] = ("",), verb: str = "") -> str:
    """A template filled in: categories by their singular name, plurals derived."""
    return template.format(x=x, xs=plural(x), Xs=plural(x).capitalize(), y=y, ys=plural(y),
                           adj=adjs[0], adjs=join_list(adjs), verb=verb)
