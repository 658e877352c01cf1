"""Running a hub: pypiserver for the files, the metadata API beside it, both on loopback.

pypiserver runs as its own process with upload authentication (htpasswd, ``-a update``),
``--disable-fallback`` (a name the hub does not have is a 404, never a redirect to a public
index) and sha256 fragments in its links. ``EmbeddedHub`` starts both and stops them when the
block (or the ``plugin-hub serve`` command) ends; the index process also dies with its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hub_index.api import MAX_BODY_BYTES, MAX_CONNECTIONS, READ_TIMEOUT_S, ApiServer
from hub_index.db import HubDatabase
from hub_index.errors import HubUnavailableError
from hub_index.home import HubHome, ServeInfo, write_serve_info
from hub_index.index_files import IndexFiles
from hub_index.metadata_repository import MetadataRepository
from hub_index.service import MAX_REBUILDS, HubService
from hub_index.signing import HubKeySigner

_PR_SET_PDEATHSIG = 1
_log = logging.getLogger("planexe.hub")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def index_command(home: HubHome, host: str, port: int, backend: str = "simple-dir") -> list[str]:
    """pypiserver's command line. ``backend``: ``simple-dir`` (the default) reads the folder
    on every request, so what it lists is what is on disk; ``cached-dir`` caches the listing
    and follows the folder with watchdog (``bench/bench_hub_reuse.py`` compares them)."""
    return [
        sys.executable, "-m", "pypiserver", "run",
        "--host", host, "--port", str(port),
        "--passwords", str(home.htpasswd), "--authenticate", "update",
        "--disable-fallback", "--hash-algo", "sha256", "--backend", backend,
        str(home.packages),
    ]  # fmt: skip


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise HubUnavailableError(
                f"the package index exited at start (code {proc.returncode}): {' | '.join(tail)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise HubUnavailableError(f"the package index did not answer at {url} within {timeout:.0f} s")


@dataclass(frozen=True)
class RunningHub:
    home: HubHome
    api_url: str
    index_url: str
    service: HubService | None = field(default=None, repr=False, compare=False)
    """The service behind the API (in this process)."""

    @property
    def simple_url(self) -> str:
        return self.index_url.rstrip("/") + "/simple/"


@contextmanager
def embedded_hub(
    home: HubHome,
    host: str = "127.0.0.1",
    index_port: int = 0,
    api_port: int = 0,
    backend: str = "simple-dir",
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    read_timeout_s: float = READ_TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
    max_rebuilds: int = MAX_REBUILDS,
) -> Iterator[RunningHub]:
    """Run the hub of ``home`` for the duration of the block (port 0: a free port); the
    keyword options are the API's limits (see ``hub_index/api.py``)."""
    home.require()
    settings = home.settings()
    index_port = index_port or free_port(host)
    log = home.root / "index.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            index_command(home, host, index_port, backend),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    index_url = f"http://{host}:{index_port}"
    db = HubDatabase(settings.database_url)
    api: ApiServer | None = None
    try:
        _wait_ready(index_url + "/simple/", proc, log)
        db.upgrade()
        policy = home.policy()
        signer = HubKeySigner.from_file(home.signing_key)
        service = HubService(
            db=db,
            policy=policy,
            verifier=policy.verifier(home.root),
            signer=signer,
            index_url=index_url,
            files=IndexFiles(home.packages, home.staging, home.revoked),
            metadata=MetadataRepository(db.metadata_store(), signer.tuf_signer()),
            work=home.work,
            max_rebuilds=max_rebuilds,
        )
        for line in service.reconcile():
            _log.warning("index: %s", line)
        api = ApiServer(
            service,
            host,
            api_port,
            max_body_bytes=max_body_bytes,
            read_timeout_s=read_timeout_s,
            max_connections=max_connections,
        ).start()
        write_serve_info(home, ServeInfo(api_url=api.url, index_url=index_url, pid=os.getpid()))
        yield RunningHub(home, api.url, index_url, service)
    finally:
        if api is not None:
            api.stop()
        home.serve_file.unlink(missing_ok=True)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        db.close()
