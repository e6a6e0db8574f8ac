"""Text for a character-level language model: read it, check it, encode it, batch it.

The vocabulary is the set of characters of the training text, sorted; a character's id is
its place in that list. The text splits as nanoGPT's: the first 90% of the characters
for training, the last 10% for validation. A batch is ``batch_size`` windows of
``block_size + 1`` consecutive characters at random places: the first ``block_size`` are
the input, and the same window shifted by one the targets (predict each next character).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refnet._atomic import atomic_write
from refnet._download import read_body
from refnet._typing import IntArray

__all__ = [
    "TextError",
    "Vocabulary",
    "download_tiny_shakespeare",
    "fingerprint",
    "get_batch",
    "read_text",
    "split",
]

TRAIN_FRACTION = 0.9

#: Karpathy's "tiny shakespeare", the text nanoGPT's recipe was tuned on.
TINY_SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
#: What is published about it (no checksum is): its length, its alphabet, its opening.
TINY_SHAKESPEARE_LENGTH = 1_115_394
TINY_SHAKESPEARE_DISTINCT = 65
TINY_SHAKESPEARE_OPENING = "First Citizen:\nBefore we proceed any further, hear me speak."
#: Seconds the whole download may take (the file is 1.1 MB; each read also has a timeout).
DOWNLOAD_DEADLINE = 300.0


class TextError(ValueError):
    """A text that cannot train or evaluate a model (empty, binary, unknown characters)."""


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text (UTF-8); ``TextError`` for a missing, empty or binary file."""
    file = Path(path)
    if not file.is_file():
        raise TextError(f"{file}: no such file")
    raw = file.read_bytes()
    if not raw:
        raise TextError(f"{file} is empty: a language model needs text to learn from")
    if b"\x00" in raw:
        raise TextError(f"{file} looks binary (it contains NUL bytes), not text")
    try:
        return raw.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as error:
        raise TextError(
            f"{file} is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows; ``chars[i]`` is the character of id ``i``."""

    chars: str

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls("".join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` outside the vocabulary, in order of appearance."""
        known = set(self.chars)
        return list(dict.fromkeys(c for c in text if c not in known))

    def encode(self, text: str) -> IntArray:
        """Ids of every character; ``TextError`` naming any character the model does not know."""
        missing = self.unknown(text)
        if missing:
            raise TextError(
                f"characters outside the model's vocabulary: {''.join(missing)!r} "
                f"(it knows {self.size}: {self.chars!r})"
            )
        return self._ids(text)

    def encode_known(self, text: str) -> tuple[IntArray, int]:
        """Ids of the characters the model knows, and how many were skipped."""
        known = set(self.chars)
        kept = "".join(c for c in text if c in known)
        return self._ids(kept), len(text) - len(kept)

    def _ids(self, text: str) -> IntArray:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.array([ord(c) for c in self.chars], dtype=np.uint32)
        return np.searchsorted(table, codes).astype(np.int64)

    def decode(self, ids: IntArray | list[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def split(ids: IntArray, fraction: float = TRAIN_FRACTION) -> tuple[IntArray, IntArray]:
    """The first ``fraction`` of the ids for training, the rest for validation."""
    cut = int(len(ids) * fraction)
    return ids[:cut], ids[cut:]


# --8<-- [start:batch]
def get_batch(
    ids: IntArray, block_size: int, batch_size: int, generator: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """``batch_size`` random windows: inputs (B, T) and the next characters (B, T)."""
    if len(ids) <= block_size:
        raise TextError(
            f"the text has {len(ids)} characters, too few for a context of {block_size} "
            "(use a longer text or a smaller --block-size)"
        )
    starts = generator.integers(0, len(ids) - block_size, size=batch_size)
    window = starts[:, None] + np.arange(block_size + 1)
    chunk = ids[window]
    return chunk[:, :-1], chunk[:, 1:]


# --8<-- [end:batch]


def fingerprint(text: str) -> str:
    """A short digest of the text, kept in checkpoints so --resume refuses another text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def default_cache() -> Path:
    """``$REFNET_DATA_DIR/shakespeare``, else ``$XDG_CACHE_HOME`` or ``~/.cache``'s ``refnet``."""
    configured = os.environ.get("REFNET_DATA_DIR")
    if configured:
        return Path(configured) / "shakespeare"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "refnet" / "shakespeare"


def check_tiny_shakespeare(text: str) -> None:
    """Refuse a download that is not tiny shakespeare as published (``TextError``)."""
    problems = []
    if len(text) != TINY_SHAKESPEARE_LENGTH:
        problems.append(f"{len(text)} characters, expected {TINY_SHAKESPEARE_LENGTH}")
    if len(set(text)) != TINY_SHAKESPEARE_DISTINCT:
        problems.append(f"{len(set(text))} distinct characters, expected 65")
    if not text.startswith(TINY_SHAKESPEARE_OPENING):
        problems.append("it does not open with 'First Citizen:'")
    if problems:
        raise TextError("the download is not tiny shakespeare: " + "; ".join(problems))


def download_tiny_shakespeare(
    directory: Path | None = None, url: str = TINY_SHAKESPEARE_URL
) -> Path:
    """The path of tiny shakespeare in the cache, downloaded first if it is not there.

    The bytes are checked (length, alphabet, opening) before they are written to a
    temporary file that is renamed into place: a failed, slow (more than
    :data:`DOWNLOAD_DEADLINE` seconds) or wrong download leaves nothing behind.
    """
    directory = directory or default_cache()
    path = directory / "input.txt"
    if path.is_file():
        check_tiny_shakespeare(read_text(path))
        return path
    directory.mkdir(parents=True, exist_ok=True)
    print(f"Downloading {url} to {path}", file=sys.stderr)
    try:
        raw = b"".join(read_body(url, timeout=30.0, deadline=DOWNLOAD_DEADLINE, chunk=1 << 16))
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise TextError(f"cannot download {url}: {error}") from error
    check_tiny_shakespeare(raw.decode("utf-8", errors="replace"))
    with atomic_write(path) as out:
        out.write(raw)
    return path
