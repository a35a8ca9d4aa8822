"""The run spec: the one form of a run. The command line builds it from its options, the app's
experiment form builds it from its widgets, the queue turns it into the command that runs it,
and the store keeps it (a rerun of a stored run gets it back). Each translation is here:
`add_run_options` (its command-line options), `specs_from_args` (options to specs),
`command_args` (specs to options) and `spec_from_stored` (a stored run to its spec).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from core.errors import LabError
from core.methods import METHODS, get_method
from core.methods.config import FILLS, SOURCES, FTConfig
from core.worlds import check_seed

# FTConfig's fields as command-line options (--ft-mode for `mode`; the training seed is
# --train-seed, and max_steps is for tests and benchmarks, not for runs a user compares).
FT_FLAGS = {f.name: "--ft-mode" if f.name == "mode" else "--" + f.name.replace("_", "-")
            for f in dataclasses.fields(FTConfig) if f.name not in ("seed", "max_steps")}


@dataclass
class RunSpec:
    method: str
    world_kind: str = "reversals"
    world_seed: int = 0
    preset: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    model: str = "default"
    aug_source: str = "oracle"
    teacher: str = ""  # with aug_source 'teacher': a model or a server's address (writers.py)
    seed: int = 0
    ft: FTConfig = field(default_factory=FTConfig)
    icl_max_tokens: int = 0
    icl_fill: str = "sample"  # icl.FILLS: a seeded sample, or needed facts first (upper bound)

    def validate(self) -> RunSpec:
        get_method(self.method)  # an unknown name is an error naming the known ones
        check_seed(self.world_seed, "world seed")
        check_seed(self.seed, "training seed")
        if self.aug_source not in SOURCES:
            raise LabError(f"augmentation source must be one of {', '.join(SOURCES)}, "
                           f"got '{self.aug_source}'")
        if self.aug_source == "teacher" and not self.teacher.strip():
            raise LabError("augmentation source 'teacher' needs --teacher: a model folder, "
                           "'default', or an OpenAI-compatible server's address (http://...)")
        if self.teacher and self.aug_source != "teacher":
            raise LabError("--teacher is used only with --aug-source teacher")
        if self.icl_max_tokens < 0:
            raise LabError("icl_max_tokens must be 0 (the model's context) or positive")
        if self.icl_fill not in FILLS:
            raise LabError(f"ICL fill must be one of {', '.join(FILLS)}, got '{self.icl_fill}'")
        self.ft.validate()
        return self

    @property
    def aug_source_used(self) -> str | None:
        return self.aug_source if get_method(self.method).scopes else None

    def settings(self) -> dict[str, Any]:
        """What the run depends on besides world, method, model and seed."""
        out: dict[str, Any] = {}
        if get_method(self.method).trains:
            out["ft"] = dataclasses.asdict(self.ft)
        if self.aug_source_used == "teacher":
            out["teacher"] = self.teacher
        if get_method(self.method).reads_context:
            out["icl_max_tokens"] = self.icl_max_tokens
            out["icl_fill"] = self.icl_fill
        return out


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m core run`: a world, methods, a model and every setting of
    a RunSpec, each defaulting to RunSpec's own default."""
    spec, ft = RunSpec(method="pretrained"), FTConfig()
    parser.add_argument("--world", default=spec.world_kind)
    parser.add_argument("--seed", type=int, default=spec.world_seed, help="world seed")
    parser.add_argument("--train-seed", type=int, default=spec.seed,
                        help="training and sampling seed")
    parser.add_argument("--preset", default=spec.preset)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a world parameter")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--model", default=spec.model)
    parser.add_argument("--aug-source", default=spec.aug_source, help=", ".join(SOURCES))
    parser.add_argument("--teacher", default=spec.teacher, metavar="MODEL",
                        help="with --aug-source teacher, who writes the augmentations: a model "
                             "folder, 'default', or an OpenAI-compatible server (http://HOST:PORT/v1"
                             ", or http://HOST:PORT/v1#MODEL); a key from LAB_TEACHER_API_KEY")
    for name, flag in FT_FLAGS.items():
        default = getattr(ft, name)
        parser.add_argument(flag, dest=f"ft_{name}", type=type(default), default=default,
                            help=f"fine-tuning {name.replace('_', ' ')} (default {default})")
    parser.add_argument("--icl-max-tokens", type=int, default=spec.icl_max_tokens)
    parser.add_argument("--icl-fill", choices=FILLS, default=spec.icl_fill,
                        help="when the training set does not fit the ICL context: a seeded "
                             "sample, or the needed facts first (an upper bound)")


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """['n_facts=6'] -> {'n_facts': '6'}; the world converts and checks the values."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LabError(f"--set takes key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def specs_from_args(args: argparse.Namespace, methods: list[str]) -> list[RunSpec]:
    """One validated spec per method from the options of `add_run_options`."""
    ft = FTConfig(**{name: getattr(args, f"ft_{name}") for name in FT_FLAGS})
    return [RunSpec(method=method, world_kind=args.world, world_seed=args.seed,
                    preset=args.preset, overrides=parse_overrides(args.set), model=args.model,
                    aug_source=args.aug_source, teacher=args.teacher, seed=args.train_seed, ft=ft,
                    icl_max_tokens=args.icl_max_tokens, icl_fill=args.icl_fill).validate()
            for method in methods]


def command_args(specs: list[RunSpec]) -> list[str]:
    """The options of `python -m core run` that make exactly these specs, which differ only
    in their method; settings at their default are left out, so a command stays short."""
    first = specs[0]
    if any(dataclasses.replace(s, method=first.method) != first for s in specs):
        raise LabError("one command runs specs that differ only in their method")
    default, default_ft = RunSpec(method=first.method), FTConfig()
    args = ["--world", first.world_kind, "--seed", str(first.world_seed),
            "--preset", first.preset]
    for key, value in first.overrides.items():
        args += ["--set", f"{key}={value}"]
    args += ["--methods", ",".join(s.method for s in specs), "--model", first.model,
             "--aug-source", first.aug_source, "--train-seed", str(first.seed)]
    if first.teacher:
        args += ["--teacher", first.teacher]
    for name, flag in FT_FLAGS.items():
        if (value := getattr(first.ft, name)) != getattr(default_ft, name):
            args += [flag, str(value)]
    if first.icl_max_tokens != default.icl_max_tokens:
        args += ["--icl-max-tokens", str(first.icl_max_tokens)]
    if first.icl_fill != default.icl_fill:
        args += ["--icl-fill", first.icl_fill]
    return args


def spec_from_stored(row: dict, overrides: dict[str, Any]) -> RunSpec:
    """The spec of a stored run: a row with its method, model, source, seed, settings and
    world (kind, preset, world_seed), and the world parameters that differ from the preset."""
    def as_dict(value: Any) -> dict:
        return json.loads(value) if isinstance(value, str) else dict(value or {})

    settings = as_dict(row.get("settings"))
    ft = FTConfig(**{k: v for k, v in settings.get("ft", {}).items() if k in FT_FLAGS})
    aug = row.get("aug_source")
    # Runs stored before the option existed filled the ICL context with needed facts first.
    fill = settings.get("icl_fill", "needed_first" if get_method(row["method"]).reads_context
                        else "sample")
    return RunSpec(method=row["method"], world_kind=row["kind"],
                   world_seed=int(row["world_seed"]), preset=row["preset"], overrides=overrides,
                   model=row["model"], aug_source=aug if isinstance(aug, str) and aug else "oracle",
                   teacher=settings.get("teacher", ""), seed=int(row["seed"]), ft=ft,
                   icl_max_tokens=int(settings.get("icl_max_tokens", 0)), icl_fill=fill)
