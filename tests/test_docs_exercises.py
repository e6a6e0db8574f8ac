"""The textbook's exercises: every chapter listed has some, each with a checked solution.

An exercise is a paragraph starting ``**N.M Title.**`` (N the chapter's number, "2a") in the
chapter's ``## Exercises`` section, followed by a folded solution (``??? success
"Solution"``). The solutions' code runs with the rest of the page in
``test_docs_examples.py``; here we check that each solution has code that can fail: at
least one runnable Python block with an ``assert`` (or a ``check_module`` call, which
raises on a wrong gradient).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_docs_examples import fenced_blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"

# chapter number -> page; the chapters whose exercises are written so far.
CHAPTERS = {
    "1": "training-loop.md",
    "2": "chain-rule.md",
    "2a": "computational-graph.md",
    "3": "linear-and-activations.md",
    "3a": "initialisation.md",
    "4": "losses.md",
    "4a": "losses-worked-examples.md",
    "5": "convolution-and-pooling.md",
    "6": "optimizers.md",
    "7": "learning-rate.md",
    "7a": "regularisation.md",
    "8": "gradient-checking.md",
    "8a": "debugging.md",
    "9": "speed.md",
    "10": "fashion-mnist.md",
    "10a": "fashion-mnist-results.md",
    "11": "recurrent.md",
    "12": "attention.md",
    "13": "shakespeare.md",
    "14": "porting.md",
}
EXERCISE = re.compile(r"^\*\*(?P<number>\d+[a-z]?)\.(?P<item>\d+) [^*]+\*\*", re.M)
SOLUTION = '??? success "Solution"'


def exercises_section(page: Path) -> str:
    text = page.read_text(encoding="utf-8")
    assert "\n## Exercises\n" in text, f"{page.name} has no Exercises section"
    section = text.split("\n## Exercises\n", 1)[1]
    return section.split("\n## ", 1)[0]  # up to the next section, if any


def exercises(section: str) -> list[tuple[str, str]]:
    """``(number, text up to the next exercise)`` for each exercise of a section."""
    starts = list(EXERCISE.finditer(section))
    ends = [m.start() for m in starts[1:]] + [len(section)]
    return [
        (f"{m['number']}.{m['item']}", section[m.start() : end])
        for m, end in zip(starts, ends, strict=True)
    ]


def checks_something(solution: str) -> bool:
    for info, code, _ in fenced_blocks(solution):
        runnable = (info == "python" or info.startswith("python ")) and ".no-run" not in info
        if runnable and re.search(r"^\s*assert |check_module\(", code, re.M):
            return True
    return False


@pytest.mark.parametrize(("chapter", "name"), sorted(CHAPTERS.items()))
def test_chapter_has_exercises_with_checked_solutions(chapter: str, name: str) -> None:
    found = exercises(exercises_section(DOCS / name))
    assert len(found) >= 2, f"{name}: fewer than two exercises"
    numbers = [number for number, _ in found]
    assert numbers == [f"{chapter}.{k}" for k in range(1, len(found) + 1)], numbers
    for number, text in found:
        assert SOLUTION in text, f"{name}: exercise {number} has no folded solution"
        solution = text.split(SOLUTION, 1)[1]
        assert checks_something(solution), f"{name}: the solution of {number} checks nothing"


def test_the_parser_finds_exercises_and_their_checks() -> None:
    section = (
        "**1.1 One.** Do it.\n\n"
        + SOLUTION
        + "\n\n    ```python\n    assert 1 + 1 == 2\n    ```\n\n"
        "**1.2 Two.** Again.\n\n" + SOLUTION + "\n\n    ```python\n    x = 2\n    ```\n"
    )
    (first, one), (second, two) = exercises(section)
    assert (first, second) == ("1.1", "1.2")
    assert checks_something(one.split(SOLUTION)[1]) and not checks_something(two.split(SOLUTION)[1])
