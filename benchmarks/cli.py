"""``python -m benchmarks``: refnet and PyTorch timed side by side, in one run.

    python -m benchmarks                      # every case, 2 threads unless told otherwise
    python -m benchmarks --list               # the case names
    python -m benchmarks --cases 'step-*,conv2d-fwdbwd' --rounds 31
    python -m benchmarks --quick              # a fast look: fewer rounds, shorter samples
    python -m benchmarks --no-torch           # refnet only (also what happens without torch)
    python -m benchmarks --sweep              # the steps over batch sizes, 1 and 2 threads

Writes ``latest.md`` (the table), ``latest.json`` (machine, settings, every sample) and
``latest.png`` (the ratios) into ``--out`` (``benchmarks/results`` by default); with
``--sweep``, ``sweep.md``, ``sweep.json`` and ``sweep.png`` instead (:mod:`benchmarks.sweep`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

import refnet
from benchmarks import sweep, threads
from benchmarks.breakdown import format_rows, layer_times
from benchmarks.cases import Case, Contest, MismatchError, all_cases, select
from benchmarks.machine import (
    BackgroundLoad,
    describe,
    machine_info,
    source_version,
    wait_for_idle,
)
from benchmarks.report import Result, markdown, plot, to_json
from benchmarks.timing import Stats, race

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time refnet against PyTorch (float32, CPU), interleaved in one run.",
    )
    parser.add_argument("--cases", help="comma-separated names, globs (conv*) or groups")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 21)")
    parser.add_argument(
        "--passes",
        type=int,
        default=None,
        help="split the rounds into passes over all cases, spread over the run (default 3)",
    )
    parser.add_argument("--warmup", type=int, default=None, help="warm-up calls (default 3)")
    parser.add_argument(
        "--min-time",
        type=float,
        default=None,
        help="shortest sample in ms; fast calls repeat to reach it (default 20)",
    )
    parser.add_argument(
        "--lead-in",
        type=float,
        default=0.15,
        metavar="SECONDS",
        help="untimed calls before each sample, while the other side's idle threads stop "
        "spinning (default 0.15: OpenBLAS spins ~0.1 s after a product)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for NumPy's BLAS and torch (default: what NumPy's BLAS uses)",
    )
    parser.add_argument(
        "--refnet-threads",
        type=int,
        default=None,
        help="threads for refnet's elementwise kernels (refnet.set_num_threads; default: "
        "refnet's default, 1, which was faster in training steps)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    parser.add_argument(
        "--quick", action="store_true", help="5 rounds, 1 warm-up, 2 ms samples by default"
    )
    parser.add_argument("--no-torch", action="store_true", help="time refnet only")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="time the MLP and cnn steps over batch sizes 1-512 with 1 and 2 threads",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time each layer of refnet's training steps (forward, backward)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each case, wait up to SECONDS for other processes to leave the CPU idle",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.rounds is None:
        args.rounds = 5 if quick else 21
    if args.passes is None:
        args.passes = 1 if quick else 3
    if args.warmup is None:
        args.warmup = 1 if quick else 3
    if args.min_time is None:
        args.min_time = 2.0 if quick else 20.0
    if args.rounds < 1 or args.passes < 1:
        parser.error("--rounds and --passes must be positive")
    if args.warmup < 0 or args.min_time < 0 or args.lead_in < 0:
        parser.error("--warmup, --min-time and --lead-in must be non-negative")
    if (args.threads is not None and args.threads < 1) or (
        args.refnet_threads is not None and args.refnet_threads < 1
    ):
        parser.error("--threads and --refnet-threads must be positive")
    return args


def load_torch(disabled: bool) -> Any | None:
    """torch, or None when it is not installed (or ``--no-torch``)."""
    if disabled:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


def set_threads(requested: int | None, torch: Any | None) -> int:
    """Make NumPy's BLAS and torch use the same number of threads; return it."""
    if requested is not None and not threads.limit_blas(requested):
        blas = threads.blas_info()
        if blas["threads"] != requested:
            print(
                f"warning: cannot set NumPy's BLAS threads without threadpoolctl once NumPy "
                f"is imported; it uses {blas['threads']}. Set OPENBLAS_NUM_THREADS instead.",
                file=sys.stderr,
            )
    count = int(threads.blas_info()["threads"])
    if torch is not None:
        torch.set_num_threads(count)
    return count


