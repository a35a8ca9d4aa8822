"""`syllogisms`: two premises over three nonsense terms, hidden among decoy premises; the test
asks for the conclusion.

Each example is one training document with five terms and six premises, "The relationships
between blick, glon, troff, yomp and zeff are: All glon are yomp. No yomp are blick. ..." (terms
listed alphabetically, so the list gives no role away). Two premises form the syllogism: they
chain the end terms S and P through the middle term M. The four others are decoys: each links
S or P to one of two decoy terms (Q, R); a decoy term linked to both end terms makes a second
chain, from which nothing among the choices follows. The item names the two end terms, "The
relationships between yomp and troff are:", and scores the four distinct candidate conclusions
over them: " All yomp are troff.", " All troff are yomp.", " Some yomp are troff.", " No yomp
are troff." ("Some X are not Y" is left out, as in the study).

Why four choices and not six: "Some X are Y" and "Some Y are X" say the same thing (so do the
two "No" forms), so listing both directions would make two choices correct whenever the
conclusion is "Some" or "No". The symmetric forms are written once, in the prompt's order.

Why decoys: with the two premises alone, "take the conclusion's quantifier from the premise that
is not All" answered 0.83 of the items, since a valid conclusion always takes the quantifier of
its premises' weaker one (the rules of quality and quantity), and "the All statement whose
subject is a premise's subject" chose the direction of every All conclusion. So every document
states the same quantifiers, four All, one No and one Some, whatever its conclusion (the decoys
complete the syllogism's pair to that set), and its All premises name each end term as a subject
and as a predicate. Every rule that reads quantifiers or roles off the premises, or copies them
from the document, then sees the same thing for every item and sits at chance; to answer, one
must find the chain that yields a conclusion and reason along it (core/shortcuts/ checks it).

Validity is computed, not tabulated: a statement follows iff it holds in every model of the
premises, a model being which Venn regions over the terms are inhabited. We use Boolean (modern)
semantics, without existential import: a term may be empty, so "All X are Y" does not imply
"Some X are Y". Under existential import every "All" conclusion comes with a "Some" one, and no
premise pair would have "All" as its unique answer. All and No forbid regions, Some asks for one,
so a countermodel needs only the allowed regions and one witness per Some (`follows`). The
syllogisms used are those of the 36 classic figure/mood combinations over {All, Some, No} with
exactly one valid conclusion among the four: Barbara (AA1, AA4), Celarent, Cesare, Camestres,
Camenes (EA1, EA2, AE2, AE4) and Darii, Datisi, Disamis, Dimaris (AI1, AI3, IA3, IA4); the
decoys are drawn among those that keep it the only one, and that alone give none.

The four candidate statements are the answer equally often (All in the prompt's order, All in
the other order, Some, No), forms of a quantifier take turns, and answer positions are balanced,
so a pretrained model's preference for a quantifier, an order or a position cannot lift it above
chance.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass

from core.worlds.base import Document, Fact, Item, Verdict, World, WorldKind, param
from core.worlds.words import nonsense_words

Statement = tuple[str, str, str]  # (quantifier, subject, predicate); quantifier in QUANTIFIERS
QUANTIFIERS = ("all", "some", "no")
LETTERS = {"all": "A", "some": "I", "no": "E"}
SYMMETRIC = ("some", "no")  # "Some X are Y" says the same as "Some Y are X"; so does "No"
ROLES = ("S", "M", "P", "Q", "R")  # the conclusion's subject and predicate, middle, decoys
# The classic figures: where the middle term sits in the major (M-P) and minor (S-M) premise.
FIGURES = {1: (("M", "P"), ("S", "M")), 2: (("P", "M"), ("S", "M")),
           3: (("M", "P"), ("M", "S")), 4: (("P", "M"), ("M", "S"))}
FRAME = "The relationships between {terms} are:"
_FRAME = re.compile(r"^the relationships between [a-z ,]+? are:\s*")
_STATEMENT = re.compile(r"^(all|some|no) ([a-z]+) are ([a-z]+)\.?$")


def render(statement: Statement) -> str:
    quantifier, subject, predicate = statement
    return f"{quantifier.capitalize()} {subject} are {predicate}."


@functools.cache
def follows(premises: tuple[Statement, ...], statement: Statement) -> bool:
    """True iff the statement holds in every model of the premises (terms may be empty). A model
    is the set of inhabited Venn regions. All and No forbid regions; Some asks for an inhabited
    one. So a countermodel exists iff, among the regions every All and No allows, each Some
    premise finds a witness and the statement fails: for All or No, one allowed region breaks
    it; for Some, every witness can avoid the two terms' overlap."""
    terms = sorted({t for _, x, y in (*premises, statement) for t in (x, y)})
    bit = {t: 1 << i for i, t in enumerate(terms)}

    def allowed(region: int, q: str, x: str, y: str) -> bool:
        inside = region & bit[x] and region & bit[y]
        return not (q == "all" and region & bit[x] and not region & bit[y] or q == "no" and inside)

    regions = [r for r in range(1 << len(terms)) if all(allowed(r, *p) for p in premises)]
    witnesses = [bit[x] | bit[y] for q, x, y in premises if q == "some"]
    if not all(any(r & w == w for r in regions) for w in witnesses):
        return True  # premises with no model entail everything
    quantifier, x, y = statement
    if quantifier != "some":
        return all(allowed(r, quantifier, x, y) for r in regions)
    both = bit[x] | bit[y]
    return not all(any(r & w == w and r & both != both for r in regions) for w in witnesses)


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
FORMS_BY_NAME = {f.name: f for f in FORMS}
# Every document's premises, whatever its conclusion: the syllogism's two and four decoys.
DOCUMENT_QUANTIFIERS = ("all", "all", "all", "all", "no", "some")
DECOY_ROLES = ("Q", "R")
# A decoy links an end term and a decoy term, either way round.
_DECOY_SHAPES = [(x, y) for end in "SP" for d in DECOY_ROLES for x, y in ((end, d), (d, end))]


