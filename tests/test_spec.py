"""The run spec is the one form of a run: the command line's options, the queue's command and
a stored run all translate to it and back without losing a setting."""

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.__main__ import parser
from core.errors import LabError
from core.methods import METHODS
from core.methods.config import FILLS, SOURCES, SPLITTINGS, FTConfig
from core.running.spec import FT_FLAGS, RunSpec, command_args, spec_from_stored, specs_from_args

ft_configs = st.builds(
    FTConfig, mode=st.sampled_from(["full", "lora"]), splitting=st.sampled_from(SPLITTINGS),
    epochs=st.integers(1, 1000), lr=st.floats(1e-7, 0.5), batch_size=st.integers(1, 1024),
    warmup_steps=st.integers(0, 100), weight_decay=st.floats(0, 1),
    lora_rank=st.integers(1, 512), lora_alpha=st.integers(1, 1024))
specs = st.builds(
    RunSpec, method=st.sampled_from(METHODS), world_kind=st.sampled_from(["reversals", "family"]),
    world_seed=st.integers(0, 2**31 - 1), preset=st.sampled_from(["quick", "paper"]),
    overrides=st.dictionaries(st.sampled_from(["n_facts", "n_families"]),
                              st.integers(2, 9).map(str), max_size=2),
    model=st.sampled_from(["default", "tiny", "org/model"]), aug_source=st.sampled_from(SOURCES),
    seed=st.integers(0, 2**31 - 1), ft=ft_configs, icl_max_tokens=st.integers(0, 8192),
    icl_fill=st.sampled_from(FILLS),
).map(lambda spec: dataclasses.replace(  # a teacher goes with the teacher source only
    spec, teacher="http://127.0.0.1:8000/v1#org/teacher" if spec.aug_source == "teacher" else ""))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(spec=specs, others=st.lists(st.sampled_from(METHODS), max_size=3, unique=True))
def test_a_spec_becomes_a_command_and_the_command_the_same_spec(spec, others):
    methods = [spec.method] + [m for m in others if m != spec.method]
    group = [dataclasses.replace(spec, method=m) for m in methods]
    args = parser().parse_args(["run", *command_args(group)])
    assert specs_from_args(args, args.methods.split(",")) == group


def test_every_fine_tuning_setting_has_an_option():
    assert set(FT_FLAGS) == {f.name for f in dataclasses.fields(FTConfig)} - {"seed", "max_steps"}
    text = parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert all(flag in text for flag in FT_FLAGS.values())


def test_one_command_runs_only_specs_that_differ_in_their_method():
    with pytest.raises(LabError, match="differ only in their method"):
        command_args([RunSpec(method="ft"), RunSpec(method="icl", model="tiny")])


@pytest.mark.parametrize("source,teacher", [("model", ""), ("teacher", "http://127.0.0.1:1/v1")])
def test_a_stored_run_gives_back_its_spec(source, teacher):
    spec = RunSpec(method="ft_local", world_kind="family", world_seed=3, preset="quick",
                   overrides={"n_families": 2}, model="tiny", aug_source=source, teacher=teacher,
                   seed=4, ft=FTConfig(mode="lora", epochs=2, lora_rank=4))
    row = {"method": spec.method, "kind": spec.world_kind, "world_seed": spec.world_seed,
           "preset": spec.preset, "model": spec.model, "aug_source": spec.aug_source_used,
           "seed": spec.seed, "settings": json.dumps(spec.settings())}
    assert spec_from_stored(row, spec.overrides) == spec


def test_the_teacher_source_needs_a_teacher_and_a_teacher_needs_that_source():
    with pytest.raises(LabError, match="needs --teacher"):
        RunSpec(method="ft_local", aug_source="teacher").validate()
    with pytest.raises(LabError, match="only with --aug-source teacher"):
        RunSpec(method="ft_local", aug_source="model", teacher="default").validate()
    spec = RunSpec(method="ft_local", aug_source="teacher", teacher="default").validate()
    assert spec.settings()["teacher"] == "default"
    assert "teacher" not in RunSpec(method="ft_local", aug_source="model").settings()