def prepare(result: Result, torch: Any | None) -> Contest | None:
    """Build one case and check (once) that both sides agree; None (and the reason in
    ``result.error``) if the case cannot be timed."""
    try:
        contest = result.case.build(torch)
        if contest.torch is not None and contest.check is not None:
            result.check = contest.check()
    except MismatchError as error:
        result.error = f"refnet and torch disagree: {error}"
        return None
    except Exception as error:
        result.error = f"{type(error).__name__}: {error}"
        traceback.print_exc()
        return None
    return contest


def time_pass(
    result: Result, contest: Contest, rounds: int, warmup: int, args: argparse.Namespace
) -> tuple[dict[str, Stats], float | None]:
    """One pass of ``rounds`` interleaved rounds of a case; its stats and others' CPU."""
    fns = {"refnet": contest.refnet}
    if contest.torch is not None:
        fns["torch"] = contest.torch
    if args.wait_idle > 0:
        wait_for_idle(args.wait_idle)
    load = BackgroundLoad()
    stats = race(fns, rounds, warmup, args.min_time / 1e3, args.lead_in)
    return stats, load.share()


def time_all(prepared: list[tuple[Result, Contest]], args: argparse.Namespace) -> None:
    """Time every case in ``args.passes`` passes over all of them, so each case's rounds
    are spread over the whole run and slow drifts of the machine reach every case; fill
    each result with its merged samples, the ratio of each pass and others' CPU."""
    passes = max(1, min(args.passes, args.rounds))
    counts = [len(part) for part in np.array_split(np.arange(args.rounds), passes)]
    samples: dict[int, dict[str, list[float]]] = {id(r): {} for r, _ in prepared}
    numbers: dict[int, dict[str, int]] = {id(r): {} for r, _ in prepared}
    loads: dict[int, list[float]] = {id(r): [] for r, _ in prepared}
    for index, rounds in enumerate(counts):
        for result, contest in prepared:
            if result.error is not None:
                continue
            try:
                stats, load = time_pass(
                    result, contest, rounds, args.warmup if index == 0 else 1, args
                )
            except Exception as error:
                result.error = f"{type(error).__name__}: {error}"
                traceback.print_exc()
                continue
            for side, st in stats.items():
                samples[id(result)].setdefault(side, []).extend(st.samples)
                numbers[id(result)].setdefault(side, st.number)
            if "torch" in stats:
                result.pass_ratios.append(stats["refnet"].median / stats["torch"].median)
            if load is not None:
                loads[id(result)].append(load)
        if passes > 1:
            print(f"pass {index + 1}/{passes} done", flush=True)
    for result, _ in prepared:
        if result.error is not None:
            continue
        merged = {
            side: Stats.of(values, numbers[id(result)][side])
            for side, values in samples[id(result)].items()
        }
        result.refnet, result.torch = merged["refnet"], merged.get("torch")
        if loads[id(result)]:
            result.background = float(np.mean(loads[id(result)]))


def progress_line(result: Result) -> str:
    name = f"{result.case.name:22s}"
    if result.error is not None:
        return f"{name} FAILED: {result.error}"
    assert result.refnet is not None
    line = f"{name} refnet {result.refnet.median:9.3f} ms"
    if result.torch is not None and result.ratio is not None:
        iqr = result.ratio_iqr or (result.ratio, result.ratio)
        line += (
            f"   torch {result.torch.median:9.3f} ms   ratio {result.ratio:5.2f}"
            f" (IQR {iqr[0]:.2f}-{iqr[1]:.2f})"
        )
    if len(result.pass_ratios) > 1:
        line += "   by pass " + " ".join(f"{r:.2f}" for r in result.pass_ratios)
    if result.background is not None:
        line += f"   others' CPU {result.background:4.0%}"
    return line


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = all_cases()
    if args.list:
        for case in cases:
            target = "" if case.target is None else f"  (target ratio ≤ {case.target:g})"
            print(f"{case.name:22s} {case.title}{target}")
        return 0
    try:
        chosen = select(cases, args.cases)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    torch = load_torch(args.no_torch)
    torch_threads = None if torch is None else torch.get_num_threads()
    refnet_threads = refnet.get_num_threads()
    try:
        thread_count = set_threads(args.threads, torch)
        if args.refnet_threads is not None:
            refnet.set_num_threads(args.refnet_threads)
        if args.sweep:
            return run_sweep(torch, args, argv)
        return run(chosen, torch, thread_count, args, argv)
    finally:  # leave the process as it was (the tests call main() in-process)
        threads.restore_blas()
        refnet.set_num_threads(refnet_threads)
        if torch is not None:
            torch.set_num_threads(torch_threads)


