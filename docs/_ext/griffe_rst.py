"""A griffe extension: render refnet's reStructuredText-flavoured docstrings as Markdown.

refnet's docstrings are written to be read in the source (``help()``, an editor): they
use Sphinx roles (``:class:`Module```), ``::`` literal blocks for formulas and ``>>>``
doctests. mkdocstrings reads docstrings as Markdown, where those would show as raw
roles, a stray ``::`` and a triple block quote. Before the docstrings are parsed, this
extension rewrites, for every object of the package:

* a role ``:class:`target``` (any role) into an optional cross-reference to the object,
  shown as code (``~`` shows the last component only, as in Sphinx). Optional: a target
  without an API page (a private class, the example's modules) stays plain code, with
  no broken link;
* a paragraph ending in ``::`` and the indented block after it into the paragraph
  (ending in ``:``) and a fenced ``text`` block;
* a run of ``>>>`` lines with their output into a fenced ``pycon`` block.

Unicode mathematics (``∂L/∂x = G W``) needs nothing: it renders as written.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|obj|exc|const):`(~?)([^`]+)`")


def _resolve(obj: griffe.Object, target: str) -> str:
    """The full path of ``target`` seen from ``obj`` (as written if griffe cannot tell)."""
    if target.startswith(("refnet.", "numpy.")) or target == "refnet":
        return target
    scope: griffe.Object | None = obj
    head, _, rest = target.partition(".")
    while scope is not None:
        try:
            path = scope.resolve(head)
        except Exception:  # griffe raises NameResolutionError, or others for odd scopes
            scope = scope.parent
            continue
        return f"{path}.{rest}" if rest else path
    return target


def _roles(obj: griffe.Object, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        short, target = match.group(1) == "~", match.group(2).strip()
        shown = target.rsplit(".", 1)[-1] if short else target
        identifier = _resolve(obj, target)
        return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'

    return _ROLE.sub(replace, text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(text: str) -> str:
    """Fence ``::`` literal blocks and doctest runs (line-based, outside existing fences)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            out.append(line)
            i += 1
            continue
        if in_fence:
            out.append(line)
            i += 1
            continue
        if stripped.startswith(">>>"):
            base = _indent(line)
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][base:] if _indent(lines[i]) >= base else lines[i].strip())
                i += 1
            pad = " " * base
            out += [pad + "```pycon", *(pad + b for b in block), pad + "```"]
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            base = _indent(line)
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _indent(lines[j]) > base:
                head = line.rstrip()[:-2].rstrip()
                if head.strip():
                    out.append(head + ":")
                    out.append("")
                block_indent = _indent(lines[j])
                block: list[str] = []
                k = j
                while k < len(lines) and (
                    not lines[k].strip() or _indent(lines[k]) >= block_indent
                ):
                    block.append(lines[k][block_indent:])
                    k += 1
                while block and not block[-1].strip():
                    block.pop()
                    k -= 1
                pad = " " * base
                out += [pad + "```text", *(pad + b if b else "" for b in block), pad + "```"]
                i = k
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


def rewrite(obj: griffe.Object, text: str) -> str:
    """The Markdown form of one docstring."""
    return _roles(obj, _blocks(text))


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._visit(pkg, set())

    def _visit(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj, obj.docstring.value)
        for member in obj.members.values():
            if isinstance(member, griffe.Alias):
                continue
            self._visit(member, seen)
