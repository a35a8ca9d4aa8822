"""Shortcut check: can a world's test items be answered without the knowledge they test?

A guesser is a cheap rule that reads only the world's training documents and an item's prompt
and choices (never the answer) and scores each choice; it picks the top-scoring choice (a tie
between k choices earns 1/k when the answer is among them, so a rule that cannot tell the
choices apart scores exactly chance). A split whose items a guesser answers well above chance
measures that rule, not the ability the split is named for.

What a guesser may use depends on the split (`split_scope`):
- `trained`: the split tests what training stated (`forward`): anything goes.
- `one_hop`: one trained fact read another way (a reversal, a rephrasing). The answer appears
  in a document with the prompt's words because that document *is* the fact, so guessers of
  association (`ASSOCIATION`) are allowed: the reversal curse is about direction, and a model
  that only learned "these two go together" still cannot say which way the fact points, while
  the choices are built to share the same associations.
- `multi_hop`: the answer follows from two or more facts (a syllogism, a grandparent, an inherited
  property, a category held out). Nothing may give it away: not one hop of association, not
  belonging to the subject's group, not the surface of the choices or the premises.
Which held-out splits are multi-hop each kind declares next to its splits
(`WorldKind.multi_hop_splits`); the others held out are one-hop.

A guesser that is not allowed on a split passes when it scores at most chance + `MARGIN`.
"""

from core.shortcuts import generic, syllogisms  # noqa: F401  (each registers its guessers)
from core.shortcuts.evidence import GUESSERS, MARGIN, Guesser, Index
from core.shortcuts.table import (
    Row,
    allowed,
    failures,
    format_table,
    guessers_for,
    shortcut_table,
    split_scope,
)

__all__ = ["GUESSERS", "MARGIN", "Guesser", "Index", "Row", "allowed", "failures", "format_table",
           "guessers_for", "shortcut_table", "split_scope"]