def run(
    chosen: list[Case],
    torch: Any | None,
    thread_count: int,
    args: argparse.Namespace,
    argv: list[str] | None,
) -> int:
    """Check and time the chosen cases, print progress, write the outputs."""
    machine = machine_info(torch)
    command = _command(argv)
    settings = {
        "command": command,
        "rounds": args.rounds,
        "passes": max(1, min(args.passes, args.rounds)),
        "warmup": args.warmup,
        "min_time_ms": args.min_time,
        "wait_idle_s": args.wait_idle,
        "lead_in_s": args.lead_in,
        "threads": thread_count,
        "torch": torch is not None,
        "cases": [c.name for c in chosen],
        "dtype": "float32",
        "source": source_version(),
    }
    print(describe(machine))
    if torch is None:
        print("torch is not available: timing refnet only (no ratios).")
    else:
        blas_threads = machine["numpy"]["blas"]["threads"]
        print(
            f"threads: NumPy BLAS {blas_threads}, refnet elementwise {refnet.get_num_threads()}, "
            f"torch {torch.get_num_threads()}"
        )
    results: list[Result] = []
    prepared: list[tuple[Result, Contest]] = []
    for case in chosen:
        result = Result(case)
        contest = prepare(result, torch)
        results.append(result)
        if contest is None:
            print(progress_line(result), flush=True)
        else:
            prepared.append((result, contest))
    time_all(prepared, args)
    for result, contest in prepared:
        if result.error is None and args.breakdown and contest.parts is not None:
            result.breakdown = layer_times(*contest.parts, rounds=args.rounds)
        print(progress_line(result), flush=True)
        if result.breakdown:
            print(format_rows(result.breakdown), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    with_torch = torch is not None
    (args.out / "latest.json").write_text(to_json(results, machine, settings), encoding="utf-8")
    (args.out / "latest.md").write_text(
        markdown(results, machine, settings, with_torch), encoding="utf-8"
    )
    subtitle = f"{machine['cpu']}, {thread_count} threads, {machine['date'][:10]}"
    written = ["latest.md", "latest.json"]
    if plot(results, args.out / "latest.png", with_torch, subtitle):
        written.append("latest.png")
    else:
        print("matplotlib is not installed: no chart.")
    print(f"wrote {', '.join(written)} into {args.out}")
    failed = [r.case.name for r in results if r.error is not None]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _command(argv: list[str] | None) -> str:
    return "python -m benchmarks" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )


def run_sweep(torch: Any | None, args: argparse.Namespace, argv: list[str] | None) -> int:
    """Time the sweep's cases at each thread count (the same count for both libraries)."""
    machine = machine_info(torch)
    machine["source"] = source_version()
    print(describe(machine))
    points: list[sweep.Point] = []
    failed: list[str] = []
    for count in sweep.THREADS:
        set_threads(count, torch)
        prepared = []
        for case in sweep.sweep_cases():
            result = Result(case)
            contest = prepare(result, torch)
            if contest is None:
                failed.append(f"{case.name} ({count} threads)")
                print(progress_line(result), flush=True)
            else:
                prepared.append((result, contest))
        time_all(prepared, args)
        for result, _ in prepared:
            print(f"{count} thread(s): {progress_line(result)}", flush=True)
        points += sweep.points_of([r for r, _ in prepared], count)
    args.out.mkdir(parents=True, exist_ok=True)
    command = _command(argv)
    (args.out / "sweep.md").write_text(sweep.markdown(points, machine, command), encoding="utf-8")
    (args.out / "sweep.json").write_text(sweep.to_json(points, machine, command), encoding="utf-8")
    written = "sweep.md, sweep.json" + (
        ", sweep.png" if sweep.plot(points, args.out / "sweep.png") else ""
    )
    print(f"wrote {written} into {args.out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
