"""Mutation testing: plant small bugs in one module, one at a time, and run its tests.

A test suite is as strong as the bugs it catches. This script takes a source file and a
pytest selection, and for each *mutant* (one small change: ``+`` for ``-``, ``<`` for
``<=``, ``+=`` for ``=``, a constant nudged, ``and`` for ``or``, a sign dropped) runs the
selection on a copy of the repository with that one change. A mutant the tests do not
catch *survives*: either a missing test, or an equivalent mutant (a change that does not
change behaviour), to be named as such.

    python -m tests.mutation refnet/nn/linear.py -- tests/test_core_layers.py -k Linear
    python -m tests.mutation refnet/nn/linear.py --list          # the mutants, not run

Why a small script of our own rather than mutmut or cosmic-ray: it needs nothing but the
standard library, works on the AST (so it never produces a syntax error), runs each
mutant in a throw-away copy of the tree (the working tree is never touched, so it is
safe while someone else edits), and its mutation operators are the bugs backpropagation
code actually has (a dropped accumulation, a flipped sign, an off-by-one).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


@dataclass(frozen=True)
class Mutant:
    """One change: the index of the node (in ``ast.walk`` order) and what is done to it."""

    index: int
    line: int
    description: str


def _sites(tree: ast.AST) -> Iterator[tuple[int, ast.AST, str]]:
    for index, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.BinOp | ast.BoolOp) and type(node.op) in SWAPS:
            yield index, node, f"{type(node.op).__name__} -> {SWAPS[type(node.op)].__name__}"
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in SWAPS:
            yield (
                index,
                node,
                f"{type(node.ops[0]).__name__} -> {SWAPS[type(node.ops[0])].__name__}",
            )
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add | ast.Sub):
            yield index, node, f"{type(node.op).__name__}= -> ="
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield index, node, "drop unary minus"
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            yield index, node, f"{node.value!r} -> {_nudged(node.value)!r}"


def _nudged(value: float) -> float:
    if isinstance(value, int):
        return value + 1
    return 0.0 if value != 0 else 1.0


def _is_docstring_or_annotation(tree: ast.AST) -> set[int]:
    """Node ids not worth mutating: docstrings, annotations, default values of dtypes."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        for field in ("annotation", "returns"):
            sub = getattr(node, field, None)
            if sub is not None:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    skip = _is_docstring_or_annotation(tree)
    return [
        Mutant(index, getattr(node, "lineno", 0), description)
        for index, node, description in _sites(tree)
        if id(node) not in skip
    ]


def apply(source: str, mutant: Mutant) -> str:
    tree = ast.parse(source)
    node = list(ast.walk(tree))[mutant.index]
    if isinstance(node, ast.BinOp | ast.BoolOp):
        node.op = SWAPS[type(node.op)]()
    elif isinstance(node, ast.Compare):
        node.ops[0] = SWAPS[type(node.ops[0])]()
    elif isinstance(node, ast.AugAssign):
        replacement = ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)
        _replace(tree, node, replacement)
    elif isinstance(node, ast.UnaryOp):
        _replace(tree, node, node.operand)
    elif isinstance(node, ast.Constant):
        node.value = _nudged(node.value)
    return ast.unparse(ast.fix_missing_locations(tree))


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
            elif isinstance(value, list) and old in value:
                value[value.index(old)] = new


Runner = Callable[[Path, list[str], float], int]


