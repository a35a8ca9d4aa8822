"""An experiment as the app's form describes it: a world, methods, a model and settings, run
once per seed as background jobs (`Experiment.launch`); and the interrupted runs a user may
launch again (`interrupted_runs`, `experiment_from_run`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import LabError
from core.jobs import launch
from core.methods import METHODS, REGISTRY

if TYPE_CHECKING:
    import pandas as pd

    from core.store import Store

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


def check_model(model: str) -> str:
    """The model name to pass on: 'default', 'tiny', an existing folder (made absolute, since
    jobs run from the repository root) or a hub id; raises LabError otherwise. The same rule
    as core.models.load, without loading anything."""
    model = model.strip()
    if model in ("default", "tiny"):
        return model
    folder = Path(model).expanduser()
    if folder.exists():
        return str(folder.resolve())
    if not model or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise LabError(f"model folder '{model}' does not exist; give 'default', 'tiny', "
                       "a folder with config.json and weights, or a cached hub id")
    return model


@dataclass
class Experiment:
    """What the Experiments page launches: one world, some methods, one model and settings,
    for each training seed one job (`python -m core run`). None means the command's default."""

    world_kind: str = "reversals"
    world_seed: int = 0
    preset: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    model: str = "default"
    aug_source: str = "oracle"
    seeds: list[int] = field(default_factory=lambda: [0])
    ft_mode: str | None = None
    splitting: str | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    icl_max_tokens: int = 0
    icl_fill: str = "sample"

    def validate(self) -> Experiment:
        """Build the world and check every run's settings, as the command would before loading
        a model; raises LabError with a message the user can act on."""
        from core.methods.finetune import FTConfig  # torch: only when launching
        from core.runner import RunSpec
        from core.worlds import build_world

        if not self.methods:
            raise LabError("choose at least one method")
        if not self.seeds:
            raise LabError("give at least one seed, e.g. 0 or 0,1,2")
        self.model = check_model(self.model)
        build_world(self.world_kind, self.world_seed, self.preset, self.overrides)
        given = {"mode": self.ft_mode, "splitting": self.splitting, "epochs": self.epochs,
                 "lr": self.lr, "batch_size": self.batch_size}
        ft = FTConfig(**{k: v for k, v in given.items() if v is not None})
        for method in self.methods:
            RunSpec(method=method, model=self.model, aug_source=self.aug_source, ft=ft,
                    icl_max_tokens=self.icl_max_tokens, icl_fill=self.icl_fill).validate()
        return self

    def run_args(self, seed: int) -> list[str]:
        """The arguments of `python -m core run` for one training seed."""
        args = ["--world", self.world_kind, "--seed", str(self.world_seed), "--preset", self.preset]
        for key, value in self.overrides.items():
            args += ["--set", f"{key}={value}"]
        args += ["--methods", ",".join(self.methods), "--model", self.model,
                 "--aug-source", self.aug_source, "--train-seed", str(seed)]
        for flag, value in (("--ft-mode", self.ft_mode), ("--splitting", self.splitting),
                            ("--epochs", self.epochs), ("--lr", self.lr),
                            ("--batch-size", self.batch_size)):
            if value is not None:
                args += [flag, str(value)]
        if self.icl_max_tokens:
            args += ["--icl-max-tokens", str(self.icl_max_tokens)]
        if self.icl_fill != "sample":
            args += ["--icl-fill", self.icl_fill]
        return [*args, "--quiet"]  # progress goes to the progress file; the log keeps results

    def label(self, seed: int) -> str:
        methods = "all methods" if set(self.methods) == set(METHODS) else ", ".join(self.methods)
        return (f"{self.world_kind} (seed {self.world_seed}), {methods}, model {Path(self.model).name}, "
                f"training seed {seed}")

    def launch(self, db: str | Path | None = None) -> list[dict]:
        """Validate, then queue one job per training seed."""
        self.validate()
        return [launch(self.run_args(seed), db, self.label(seed)) for seed in self.seeds]


def world_overrides(kind: str, preset: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a stored world that differ from its preset: what `--set` must give."""
    from core.worlds import describe_params, get_kind

    spec = get_kind(kind)
    base = {p["name"]: p["default"] for p in describe_params(spec)} | spec.presets.get(preset, {})
    return {k: v for k, v in params.items() if k in base and base[k] != v}


def experiment_from_run(row: dict) -> Experiment:
    """The experiment that repeats one stored run: a row of `interrupted_runs` (world kind,
    preset, world seed and params, method, model, augmentation source, seed, settings)."""
    def as_dict(value: Any) -> dict:
        return json.loads(value) if isinstance(value, str) else dict(value or {})

    settings, params = as_dict(row.get("settings")), as_dict(row.get("params"))
    ft = settings.get("ft", {})
    aug = row.get("aug_source")
    return Experiment(
        world_kind=row["kind"], world_seed=int(row["world_seed"]), preset=row["preset"],
        overrides=world_overrides(row["kind"], row["preset"], params), methods=[row["method"]],
        model=row["model"], aug_source=aug if isinstance(aug, str) and aug else "oracle",
        seeds=[int(row["seed"])], ft_mode=ft.get("mode"), splitting=ft.get("splitting"),
        epochs=ft.get("epochs"), lr=ft.get("lr"), batch_size=ft.get("batch_size"),
        icl_max_tokens=int(settings.get("icl_max_tokens", 0)),
        # Runs stored before the option existed filled the context with needed facts first.
        icl_fill=settings.get("icl_fill", "needed_first" if REGISTRY[row["method"]].reads_context
                              else "sample"))


def interrupted_runs(store: Store) -> pd.DataFrame:
    """Runs whose process stopped before they ended (cancelled, killed, machine restarted)
    and that no later complete run has repeated, newest first, with what a rerun needs."""
    return store.query("""
        SELECT r.run_id, r.method, r.model, r.aug_source, r.seed, r.settings, r.error,
               r.created_at, w.kind, w.preset, w.seed AS world_seed, w.params, r.world_id
        FROM runs r JOIN worlds w USING (world_id)
        WHERE r.status = 'failed' AND r.error LIKE 'interrupted%'
          AND NOT EXISTS (
            SELECT 1 FROM runs done
            WHERE done.status = 'complete' AND done.created_at > r.created_at
              AND done.world_id = r.world_id AND done.method = r.method
              AND done.model = r.model AND done.seed = r.seed
              AND coalesce(done.aug_source, '') = coalesce(r.aug_source, '')
              AND done.settings::VARCHAR = r.settings::VARCHAR)
        ORDER BY r.created_at DESC""")
