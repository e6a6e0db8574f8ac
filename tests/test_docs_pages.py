"""What a reader of the textbook sees: titles that match the navigation, and pages free of
the project's internals.

* Each textbook page's title carries the number the navigation gives it ("4a. ...").
* No page refers to the project's tracker ("issue 7") or to a folder on the machine the
  docs were written on (``/work/...``, ``../shared/data``): a reader has neither.
* Teaching code touches public API only: no ``layer._x`` or ``self._saved`` in a page's
  code blocks, since a learner copies what the book shows.
* A runnable code line is at most 88 characters, so it does not need a scroll bar.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.test_docs_examples import fenced_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

# Pages that still break a rule below, each named with the rule; they belong to other
# pieces of work and are listed so that the test says so instead of passing silently.
# strict: once a page is fixed, its entry must go.
KNOWN: dict[tuple[str, str], str] = {}


def textbook_nav() -> list[tuple[str, str]]:
    """``(title, page)`` of the textbook section of mkdocs.yml's nav."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    section = next(entry["The textbook"] for entry in config["nav"] if "The textbook" in entry)
    return [next(iter(item.items())) for item in section]


def known(page: Path, rule: str) -> list[pytest.MarkDecorator]:
    reason = KNOWN.get((page.name, rule))
    return [] if reason is None else [pytest.mark.xfail(reason=reason, strict=True)]


def prose(page: Path) -> str:
    return page.read_text(encoding="utf-8")


@pytest.mark.parametrize(("title", "name"), textbook_nav(), ids=lambda v: str(v))
def test_page_title_carries_the_nav_number(title: str, name: str) -> None:
    number = title.split(" ", 1)[0]
    assert re.fullmatch(r"\d+[a-z]?\.", number), f"nav title {title!r} has no number"
    first_heading = next(line for line in prose(DOCS / name).splitlines() if line.startswith("# "))
    assert first_heading.startswith(f"# {number} "), f"{name}: {first_heading!r} vs nav {title!r}"


INTERNAL = re.compile(r"\b[Ii]ssues? #?\d+\b")
MACHINE = re.compile(r"/work/|\.\./shared/|/tmp/\w|/home/\w")


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=known(p, "internal"), id=p.name) for p in PAGES],
)
def test_no_tracker_references(page: Path) -> None:
    found = INTERNAL.findall(prose(page))
    assert not found, f"{page.name} refers to the tracker: {found}"


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=known(p, "machine"), id=p.name) for p in PAGES],
)
def test_no_machine_paths(page: Path) -> None:
    found = MACHINE.findall(prose(page))
    assert not found, f"{page.name} names folders of the docs' machine: {found}"


PRIVATE = re.compile(r"\b\w+\._[a-z]\w*")  # obj._name (not obj.__dunder__)


def private_uses(page: Path) -> list[str]:
    uses = []
    for info, code, _ in fenced_blocks(prose(page)):
        if "python" in info:
            uses += [m for m in PRIVATE.findall(code) if not m.startswith(("np._", "self.__"))]
    return uses


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=known(p, "private"), id=p.name) for p in PAGES],
)
def test_teaching_code_uses_public_api(page: Path) -> None:
    found = private_uses(page)
    assert not found, f"{page.name} teaches private attributes: {sorted(set(found))}"


WIDTH = 88  # characters of code that fit the content column without a scroll bar


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=known(p, "width"), id=p.name) for p in PAGES],
)
def test_runnable_code_lines_are_not_too_wide(page: Path) -> None:
    wide = [
        f"line {start + k}: {len(line)} characters"
        for info, code, start in fenced_blocks(prose(page))
        if "python" in info and ".no-run" not in info
        for k, line in enumerate(code.split("\n"))
        if len(line) > WIDTH
    ]
    assert not wide, f"{page.name}: {wide}"


def test_the_rules_see_what_they_look_for() -> None:
    assert INTERNAL.search("as issue 7 says") and not INTERNAL.search("an issue with it")
    assert MACHINE.search("--data-dir /work/shared/data") and not MACHINE.search("docs/figures")
    assert PRIVATE.findall("y = layer._x + act._cache") == ["layer._x", "act._cache"]
    assert not PRIVATE.findall("x.__class__, layer.weight")


SNIPPET_LINES = re.compile(r'^--8<-- "(?P<path>[^":]+):(?P<start>\d+):(?P<end>\d+)"', re.M)


def whole_definitions(path: Path) -> set[tuple[int, int]]:
    """``(first line, last line)`` of every function and class in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def test_source_is_included_by_named_sections() -> None:
    """A ``--8<-- "file.py:108:123"`` include names lines, which drift when the file
    changes (chapter 3's did); a named section (``# --8<-- [start:name]`` in the source)
    moves with its code. So pages quote Python source by section only; a line range that
    still is exactly one definition is reported too, with the section to use instead."""
    ranges = []
    for page in PAGES:
        for match in SNIPPET_LINES.finditer(prose(page)):
            if match["path"].endswith(".py"):
                span = (int(match["start"]), int(match["end"]))
                whole = span in whole_definitions(ROOT / match["path"])
                ranges.append(f"{page.name}: {match['path']} lines {span} (whole: {whole})")
    assert not ranges, f"use a named section instead of lines: {ranges}"
