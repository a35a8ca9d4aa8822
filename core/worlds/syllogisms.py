"""`syllogisms`: two premises over three nonsense terms; the test asks for the conclusion.

Each example is one training document, "The relationships between glon, troff and yomp are:
All glon are yomp. All troff are glon." (terms listed alphabetically, so the list gives no
role away). The item names the two end terms, "The relationships between yomp and troff are:",
and scores the four distinct candidate conclusions over them: " All yomp are troff.",
" All troff are yomp.", " Some yomp are troff.", " No yomp are troff." ("Some X are not Y"
is left out, as in the study).

Why four choices and not six: "Some X are Y" and "Some Y are X" say the same thing (so do the
two "No" forms), so listing both directions would make two choices correct whenever the
conclusion is "Some" or "No". The symmetric forms are written once, in the prompt's order.

Validity is computed, not tabulated: a statement follows iff it holds in every model of the
premises, a model being which of the 8 Venn regions over the three terms are inhabited. We
use Boolean (modern) semantics, without existential import: a term may be empty, so "All X are
Y" does not imply "Some X are Y". Under existential import every "All" conclusion comes with a
"Some" one, and no premise pair would have "All" as its unique answer. The premise pairs used
are those of the 36 classic figure/mood combinations over {All, Some, No} with exactly one
valid conclusion among the four: Barbara (AA1, AA4), Celarent, Cesare, Camestres, Camenes
(EA1, EA2, AE2, AE4) and Darii, Datisi, Disamis, Dimaris (AI1, AI3, IA3, IA4).

Items cycle through the answer quantifiers (All, Some, No) equally, through the forms of each
quantifier, and through the two prompt orders; answer positions are balanced too, so a
pretrained model's preference for a quantifier or an order cannot lift it above chance.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass

from core.worlds.base import Document, Fact, Item, Verdict, World, WorldKind, param
from core.worlds.words import nonsense_words

Statement = tuple[str, str, str]  # (quantifier, subject, predicate); quantifier in QUANTIFIERS
QUANTIFIERS = ("all", "some", "no")
LETTERS = {"all": "A", "some": "I", "no": "E"}
SYMMETRIC = ("some", "no")  # "Some X are Y" says the same as "Some Y are X"; so does "No"
ROLES = ("S", "M", "P")  # subject and predicate of the conclusion, middle term
# The classic figures: where the middle term sits in the major (M-P) and minor (S-M) premise.
FIGURES = {1: (("M", "P"), ("S", "M")), 2: (("P", "M"), ("S", "M")),
           3: (("M", "P"), ("M", "S")), 4: (("P", "M"), ("M", "S"))}
FRAME = "The relationships between {terms} are:"
_FRAME = re.compile(r"^the relationships between [a-z ,]+? are:\s*")
_STATEMENT = re.compile(r"^(all|some|no) ([a-z]+) are ([a-z]+)\.?$")


def render(statement: Statement) -> str:
    quantifier, subject, predicate = statement
    return f"{quantifier.capitalize()} {subject} are {predicate}."


def _holds(statement: Statement, inhabited: tuple[frozenset[str], ...]) -> bool:
    """Truth of a statement in a model given by its inhabited Venn regions."""
    quantifier, x, y = statement
    overlap = any(x in region and y in region for region in inhabited)
    if quantifier == "all":
        return not any(x in region and y not in region for region in inhabited)
    return overlap if quantifier == "some" else not overlap


@functools.cache
def _models(terms: tuple[str, ...]) -> tuple[tuple[frozenset[str], ...], ...]:
    """Every model over the terms: each subset of the 2^n Venn regions may be inhabited."""
    regions = [frozenset(t for t, inside in zip(terms, bits) if inside)
               for bits in itertools.product((False, True), repeat=len(terms))]
    return tuple(tuple(r for r, on in zip(regions, used) if on)
                 for used in itertools.product((False, True), repeat=len(regions)))


@functools.cache
def follows(premises: tuple[Statement, ...], statement: Statement) -> bool:
    """True iff the statement holds in every model of the premises (terms may be empty)."""
    terms = tuple(sorted({t for _, x, y in (*premises, statement) for t in (x, y)}))
    return all(_holds(statement, model) for model in _models(terms)
               if all(_holds(p, model) for p in premises))


def candidate_conclusions(x: str, y: str) -> list[Statement]:
    """The distinct conclusions about two terms: All either way, Some, No."""
    return [("all", x, y), ("all", y, x), ("some", x, y), ("no", x, y)]


@dataclass(frozen=True)
class Form:
    """A premise pair over the roles S, M, P, with its one valid conclusion."""
    name: str  # mood letters and figure, e.g. "AA1" (Barbara)
    premises: tuple[Statement, Statement]  # major premise first
    conclusion: Statement


def _forms() -> list[Form]:
    forms = []
    for figure, (major, minor) in FIGURES.items():
        for q1, q2 in itertools.product(QUANTIFIERS, repeat=2):
            premises = ((q1, *major), (q2, *minor))
            valid = [c for c in candidate_conclusions("S", "P") if follows(premises, c)]
            if len(valid) == 1:
                forms.append(Form(f"{LETTERS[q1]}{LETTERS[q2]}{figure}", premises, valid[0]))
    return forms


FORMS = _forms()


@dataclass
class SyllogismsParams:
    n_examples: int = param(24, "syllogisms (one training document and one test item each)",
                            min=1, max=1000)
    premise_order: str = param("classic", "order of the two premises in a document: 'classic' "
                               "(the premise with the conclusion's predicate first) or 'random'",
                               choices=("classic", "random"))


def _plan(n: int, rng: random.Random) -> list[tuple[Form, bool]]:
    """(form, answer_first) per example: answer quantifiers in turn, forms of a quantifier in
    turn, then the prompt order (does the answer's subject come first?) flipping once all forms
    of the quantifier had a turn, so neither form nor order correlates with the other."""
    by_quantifier = {q: rng.sample([f for f in FORMS if f.conclusion[0] == q],
                                   sum(f.conclusion[0] == q for f in FORMS)) for q in QUANTIFIERS}
    first_quantifier = rng.randrange(len(QUANTIFIERS))
    plan = []
    for i in range(n):
        forms = by_quantifier[QUANTIFIERS[(first_quantifier + i) % len(QUANTIFIERS)]]
        k = i // len(QUANTIFIERS)
        plan.append((forms[k % len(forms)], (k // len(forms)) % 2 == 0))
    rng.shuffle(plan)
    return plan


def _graph(examples: list[dict]) -> dict:
    """Terms grouped by example; an edge from subject to predicate for each premise."""
    nodes = [{"id": term, "group": ex["id"]} for ex in examples for term in ex["terms"]]
    edges = [{"source": x, "target": y, "label": q} for ex in examples for q, x, y in ex["premises"]]
    return {"nodes": nodes, "edges": edges}


class Syllogisms(WorldKind):
    name = "syllogisms"
    Params = SyllogismsParams
    presets = {
        "quick": {"n_examples": 24, "premise_order": "classic"},
        "paper": {"n_examples": 69, "premise_order": "classic"},
    }
    held_out_splits = ("syllogism",)

    def build(self, params: SyllogismsParams, rng: random.Random) -> World:
        plan = _plan(params.n_examples, rng)
        words = nonsense_words(rng, 3 * params.n_examples)
        positions = [i % 4 for i in range(params.n_examples)]
        rng.shuffle(positions)
        facts, documents, items, examples = [], [], [], []
        for index, (form, answer_first) in enumerate(plan):
            eid = f"e{index:03d}"
            roles = dict(zip(ROLES, words[3 * index:3 * index + 3]))
            premises = [(q, roles[x], roles[y]) for q, x, y in form.premises]
            if params.premise_order == "random":
                rng.shuffle(premises)
            fact_ids = []
            for premise in premises:
                fact_ids.append(f"f{len(facts):04d}")
                facts.append(Fact(fact_ids[-1], render(premise),
                                  {"example": eid, "quantifier": premise[0], "subject": premise[1],
                                   "predicate": premise[2]}))
            terms = sorted(roles.values())
            text = (FRAME.format(terms=f"{terms[0]}, {terms[1]} and {terms[2]}") + " "
                    + " ".join(render(p) for p in premises))
            documents.append(Document(f"d{index:05d}", text, tuple(fact_ids)))
            _, x, y = form.conclusion
            first, second = (roles[x], roles[y]) if answer_first else (roles[y], roles[x])
            answer = (form.conclusion[0], roles[x], roles[y])
            items.append(self._item(f"syllogism-{eid}", first, second, answer, positions[index],
                                    tuple(fact_ids), rng))
            examples.append({"id": eid, "form": form.name, "roles": roles, "terms": terms,
                             "premises": premises, "conclusion": answer})
        rng.shuffle(documents)
        structure = {"examples": examples, "graph": _graph(examples)}
        return World(self.name, {}, 0, facts, documents, items, self.held_out_splits, self,
                     structure)

    @staticmethod
    def _item(item_id: str, first: str, second: str, answer: Statement, position: int,
              fact_ids: tuple[str, ...], rng: random.Random) -> Item:
        """4-way: the candidate conclusions about the two end terms, the valid one at
        `position`. Symmetric forms are written in the prompt's order."""
        candidates = candidate_conclusions(first, second)
        if answer[0] in SYMMETRIC:
            answer = (answer[0], first, second)
        distractors = [c for c in candidates if c != answer]
        rng.shuffle(distractors)
        ordered = distractors[:position] + [answer] + distractors[position:]
        prompt = FRAME.format(terms=f"{first} and {second}")
        return Item(item_id, "syllogism", prompt, tuple(" " + render(c) for c in ordered), position,
                    fact_ids)

    def as_document(self, statement: str, rng: random.Random) -> str:
        """"All yomp are troff." becomes "The relationships between yomp and troff are: All
        yomp are troff.", like a training document; anything else is left as it is."""
        match = _STATEMENT.match(statement.strip().lower())
        if match is None:
            return statement
        return f"{FRAME.format(terms=f'{match[2]} and {match[3]}')} {statement.strip()}"

    def oracle_inferences(self, world: World, scope: str) -> list[str]:
        out: list[str] = []
        for example in world.structure["examples"]:
            if scope == "local":
                # The converse of each symmetric premise; "All" has none we can state (without
                # existential import, "All X are Y" gives no "Some").
                out += [render((q, y, x)) for q, x, y in example["premises"] if q in SYMMETRIC]
            else:
                q, x, y = example["conclusion"]
                out += [render((q, x, y))] + ([render((q, y, x))] if q in SYMMETRIC else [])
        return list(dict.fromkeys(out))

    def judge(self, world: World, statement: str) -> Verdict:
        text = _FRAME.sub("", statement.strip().lower(), count=1)
        match = _STATEMENT.match(text)
        if match is None:
            return "unparseable"
        quantifier, x, y = match.groups()
        for example in world.structure["examples"]:
            role = {word: r for r, word in example["roles"].items()}
            if x in role and y in role:
                form = next(f for f in FORMS if f.name == example["form"])
                return "true" if follows(form.premises, (quantifier, role[x], role[y])) else "false"
        return "false"  # unknown terms, or terms of different examples: a hallucination
