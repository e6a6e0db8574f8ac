"""Where the tests find the real FashionMNIST 8k subset (``REFNET_TEST_DATA`` overrides)."""

from __future__ import annotations

import os
from pathlib import Path


def real_subset() -> Path | None:
    """The subset's directory, or ``None`` when it is not on this machine."""
    configured = os.environ.get("REFNET_TEST_DATA")
    repo = Path(__file__).resolve().parents[1]
    candidates = (
        [Path(configured)]
        if configured
        else [
            repo.parent / "shared" / "data" / "fashion-mnist-head8k",
            Path("/work/shared/data/fashion-mnist-head8k"),
        ]
    )
    return next((c for c in candidates if (c / "train-images-idx3-ubyte.gz").is_file()), None)


REAL = real_subset()
