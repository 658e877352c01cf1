"""One deadline for a whole HTTP exchange (``hub_client/http_deadline.py``)."""

from __future__ import annotations

import http.client
import time
from typing import Any

import pytest

from hub_client import http_deadline


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("http://[::1]/metadata/1.root.json", ("::1", 80)),
        ("https://[fe80::1234]/x", ("fe80::1234", 443)),
        ("http://127.0.0.1:8809/x", ("127.0.0.1", 8809)),
    ],
)
def test_the_connection_goes_to_the_urls_host_and_port(
    url: str, where: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An IPv6 host without a port is not read as host and port (its colons)."""
    seen: list[tuple[str, int]] = []

    class Refused(http.client.HTTPConnection):
        def __init__(self, host: str, port: int, **_: Any) -> None:
            seen.append((host, port))
            super().__init__(host, port)

        def request(self, *_: Any, **__: Any) -> None:
            raise ConnectionRefusedError("not here")

    monkeypatch.setattr(http.client, "HTTPConnection", Refused)
    monkeypatch.setattr(http.client, "HTTPSConnection", Refused)
    with pytest.raises(ConnectionRefusedError):
        http_deadline.get_within(url, time.monotonic() + 5, 1024)
    assert seen == [where]
