"""A download's body in chunks, with a timeout per read and a deadline for the whole.

``urlopen``'s timeout bounds each read only, so a server that sends a byte a second would
hold a download for weeks; :func:`read_body` also gives up once the whole transfer has
taken longer than its deadline, and when the body ends before its ``Content-Length``.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator


class TransferError(OSError):
    """The transfer was too slow or ended early (the server answered, the bytes did not come)."""


def read_body(url: str, *, timeout: float, deadline: float, chunk: int) -> Iterator[bytes]:
    """The body of ``url`` in pieces of at most ``chunk`` bytes.

    Raises :class:`TransferError` past ``deadline`` seconds or on a short body, and what
    ``urlopen`` raises (``URLError``, ``HTTPError``, timeouts: ``OSError`` all) otherwise.
    """
    give_up = time.monotonic() + deadline
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        while piece := response.read(chunk):
            received += len(piece)
            if time.monotonic() > give_up:
                raise TransferError(
                    f"too slow: {received} bytes in {deadline:.0f} s (a mirror trickling data)"
                )
            yield piece
    if length is not None and length.isdigit() and received != int(length):
        raise TransferError(f"incomplete download: got {received} of {length} bytes")
