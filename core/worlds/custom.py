"""`custom`: a world imported from the user's own JSONL file of documents and test items.

One JSON object per line (blank lines are skipped), each with a "type":
- {"type": "document", "doc_id", "text", "fact_ids"?}: a training document.
- {"type": "item", "item_id", "split", "prompt", "choices", "answer", "fact_ids"?}: a
  multiple-choice test item; `choices` are continuations of `prompt` (kept exactly as given,
  so they should usually start with a space) and `answer` is the index of the correct one.
- {"type": "fact", "fact_id", "text"}: optional; a true statement, referenced by fact_ids.
- {"type": "inference", "scope": "local" | "global", "text"}: optional; a true statement that
  local or global augmentation should produce (the oracle's augmentations).

The file decides everything; the presets are the same. The seed only draws the order in which
each item's choices are listed, which no score depends on (each choice is scored on its own).
The judge looks statements up: true if it is a fact, an inference or an item's prompt + answer;
false if it is an item's prompt + distractor; anything else is unparseable. Comparison ignores
case, runs of whitespace and a trailing period. Mistakes in the file raise LabError naming the
file, the line and the field.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import LabError
from core.limits import check_world_size
from core.paths import REPO_ROOT, data_dir
from core.worlds.base import Document, Fact, Item, Verdict, World, WorldKind, param

DEFAULT_PATH = "data/examples/custom_example.jsonl"
EXAMPLES_DIR = REPO_ROOT / "data" / "examples"  # in git: the example files
MAX_EDGES = 3000  # the picture stays readable and cheap for large files
OPTIONAL_FIELDS = {"fact_ids"}
FIELDS = {
    "document": ("doc_id", "text", "fact_ids"),
    "item": ("item_id", "split", "prompt", "choices", "answer", "fact_ids"),
    "fact": ("fact_id", "text"),
    "inference": ("scope", "text"),
}
ID_FIELD = {"document": "doc_id", "item": "item_id", "fact": "fact_id"}
_SPLIT_NAME = re.compile(r"^[^\s,]+$")  # held_out lists split names separated by commas


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _choices(value: Any) -> bool:
    return isinstance(value, list) and len(value) >= 2 and all(_text(c) for c in value)


# Each field: what makes a value valid, and how the error message describes a valid value.
CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "doc_id": (_text, "a non-empty string"),
    "item_id": (_text, "a non-empty string"),
    "fact_id": (_text, "a non-empty string"),
    "text": (_text, "a non-empty string"),
    "prompt": (_text, "a non-empty string"),
    "split": (lambda v: isinstance(v, str) and bool(_SPLIT_NAME.match(v)),
              "a non-empty name without spaces or commas"),
    "choices": (_choices, "a list of at least 2 non-empty strings"),
    "answer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "fact_ids": (lambda v: isinstance(v, list) and all(_text(f) for f in v), "a list of fact ids"),
    "scope": (lambda v: v in ("local", "global"), "'local' or 'global'"),
}


@dataclass
class CustomParams:
    path: str = param(DEFAULT_PATH, "the JSONL file of documents and items; a relative path is "
                      "read from the repository root")
    held_out: str = param("", "comma-separated splits that are held out (never in training); "
                          "empty: every split except 'forward'")
    shuffle_choices: bool = param(True, "list each item's choices in an order drawn from the "
                                  "seed, the answer's position balanced within each split (scores "
                                  "don't depend on it); false keeps the file's order")


@dataclass(frozen=True)
class _Row:
    line: int
    type: str
    data: dict[str, Any]


class _File:
    """The file as the user named it, for error messages."""

    def __init__(self, shown: str):
        self.shown = shown

    def error(self, message: str, line: int | None = None) -> LabError:
        where = f" line {line}" if line is not None else ""
        return LabError(f"custom world {self.shown}{where}: {message}")


def browser_roots() -> list[Path]:
    """The folders whose custom world files the app lets a browser user read: the data folder
    (uploads land there) and the examples."""
    return [data_dir(), EXAMPLES_DIR]


def resolve(path: str) -> Path:
    """A relative path is read from the repository root, wherever the lab is started from."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


def save_upload(content: bytes, filename: str) -> Path:
    """Keep an uploaded file under data/uploads, named by its content, and return its path (use
    it as the world's `path`). The same content always lands at the same path. Uploads are
    kept (runs on them can be rerun), so the folder as a whole is capped too."""
    from core.limits import check, limits
    from core.paths import data_dir
    caps = limits()
    check(round(len(content) / 2**20, 1), caps.upload_mb, f"uploaded file {filename} (MB)",
          "upload_mb")
    folder = data_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name) or "world.jsonl"
    target = folder / f"{hashlib.sha256(content).hexdigest()[:12]}-{safe}"
    if not target.exists():
        kept = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        check(round((kept + len(content)) / 2**20, 1), caps.uploads_mb,
              f"uploads kept in {folder} (MB; remove old ones there)", "uploads_mb")
    target.write_bytes(content)
    return target


def normalise(statement: str) -> str:
    """What the judge compares: case, runs of whitespace and a trailing period don't count."""
    return re.sub(r"\s+", " ", statement).strip().lower().rstrip(".").rstrip()


