"""Atomic writes: a killed writer leaves at most a hidden temporary file, which the next
successful write of the same name removes (issue 17, item 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from refnet._atomic import atomic_write

KILLED_WRITER = """
import os, signal, sys
from refnet._atomic import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(b"half a checkpoint")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_a_killed_writers_leftover_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "latest.npz"
    target.write_bytes(b"the previous checkpoint")
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], check=False)
    assert result.returncode == -signal.SIGKILL
    leftovers = list(tmp_path.glob(".latest.npz.*.tmp"))
    assert len(leftovers) == 1 and target.read_bytes() == b"the previous checkpoint"
    live = tmp_path / f".latest.npz.{os.getpid()}-000000000000.tmp"  # a writer still running
    live.write_bytes(b"in progress")
    other = tmp_path / ".best.npz.1-000000000000.tmp"  # another file's: not ours to judge
    other.write_bytes(b"")
    with atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert not leftovers[0].exists()
    assert live.exists() and other.exists()
