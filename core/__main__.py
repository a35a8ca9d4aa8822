"""Command line: python -m core {world,run,score,demo,bench,study,tune,report,kinds,shortcuts} ...

Mistakes a user can fix (unknown world kind, parameter out of range, missing model, unwritable
database) print one line starting with 'error:' and exit with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

from core.errors import LabError
from core.running.spec import add_run_options, parse_overrides


def _names(text: str, what: str) -> list[str]:
    """'a, b,' -> ['a', 'b']; nothing at all is an error, not a command that does nothing."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise LabError(f"give at least one {what}")
    return names


def _seeds(text: str) -> list[int]:
    """'0,1,2' or '0-4', as the app's form reads them, each within the store's range."""
    from core.queue.experiment import parse_seeds
    from core.worlds import check_seed
    return [check_seed(seed) for seed in parse_seeds(text)]


def cmd_world(args: argparse.Namespace) -> None:
    from core.worlds import build_world, write_world
    world = build_world(args.kind, args.seed, args.preset, parse_overrides(args.set))
    out = write_world(world, args.out)
    print(json.dumps({"out": str(out), "kind": world.kind, "seed": world.seed,
                      "documents": len(world.documents), "counts": world.counts()}))


def _progress_file(args: argparse.Namespace, methods: list[str]):
    """With --progress-file, the JSON progress object the app's job queue reads."""
    if not args.progress_file:
        return None
    from core.queue.progress import ProgressFile
    return ProgressFile(args.progress_file, methods)


def cmd_run(args: argparse.Namespace) -> None:
    from core.running.executors import run_specs
    from core.running.spec import specs_from_args
    from core.storage.store import Store
    from core.worlds import build_world
    methods = _names(args.methods, "method")
    specs = specs_from_args(args, methods)
    build_world(args.world, args.seed, args.preset, specs[0].overrides)  # before loading a model
    store = Store(args.db)

    tracker = _progress_file(args, methods)

    def progress(phase: str, fraction: float, message: str) -> None:
        if tracker:
            tracker.update(phase, fraction, message)
        if not args.quiet:
            print(f"\r  {phase:<9} {fraction:6.1%}  {message:<40}", end="", file=sys.stderr,
                  flush=True)

    def on_result(result, spec, error) -> None:
        if tracker:
            tracker.run_done()
        if not args.quiet:
            print(file=sys.stderr)
        if error:
            print(json.dumps({"method": spec.method, "status": "failed", "error": error}), flush=True)
        else:
            print(json.dumps(result.summary()), flush=True)

    run_specs(specs, store, progress, on_result, args.executor, args.address, args.workers)
    if tracker:
        tracker.finish()


