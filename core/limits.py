"""Limits on the work one request can ask for, so a colleague's typo cannot start ten thousand
processes or fill the disk. Each is a named setting: an environment variable read when the
limit is checked (so a server's operator sets it where the app starts), with a default."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from core.errors import LabError


@dataclass(frozen=True)
class Limits:
    seeds_per_launch: int = 20  # LAB_MAX_SEEDS_PER_LAUNCH: training seeds in one launch
    active_jobs: int = 20  # LAB_MAX_ACTIVE_JOBS: jobs queued or running at once
    upload_mb: float = 10.0  # LAB_MAX_UPLOAD_MB: one uploaded world file


def limits() -> Limits:
    values = {}
    for field in fields(Limits):
        name = f"LAB_MAX_{field.name.upper()}"
        if (raw := os.environ.get(name)) is not None:
            try:
                values[field.name] = type(field.default)(raw)
            except ValueError:
                raise LabError(f"{name} must be a number, got '{raw}'") from None
    return Limits(**values)


def check(count: float, limit: float, what: str, setting: str) -> None:
    """A clear refusal when `count` is over `limit`, naming the setting that raises it."""
    if count > limit:
        raise LabError(f"{what}: {count:g} asked for, at most {limit:g} allowed "
                       f"(LAB_MAX_{setting.upper()} raises the limit)")
