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
    uploads_mb: float = 200.0  # LAB_MAX_UPLOADS_MB: all uploads kept in data/uploads
    # Worlds: the largest preset (family, paper) has 4,960 documents and 1,800 items.
    documents_per_world: int = 20_000  # LAB_MAX_DOCUMENTS_PER_WORLD
    items_per_world: int = 5_000  # LAB_MAX_ITEMS_PER_WORLD


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


def check_world_size(documents: int, items: int, what: str = "the world") -> None:
    """A world over the caps is refused before anything trains or scores on it."""
    caps = limits()
    check(documents, caps.documents_per_world, f"documents in {what}", "documents_per_world")
    check(items, caps.items_per_world, f"test items in {what}", "items_per_world")


def check(count: float, limit: float, what: str, setting: str) -> None:
    """A clear refusal when `count` is over `limit`, naming the setting that raises it."""
    if count > limit:
        raise LabError(f"{what}: {count:g} asked for, at most {limit:g} allowed "
                       f"(LAB_MAX_{setting.upper()} raises the limit)")


def positive_setting(name: str, default: float) -> float:
    """A positive number from the environment variable `name` (a timeout, CPUs per task...),
    or `default` where it is unset; anything else is a clear refusal naming the variable."""
    raw = os.environ.get(name)
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        raise LabError(f"{name} must be a number, got '{raw}'") from None
    if not value > 0:
        raise LabError(f"{name} must be positive, got '{raw}'")
    return value
