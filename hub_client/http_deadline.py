"""HTTP GET under one deadline for the whole exchange: connecting, the head and the body.

A socket timeout bounds each read, not their sum: a hub that sends one byte every few seconds
keeps a reader waiting for as long as it likes, in the head (``http.client`` reads it line by
line) or in the body. Here a timer shuts the connection's socket down when the deadline
passes, which ends whatever read is blocked, and the body is read in the pieces that arrive
(``read1``) so its size is checked as it grows.

Used for the client's downloads from the hub: the signed metadata (``metadata_client``, as
python-tuf's fetcher) and the wheels (``client``). Proxies from the environment are not
used: the hub is a private service the client reaches directly.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


class DeadlinePassedError(Exception):
    """The exchange did not finish within its deadline."""


class TooLargeError(Exception):
    """The body is larger than the cap."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


_CHUNK = 64 * 1024


def get_within(url: str, deadline: float, cap: int) -> Answer:
    """``GET url``, finished by ``deadline`` (a ``time.monotonic()`` value), its body at most
    ``cap`` bytes. ``DeadlinePassedError``, ``TooLargeError``, or ``OSError`` and
    ``http.client.HTTPException`` for a connection that fails otherwise."""
    parts = urlsplit(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlinePassedError(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    port = parts.port or (443 if parts.scheme == "https" else 80)  # an IPv6 host has colons
    connection = kind(parts.hostname or "", port, timeout=remaining)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(remaining, cut)
    timer.daemon = True
    timer.start()
    try:
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        connection.request("GET", target)
        response = connection.getresponse()
        chunks, size = [], 0
        while chunk := response.read1(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise TooLargeError(url)
            chunks.append(chunk)
        if expired.is_set():
            raise DeadlinePassedError(url)
        return Answer(response.status, b"".join(chunks))
    except (OSError, http.client.HTTPException):
        if expired.is_set() or time.monotonic() >= deadline:
            raise DeadlinePassedError(url) from None
        raise
    finally:
        timer.cancel()
        connection.close()
