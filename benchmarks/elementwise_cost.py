"""What one elementwise pass costs, per element, in NumPy and in PyTorch (float32, 1 thread).

    python -m benchmarks.elementwise_cost [--size 65536] [--out benchmarks/results]

A product and an addition stream memory; ``exp``, ``tanh`` and ``erf`` evaluate a
polynomial or a rational function per element, and there the two libraries' kernels
differ most. Those functions are what the LSTM's gates (tanh), the softmax of attention
(exp) and the exact GELU (erf, exp) spend their elementwise time on, so this table is
where the speed chapter's explanation of those cases starts. refnet's float32 erf is its
own rational function (``refnet.nn.functional.erf_rational``: NumPy has no erf), so that
row is refnet against torch rather than NumPy against torch.

NumPy's ufuncs run on one thread; torch runs once on one thread and once on two (its
elementwise kernels split arrays of more than 32,768 elements over its threads). All
work on the same array of ``--size`` standard normal numbers, with an output buffer
given, in alternating rounds; the figure is the median over rounds of nanoseconds per
element.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from refnet.nn.functional import erf_rational

RESULTS = Path(__file__).resolve().parent / "results"


def per_element_ns(work: Callable[[], object], size: int, rounds: int) -> float:
    """Median nanoseconds per element of ``work`` over ``rounds`` samples of ~10 ms."""
    work()
    start = time.perf_counter()
    work()
    repeats = max(1, int(0.01 / max(time.perf_counter() - start, 1e-7)))
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            work()
        samples.append((time.perf_counter() - start) / repeats)
    return 1e9 * statistics.median(samples) / size


Work = Callable[[], object]


def operations(torch: Any, x: np.ndarray) -> dict[str, tuple[Work, Work]]:
    """name -> (NumPy/refnet work, torch work) on the same input, into given buffers."""
    t = torch.from_numpy(x)
    out, t_out = np.empty_like(x), torch.empty_like(t)
    return {
        "multiply": (lambda: np.multiply(x, x, out=out), lambda: torch.mul(t, t, out=t_out)),
        "exp": (lambda: np.exp(x, out=out), lambda: torch.exp(t, out=t_out)),
        "tanh": (lambda: np.tanh(x, out=out), lambda: torch.tanh(t, out=t_out)),
        "erf": (lambda: erf_rational(x), lambda: torch.erf(t, out=t_out)),
    }


Row = tuple[str, float, float, float]


def measure(size: int, rounds: int) -> list[Row]:
    """Per operation: NumPy's ns/element, torch's on 1 thread, torch's on 2 threads."""
    import torch

    x = np.random.default_rng(0).standard_normal(size).astype(np.float32)
    rows = []
    for name, (ours, theirs) in operations(torch, x).items():
        a, b, c = [], [], []
        for _ in range(3):  # alternate, so a drift of the machine touches all three
            a.append(per_element_ns(ours, size, rounds))
            torch.set_num_threads(1)
            b.append(per_element_ns(theirs, size, rounds))
            torch.set_num_threads(2)
            c.append(per_element_ns(theirs, size, rounds))
        rows.append((name, statistics.median(a), statistics.median(b), statistics.median(c)))
    return rows


def report(rows: list[Row], size: int, machine: str) -> str:
    lines = [
        "# One elementwise pass, per element (float32)",
        "",
        "<!-- --8<-- [start:run] -->",
        f"`python -m benchmarks.elementwise_cost --size {size}`; {machine}",
        "",
        "| operation | NumPy (refnet), ns/element | torch, 1 thread | torch, 2 threads "
        "| NumPy / torch 1 thread | NumPy / torch 2 threads |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {a:.2f} | {b:.2f} | {c:.2f} | {a / b:.1f} | {a / c:.1f} |"
            for name, a, b, c in rows
        ),
        "<!-- --8<-- [end:run] -->",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1 << 16)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import torch

    from benchmarks.machine import describe, machine_info

    rows = measure(args.size, args.rounds)
    page = report(rows, args.size, describe(machine_info(torch)))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "elementwise.md").write_text(page)
    print(page)


if __name__ == "__main__":
    main()
