"""Each textbook chapter as a Jupyter notebook, generated from the chapter's Markdown.

Writes ``docs/notebooks/<chapter>.ipynb`` (nbformat 4, no outputs) for every page of the
textbook section of ``mkdocs.yml``: each runnable ```` ```python ```` block becomes a
code cell, in order, and the text between them markdown cells. The site's own markup is
translated for Jupyter: snippet includes (``--8<--``) are replaced by what they include,
folded solutions (``??? success "Solution"``) become a bold "Solution" and their
content, API cross-references ``[text][refnet.x]`` become plain text, links to other
chapters point at their notebooks, links to the API pages and images at the site's
(``../api/...``, ``../figures/...``: right for a notebook opened from the site).

It is also an MkDocs hook (``hooks:`` in ``mkdocs.yml``): every build writes the
notebooks into the site's ``notebooks/`` and puts a download link at the top of each
chapter, so the notebooks are always those of the pages beside them and nothing
generated is committed. ``tests/test_docs_notebooks.py`` generates them and runs their
code cells in order.

Run: ``python docs/scripts/notebooks.py`` (into ``./notebooks/``; ``--out-dir`` to write
elsewhere).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import yaml

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
SNIPPET = re.compile(r'^(?P<indent>[ \t]*)--8<-- "(?P<target>[^"]+)"\s*$')
FENCE = re.compile(r"^```+\s*(?P<info>.*)$")
FOLD = re.compile(r'^\?\?\?\+?\s+\w+\s+"(?P<title>[^"]*)"\s*$')
CROSS_REFERENCE = re.compile(r"\[([^\]]+)\]\[[\w.]+\]")
CHAPTER_LINK = re.compile(r"\]\((?!https?:)([\w-]+)\.md(#[^)]*)?\)")
IMAGE = re.compile(r"\]\(figures/")
API_LINK = re.compile(r"\]\(api/([\w-]+)\.md(#[^)]*)?\)")


def textbook_pages() -> list[str]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    section = next(entry["The textbook"] for entry in config["nav"] if "The textbook" in entry)
    return [next(iter(item.values())) for item in section]


def included(target: str) -> list[str]:
    """The lines a snippet include names: a file, ``file:first:last`` or ``file:section``."""
    path, _, selector = target.partition(":")
    source = next(p for p in (ROOT / path, DOCS / path) if p.is_file())
    lines = source.read_text(encoding="utf-8").splitlines()
    if not selector:
        return lines
    if re.fullmatch(r"-?\d+:-?\d+", selector):  # 1-based; negative counts from the end
        first, last = (int(n) for n in selector.split(":"))
        return lines[first - 1 if first > 0 else first : last if last > 0 else len(lines) + last]
    marks = [f"--8<-- [start:{selector}]", f"--8<-- [end:{selector}]"]
    found = [next((i for i, line in enumerate(lines) if mark in line), None) for mark in marks]
    if None in found:  # as pymdownx.snippets: a section that is not there includes nothing
        print(f"warning: no section {selector!r} in {path}")
        return []
    return lines[found[0] + 1 : found[1]]


def resolve_snippets(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        match = SNIPPET.match(line)
        if match:
            out += [match["indent"] + part for part in included(match["target"])]
        else:
            out.append(line)
    return out


def unfold(lines: list[str]) -> list[str]:
    """``??? kind "Title"`` and its indented body -> ``**Title**`` and the body, dedented."""
    out: list[str] = []
    inside = False
    for line in lines:
        match = FOLD.match(line)
        if match:
            out.append(f"**{match['title']}**")
            inside = True
        elif inside and (line.startswith("    ") or not line.strip()):
            out.append(line[4:])
        else:
            inside = False
            out.append(line)
    return out


def for_jupyter(text: str) -> str:
    if FENCE.match(text) and ".no-run" in text:  # a shown-only block: plain Python
        return "```python"
    text = CROSS_REFERENCE.sub(r"\1", text)
    text = API_LINK.sub(lambda m: f"](../api/{m[1]}/{m[2] or ''})", text)  # the site's API pages
    text = CHAPTER_LINK.sub(lambda m: f"]({m[1]}.ipynb{m[2] or ''})", text)
    return IMAGE.sub("](../figures/", text)


def cell(kind: str, lines: list[str]) -> dict[str, Any]:
    source = "\n".join(lines).strip("\n")
    body = [line + "\n" for line in source.split("\n")]
    body[-1] = body[-1].rstrip("\n")
    if kind == "markdown":
        return {"cell_type": "markdown", "metadata": {}, "source": body}
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": body,
    }


def cells(markdown: str) -> list[dict[str, Any]]:
    """Markdown and code cells, in the page's order."""
    lines = unfold(resolve_snippets(markdown.splitlines()))
    result: list[dict[str, Any]] = []
    text: list[str] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        info = match["info"].strip() if match else ""
        runnable = (
            match and (info == "python" or info.startswith("python ")) and ".no-run" not in info
        )
        if not runnable:
            text.append(lines[i])
            i += 1
            continue
        j = i + 1
        while not lines[j].startswith("```"):
            j += 1
        if "\n".join(text).strip():
            result.append(cell("markdown", [for_jupyter(line) for line in text]))
        result.append(cell("code", lines[i + 1 : j]))
        text, i = [], j + 1
    if "\n".join(text).strip():
        result.append(cell("markdown", [for_jupyter(line) for line in text]))
    return result


def notebook(page: str) -> dict[str, Any]:
    return {
        "cells": cells((DOCS / page).read_text(encoding="utf-8")),
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(page: str) -> str:
    return json.dumps(notebook(page), indent=1, ensure_ascii=False) + "\n"


def write_notebooks(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for page in textbook_pages():
        target = out_dir / page.replace(".md", ".ipynb")
        target.write_text(render(page), encoding="utf-8")
        written.append(target)
    return written


# ---------------------------------------------------------------------- MkDocs hook


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """A download link at the top of each textbook chapter (raw HTML: the notebook is not
    a page, so MkDocs has no file to check the link against; the site check does)."""
    name = page.file.src_uri
    if name not in textbook_pages():
        return markdown
    href = f"../notebooks/{name.replace('.md', '.ipynb')}"
    link = (
        f'<p class="refnet-notebook"><a href="{href}" download>Open as a Jupyter notebook</a></p>'
    )
    heading, _, rest = markdown.partition("\n")
    return f"{heading}\n\n{link}\n{rest}" if heading.startswith("# ") else f"{link}\n\n{markdown}"


def on_post_build(config: Any) -> None:
    write_notebooks(Path(config["site_dir"]) / "notebooks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("notebooks"))
    args = parser.parse_args()
    written = write_notebooks(args.out_dir)
    print(f"wrote {len(written)} notebooks into {args.out_dir}")


if __name__ == "__main__":
    main()
