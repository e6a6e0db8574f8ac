"""The coverage tables of chapter 14: torch's classes and functions, and refnet's.

``python docs/_ext/torch_coverage.py`` lists every class of ``torch.nn`` (modules),
``torch.optim`` (optimizers) and ``torch.optim.lr_scheduler`` (schedulers), and every
public function of ``torch.nn.functional``, with whether refnet has the same name in the
matching namespace (a function also: whether it has its ``*_backward`` sibling), and
writes ``docs/_generated/torch_coverage.md``. Out of scope, listed as such: lazy,
distributed, quantized and device-specific classes, torch's internal helpers and the
in-place ``*_`` variants of functions (NumPy arrays have no autograd version counter to
protect). ``tests/test_torch_coverage.py`` fails when the committed table is stale.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

TARGET = Path(__file__).resolve().parents[1] / "_generated" / "torch_coverage.md"

OUT_OF_SCOPE_CLASSES = re.compile(
    r"^(Lazy\w+|SyncBatchNorm|DataParallel|Container|RNNBase|RNNCellBase|NLLLoss2d"
    r"|CrossMapLRN2d|Optimizer|LRScheduler|SparseAdam)$"
)
OUT_OF_SCOPE_FUNCTIONS = re.compile(
    r"^(\w+_|assert_int_or_pair|boolean_dispatch|handle_torch_function|has_torch_function\w*"
    r"|grouped_mm|scaled_grouped_mm|scaled_mm|conv_tbc|native_channel_shuffle|Optional)$"
)


def classes(namespace: ModuleType, base: type) -> list[str]:
    return sorted(
        name
        for name in dir(namespace)
        if not name.startswith("_")
        and inspect.isclass(getattr(namespace, name))
        and issubclass(getattr(namespace, name), base)
    )


def functions(namespace: ModuleType) -> list[str]:
    return sorted(
        name
        for name in dir(namespace)
        if not name.startswith("_")
        and callable(getattr(namespace, name))
        and not inspect.isclass(getattr(namespace, name))
    )


DEPRECATED = {"size_average", "reduce"}
REFNET_EXTRAS = {"generator"}


def parameters(function: Callable[..., object]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        return None


def torch_parameters(namespace: ModuleType, name: str) -> list[inspect.Parameter] | None:
    """torch's parameters of ``name``; a dispatching ``(*args, **kwargs)`` wrapper is read
    through its ``*_with_indices`` twin, whose arguments are the same."""
    found = parameters(getattr(namespace, name))
    if found and found[0].kind is inspect.Parameter.VAR_POSITIONAL:
        twin = getattr(namespace, f"{name}_with_indices", None)
        found = None if twin is None else parameters(twin)
    return None if found is None else [p for p in found if p.name not in DEPRECATED]


def same_arguments(ours: Callable[..., object], theirs: list[inspect.Parameter] | None) -> bool:
    """Whether refnet's function takes torch's arguments: the same names in the same
    order (torch's deprecated ``size_average``/``reduce`` aside), all required ones."""
    mine = parameters(ours)
    if mine is None or theirs is None:
        return True  # nothing to compare against
    # refnet's own randomness convention: a seed or Generator argument torch does not have.
    names = [p.name for p in mine if p.name not in REFNET_EXTRAS]
    required = [p.name for p in theirs if p.default is inspect.Parameter.empty]
    return names == [p.name for p in theirs][: len(names)] and len(names) >= len(required)


def status(name: str, has: Callable[[str], bool], scope: re.Pattern[str]) -> str:
    if scope.match(name):
        return "out of scope"
    return "yes" if has(name) else "—"


def table(
    names: list[str],
    has: Callable[[str], bool],
    scope: re.Pattern[str],
    backward: Callable[[str], bool] | None = None,
    arguments: Callable[[str], str] | None = None,
) -> tuple[str, int, int]:
    """A markdown table of ``names`` and the counts (refnet has, in scope)."""
    rows = ["| torch | refnet |" + (" backward sibling | arguments |" if backward else "")]
    rows.append("|---|---|" + ("---|---|" if backward else ""))
    for name in names:
        row = f"| `{name}` | {status(name, has, scope)} |"
        if backward:
            row += f" {'yes' if has(name) and backward(name) else '—'} |"
        if arguments:
            row += f" {arguments(name) if has(name) else '—'} |"
        rows.append(row)
    in_scope = [name for name in names if not scope.match(name)]
    return "\n".join(rows), sum(has(name) for name in in_scope), len(in_scope)


def coverage_markdown() -> str:
    import torch

    import refnet.nn as rnn
    import refnet.nn.functional as rf
    import refnet.optim as ro
    import refnet.optim.lr_scheduler as rls

    def backward(name: str) -> bool:
        return hasattr(rf, f"{name}_backward")

    def arguments(name: str) -> str:
        theirs = torch_parameters(torch.nn.functional, name)
        return "torch's" if same_arguments(getattr(rf, name), theirs) else "refnet's"

    sections = [
        ("torch.nn modules", classes(torch.nn, torch.nn.Module), rnn),
        ("torch.nn.functional", functions(torch.nn.functional), rf),
        ("torch.optim", classes(torch.optim, torch.optim.Optimizer), ro),
        (
            "torch.optim.lr_scheduler",
            [*classes(torch.optim.lr_scheduler, torch.optim.lr_scheduler.LRScheduler)]
            + ["ReduceLROnPlateau"],
            rls,
        ),
    ]
    summary = ["| namespace | refnet has | of (in scope) |", "|---|---|---|"]
    parts = []
    for title, names, ours in sections:
        functional = ours is rf
        body, present, in_scope = table(
            sorted(set(names)),
            lambda n, ours=ours: hasattr(ours, n),
            OUT_OF_SCOPE_FUNCTIONS if functional else OUT_OF_SCOPE_CLASSES,
            backward if functional else None,
            arguments if functional else None,
        )
        summary.append(f"| `{title}` | {present} | {in_scope} |")
        parts.append(f'??? note "{title}: {present} of {in_scope}"\n\n' + indent(body) + "\n")
    version = torch.__version__.split("+")[0]
    lead = f"Against torch {version} (`python docs/_ext/torch_coverage.py`):\n"
    return "\n".join([lead, "\n".join(summary), "", *parts])


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.split("\n"))


def main() -> None:
    TARGET.write_text(coverage_markdown(), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
