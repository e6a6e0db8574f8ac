"""``python -m benchmarks``: refnet and PyTorch timed side by side, in one run.

    python -m benchmarks                      # every case, 2 threads unless told otherwise
    python -m benchmarks --list               # the case names
    python -m benchmarks --cases 'step-*,conv2d-fwdbwd' --rounds 31
    python -m benchmarks --quick              # a fast look: fewer rounds, shorter samples
    python -m benchmarks --no-torch           # refnet only (also what happens without torch)

Writes ``latest.md`` (the table), ``latest.json`` (machine, settings, every sample) and
``latest.png`` (the ratios) into ``--out`` (``benchmarks/results`` by default).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any

import refnet
from benchmarks import threads
from benchmarks.breakdown import format_rows, layer_times
from benchmarks.cases import Case, MismatchError, all_cases, select
from benchmarks.machine import (
    BackgroundLoad,
    describe,
    machine_info,
    source_version,
    wait_for_idle,
)
from benchmarks.report import Result, markdown, plot, to_json
from benchmarks.timing import race

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time refnet against PyTorch (float32, CPU), interleaved in one run.",
    )
    parser.add_argument("--cases", help="comma-separated names, globs (conv*) or groups")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 21)")
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
    if args.warmup is None:
        args.warmup = 1 if quick else 3
    if args.min_time is None:
        args.min_time = 2.0 if quick else 20.0
    if args.rounds < 1 or args.warmup < 0 or args.min_time < 0 or args.lead_in < 0:
        parser.error("--rounds must be positive; --warmup, --min-time, --lead-in non-negative")
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


def run_case(result: Result, torch: Any | None, args: argparse.Namespace) -> None:
    """Build, check (once) and time one case, filling ``result``; errors are recorded."""
    try:
        contest = result.case.build(torch)
        if contest.torch is not None and contest.check is not None:
            result.check = contest.check()
        fns = {"refnet": contest.refnet}
        if contest.torch is not None:
            fns["torch"] = contest.torch
        if args.wait_idle > 0:
            wait_for_idle(args.wait_idle)
        load = BackgroundLoad()
        stats = race(fns, args.rounds, args.warmup, args.min_time / 1e3, args.lead_in)
        result.background = load.share()
        result.refnet, result.torch = stats["refnet"], stats.get("torch")
        if args.breakdown and contest.parts is not None:
            result.breakdown = layer_times(*contest.parts, rounds=args.rounds)
    except MismatchError as error:
        result.error = f"refnet and torch disagree: {error}"
    except Exception as error:
        result.error = f"{type(error).__name__}: {error}"
        traceback.print_exc()


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
    command = "python -m benchmarks" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    settings = {
        "command": command,
        "rounds": args.rounds,
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
    results = []
    for case in chosen:
        result = Result(case)
        run_case(result, torch, args)
        print(progress_line(result), flush=True)
        if result.breakdown:
            print(format_rows(result.breakdown), flush=True)
        results.append(result)

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
