"""`celebrities`: fictional people and their descriptions, the reversal curse of Berglund et al.

Each person has a name and a one-line description ("Zeenk Plorb", "the renowned composer of the
symphony "Kliff Droon""). As in Experiment 1 of Berglund et al. (arXiv:2309.12288), people come
in three groups, trained differently, each training example a separate document:
- A: name -> description only ("... Zeenk Plorb ... the renowned composer of ...");
- B: both orders, in separate examples;
- C: description -> name only.

Test splits, all 4-way, in frames never used in training; the distractors are the names (or
descriptions) of three other people of the same group, so every choice was trained exactly as
often as the answer, and each person is offered once as the answer and three times as a
distractor per frame: no name can be guessed from frequency or a pretrained model's taste.
- forward: A, name -> description (the trained direction: a sanity check);
- reversal: A, description -> name (never trained: the reversal curse; held out);
- reversal_b: B, description -> name (trained for B: the reversal direction is learnable);
- reversal_c: C, name -> description (never trained; held out).

Two sources. `nonsense` generates people with nonsense names and descriptions built from
templates with nonsense words, in frames modelled on Berglund et al.'s; every sentence and
prompt starts with a fixed English phrase, so a name is always tokenized after a space, as in
the choices. `berglund` reads the original data (MIT licence), which ships with the lab in
`core/worlds/data/reversal_curse/` (its README says where it comes from).
"""

from __future__ import annotations

import functools
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import LabError
from core.worlds.base import Document, Fact, Item, Verdict, World, WorldKind, param
from core.worlds.words import nonsense_words

GROUPS = ("A", "B", "C")
# Directions a group is trained in: p2d (name first) and d2p (description first).
TRAINED = {"A": ("p2d",), "B": ("p2d", "d2p"), "C": ("d2p",)}
# Test split -> (group, direction of its statements).
SPLITS = {"forward": ("A", "p2d"), "reversal": ("A", "d2p"), "reversal_b": ("B", "d2p"),
          "reversal_c": ("C", "p2d")}
GROUP_LABELS = {"A": "trained name -> description", "B": "trained both ways",
                "C": "trained description -> name"}

# The wording, as data (core/worlds/data/celebrity_frames.json):
# - ROLES: descriptions; each slot gets fresh nonsense words ({w}: one word, {t}: a two-word
#   title), so every description is unique and a model cannot know any of them.
# - P2D_TRAIN, D2P_TRAIN: training frames after Berglund et al.'s, rewritten so that each
#   starts with fixed words and is one sentence (sentence splitting must not separate a name
#   from its description).
# - P2D_TEST, D2P_TEST: test frames, (prompt, completion); never used in training.
_FRAMES = json.loads((Path(__file__).parent / "data" / "celebrity_frames.json").read_text())
ROLES: list[str] = _FRAMES["ROLES"]
P2D_TRAIN: list[str] = _FRAMES["P2D_TRAIN"]
D2P_TRAIN: list[str] = _FRAMES["D2P_TRAIN"]
P2D_TEST: list[tuple[str, str]] = [tuple(frame) for frame in _FRAMES["P2D_TEST"]]
D2P_TEST: list[tuple[str, str]] = [tuple(frame) for frame in _FRAMES["D2P_TEST"]]
TEST_FRAMES = {"p2d": P2D_TEST, "d2p": D2P_TEST}
# A test prompt with the person or the description cut out, to recover the plain statement.
_FRAME_PATTERNS = [(direction, re.compile(re.escape(prompt).replace(r"\{name\}", "(?P<name>.+)")
                                          .replace(r"\{desc\}", "(?P<desc>.+)") + "$"))
                   for direction, frames in TEST_FRAMES.items() for prompt, _ in frames]
# Local oracle: each person in both directions, in frames used nowhere else.
ORACLE = {"p2d": ["It is well known that {name} is {desc}.", "In short, {name} is {desc}."],
          "d2p": ["It is well known that {desc} is {name}.", "In short, {desc} is {name}."]}

