"""A client's hub settings and the hub's answers, taken as hostile: a URL or token a user
mistyped is one configuration error that never echoes the token; an address that redirects,
answers HTML or drips its answer is refused within the call's time, the token never sent on."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from hub_client.client import PluginHubClient, api_url
from hub_client.errors import HubConfigError, HubUnavailableError
from hub_index.home import export_client, init_home

SECRET = "s3cr3t-token-value"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("127.0.0.1:8809", "is not an http(s) address"),
        ("http://127.0.0.1:abc", "has no valid port"),
        ("http://127.0.0.1:99999", "has no valid port"),
        ("http://[::1", "is not a URL"),
        ("http://127.0.0.1:8809/a b", "spaces or control characters"),
        ("http://user:pw@127.0.0.1:8809", "holds credentials"),
    ],
)
def test_a_mistyped_hub_url_is_one_configuration_error(url: str, said: str) -> None:
    with pytest.raises(HubConfigError, match=re.escape(said)) as refused:
        api_url(url)
    assert refused.value.exit_code == 2
    assert "pw" not in str(refused.value)


@pytest.mark.parametrize("token", [f"{SECRET}\r", f" {SECRET}\n"])
def test_white_space_around_a_token_is_dropped(tmp_path: Path, token: str) -> None:
    client = PluginHubClient.from_env(_env(tmp_path, "http://127.0.0.1:9") | {
        "PLANEXE_HUB_TOKEN": token
    })  # fmt: skip
    assert client.token == SECRET


@pytest.mark.parametrize("token", [f"{SECRET}\r\nX-Evil: 1", f"{SECRET} more", "tökén"])
def test_a_token_no_hub_could_have_given_is_refused_without_echo(
    tmp_path: Path, token: str
) -> None:
    with pytest.raises(HubConfigError, match="PLANEXE_HUB_TOKEN holds characters") as refused:
        PluginHubClient.from_env(
            _env(tmp_path, "http://127.0.0.1:9") | {"PLANEXE_HUB_TOKEN": token}
        )
    assert SECRET not in str(refused.value) and "credentials.json" in str(refused.value)


class _Hostile(BaseHTTPRequestHandler):
    elsewhere: ClassVar[list[str]] = []
    """The Authorization headers that reached the redirect's target."""

    def _any(self) -> None:
        if self.path.startswith("/elsewhere"):
            _Hostile.elsewhere.append(self.headers.get("Authorization", ""))
            self._answer(200, b'{"granted": true, "index_url": "x"}')
        elif self.server.mode == "redirect":  # type: ignore[attr-defined]
            self.send_response(302)
            self.send_header("Location", "/elsewhere" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.server.mode == "html":  # type: ignore[attr-defined]
            self._answer(200, b"<html><body>not a hub</body></html>")
        else:  # drip: a byte a quarter second, for longer than any deadline
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.25)

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _any

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.mode = request.param  # type: ignore[attr-defined]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hostile.elsewhere = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    home = init_home(tmp_path / "hub")
    environ = export_client(home, tmp_path / "client", url, with_token=False)
    return environ | {"PLANEXE_HUB_TOKEN": SECRET}


@pytest.mark.parametrize("hostile", ["redirect"], indirect=True)
def test_a_redirect_is_refused_and_the_token_goes_nowhere_else(
    hostile: str, tmp_path: Path
) -> None:
    client = PluginHubClient.from_env(_env(tmp_path, hostile))
    with pytest.raises(HubConfigError, match="redirect"):
        client.check_setup(publish=True)
    with pytest.raises(HubConfigError, match="redirect"):
        client.release("a.b", "me")  # a write: the token would follow a redirect
    assert _Hostile.elsewhere == []  # nothing followed the redirect


@pytest.mark.parametrize("hostile", ["html"], indirect=True)
def test_an_address_answering_html_is_not_taken_for_the_api(hostile: str, tmp_path: Path) -> None:
    client = PluginHubClient.from_env(_env(tmp_path, hostile))
    with pytest.raises(HubConfigError) as refused:
        client.check_setup(publish=False)
    assert "PLANEXE_HUB_URL" in str(refused.value)


@pytest.mark.parametrize("hostile", ["drip"], indirect=True)
def test_an_answer_dripped_byte_by_byte_ends_at_the_calls_deadline(
    hostile: str, tmp_path: Path
) -> None:
    client = PluginHubClient.from_env(_env(tmp_path, hostile))
    started = time.monotonic()
    with pytest.raises(HubUnavailableError, match="did not finish its answer in time"):
        client._call("GET", "/api/info", timeout=1)
    assert time.monotonic() - started < 4  # the deadline and one read's timeout, not 10 s