def _read(path: str) -> tuple[_File, str]:
    file, resolved = _File(path), resolve(path)
    if not resolved.is_file():
        raise LabError(f"custom world file {path} not found (looked for {resolved}; a relative "
                       "path is read from the repository root)")
    try:
        return file, resolved.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise file.error("is not UTF-8 text") from None
    except OSError as error:
        raise file.error(f"cannot be read: {error.strerror}") from None


def _parse(file: _File, text: str) -> list[_Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise file.error(f"not valid JSON ({error.msg} at column {error.colno})", number) from None
        except RecursionError:
            raise file.error("nested too deeply to be a row of a world", number) from None
        if not isinstance(data, dict):
            raise file.error(f"expected a JSON object {{...}}, got {type(data).__name__}", number)
        rows.append(_Row(number, _check_fields(file, number, data), data))
    return rows


def _check_fields(file: _File, line: int, data: dict[str, Any]) -> str:
    """The row's type, once every field it has and needs is valid."""
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in FIELDS:
        raise file.error(f"field 'type' must be one of {', '.join(FIELDS)}, got {json.dumps(kind)}",
                         line)
    known = FIELDS[kind]
    for name in data:
        if name != "type" and name not in known:
            raise file.error(f"unknown field '{name}' for a {kind}; its fields are: "
                             f"{', '.join(known)}", line)
    for name in known:
        if name not in data:
            if name in OPTIONAL_FIELDS:
                continue
            required = ", ".join(f for f in known if f not in OPTIONAL_FIELDS)
            raise file.error(f"field '{name}' is missing (a {kind} needs {required})", line)
        valid, wanted = CHECKS[name]
        if not valid(data[name]):
            raise file.error(f"field '{name}' must be {wanted}, got {json.dumps(data[name])}", line)
    if kind == "item":
        _check_item(file, line, data)
    return kind


def _check_item(file: _File, line: int, data: dict[str, Any]) -> None:
    choices, answer = data["choices"], data["answer"]
    if not 0 <= answer < len(choices):
        raise file.error(f"field 'answer' must be an index into 'choices' (0..{len(choices) - 1}), "
                         f"got {answer}", line)
    repeated = next((c for i, c in enumerate(choices) if c in choices[:i]), None)
    if repeated is not None:
        raise file.error(f"field 'choices' lists {json.dumps(repeated)} twice", line)


def _check_ids(file: _File, rows: list[_Row]) -> None:
    """Ids are unique within their type, and every fact_ids entry names a fact of the file."""
    first_line: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.type in ID_FIELD:
            field = ID_FIELD[row.type]
            key = (row.type, row.data[field])
            if key in first_line:
                raise file.error(f"field '{field}': {json.dumps(key[1])} is already used on line "
                                 f"{first_line[key]}", row.line)
            first_line[key] = row.line
    facts = {fact_id for kind, fact_id in first_line if kind == "fact"}
    for row in rows:
        unknown = [f for f in row.data.get("fact_ids", []) if f not in facts]
        if unknown:
            raise file.error(f"field 'fact_ids': no fact line has fact_id {json.dumps(unknown[0])}",
                             row.line)
    for kind in ("document", "item"):
        if not any(row.type == kind for row in rows):
            raise file.error(f"has no {kind}s; add at least one line with \"type\": \"{kind}\"")


def _verdicts(file: _File, rows: list[_Row]) -> dict[str, str]:
    """Normalised statement -> "true" or "false"; a statement the file makes both is an error."""
    verdicts: dict[str, tuple[str, int]] = {}
    for row in rows:
        if row.type in ("fact", "inference"):
            statements = [(row.data["text"], "true", "text")]
        elif row.type == "item":
            statements = [(row.data["prompt"] + choice, "true" if i == row.data["answer"] else "false",
                           "choices") for i, choice in enumerate(row.data["choices"])]
        else:
            continue
        for statement, verdict, field in statements:
            key = normalise(statement)
            earlier = verdicts.setdefault(key, (verdict, row.line))
            if earlier[0] != verdict:
                raise file.error(f"field '{field}': {json.dumps(statement.strip())} is {verdict} here "
                                 f"but {earlier[0]} on line {earlier[1]} (a distractor must be false "
                                 "and every fact, inference and answer true)", row.line)
    return {key: verdict for key, (verdict, _) in verdicts.items()}


def _held_out(file: _File, held_out: str, splits: list[str]) -> tuple[str, ...]:
    names = list(dict.fromkeys(s.strip() for s in held_out.split(",") if s.strip()))
    if not names:
        return tuple(s for s in splits if s != "forward")
    for name in names:
        if name not in splits:
            raise file.error(f"parameter 'held_out' names split '{name}', which no item has; the "
                             f"file's splits are: {', '.join(splits)}")
    return tuple(names)


def _check_no_leaks(file: _File, rows: list[_Row], held_out: tuple[str, ...]) -> None:
    """A held-out item stated verbatim in a training document would test memory, not inference."""
    documents = [row for row in rows if row.type == "document"]
    for row in rows:
        if row.type != "item" or row.data["split"] not in held_out:
            continue
        statement = row.data["prompt"] + row.data["choices"][row.data["answer"]]
        for document in documents:
            if statement.lower() in document.data["text"].lower():
                raise file.error(
                    f"item {json.dumps(row.data['item_id'])} of held-out split "
                    f"'{row.data['split']}' (fields 'prompt' + answer choice) appears verbatim in "
                    f"document {json.dumps(document.data['doc_id'])} on line {document.line}; "
                    "reword one of them, or leave the split out of parameter 'held_out'", row.line)


def _shuffled_items(items: list[dict[str, Any]], rng: random.Random) -> list[Item]:
    """Each item's choices in an order drawn from `rng`, with the answer's positions dealt
    evenly within each split, as the generated kinds do: shuffled one at a time, four
    three-choice items put two or more answers first 40% of the time, and "always the first
    choice" then passes the shortcut check's bound (chance + 0.10)."""
    dealt: dict[str, list[int]] = {}
    for split, count in Counter(d["split"] for d in items).items():
        dealt[split] = list(range(count))
        rng.shuffle(dealt[split])
    return [_item(d, dealt[d["split"]].pop() % len(d["choices"]), rng) for d in items]


def _item(data: dict[str, Any], position: int, rng: random.Random | None) -> Item:
    """The item with its answer at `position` and the other choices shuffled around it (in
    the file's order without `rng`)."""
    others = [i for i in range(len(data["choices"])) if i != data["answer"]]
    if rng is not None:
        rng.shuffle(others)
    order = [*others[:position], data["answer"], *others[position:]]
    return Item(data["item_id"], data["split"], data["prompt"],
                tuple(data["choices"][i] for i in order), position,
                tuple(data.get("fact_ids", [])))


def _graph(rows: list[_Row]) -> dict:
    """Splits, facts and documents; a document points to the facts it states, a split to the
    facts its items need."""
    nodes, edges = [], []
    splits = list(dict.fromkeys(row.data["split"] for row in rows if row.type == "item"))
    nodes += [{"id": f"split:{s}", "group": "split"} for s in splits]
    for row in rows:
        if row.type in ("fact", "document"):
            nodes.append({"id": f"{row.type}:{row.data[ID_FIELD[row.type]]}", "group": row.type})
        if row.type == "document":
            edges += [{"source": f"document:{row.data['doc_id']}", "target": f"fact:{f}",
                       "label": "states"} for f in row.data.get("fact_ids", [])]
    tested = {(row.data["split"], f): None for row in rows if row.type == "item"
              for f in row.data.get("fact_ids", [])}
    edges += [{"source": f"split:{s}", "target": f"fact:{f}", "label": "tests"} for s, f in tested]
    return {"nodes": nodes, "edges": edges[:MAX_EDGES]}


class Custom(WorldKind):
    name = "custom"
    Params = CustomParams
    # A custom world is only its file: both presets read it unchanged.
    presets = {
        "quick": {"path": DEFAULT_PATH, "held_out": "", "shuffle_choices": True},
        "paper": {"path": DEFAULT_PATH, "held_out": "", "shuffle_choices": True},
    }
    held_out_splits = ()  # per world: the `held_out` parameter, by default all but "forward"

    def build(self, params: CustomParams, rng: random.Random) -> World:
        file, text = _read(params.path)
        rows = _parse(file, text)
        check_world_size(sum(row.type == "document" for row in rows),  # before the slow checks
                         sum(row.type == "item" for row in rows), f"custom world {params.path}")
        _check_ids(file, rows)
        verdicts = _verdicts(file, rows)
        splits = sorted({row.data["split"] for row in rows if row.type == "item"})
        held_out = _held_out(file, params.held_out, splits)
        _check_no_leaks(file, rows, held_out)

        def of(kind: str) -> list[dict[str, Any]]:
            return [row.data for row in rows if row.type == kind]

        facts = [Fact(d["fact_id"], d["text"]) for d in of("fact")]
        documents = [Document(d["doc_id"], d["text"], tuple(d.get("fact_ids", [])))
                     for d in of("document")]
        items = (_shuffled_items(of("item"), rng) if params.shuffle_choices
                 else [_item(d, d["answer"], None) for d in of("item")])
        inferences = {scope: _unique([d["text"] for d in of("inference") if d["scope"] == scope])
                      for scope in ("local", "global")}
        structure = {"graph": _graph(rows), "inferences": inferences, "verdicts": verdicts,
                     "sha256": hashlib.sha256(text.encode()).hexdigest()}
        return World(self.name, {}, 0, facts, documents, items, held_out, self, structure)

    def oracle_inferences(self, world: World, scope: str) -> list[str]:
        return list(world.structure["inferences"][scope])

    def judge(self, world: World, statement: str) -> Verdict:
        return world.structure["verdicts"].get(normalise(statement), "unparseable")


def _unique(statements: list[str]) -> list[str]:
    """The first of each group of statements that the judge can't tell apart."""
    first: dict[str, str] = {}
    for statement in statements:
        first.setdefault(normalise(statement), statement)
    return list(first.values())