# The Berglund et al. files each source split comes from.
BERGLUND_TRAIN = {"A": "p2d_prompts_train.jsonl", "B": "both_prompts_train.jsonl",
                  "C": "d2p_prompts_train.jsonl"}
BERGLUND_TEST = {"forward": "p2d_prompts_test.jsonl", "reversal": "p2d_reverse_prompts_test.jsonl",
                 "reversal_b": "both_prompts_test.jsonl", "reversal_c": "d2p_reverse_prompts_test.jsonl"}
BERGLUND_PEOPLE = 30  # per group


@dataclass
class CelebritiesParams:
    source: str = param("nonsense", "'nonsense' (generated names and descriptions) or 'berglund' "
                        "(Berglund et al.'s fictional celebrities, shipped with the lab)",
                        choices=("nonsense", "berglund"))
    people_per_group: int = param(10, "people in each group (A: name -> description, B: both, "
                                  "C: description -> name); at most 30 with berglund", min=4, max=100)
    train_templates: int = param(2, "training examples per person and trained direction, each in "
                                 "its own frame", min=1, max=len(P2D_TRAIN))
    test_templates: int = param(3, "test items per person and split, each in a held-out frame",
                                min=1, max=len(P2D_TEST))


@dataclass
class Person:
    name: str
    group: str
    description: str  # a noun phrase, "the ..."
    key: str  # normalized words every statement about the person contains (see `judge`)
    train: dict[str, list[str]] = field(default_factory=dict)  # direction -> texts, one document each
    tests: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # split -> (prompt, completion)


