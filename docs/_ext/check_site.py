"""Check a built site for broken internal links, images and anchors.

    mkdocs build --strict --site-dir SITE && python docs/_ext/check_site.py SITE

``mkdocs build --strict`` already rejects broken links between pages written in
Markdown; this also follows every ``src`` and ``href`` of the generated HTML (images,
the theme's and KaTeX's assets, API cross-references and their ``#anchors``). Absolute
paths are taken from the site root, as when the site is served from ``/``. A
cross-reference that the build could not resolve (``[name][refnet.x.y]`` for an object
no API page documents) stays in the page as its raw text, which no link check sees; that
is reported too. Exit status 1 if anything is missing.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

EXTERNAL = ("http", "https", "mailto", "data", "javascript")
UNRESOLVED = re.compile(r"\]\[(refnet\.[\w.]+)\]")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        for key in ("src", "href"):
            if values.get(key):
                self.refs.append(str(values[key]))


def check(site: Path) -> tuple[int, list[str]]:
    site = site.resolve()
    pages: dict[Path, _Page] = {}
    checked, broken = 0, []
    for path in site.rglob("*.html"):
        page = _Page()
        text = path.read_text(encoding="utf-8")
        page.feed(text)
        pages[path.resolve()] = page
        for name in UNRESOLVED.findall(text):
            broken.append(f"{path.relative_to(site)}: unresolved cross-reference {name}")
    for path, page in pages.items():
        for ref in page.refs:
            url = urlparse(ref)
            if url.scheme in EXTERNAL:
                continue
            if not url.path:
                target = path
            elif url.path.startswith("/"):
                target = (site / unquote(url.path).lstrip("/")).resolve()
            else:
                target = (path.parent / unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            where = f"{path.relative_to(site)}: {ref}"
            if not target.exists():
                broken.append(where)
            elif url.fragment and target in pages and url.fragment not in pages[target].ids:
                broken.append(where + " (no such anchor)")
    return checked, broken


def main() -> int:
    checked, broken = check(Path(sys.argv[1]))
    print(f"{checked} internal links and images checked, {len(broken)} broken")
    for item in broken:
        print(f"  {item}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
