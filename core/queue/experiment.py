"""An experiment as the app's form describes it: a world, methods, a model and settings, run
once per seed as background jobs (`Experiment.launch`); and the interrupted runs a user may
launch again (`experiment_from_run` of a row of `Store.interrupted_runs`)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import LabError
from core.limits import check, limits
from core.methods import METHODS
from core.queue.jobs import check_room, launch
from core.running.spec import RunSpec, command_args, spec_from_stored


def parse_seeds(text: str) -> list[int]:
    """'0, 1, 2' or '0-4' -> seeds, without repeats, in the order given."""
    seeds: list[int] = []
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise LabError(f"seeds are whole numbers separated by commas (or a range like 0-4), "
                           f"got '{part}'")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low or high - low > 100:
            raise LabError(f"seed range '{part}' must go up, by at most 100 seeds")
        seeds += [s for s in range(low, high + 1) if s not in seeds]
    if not seeds:
        raise LabError("give at least one seed, e.g. 0 or 0,1,2")
    return seeds


def is_hub_id(model: str) -> bool:
    """'org/name': a model the Hugging Face cache may hold, not a path."""
    model = model.strip()
    return model.count("/") == 1 and not model.startswith((".", "/", "~")) and \
        not Path(model).expanduser().exists()


def check_model(model: str) -> str:
    """The model name to pass on: 'default', 'tiny', an existing folder (made absolute, since
    jobs run from the repository root) or a hub id; raises LabError otherwise. The same rule
    as core.lm.models.load, without loading anything."""
    model = model.strip()
    if model in ("default", "tiny"):
        return model
    folder = Path(model).expanduser()
    if folder.exists():
        return str(folder.resolve())
    if not is_hub_id(model):
        raise LabError(f"model folder '{model}' does not exist; give 'default', 'tiny', "
                       "a folder with config.json and weights, or a cached hub id")
    return model


@dataclass
class Experiment:
    """What the Experiments page launches: run specs that differ only in their method (one
    world, one model, one set of settings), each run for every training seed; one job per
    seed (`python -m core run`, its arguments from `spec.command_args`)."""

    specs: list[RunSpec]
    seeds: list[int] = field(default_factory=lambda: [0])
    executor: str = "local"  # core/running/executors.py: "processes", or "ray" (LAB_RAY_ADDRESS)

    def validate(self) -> Experiment:
        """Build the world and check every run's settings, as the command would before loading
        a model; raises LabError with a message the user can act on."""
        from core.worlds import build_world

        if not self.specs:
            raise LabError("choose at least one method")
        if not self.seeds:
            raise LabError("give at least one seed, e.g. 0 or 0,1,2")
        check(len(self.seeds), limits().seeds_per_launch, "training seeds in one launch",
              "seeds_per_launch")
        from core.running.executors import EXECUTORS
        if self.executor not in EXECUTORS:
            raise LabError(f"executor must be one of {', '.join(EXECUTORS)}, got "
                           f"'{self.executor}'")
        if self.executor == "ray" and importlib.util.find_spec("ray") is None:
            raise LabError("running on Ray needs Ray, an optional install: "
                           ".venv/bin/pip install -r requirements-cluster.txt")
        model = check_model(self.specs[0].model)
        from core.methods.config import offered_teachers
        teacher = self.specs[0].teacher
        if teacher and teacher not in offered_teachers():
            raise LabError(f"the teacher '{teacher}' is not one this app offers (the default "
                           "model, or one listed in LAB_TEACHERS where the app was started)")
        self.specs = [dataclasses.replace(s, model=model).validate() for s in self.specs]
        first = self.specs[0]
        build_world(first.world_kind, first.world_seed, first.preset, first.overrides)
        command_args(self.specs)  # one command must make them all
        return self

    def run_args(self, seed: int) -> list[str]:
        """The arguments of `python -m core run` for one training seed."""
        args = command_args([dataclasses.replace(s, seed=seed) for s in self.specs])
        if self.executor != "local":
            args += ["--executor", self.executor]
        return [*args, "--quiet"]  # progress goes to the progress file; the log keeps results

    def label(self, seed: int) -> str:
        first, methods = self.specs[0], [s.method for s in self.specs]
        named = "all methods" if set(methods) == set(METHODS) else ", ".join(methods)
        return (f"{first.world_kind} (seed {first.world_seed}), {named}, model "
                f"{Path(first.model).name}, training seed {seed}")

    def launch(self, db: str | Path | None = None) -> list[dict]:
        """Validate, then queue one job per training seed."""
        self.validate()
        check_room(len(self.seeds))
        return [launch(self.run_args(seed), db, self.label(seed)) for seed in self.seeds]


def world_overrides(kind: str, preset: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a stored world that differ from its preset: what `--set` must give."""
    from core.worlds import describe_params, get_kind

    spec = get_kind(kind)
    base = {p["name"]: p["default"] for p in describe_params(spec)} | spec.presets.get(preset, {})
    return {k: v for k, v in params.items() if k in base and base[k] != v}


def experiment_from_run(row: dict) -> Experiment:
    """The experiment that repeats one stored run: a row of `Store.interrupted_runs` (world kind,
    preset, world seed and params, method, model, augmentation source, seed, settings)."""
    params = row.get("params")
    params = json.loads(params) if isinstance(params, str) else dict(params or {})
    overrides = world_overrides(row["kind"], row["preset"], params)
    return Experiment([spec_from_stored(row, overrides)], seeds=[int(row["seed"])])