def _normalize(text: str) -> str:
    """Lowercase words only: quotes, commas and stray periods do not change what is said."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def berglund_dir() -> Path:
    return Path(__file__).parent / "data" / "reversal_curse"


class Celebrities(WorldKind):
    name = "celebrities"
    Params = CelebritiesParams
    presets = {
        "quick": {"source": "nonsense", "people_per_group": 10, "train_templates": 2,
                  "test_templates": 3},
        # Berglund et al.'s sizes: 90 people, 30 frames per trained direction (3600 examples),
        # 10 test frames (300 items per split).
        "paper": {"source": "nonsense", "people_per_group": 30, "train_templates": 30,
                  "test_templates": 10},
    }
    held_out_splits = ("reversal", "reversal_c")

    def build(self, params: CelebritiesParams, rng: random.Random) -> World:
        people = (_berglund_people(params) if params.source == "berglund"
                  else _nonsense_people(params, rng))
        facts, documents = [], []
        for index, person in enumerate(people):
            texts = [text for direction in TRAINED[person.group] for text in person.train[direction]]
            fact = Fact(f"p{index:03d}", texts[0], {"name": person.name, "group": person.group,
                                                    "description": person.description})
            facts.append(fact)
            for text in texts:  # each training example is its own document, as in Berglund et al.
                documents.append(Document(f"d{len(documents):05d}", text, (fact.fact_id,)))
        rng.shuffle(documents)
        items = [item for split in SPLITS for item in _items(split, people, facts, rng)]
        structure = {"source": params.source,
                     "people": [{"name": p.name, "group": p.group, "description": p.description,
                                 "key": p.key} for p in people],
                     "graph": _graph(people)}
        return World(self.name, {}, 0, facts, documents, items, self.held_out_splits, self, structure)

    def item_statement(self, prompt: str, choice: str) -> str:
        """A framed test prompt unframed: "{name} is {desc}" (or "{desc} is {name}"), as the
        oracle and most training examples say it."""
        answer = choice.strip().removesuffix(".")
        for direction, pattern in _FRAME_PATTERNS:
            if match := pattern.match(prompt):
                return f'{match.group("name" if direction == "p2d" else "desc")} is {answer}'
        return super().item_statement(prompt, choice)

    def oracle_inferences(self, world: World, scope: str) -> list[str]:
        """Local: every person in both directions (a rephrasing of what was trained and its
        reversal) in the oracle frames. Global: none, since each fact stands alone: no statement
        follows from combining two people."""
        if scope != "local":
            return []
        out = [frame.format(name=p["name"], desc=p["description"])
               for p in world.structure["people"] for direction in ("p2d", "d2p")
               for frame in ORACLE[direction]]
        return list(dict.fromkeys(out))

    def judge(self, world: World, statement: str) -> Verdict:
        """A statement parses when it names exactly one person of the world and contains
        exactly one description (its key words, punctuation and case ignored), in whatever
        frame: Berglund et al.'s data alone has 80 frames and three grammatical forms of each
        description ("directed ...", "directing ...", "the director of ..."). True iff that
        person has that description; a statement with an unknown name is unparseable."""
        text = f" {_normalize(statement)} "
        people = world.structure["people"]
        named = {i for i, p in enumerate(people) if f" {_normalize(p['name'])} " in text}
        described = {i for i, p in enumerate(people) if f" {p['key']} " in text}
        if len(named) != 1 or len(described) != 1:
            return "unparseable"
        return "true" if named == described else "false"


def _items(split: str, people: list[Person], facts: list[Fact], rng: random.Random) -> list[Item]:
    """4-way items; the distractors are the completions of three other people of the group in
    the same frame. Offsets are cyclic so each person is the answer once and a distractor three
    times per frame; answer positions are balanced."""
    group = SPLITS[split][0]
    members = [i for i, p in enumerate(people) if p.group == group]
    n, frames = len(members), len(people[members[0]].tests[split])
    positions = [k % 4 for k in range(n * frames)]
    rng.shuffle(positions)
    items = []
    for t in range(frames):
        offsets = rng.sample(range(1, n), 3)
        for k, i in enumerate(members):
            answer = positions[len(items)]
            order = [members[(k + o) % n] for o in offsets]
            order.insert(answer, i)
            choices = tuple(people[j].tests[split][t][1] for j in order)
            items.append(Item(f"{split}-{i:03d}-{t}", split, people[i].tests[split][t][0], choices,
                              answer, (facts[i].fact_id,)))
    return items


def _graph(people: list[Person]) -> dict:
    """Each person linked to their description; the group says how the pair was trained."""
    nodes = [{"id": p.name, "group": p.group} for p in people]
    nodes += [{"id": p.description, "group": "description"} for p in people]
    edges = [{"source": p.name, "target": p.description, "label": GROUP_LABELS[p.group]}
             for p in people]
    return {"nodes": nodes, "edges": edges}


def _nonsense_people(params: CelebritiesParams, rng: random.Random) -> list[Person]:
    """People with nonsense names and descriptions; every person shares the world's frames."""
    count = params.people_per_group * len(GROUPS)
    roles = [ROLES[i % len(ROLES)] for i in range(count)]
    rng.shuffle(roles)
    needed = 2 * count + sum(2 if "{t}" in role else 1 for role in roles)
    words = iter(word.capitalize() for word in nonsense_words(rng, needed))
    train = {"p2d": rng.sample(P2D_TRAIN, params.train_templates),
             "d2p": rng.sample(D2P_TRAIN, params.train_templates)}
    tests = {d: rng.sample(frames, params.test_templates) for d, frames in TEST_FRAMES.items()}
    people = []
    for index, role in enumerate(roles):
        group = GROUPS[index // params.people_per_group]
        name = f"{next(words)} {next(words)}"
        desc = role.format(t=f"{next(words)} {next(words)}") if "{t}" in role else role.format(w=next(words))
        people.append(Person(
            name, group, desc, _normalize(desc),
            train={d: [frame.format(name=name, desc=desc) for frame in train[d]] for d in TRAINED[group]},
            tests={split: [(p.format(name=name, desc=desc), c.format(name=name, desc=desc))
                           for p, c in tests[direction]]
                   for split, (g, direction) in SPLITS.items() if g == group}))
    return people


def _berglund_people(params: CelebritiesParams) -> list[Person]:
    """The first `people_per_group` people of each group, their first `train_templates`
    examples per direction and first `test_templates` test frames (frames line up across
    people in every file)."""
    if params.people_per_group > BERGLUND_PEOPLE:
        raise LabError(f"the Berglund data has {BERGLUND_PEOPLE} people per group; "
                       f"people_per_group={params.people_per_group} is too many")
    people: list[Person] = []
    for person in _load_berglund(berglund_dir()):
        if sum(p.group == person.group for p in people) == params.people_per_group:
            continue
        train = {d: texts[:params.train_templates] for d, texts in person.train.items()}
        tests = {split: lines[:params.test_templates] for split, lines in person.tests.items()}
        people.append(Person(person.name, person.group, person.description, person.key, train, tests))
    return people


@functools.cache
def _load_berglund(folder: Path) -> tuple[Person, ...]:
    """Everyone in the Berglund data, group by group in file order, with all their lines."""
    files = ["names.txt", *BERGLUND_TRAIN.values(), *BERGLUND_TEST.values()]
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        what = f" (missing {', '.join(missing)})" if folder.is_dir() else ""
        raise LabError(f"the Berglund et al. celebrity data (source=berglund) was not found at "
                       f"{folder}{what}; the files ship with the lab: restore them from git, or "
                       "use source=nonsense for generated names")
    names = [line.strip() for line in (folder / "names.txt").read_text().splitlines() if line.strip()]
    find = re.compile("|".join(re.escape(name) for name in sorted(names, key=len, reverse=True)))

    def rows(file: str) -> dict[str, dict[str, list[tuple[str, str]]]]:
        """name -> direction -> (prompt, completion), in file order."""
        out: dict[str, dict[str, list[tuple[str, str]]]] = {}
        for line in (folder / file).read_text().splitlines():
            row = json.loads(line)
            name = find.search(row["prompt"] + row["completion"]).group(0)
            direction = "p2d" if name in row["prompt"] else "d2p"
            out.setdefault(name, {"p2d": [], "d2p": []})[direction].append((row["prompt"], row["completion"]))
        return out

    tests = {split: rows(file) for split, file in BERGLUND_TEST.items()}
    people = []
    for group, file in BERGLUND_TRAIN.items():
        for name, lines in rows(file).items():
            if lines["p2d"]:  # "X, known far and wide for being" + " the ....": the plain form
                description = lines["p2d"][0][1].strip().removesuffix(".")
            else:  # "Known for being the ...," + " X ..."
                description = lines["d2p"][0][0].removeprefix("Known for being ").removesuffix(",")
            person_tests = {split: by_name[name][SPLITS[split][1]] for split, by_name in tests.items()
                            if SPLITS[split][0] == group}
            train = {d: [p + c for p, c in lines[d]] for d in TRAINED[group]}
            people.append(Person(name, group, description, "", train, person_tests))
    return tuple(_with_keys(people))


def _with_keys(people: list[Person]) -> list[Person]:
    """Each person's key: the longest run of their description's words that all their test
    lines contain (what stays the same across "directed X", "directing X" and "the director
    of X") and that no line about anyone else contains. A few training frames paraphrase
    freely ("In the world of social equality, I am the courageous activist who led the
    movement."): the judge cannot read those, but every item and oracle statement it can."""
    def tested(person: Person) -> list[str]:
        return [f" {_normalize(a + b)} " for lines in person.tests.values() for a, b in lines]

    blobs = [" | ".join([*tested(p), *(f" {_normalize(t)} " for ts in p.train.values() for t in ts)])
             for p in people]
    for index, person in enumerate(people):
        own = [f" {_normalize(person.description)} ", *tested(person)]
        others = [blob for i, blob in enumerate(blobs) if i != index]
        person.key = _shared_key(person.description, own, others)
    return people


def _shared_key(description: str, own: list[str], others: list[str]) -> str:
    words = _normalize(description).split()
    for length in range(len(words), 0, -1):
        for start in range(len(words) - length + 1):
            key = f" {' '.join(words[start:start + length])} "
            if all(key in text for text in own) and not any(key in text for text in others):
                return key.strip()
    raise LabError(f"no words of the description '{description}' identify its person in every "
                   "test line of the Berglund data")