@functools.cache
def decoys(form: str) -> tuple[tuple[Statement, ...], ...]:
    """The decoy sets that may accompany a form: four premises, each linking S or P to Q or R,
    whose quantifiers complete the form's to DOCUMENT_QUANTIFIERS, whose All premises (the
    form's included) name S and P each as a subject and as a predicate, with which the form's
    conclusion stays the only candidate that follows, and which alone give none."""
    premises, conclusion = FORMS_BY_NAME[form].premises, FORMS_BY_NAME[form].conclusion
    missing = sorted((Counter(DOCUMENT_QUANTIFIERS) - Counter(q for q, _, _ in premises)).elements())
    out = []
    for shapes in itertools.combinations(_DECOY_SHAPES, len(missing)):
        for quantifiers in sorted(set(itertools.permutations(missing))):
            extra = tuple((q, *shape) for q, shape in zip(quantifiers, shapes))
            alls = [p for p in (*premises, *extra) if p[0] == "all"]
            if not {"S", "P"} <= {p[1] for p in alls} & {p[2] for p in alls}:
                continue
            candidates = candidate_conclusions("S", "P")
            if ([c for c in candidates if follows((*premises, *extra), c)] == [conclusion]
                    and not any(follows(extra, c) for c in candidates)):
                out.append(extra)
    return tuple(out)


@dataclass
class SyllogismsParams:
    n_examples: int = param(24, "syllogisms (one training document and one test item each)",
                            min=1, max=1000)
    premise_order: str = param("classic", "order of the premises in a document: 'classic' (the "
                               "syllogism's premise with the conclusion's predicate before the "
                               "other, decoys anywhere) or 'random'",
                               choices=("classic", "random"))


def _plan(n: int, rng: random.Random) -> list[tuple[Form, bool]]:
    """(form, answer_first) per example: the four candidate statements take turns as the answer
    (All with its subject first in the prompt, All with it second, Some, No); forms of a
    quantifier take turns (All's by pairs, one per order), and Some and No flip the prompt's
    order once all their forms had a turn, so neither form nor order correlates with the other."""
    by_quantifier = {q: rng.sample([f for f in FORMS if f.conclusion[0] == q],
                                   sum(f.conclusion[0] == q for f in FORMS)) for q in QUANTIFIERS}
    slots = [("all", True), ("all", False), ("some", None), ("no", None)]
    first, turns, plan = rng.randrange(len(slots)), Counter(), []
    for i in range(n):
        quantifier, answer_first = slots[(first + i) % len(slots)]
        forms, k = by_quantifier[quantifier], turns[quantifier]
        turns[quantifier] += 1
        if answer_first is None:
            plan.append((forms[k % len(forms)], (k // len(forms)) % 2 == 0))
        else:
            plan.append((forms[(k // 2) % len(forms)], answer_first))
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
    multi_hop_splits = ("syllogism",)

    def build(self, params: SyllogismsParams, rng: random.Random) -> World:
        plan = _plan(params.n_examples, rng)
        words = nonsense_words(rng, len(ROLES) * params.n_examples)
        positions = [i % 4 for i in range(params.n_examples)]
        rng.shuffle(positions)
        facts, documents, items, examples = [], [], [], []
        for index, (form, answer_first) in enumerate(plan):
            eid = f"e{index:03d}"
            roles = dict(zip(ROLES, words[len(ROLES) * index:len(ROLES) * (index + 1)]))
            extra = list(rng.choice(decoys(form.name)))
            if params.premise_order == "random":
                ordered = rng.sample([*form.premises, *extra], 2 + len(extra))
            else:  # the syllogism's major before its minor, the decoys anywhere around them
                ordered = list(form.premises)
                for decoy in rng.sample(extra, len(extra)):
                    ordered.insert(rng.randint(0, len(ordered)), decoy)
            premises = [(q, roles[x], roles[y]) for q, x, y in ordered]
            fact_ids, needed = [], []
            for premise, shape in zip(premises, ordered):
                fact_ids.append(f"f{len(facts):04d}")
                if shape in form.premises:
                    needed.append(fact_ids[-1])
                facts.append(Fact(fact_ids[-1], render(premise),
                                  {"example": eid, "quantifier": premise[0], "subject": premise[1],
                                   "predicate": premise[2]}))
            terms = sorted(roles.values())
            text = (FRAME.format(terms=", ".join(terms[:-1]) + f" and {terms[-1]}") + " "
                    + " ".join(render(p) for p in premises))
            documents.append(Document(f"d{index:05d}", text, tuple(fact_ids)))
            _, x, y = form.conclusion
            first, second = (roles[x], roles[y]) if answer_first else (roles[y], roles[x])
            answer = (form.conclusion[0], roles[x], roles[y])
            # The item needs the syllogism's two premises; the decoys are noise.
            items.append(self._item(f"syllogism-{eid}", first, second, answer, positions[index],
                                    tuple(needed), rng))
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
                # In role names, so that the cache serves every example of the same shape.
                premises = tuple((q, role[a], role[b]) for q, a, b in example["premises"])
                return "true" if follows(premises, (quantifier, role[x], role[y])) else "false"
        return "false"  # unknown terms, or terms of different examples: a hallucination
