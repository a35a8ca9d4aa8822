"""Every query the lab reads its results with, in one place: `Store` inherits these, so a page
or a module asks `store.metrics()` and never writes SQL of its own. The schema and the writes
are in store.py; `query` (a read-only connection) is the one thing this class needs of it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from core.errors import LabError


class Queries:
    def query(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        raise NotImplementedError  # Store's read-only connection

    # ------------------------------------------------------------ runs

    def runs(self) -> pd.DataFrame:
        """Every run with its world (kind, preset, seed, parameters), oldest first.
        `world_version` is 'earlier' for worlds an earlier generator made."""
        return self.query("""
            SELECT r.run_id, r.status, r.error, r.method, r.model, r.aug_source, r.seed, w.kind,
                   w.preset, w.seed AS world_seed, w.params AS world_params, r.settings, r.extra,
                   r.world_id, r.created_at, r.finished_at,
                   CASE WHEN r.world_id LIKE '%:earlier-version' THEN 'earlier' ELSE 'current'
                       END AS world_version
            FROM runs r LEFT JOIN worlds w USING (world_id) ORDER BY r.created_at, r.run_id""")

    def run_labels(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """What a label needs (method, source, seed) for the given runs."""
        return self.query("SELECT run_id, method, aug_source, seed FROM runs "
                          "WHERE list_contains(?, run_id)", [list(run_ids)])

    def runs_with_loss_curves(self) -> list[str]:
        return self.query("SELECT DISTINCT run_id FROM loss_curves")["run_id"].tolist()

    def latest_complete_run(self, world_id: str, method: str, model: str,
                            aug_source: str | None, seed: int, settings: dict) -> str | None:
        """The newest complete run of exactly this world, method, model, source, seed and
        settings, or None."""
        found = self.query(
            "SELECT run_id FROM runs WHERE status = 'complete' AND world_id = ? AND method = ? "
            "AND model = ? AND aug_source IS NOT DISTINCT FROM ? AND seed = ? "
            "AND settings = ?::JSON ORDER BY finished_at DESC LIMIT 1",
            [world_id, method, model, aug_source, seed, json.dumps(settings)])
        return None if found.empty else str(found["run_id"][0])

    def interrupted_runs(self) -> pd.DataFrame:
        """Runs whose process stopped before they ended (cancelled, killed, machine restarted)
        and that no later complete run has repeated, newest first, with what a rerun needs."""
        return self.query("""
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

    def worlds(self) -> pd.DataFrame:
        """Stored worlds, newest first."""
        return self.query("SELECT world_id, kind, preset, seed, params, n_documents, n_facts "
                          "FROM worlds ORDER BY created_at DESC")

    # ------------------------------------------------------------ results of complete runs

    def metrics(self) -> pd.DataFrame:
        return self.query("""
            WITH held AS (SELECT DISTINCT world_id, split FROM items WHERE held_out)
            SELECT m.*, r.method, r.model, r.aug_source, r.seed, w.kind, w.preset, r.world_id,
                   held.split IS NOT NULL AS held_out
            FROM metrics m JOIN runs r USING (run_id) LEFT JOIN worlds w USING (world_id)
            LEFT JOIN held ON held.world_id = r.world_id AND held.split = m.split
            WHERE r.status = 'complete' ORDER BY r.created_at, m.split""")

    def calibration(self, model: str, machine: str | None = None,
                    device: str | None = None) -> dict | None:
        """The newest stored throughput of `model` (on `machine` and `device` when given), as
        a dict of the calibrations table's columns, or None (also for a file from before the
        table existed)."""
        try:
            frame = self.query("""
                SELECT * FROM calibrations WHERE model = ? AND (? IS NULL OR machine = ?)
                  AND (? IS NULL OR device = ?) ORDER BY measured_at DESC LIMIT 1""",
                               [model, machine, machine, device, device])
        except LabError:
            return None
        return frame.iloc[0].to_dict() if len(frame) else None

    def run_totals(self) -> pd.DataFrame:
        """One row per complete run: held-out accuracy (over items of the world's held-out
        splits) and total compute over all phases."""
        return self.query("""
            WITH cost AS (SELECT run_id, sum(flops) AS flops, sum(seconds) AS seconds,
                                 sum(tokens) AS tokens, max(peak_mb) AS peak_mb
                          FROM costs GROUP BY run_id),
                 held AS (SELECT p.run_id, avg(p.correct::INTEGER) AS heldout_accuracy,
                                 count(*) AS heldout_items
                          FROM predictions p JOIN runs r USING (run_id)
                          JOIN items i ON i.world_id = r.world_id AND i.item_id = p.item_id
                          WHERE i.held_out GROUP BY p.run_id)
            SELECT r.run_id, r.method, r.model, r.aug_source, r.seed, w.kind, w.preset,
                   r.world_id, held.heldout_accuracy, held.heldout_items, cost.flops,
                   cost.seconds, cost.tokens, cost.peak_mb
            FROM runs r JOIN cost USING (run_id) LEFT JOIN held USING (run_id)
            LEFT JOIN worlds w USING (world_id)
            WHERE r.status = 'complete' ORDER BY r.created_at""")

    def loss_curves(self, run_ids: list[str]) -> pd.DataFrame:
        return self.query("SELECT l.*, r.method, r.aug_source FROM loss_curves l JOIN runs r "
                          "USING (run_id) WHERE list_contains(?, run_id) ORDER BY run_id, step",
                          [run_ids])

    def predictions(self, run_id: str) -> pd.DataFrame:
        """Every item of a run: prompt, choices, log-probabilities, choice made, right or wrong,
        and the facts the item needs."""
        return self.query("""
            SELECT p.item_id, p.split, i.prompt, i.choices, p.logprobs, p.choice, p.answer,
                   p.correct, i.fact_ids, i.held_out
            FROM predictions p JOIN runs r USING (run_id)
            LEFT JOIN items i ON i.world_id = r.world_id AND i.item_id = p.item_id
            WHERE p.run_id = ? ORDER BY p.split, p.item_id""", [run_id])

    def run_costs(self, run_ids: list[str]) -> pd.DataFrame:
        return self.query("SELECT * FROM costs WHERE list_contains(?, run_id)", [run_ids])

    # ------------------------------------------------------------ augmentations

    def augmentations(self, run_ids: list[str]) -> pd.DataFrame:
        return self.query("SELECT a.*, r.method, r.model FROM augmentations a JOIN runs r "
                          "USING (run_id) WHERE list_contains(?, run_id)", [run_ids])

    def augmented_runs(self) -> pd.DataFrame:
        """Complete runs that augmented their data (they have a source), newest first, even
        those whose source wrote nothing, with how many statements each stored."""
        return self.query("""
            SELECT r.run_id, r.method, r.aug_source, r.model, r.seed, r.world_id, w.kind,
                   w.seed AS world_seed, r.created_at, count(a.run_id) AS statements
            FROM runs r LEFT JOIN augmentations a USING (run_id)
            LEFT JOIN worlds w USING (world_id)
            WHERE r.status = 'complete' AND (r.aug_source IS NOT NULL OR a.run_id IS NOT NULL)
            GROUP BY ALL ORDER BY r.created_at DESC""")

    # ------------------------------------------------------------ the what-if cost model

    def world_model_pairs(self, icl: str, fine_tuning: Sequence[str]) -> pd.DataFrame:
        """(world, model) pairs with complete runs, the most useful first: those with both the
        `icl` method and one of `fine_tuning`, then the most recent."""
        return self.query("""
            SELECT r.world_id, r.model, any_value(w.kind) AS kind, any_value(w.preset) AS preset,
                   any_value(w.seed) AS world_seed, count(*) AS runs,
                   bool_or(r.method = $icl) AS has_icl,
                   bool_or(list_contains($fine_tuning, r.method)) AS has_ft,
                   max(r.created_at) AS latest
            FROM runs r LEFT JOIN worlds w USING (world_id)
            WHERE r.status = 'complete'
            GROUP BY r.world_id, r.model
            ORDER BY (bool_or(r.method = $icl)
                      AND bool_or(list_contains($fine_tuning, r.method))) DESC,
                     latest DESC""", {"icl": icl, "fine_tuning": list(fine_tuning)})

    def phase_costs(self, world_id: str, model: str) -> pd.DataFrame:
        """Per complete run of one world and model: compute of each phase, items answered and
        held-out accuracy, oldest first."""
        return self.query("""
            WITH phase AS (
                SELECT run_id,
                       sum(flops) FILTER (WHERE phase = 'augment') AS augment_flops,
                       sum(seconds) FILTER (WHERE phase = 'augment') AS augment_seconds,
                       sum(flops) FILTER (WHERE phase = 'train') AS train_flops,
                       sum(seconds) FILTER (WHERE phase = 'train') AS train_seconds,
                       sum(flops) FILTER (WHERE phase = 'evaluate') AS eval_flops,
                       sum(seconds) FILTER (WHERE phase = 'evaluate') AS eval_seconds,
                       sum(tokens) FILTER (WHERE phase = 'evaluate') AS eval_tokens
                FROM costs GROUP BY run_id),
            answered AS (
                SELECT p.run_id, count(*) AS items,
                       avg(p.correct::INTEGER) FILTER (WHERE i.held_out) AS heldout_accuracy
                FROM predictions p JOIN runs r USING (run_id)
                LEFT JOIN items i ON i.world_id = r.world_id AND i.item_id = p.item_id
                GROUP BY p.run_id)
            SELECT r.run_id, r.method, r.aug_source, r.seed, r.extra, r.created_at, phase.*
                   EXCLUDE (run_id), answered.items, answered.heldout_accuracy
            FROM runs r JOIN phase USING (run_id) JOIN answered USING (run_id)
            WHERE r.status = 'complete' AND r.world_id = ? AND r.model = ?
            ORDER BY r.created_at""", [world_id, model])
