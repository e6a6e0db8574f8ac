"""Every code example in the docs runs, and every formula renders.

* The ```` ```python ```` blocks of each page under ``docs/``, and of the README, run
  in order in one namespace per page (a page is read top to bottom, so its blocks may
  build on each other), in a temporary working directory. A block that is shown but
  deliberately not run is fenced ```` ```{.python .no-run} ````; keep those rare.
* Each ``$...$`` / ``$$...$$`` formula is rendered by the vendored KaTeX
  (``docs/assets/katex``) under Node with ``throwOnError``, so a typo fails here rather
  than showing red in the browser (skipped without ``node``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)\s*(?P<info>[^\n`]*)$")
NO_RUN = ".no-run"


def fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """``(info string, code, line number)`` of each fenced block, dedented."""
    blocks = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence) and lines[i].strip().strip(fence[0]) == ""
        ):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        blocks.append((info, "\n".join(body), start + 1))
        i += 1
    return blocks


def python_blocks(page: Path) -> list[tuple[str, int]]:
    """The runnable Python blocks of a page: info string ``python`` (with a title or
    options after it), not marked ``.no-run``."""
    blocks = fenced_blocks(page.read_text(encoding="utf-8"))
    return [
        (code, line)
        for info, code, line in blocks
        if (info == "python" or info.startswith("python ")) and NO_RUN not in info
    ]


RUNNABLE = [page for page in PAGES if python_blocks(page)]


def test_the_docs_have_examples() -> None:
    assert len(RUNNABLE) >= 8


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for code, line in python_blocks(page):
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(
                f"the block at {page.relative_to(ROOT)} line {line} failed: {error!r}"
            ) from error


def test_fence_parser() -> None:
    text = "a\n```python\nx = 1\n```\n\n    ```{.python .no-run}\n    y = 2\n    ```\n"
    assert fenced_blocks(text) == [("python", "x = 1", 3), ("{.python .no-run}", "y = 2", 7)]


# ---------------------------------------------------------------------- math

MATH = re.compile(r"\$\$(?P<display>.+?)\$\$|(?<![\\$])\$(?P<inline>[^$\n]+?)\$", re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def formulas(page: Path) -> list[tuple[str, bool]]:
    """``(tex, display)`` for each formula outside code blocks and code spans."""
    text = page.read_text(encoding="utf-8")
    for _, code, _ in fenced_blocks(text):
        text = text.replace(code, "")
    text = INLINE_CODE.sub("", text)
    return [
        (
            (m["display"] if m["display"] is not None else m["inline"]).strip(),
            m["display"] is not None,
        )
        for m in MATH.finditer(text)
    ]


KATEX_CHECK = """
const katex = require(process.argv[1]);
const items = JSON.parse(require("fs").readFileSync(0, "utf8"));
const errors = [];
for (const [tex, display] of items) {
  try { katex.renderToString(tex, { displayMode: display, throwOnError: true }); }
  catch (e) { errors.push(tex + "  ->  " + e.message); }
}
process.stdout.write(JSON.stringify(errors));
"""


def test_formulas_render_with_katex() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    items = [[tex, display] for page in PAGES for tex, display in formulas(page)]
    assert len(items) > 50, "the textbook should have formulas"
    result = subprocess.run(
        [node, "-e", KATEX_CHECK, str(DOCS / "assets" / "katex" / "katex.min.js")],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    errors = json.loads(result.stdout)
    assert not errors, "formulas KaTeX cannot render:\n" + "\n".join(errors)
