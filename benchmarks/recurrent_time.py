"""Where an LSTM's forward+backward spends its time: the products, and everything else.

``python -m benchmarks.recurrent_time`` runs the benchmark's LSTM case (two layers of
LSTM(128, 256), length 64 x batch 32, float32) and, beside it, the same matrix products
alone at the same shapes: the input projections (one GEMM per layer), the recurrent
products (one small GEMM per step and layer, forward and backward) and the weight and
input gradients (one GEMM each per layer). What is left is the gates' elementwise work
and Python's per-step overhead. Median milliseconds of 15 rounds after 3 warm-up rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

import refnet.nn as nn

L, N, IN, H, LAYERS = 64, 32, 128, 256, 2


def median_ms(work: Callable[[], object], rounds: int = 15) -> float:
    for _ in range(3):
        work()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(0)
    lstm = nn.LSTM(IN, H, num_layers=LAYERS, generator=0)
    x = rng.standard_normal((L, N, IN)).astype(np.float32)

    def step() -> None:
        out, _ = lstm(x)
        lstm.backward(np.ones_like(out))

    widths = [IN] + [H] * (LAYERS - 1)
    inputs = [rng.standard_normal((L * N, w)).astype(np.float32) for w in widths]
    w_ih = [rng.standard_normal((4 * H, w)).astype(np.float32) for w in widths]
    w_hh_t = rng.standard_normal((H, 4 * H)).astype(np.float32)
    h = rng.standard_normal((N, H)).astype(np.float32)
    gates = rng.standard_normal((N, 4 * H)).astype(np.float32)
    all_gates = rng.standard_normal((L * N, 4 * H)).astype(np.float32)
    prev = rng.standard_normal((L * N, H)).astype(np.float32)

    def projections() -> None:
        for a, w in zip(inputs, w_ih, strict=True):
            a @ w.T

    def recurrent_products() -> None:
        for _ in range(LAYERS * L):
            h @ w_hh_t  # forward: the gates' recurrent term
            gates @ w_hh_t.T  # backward: the state's gradient

    def gradient_products() -> None:
        for a, w in zip(inputs, w_ih, strict=True):
            all_gates.T @ a  # ∂W_ih
            all_gates.T @ prev  # ∂W_hh
            all_gates @ w  # ∂x

    total = median_ms(step)
    parts = {
        "input projections (1 GEMM per layer)": median_ms(projections),
        f"recurrent products ({2 * LAYERS * L} small GEMMs)": median_ms(recurrent_products),
        "weight and input gradients (3 GEMMs per layer)": median_ms(gradient_products),
    }
    print(f"LSTM({IN}, {H}, num_layers={LAYERS}), length {L} x batch {N}: fwd+bwd {total:.1f} ms")
    for name, ms in parts.items():
        print(f"  {name:<50} {ms:6.1f} ms  {100 * ms / total:4.0f}%")
    rest = total - sum(parts.values())
    print(
        f"  {'the rest: gate elementwise work, Python per step':<50} {rest:6.1f} ms  "
        f"{100 * rest / total:4.0f}%"
    )


if __name__ == "__main__":
    main()
