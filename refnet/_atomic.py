"""Atomic file writes: the file at ``path`` is either the old one or the complete new one.

Checkpoints, downloads and IDX files are written to a temporary file in the destination's
directory and moved into place with ``os.replace``, which is atomic on POSIX and Windows
when both names are on one file system. An interrupted or failed write (an exception,
Ctrl-C) removes the temporary file and leaves any previous file untouched; a killed
process (SIGKILL) or a crash of the machine may leave a hidden ``.<name>.<pid>-<random>.tmp``
behind, never a half file under the real name, and the next successful write of that
name removes such leftovers of processes that no longer run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def temporary_path(path: Path) -> Path:
    """A fresh hidden name next to ``path`` (same directory, so ``os.replace`` is atomic),
    with the writer's process id, so a later writer can tell an abandoned one."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours (PermissionError), or the platform refuses
        return True
    return True


def remove_abandoned(path: Path) -> list[Path]:
    """Delete the temporary files of ``path`` whose writing process no longer runs."""
    removed = []
    for temp in path.parent.glob(f".{glob.escape(path.name)}.*-*.tmp"):
        owner = temp.name[len(path.name) + 2 :].split("-", 1)[0]
        if owner.isdigit() and not _running(int(owner)):
            with contextlib.suppress(OSError):
                temp.unlink()
                removed.append(temp)
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary binary file; on success, flush it to disk and move it to ``path``.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.bin"
    >>> with atomic_write(target) as f:
    ...     _ = f.write(b"complete")
    >>> target.read_bytes()
    b'complete'
    """
    target = Path(path)
    while True:
        temp = temporary_path(target)
        try:
            # Mode "x": never clobber a name another writer just drew; plain open() (unlike
            # tempfile.mkstemp's 0o600) gives the new file the usual umask permissions.
            file = open(temp, "xb")  # noqa: SIM115 (closed below, before the rename)
        except FileExistsError:
            continue
        break
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
        remove_abandoned(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
