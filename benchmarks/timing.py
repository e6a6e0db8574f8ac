"""Interleaved timing of two (or more) callables: warm-up, calibration, paired rounds.

The machine is shared and noisy (other processes, frequency changes, cache pollution), so
figures from separate runs do not compare. Everything here measures the contestants
*together*: each round times every contestant once, in an order that rotates from round
to round, so drift and bursts of load hit all of them alike. A round's ratio of two
contestants is then a paired measurement, and the spread of those ratios says how much a
single run's ratio can be trusted.

A fast call (a ReLU on a small array: tens of microseconds) is repeated ``number`` times
per sample, calibrated so a sample lasts at least ``min_time`` seconds, and reported per
call. Python's garbage collector is off while timing (``timeit`` does the same).

**Lead-in.** Thread pools do not stop when their work is done: OpenBLAS's idle workers
spin (yielding) for about 2^28 cycles, ~0.1 s, before they sleep, and OpenMP's (torch's)
for a shorter while. Timed right after a refnet call, torch's two threads shared the two
cores with OpenBLAS's spinning worker: on this machine torch's lenet step took 10.7 ms
interleaved against 4.8 ms alone, while refnet was hardly affected. Sleeping before each
sample removes that, but then every sample starts cold (threads asleep, caches and
clocks cooled down), which cost refnet's many short products the most. So each sample is
preceded by ``lead_in`` seconds of untimed calls of the same function: by the time the
clock starts, the other contestant's threads have gone to sleep and this one runs in its
steady state, as in a training loop that runs alone.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Fn = Callable[[], object]


@dataclass(frozen=True)
class Stats:
    """Milliseconds per call over the samples: median, quartiles, extremes."""

    median: float
    q25: float
    q75: float
    min: float
    max: float
    samples: list[float]
    number: int  # calls per sample

    @staticmethod
    def of(samples_ms: list[float], number: int) -> Stats:
        q25, q75 = quartiles(samples_ms)
        return Stats(
            median=statistics.median(samples_ms),
            q25=q25,
            q75=q75,
            min=min(samples_ms),
            max=max(samples_ms),
            samples=samples_ms,
            number=number,
        )

    @property
    def spread(self) -> float:
        """The interquartile range relative to the median."""
        return (self.q75 - self.q25) / self.median if self.median > 0 else math.nan


def quartiles(values: list[float]) -> tuple[float, float]:
    """First and third quartiles (linear interpolation; the values themselves if < 2)."""
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def calibrate(fn: Fn, min_time: float) -> int:
    """How many calls make one sample last at least ``min_time`` seconds (>= 1)."""
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    if elapsed >= min_time or elapsed <= 0:
        return 1
    return max(1, math.ceil(min_time / elapsed))


def race(
    fns: Mapping[str, Fn], rounds: int, warmup: int, min_time: float, lead_in: float = 0.0
) -> dict[str, Stats]:
    """Time each function ``rounds`` times, interleaved; ms per call for each.

    ``warmup`` calls of each function come first (first calls allocate buffers, fill
    caches and, for torch, pick kernels). Each round then times every function once, the
    starting one rotating, so no contestant always runs right after another's cache
    pollution; each sample is preceded by ``lead_in`` seconds of untimed calls (see the
    module docstring).
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    numbers = {name: calibrate(fns[name], min_time) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                fn, number = fns[name], numbers[name]
                if lead_in > 0:
                    _run_for(fn, lead_in)
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                elapsed = time.perf_counter() - start
                samples[name].append(elapsed * 1e3 / number)
    finally:
        if was_enabled:
            gc.enable()
    return {name: Stats.of(samples[name], numbers[name]) for name in names}


def _run_for(fn: Fn, seconds: float) -> None:
    """Call ``fn`` (at least once) until ``seconds`` have passed."""
    deadline = time.perf_counter() + seconds
    fn()
    while time.perf_counter() < deadline:
        fn()


def paired_ratios(a: Stats, b: Stats) -> list[float]:
    """Round-by-round ratios ``a / b`` of two contestants timed in the same rounds."""
    return [x / y for x, y in zip(a.samples, b.samples, strict=True) if y > 0]
