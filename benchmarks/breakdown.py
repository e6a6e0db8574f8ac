"""Where a refnet training step spends its time: each layer's forward and backward.

``python -m benchmarks --breakdown`` adds, for every training-step case, a table of the
median milliseconds of each layer's forward and backward (refnet only: torch's autograd
does not run layer by layer), the loss, and the optimizer. The layers run exactly as in
the step, in order, with the step's inputs and caches.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import refnet.nn as nn


def layer_times(
    model: nn.Sequential, x: Any, labels: Any, optimizer: Any, rounds: int
) -> list[dict[str, Any]]:
    """Median ms of each layer's forward and backward, the loss and the optimizer step."""
    layers = list(model)
    criterion = nn.CrossEntropyLoss()
    forward: list[list[float]] = [[] for _ in layers]
    backward: list[list[float]] = [[] for _ in layers]
    loss_ms: list[float] = []
    step_ms: list[float] = []
    for _ in range(rounds + 2):  # two warm-up rounds
        optimizer.zero_grad()
        h = x
        for i, layer in enumerate(layers):
            start = time.perf_counter()
            h = layer(h)
            forward[i].append(time.perf_counter() - start)
        start = time.perf_counter()
        criterion(h, labels)
        g = criterion.backward()
        loss_ms.append(time.perf_counter() - start)
        for i in reversed(range(len(layers))):
            start = time.perf_counter()
            g = layers[i].backward(g)
            backward[i].append(time.perf_counter() - start)
            if g is None:
                break
        start = time.perf_counter()
        optimizer.step()
        step_ms.append(time.perf_counter() - start)

    def median_ms(samples: list[float]) -> float:
        return statistics.median(samples[2:]) * 1e3 if samples[2:] else 0.0

    rows = [
        {
            "layer": f"{i}: {layer!r}",
            "forward_ms": median_ms(forward[i]),
            "backward_ms": median_ms(backward[i]),
        }
        for i, layer in enumerate(layers)
    ]
    rows.append({"layer": "loss (forward+backward)", "forward_ms": median_ms(loss_ms)})
    rows.append({"layer": "optimizer step", "forward_ms": median_ms(step_ms)})
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A plain-text table with each row's share of the total."""
    total = sum(r["forward_ms"] + r.get("backward_ms", 0.0) for r in rows) or 1.0
    lines = [f"    {'layer':60s} {'fwd ms':>8s} {'bwd ms':>8s} {'share':>6s}"]
    for r in rows:
        bwd = r.get("backward_ms")
        share = (r["forward_ms"] + (bwd or 0.0)) / total
        bwd_text = "" if bwd is None else f"{bwd:8.3f}"
        lines.append(
            f"    {r['layer'][:60]:60s} {r['forward_ms']:8.3f} {bwd_text:>8s} {share:6.1%}"
        )
    return "\n".join(lines)
