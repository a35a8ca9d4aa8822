"""Fuzzing what users hand the lab (Hypothesis): a custom world file, `--set` parameters and a
pairs file give a result or a LabError (one line on the command line), never another
exception. Examples are kept few enough that the whole file runs in seconds."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import LabError
from core.running.spec import parse_overrides
from core.worlds import build_world

# derandomize: the same examples every run, so the suite cannot fail one run in ten; a
# developer hunting for new cases sets derandomize=False and more examples, locally.
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=12)
FIELDS = ["type", "fact_id", "text", "split", "prompt", "choices", "answer", "fact_ids", "id"]
rows = st.dictionaries(st.sampled_from(FIELDS), json_values | st.sampled_from(
    ["fact", "item", "f1", "test", 0, 1, ["f1"], ["a", "b"]]), max_size=7)
lines = st.one_of(
    rows.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=60),
    st.integers(1, 3000).map(lambda depth: "[" * depth),
)


def _build(tmp_path, content: bytes):
    path = tmp_path / "world.jsonl"
    path.write_bytes(content)
    try:
        return build_world("custom", 0, "quick", {"path": str(path)})
    except LabError as error:
        assert str(error).strip() and "\n" not in str(error).strip()
        return None


@FUZZ
@given(text=st.lists(lines, max_size=12).map("\n".join))
def test_any_custom_world_text_is_a_world_or_one_clear_error(tmp_path, text):
    _build(tmp_path, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(content=st.binary(max_size=200))
def test_any_custom_world_bytes_are_a_world_or_one_clear_error(tmp_path, content):
    _build(tmp_path, content)


@FUZZ
@given(pairs=st.lists(st.text(max_size=12), max_size=4),
       kind=st.sampled_from(["reversals", "syllogisms", "family"]))
def test_any_world_parameters_are_a_world_or_one_clear_error(pairs, kind):
    try:
        build_world(kind, 0, "quick", parse_overrides(pairs))
    except LabError as error:
        assert "\n" not in str(error).strip()


pair_rows = st.dictionaries(st.sampled_from(["id", "context", "continuation", "x"]),
                            json_values, max_size=4)
pair_lines = st.one_of(pair_rows.map(json.dumps), json_values.map(json.dumps), st.text(max_size=40))


@FUZZ
@given(text=st.lists(pair_lines, max_size=8).map("\n".join), raw=st.binary(max_size=60))
def test_any_pairs_file_is_pairs_or_one_clear_error(tmp_path, text, raw):
    """`python -m core score`'s request file, read before any model is loaded."""
    from core.lm.requests import read_request_file
    for name, content in (("text.jsonl", text.encode()), ("raw.jsonl", raw)):
        path = tmp_path / name
        path.write_bytes(content)
        try:
            rows = read_request_file(path)
        except LabError as error:
            assert "\n" not in str(error)
        else:
            assert all(isinstance(c, str) and isinstance(x, str) for _, c, x, _ in rows)


def test_a_damaged_model_folder_is_one_clear_error(tiny_lm, tmp_path):
    """A cut weights file (a copy that stopped halfway), a cut header, a broken config."""
    import pytest

    from core.lm import models
    tiny_lm.model.save_pretrained(tmp_path)
    tiny_lm.tokenizer.save_pretrained(tmp_path)
    weights, config = tmp_path / "model.safetensors", tmp_path / "config.json"
    whole, good_config = weights.read_bytes(), config.read_text()
    for damage in (lambda: weights.write_bytes(whole[: len(whole) // 2]),
                   lambda: weights.write_bytes(whole[:5]),
                   lambda: config.write_text(good_config[:40])):
        weights.write_bytes(whole)
        config.write_text(good_config)
        damage()
        with pytest.raises(LabError, match="cannot load model"):
            models.load(str(tmp_path))
