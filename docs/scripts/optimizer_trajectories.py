"""Figure for chapter 6: refnet's optimizers on two 2-d test functions.

Each optimizer gets one ``Parameter`` holding the point (x, y); every step we write the
function's gradient into ``p.grad`` and call ``optimizer.step()``, exactly as a layer's
backward would. Run: ``python docs/scripts/optimizer_trajectories.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from _common import parse_args, save

import refnet.optim as optim
from refnet.nn import Parameter

Gradient = Callable[[np.ndarray], np.ndarray]


def valley(p: np.ndarray) -> np.ndarray:
    """An ill-conditioned quadratic: curvature 1 along x, 20 along y."""
    return 0.5 * (p[0] ** 2 + 20 * p[1] ** 2)


def valley_grad(p: np.ndarray) -> np.ndarray:
    return np.array([p[0], 20 * p[1]])


def rosenbrock(p: np.ndarray) -> np.ndarray:
    """Rosenbrock's banana, minimum at (1, 1) in a long curved valley."""
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def rosenbrock_grad(p: np.ndarray) -> np.ndarray:
    return np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)])


# (label, factory) per optimizer; the learning rates are tuned per function below.
OPTIMIZERS: dict[str, Callable[[list[Parameter], float], optim.Optimizer]] = {
    "SGD": lambda ps, lr: optim.SGD(ps, lr=lr),
    "momentum 0.9": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9),
    "Nesterov 0.9": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "RMSprop": lambda ps, lr: optim.RMSprop(ps, lr=lr),
    "Adagrad": lambda ps, lr: optim.Adagrad(ps, lr=lr),
    "Adam": lambda ps, lr: optim.Adam(ps, lr=lr),
}

# How each path is drawn. RMSprop and Adagrad take nearly the same path on the valley,
# and RMSprop, Adagrad and Adam share Rosenbrock's curved floor: RMSprop is a wide pale
# band underneath, so the thin line on top of it does not hide it.
STYLES: dict[str, dict[str, float | str]] = {
    "SGD": {},
    "momentum 0.9": {},
    "Nesterov 0.9": {"ls": "--"},
    "RMSprop": {"lw": 6.0, "alpha": 0.35, "zorder": 1.5, "ms": 0},
    "Adagrad": {},
    "Adam": {},
}

PROBLEMS = {
    # name: (f, grad, start, steps, learning rate per optimizer, plot box)
    "valley": (
        valley,
        valley_grad,
        (-4.5, 1.2),
        60,
        {
            "SGD": 0.09,
            "momentum 0.9": 0.02,
            "Nesterov 0.9": 0.02,
            "RMSprop": 0.1,
            "Adagrad": 1.0,
            "Adam": 0.3,
        },
        ((-5, 1.5), (-1.6, 1.6)),
    ),
    "rosenbrock": (
        rosenbrock,
        rosenbrock_grad,
        (-1.5, 2.0),
        1500,
        {
            "SGD": 1e-3,
            "momentum 0.9": 2e-4,
            "Nesterov 0.9": 2e-4,
            "RMSprop": 1e-2,
            "Adagrad": 0.3,
            "Adam": 0.05,
        },
        ((-2, 2), (-1, 3)),
    ),
}


def trajectory(
    make: Callable[[list[Parameter], float], optim.Optimizer],
    grad: Gradient,
    start: tuple[float, float],
    lr: float,
    steps: int,
) -> np.ndarray:
    """The points visited, ``(steps + 1, 2)``."""
    point = Parameter(np.array(start, dtype=np.float64))
    optimizer = make([point], lr)
    path = [point.data.copy()]
    for _ in range(steps):
        optimizer.zero_grad()
        point.grad += grad(point.data)  # what a layer's backward would add
        optimizer.step()
        path.append(point.data.copy())
    return np.array(path)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, (name, (f, grad, start, steps, lrs, box)) in zip(axes, PROBLEMS.items(), strict=True):
        steps = min(steps, 20) if args.quick else steps
        (x0, x1), (y0, y1) = box
        gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
        z = f(np.stack([gx, gy]))  # the functions work on arrays of points too
        ax.contour(gx, gy, np.log1p(z), levels=25, colors="0.8", linewidths=0.7)
        for label, make in OPTIMIZERS.items():
            path = trajectory(make, grad, start, lrs[label], steps)
            path = np.clip(path, [x0, y0], [x1, y1])  # a diverging run leaves the box
            style: dict[str, float | str] = {
                "ms": 2,
                "lw": 1.2,
                "ls": "-",
                "zorder": 2,
                **STYLES[label],
            }
            (line,) = ax.plot(
                path[:, 0],
                path[:, 1],
                marker=".",
                label=f"{label} (lr {lrs[label]:g}): f = {float(f(path[-1])):.2g}",
                **style,  # type: ignore[arg-type]
            )
            ax.plot(*path[-1], "o", color=line.get_color(), mec="k", ms=6, zorder=3)
        minimum = (0, 0) if name == "valley" else (1, 1)
        ax.plot(*minimum, "k*", ms=12, zorder=4)
        ax.plot(*start, "ko", ms=5)
        ax.set_title(f"{name}, {steps} steps from {start}")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.legend(fontsize=7, loc="lower right" if name == "valley" else "upper right")
    fig.suptitle(
        "refnet.optim on f(x, y): the same step() that trains a network (ringed dot: the end)"
    )
    save(fig, args.out_dir, "optimizer_trajectories.png", args.quick)


if __name__ == "__main__":
    main()
