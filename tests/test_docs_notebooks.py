"""Every textbook chapter as a Jupyter notebook (docs/scripts/notebooks.py), checked.

* Each notebook is valid nbformat 4 (the keys Jupyter requires, no outputs).
* Its code cells are exactly the chapter's runnable Python blocks, in order, so the
  docs test that runs those blocks runs the notebook's code too; two chapters' notebooks
  are also run here as notebooks, cell after cell in one namespace.
* The text survives the translation: no snippet include, folded-solution marker or API
  cross-reference is left for Jupyter to show raw, and links to chapters point at their
  notebooks.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest

from tests.test_docs_examples import python_blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCRIPT = runpy.run_path(str(DOCS / "scripts" / "notebooks.py"))
PAGES: list[str] = SCRIPT["textbook_pages"]()


def notebook(page: str) -> dict[str, Any]:
    return json.loads(SCRIPT["render"](page))


def source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("page", PAGES)
def test_notebook_is_the_chapter(page: str) -> None:
    nb = notebook(page)
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        assert cell["cell_type"] in {"markdown", "code"} and isinstance(cell["source"], list)
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    code = [source(c) for c in nb["cells"] if c["cell_type"] == "code"]
    assert code == [block.strip("\n") for block, _ in python_blocks(DOCS / page)]
    text = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    for leftover in ("--8<--", '??? success "', "][refnet.", ".md)", ".md#", ".no-run"):
        assert leftover not in text, f"{page}: {leftover!r} left in the notebook's text"


@pytest.mark.parametrize("page", ["chain-rule.md", "computational-graph.md"])
def test_notebook_runs(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for k, cell in enumerate(c for c in notebook(page)["cells"] if c["cell_type"] == "code"):
        exec(compile(source(cell), f"{page} cell {k}", "exec"), namespace)


def test_the_site_links_each_chapter_to_its_notebook() -> None:
    from types import SimpleNamespace

    def page(name: str) -> SimpleNamespace:
        return SimpleNamespace(file=SimpleNamespace(src_uri=name))

    out = SCRIPT["on_page_markdown"]("# 2. Title\n\ntext", page("chain-rule.md"), None, None)
    assert out.startswith("# 2. Title\n") and 'href="../notebooks/chain-rule.ipynb"' in out
    about = SCRIPT["on_page_markdown"]("# About", page("about-these-docs.md"), None, None)
    assert about == "# About"