def _writable(path: Path, what: str) -> Path:
    """Checked before any work: a folder, a missing folder or a read-only place is an error
    now, not after the scoring or training it would have kept."""
    if path.is_dir():
        raise LabError(f"{what} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise LabError(f"{what} {path}: folder {path.parent} does not exist")
    existed = path.exists()
    try:  # really try: access() says yes to root on a read-only file system or in /proc
        with open(path, "a"):
            pass
    except OSError as error:
        raise LabError(f"{what} {path} cannot be written here: {error.strerror}") from None
    if not existed:
        path.unlink()
    return path


def cmd_score(args: argparse.Namespace) -> None:
    from core.lm import models, requests
    out = _writable(Path(args.out), "--out")
    rows = requests.read_request_file(Path(args.pairs))
    lm = models.load(args.model)
    longest = getattr(lm.model.config, "max_position_embeddings", None)
    # Encoded once, under the chosen convention: checked against the context, then scored.
    encoded = [requests.encode_pair(lm, c, x, args.convention) for _, c, x, _ in rows]
    for (_, _, _, number), (context_ids, continuation_ids) in zip(rows, encoded):
        tokens = len(context_ids) + len(continuation_ids)
        if longest and tokens > longest:
            raise LabError(f"{args.pairs} line {number}: {tokens} tokens of context and "
                           f"continuation, more than the model's {longest}")
    scores = requests.score_encoded(lm, encoded)
    out.write_text("".join(json.dumps({"id": i, "loglik": s}) + "\n"
                           for (i, _, _, _), s in zip(rows, scores)))
    print(json.dumps({"pairs": len(rows), "out": args.out}))


def cmd_demo(args: argparse.Namespace) -> None:
    from core.methods import METHODS
    from core.running.demo import run_demo
    tracker = _progress_file(args, list(METHODS))
    summary = run_demo(args.model, args.db, args.aug_source,
                       progress=tracker.update if tracker else None)
    if tracker:
        tracker.finish()
    print(json.dumps({k: v for k, v in summary.items()}))


def cmd_bench(args: argparse.Namespace) -> None:
    from core.kernels.bench import main as bench_main
    bench_main(args.model, args.size, args.demo)


def cmd_study(args: argparse.Namespace) -> None:
    from core.results import results_file
    from core.running.study import markdown, run_study, study_records, study_specs, study_table
    if args.results:
        _writable(Path(args.results), "--results")  # before hours of runs, not after
    if args.from_files:  # the table from results files alone: nothing runs, no database
        records = results_file.merge(*(results_file.read(f) for f in args.from_files))
        if args.results:
            results_file.write(args.results, records)
    else:
        from core.storage.store import Store
        from core.worlds import get_kind
        kinds = _names(args.kinds, "world kind")
        for kind in kinds:
            get_kind(kind)  # an unknown kind is an error before anything runs
        seeds = _seeds(args.seeds)
        sources = _names(args.sources, "augmentation source")
        store = Store(args.db, read_only=args.table_only)
        specs = study_specs(kinds, seeds, args.model, sources, teacher=args.teacher)
        for spec in specs:
            spec.validate()  # a teacher source without --teacher is an error before any run
        if not args.table_only:
            def on_result(result, spec, error) -> None:
                summary = {"kind": spec.world_kind, "seed": spec.seed, "method": spec.method,
                           "aug_source": spec.aug_source_used}
                print(json.dumps(summary | ({"error": error} if error else
                                            {"accuracy": result.summary()["accuracy"]})), flush=True)
            ran = run_study(specs, store, on_result=on_result, executor=args.executor,
                            address=args.address, workers=args.workers,
                            results_path=args.results)
            print(f"{ran} of {len(specs)} runs were run; the others were already complete "
                  "(in the database or the results file)",
                  file=sys.stderr)
        records = study_records(store, specs)
        if args.results:
            records = results_file.update(args.results, records)
    if args.results:
        print(f"{len(records)} runs in {args.results}", file=sys.stderr)
    print(markdown(study_table(records)))


def cmd_tune(args: argparse.Namespace) -> None:
    from core.lm import models
    from core.running import tuning
    candidates = (tuning.parse_candidates(args.candidates) if args.candidates
                  else tuning.CANDIDATES)
    seeds = _seeds(args.seeds) if args.seeds else tuning.DEV_SEEDS
    earlier = tuning.read_log(args.log) if args.log else []
    lm = models.load(args.model)

    def report(trial: tuning.Trial) -> None:
        line = json.dumps(dataclasses.asdict(trial))
        print(line, flush=True)
        if args.log:
            with open(args.log, "a") as log:
                log.write(line + "\n")
    trials = tuning.run_trials(lm, candidates, seeds, args.preset, report, earlier)
    print(tuning.table(tuning.summarize(trials)))


def cmd_report(args: argparse.Namespace) -> None:
    from core.results import analysis, report
    from core.storage.store import Store
    out = _writable(Path(args.out), "--out")
    if not (math.isfinite(args.queries) and math.isfinite(args.price)) or args.queries < 1 \
            or args.price < 0:
        raise LabError("--queries must be a number of at least 1 and --price one of at least 0")
    store = Store(args.db, read_only=True)
    tables = analysis.load_tables(store)
    run_ids = (tables.complete["run_id"].tolist() if args.runs == "all"
               else _names(args.runs, "run id"))
    unknown = sorted(set(run_ids) - set(tables.runs["run_id"]))
    if unknown:
        raise LabError(f"no run {', '.join(unknown)} in {store.path} (python -m core run makes runs; "
                       "the Runs page lists them)")
    if not run_ids:
        raise LabError(f"no complete runs in {store.path} to report on")
    trained = tables.runs[tables.runs["run_id"].isin(run_ids) & tables.runs["has_loss_curve"]]
    curves = analysis.loss_table(store, trained["run_id"].tolist()) if len(trained) else None
    costs = report.cost_views(store, tables, run_ids, args.queries, args.price)
    page = report.html_report(tables, run_ids, curves, x=args.x, title=args.title, costs=costs)
    out.write_text(page, encoding="utf-8")  # as the page declares itself
    print(json.dumps({"out": str(out), "runs": len(run_ids), "bytes": len(page.encode())}))


def cmd_kinds(args: argparse.Namespace) -> None:
    from core.worlds import describe_params, get_kind, kind_names
    for name in kind_names():
        kind = get_kind(name)
        print(json.dumps({"kind": name, "presets": kind.presets,
                          "params": describe_params(kind)}))


def cmd_shortcuts(args: argparse.Namespace) -> None:
    from core.shortcuts import MARGIN, failures, format_table, shortcut_table
    from core.worlds import build_world
    world = build_world(args.kind, args.seed, args.preset, parse_overrides(args.set))
    rows = shortcut_table(world)
    print(format_table(rows))
    bad = failures(rows)
    # A report, not a gate: the exit code stays 0 (the tests hold the worlds to it).
    print(f"{len(bad)} of {len(rows)} rows: a rule that may not do well there scores above "
          f"chance + {MARGIN:.2f}" + "".join(f"\n  {r.guesser} on {r.split}: {r.accuracy:.2f}"
                                             for r in bad))


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    from core.running.executors import EXECUTORS
    parser.add_argument("--executor", choices=list(EXECUTORS), default="local",
                        help="local (default): one run after another in this process; processes: "
                             "several worker processes here, sharing a GPU if there is one; ray: "
                             "each run a Ray task (an optional install: requirements-cluster.txt)")
    parser.add_argument("--address", default=os.environ.get("LAB_RAY_ADDRESS"),
                        help="with --executor ray: the cluster to join (HOST:6379 or "
                        "ray://HOST:10001; default LAB_RAY_ADDRESS, else a local Ray started for "
                        "the sweep and stopped after it)")
    parser.add_argument("--workers", type=int, default=None,
                        help="with --executor processes: how many (default LAB_WORKERS, else 4 "
                             "on a GPU and one per two cores on a CPU)")


PROGRESS_HELP = ("keep a JSON object of progress in PATH (run_index, runs_total, method, phase, "
                 "fraction, message, started, updated), replaced on every update")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="ICL vs fine-tuning lab")
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("world", help="generate a world and write it as JSON files")
    w.add_argument("kind")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--preset", default="quick")
    w.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    w.add_argument("--out", required=True)
    w.set_defaults(func=cmd_world)

    r = sub.add_parser("run", help="run methods on a world and store the results")
    add_run_options(r)
    r.add_argument("--db", help="DuckDB file (default data/lab.duckdb)")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    r.add_argument("--progress-file", metavar="PATH", help=PROGRESS_HELP)
    add_executor_options(r)
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("score", help="log-likelihood of continuations given contexts")
    s.add_argument("--model", default="default")
    s.add_argument("--pairs", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--convention", choices=["harness", "lab"], default="harness",
                   help="harness (default): lm-evaluation-harness's split of context and "
                        "continuation, no start token; lab: the model's start token, context "
                        "and continuation tokenized apart, as the lab scores its items")
    s.set_defaults(func=cmd_score)

    d = sub.add_parser("demo", help="all six methods on the quick reversals world, timed")
    d.add_argument("--model", default="default")
    d.add_argument("--aug-source", default="oracle")
    d.add_argument("--db", help="DuckDB file (default data/lab.duckdb)")
    d.add_argument("--progress-file", metavar="PATH", help=PROGRESS_HELP)
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="fast paths against naive baselines; last line is JSON")
    b.add_argument("--model", default="default")
    b.add_argument("--size", choices=["full", "tiny"], default="full",
                   help="tiny: a few items and steps, to check the benchmark works")
    b.add_argument("--demo", action="store_true", help="also time the quick demo")
    b.set_defaults(func=cmd_bench)

    st = sub.add_parser("study", help="every method on several kinds and seeds, summarized "
                        "over seeds; resumes where it stopped")
    st.add_argument("--kinds", default="reversals,syllogisms,celebrities,family,semantic")
    st.add_argument("--seeds", default="0,1,2")
    st.add_argument("--model", default="default")
    st.add_argument("--sources", default="oracle,model", help="who writes the augmentations: "
                    "oracle, model, teacher (with --teacher)")
    st.add_argument("--teacher", default="", metavar="MODEL", help="the teacher of the teacher "
                    "source: a model folder, 'default', or an OpenAI-compatible server's address")
    st.add_argument("--db", default=None, help="DuckDB file (default data/lab.duckdb)")
    st.add_argument("--table-only", action="store_true", help="only print the table")
    st.add_argument("--results", metavar="FILE", help="merge the runs into this results file "
                    "(JSON Lines, one run each; docs/study/results.jsonl is the published one)")
    st.add_argument("--from", dest="from_files", action="append", default=[], metavar="FILE",
                    help="build the table from results files instead of the database (repeat "
                         "to merge a colleague's file; with --results, write the merge)")
    add_executor_options(st)
    st.set_defaults(func=cmd_study)

    tu = sub.add_parser("tune", help="choose the fine-tuning recipe on dev seeds: ft and "
                        "ft_local (oracle) on quick reversals worlds, one row per recipe")
    tu.add_argument("--candidates", help="epochs:lr or epochs:lr:batch, comma-separated "
                    "(default: the candidates in core/running/tuning.py)")
    tu.add_argument("--seeds", help="dev seeds (default 100,101,102; never the study's 0,1,2)")
    tu.add_argument("--preset", default="quick")
    tu.add_argument("--log", metavar="FILE", help="append each trial to FILE and take the trials "
                    "already there instead of running them again (resumes a tuning)")
    tu.add_argument("--model", default="default")
    tu.set_defaults(func=cmd_tune)

    rp = sub.add_parser("report", help="the Share page's HTML report: verdict, accuracy, cost at "
                        "your volume and break-even, charts (SVG), settings; one small file")
    rp.add_argument("--db", default=None, help="DuckDB file (default data/lab.duckdb)")
    rp.add_argument("--runs", default="all", help="run ids, comma-separated (default: every "
                    "complete run)")
    rp.add_argument("--out", required=True)
    rp.add_argument("--queries", type=float, default=1e6, help="the reader's number of queries")
    rp.add_argument("--price", type=float, default=2.0, help="hardware price, $ per hour")
    rp.add_argument("--x", choices=["flops", "seconds"], default="flops",
                    help="the compute chart's axis")
    rp.add_argument("--title", default="ICL vs fine-tuning: results")
    rp.set_defaults(func=cmd_report)

    k = sub.add_parser("kinds", help="list world kinds, presets and parameters")
    k.set_defaults(func=cmd_kinds)

    sc = sub.add_parser("shortcuts", help="cheap rules that answer a world's items without its "
                        "knowledge: accuracy per rule and split, and whether it may do well there")
    sc.add_argument("kind")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--preset", default="quick")
    sc.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    sc.set_defaults(func=cmd_shortcuts)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: file not found: {error.filename}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
