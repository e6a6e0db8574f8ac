"""docs/_ext/check_site.py finds what a built site lacks: a missing page or image, a
missing anchor, and a cross-reference the build left unresolved as raw text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "_ext" / "check_site.py"


def test_broken_links_anchors_and_unresolved_references_are_reported(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("check_site", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text('<h2 id="here">A</h2><img src="../b.png">')
    (tmp_path / "index.html").write_text(
        '<a href="a/">ok</a> <a href="a/#here">ok</a> <a href="a/#gone">no</a> '
        '<a href="missing/">no</a> <p>see [`f`][refnet.nn.f]</p> <a href="https://x">out</a>'
    )
    checked, broken = module.check(tmp_path)
    assert checked == 5
    assert sorted(broken) == sorted(
        [
            "a/index.html: ../b.png",
            "index.html: a/#gone (no such anchor)",
            "index.html: missing/",
            "index.html: unresolved cross-reference refnet.nn.f",
        ]
    )