def run(
    target: Path,
    pytest_args: list[str],
    timeout: float,
    fork: bool = True,
    head: bool = False,
    first: int = 1,
    lines: frozenset[int] = frozenset(),
) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "repo"
        _copy_tree(copy, head)
        source = (copy / target).read_text()
        found = [m for m in mutants(source) if not lines or m.line in lines]
        print(f"{len(found)} mutants of {target}; tests: {' '.join(pytest_args)}")
        options = ["-x", "-q", "-p", "no:cacheprovider"]
        _pytest: Runner
        if fork and hasattr(os, "fork"):
            _preload()
            command, _pytest = options, _forked_pytest
        else:
            command, _pytest = [sys.executable, "-m", "pytest", *options], _subprocess_pytest
        if _pytest(copy, command + pytest_args, timeout) != 0:
            print("the tests fail without a mutant: fix them first")
            return 2
        survivors = []
        for i, mutant in enumerate(found, start=1):
            if i < first:
                continue
            (copy / target).write_text(apply(source, mutant))
            start = time.perf_counter()
            code = _pytest(copy, command + pytest_args, timeout)
            verdict = "caught" if code != 0 else "SURVIVED"
            print(f"[{i}/{len(found)}] line {mutant.line}: {mutant.description}: {verdict} "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)  # fmt: skip
            if code == 0:
                survivors.append(mutant)
        (copy / target).write_text(source)
    tried = len(found) - first + 1
    print(f"{tried - len(survivors)} of {tried} caught (from mutant {first}); survivors:")
    for mutant in survivors:
        print(f"  {target}:{mutant.line}: {mutant.description}")
    return 1 if survivors else 0


def _copy_tree(copy: Path, head: bool) -> None:
    """The working tree (uncommitted changes included) or, with ``head``, the last commit
    (so a colleague's half-done files in a shared checkout do not break the runs)."""
    if not head:
        ignore = shutil.ignore_patterns(".git", ".venv*", "runs", "site", ".*cache")
        shutil.copytree(ROOT, copy, ignore=ignore)
        return
    copy.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(copy)], input=archive.stdout, check=True)


def _preload() -> None:
    """Import the heavy libraries once, here, so each forked run starts with them loaded."""
    import hypothesis  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401

    with contextlib.suppress(ImportError):
        import torch  # noqa: F401


def _forked_pytest(cwd: Path, args: list[str], timeout: float) -> int:
    """pytest in a child forked from this process: numpy, torch and pytest come loaded
    (2-3 s a run saved); refnet and the tests are imported afresh from the copy."""
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.chdir(cwd)
            sys.path[:] = [str(cwd), *(p for p in sys.path if p not in ("", str(ROOT)))]
            for name in [n for n in sys.modules if n.split(".")[0] in ("refnet", "tests")]:
                del sys.modules[name]
            silent = os.open(os.devnull, os.O_WRONLY)
            os.dup2(silent, 1), os.dup2(silent, 2)
            import pytest

            code = int(pytest.main(args))
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124  # a mutant that hangs the tests counts as caught
        time.sleep(0.02)


def _subprocess_pytest(cwd: Path, command: list[str], timeout: float) -> int:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124  # a mutant that hangs the tests counts as caught
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument("target", type=Path, help="the source file to mutate (repo-relative)")
    parser.add_argument("pytest_args", nargs="*", help="after --: the tests to run")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    parser.add_argument(
        "--no-fork", action="store_true", help="a fresh interpreter per run (slower)"
    )
    parser.add_argument(
        "--head", action="store_true", help="mutate the last commit, not the working tree"
    )
    parser.add_argument(
        "--start", type=int, default=1, help="begin at mutant N (1-based), to resume a run"
    )
    parser.add_argument(
        "--lines",
        type=_line_numbers,
        default=frozenset(),
        help="only the mutants on these lines (comma-separated), to re-check survivors",
    )
    args = parser.parse_args(argv)
    if args.list:
        for mutant in mutants((ROOT / args.target).read_text()):
            if not args.lines or mutant.line in args.lines:
                print(f"{args.target}:{mutant.line}: {mutant.description}")
        return 0
    fork = not args.no_fork
    return run(args.target, args.pytest_args, args.timeout, fork, args.head, args.start, args.lines)


def _line_numbers(text: str) -> frozenset[int]:
    return frozenset(int(line) for line in text.split(","))


if __name__ == "__main__":
    sys.exit(main())
