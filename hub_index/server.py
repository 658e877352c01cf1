"""Running a hub: pypiserver for the files, the metadata API beside it, both on loopback.

pypiserver runs as its own process with upload authentication (htpasswd, ``-a update``),
``--disable-fallback`` (a name the hub does not have is a 404, never a redirect to a public
index) and sha256 fragments in its links. ``EmbeddedHub`` starts both and stops them when the
block (or the ``plugin-hub serve`` command) ends; the index process also dies with its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hub_client.errors import HubConfigError, HubUnavailableError
from hub_client.local_home import HubHome, ServeInfo
from hub_index.api import MAX_BODY_BYTES, READ_TIMEOUT_S
from hub_index.db import HubDatabase
from hub_index.home import check_private, write_serve_info
from hub_index.index_files import IndexFiles
from hub_index.metadata_repository import MetadataRepository
from hub_index.service import MAX_REBUILDS, MAX_USAGE_PER_MINUTE, HubService
from hub_index.signing import HubKeySigner

_PR_SET_PDEATHSIG = 1
_log = logging.getLogger("planexe.hub")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _check_port(host: str, port: int, option: str) -> None:
    """``HubConfigError`` naming ``option`` when ``port`` (0: any free one) cannot be bound
    on ``host`` (an IPv4 or IPv6 address or name of this machine)."""
    if port == 0:
        return
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise HubConfigError(
                f"cannot listen on {host}:{port}: the port is in use",
                f"Choose another port with {option}, or stop what listens there",
            ) from None
        raise HubConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "Give --host an address of this machine",
        ) from None


@contextmanager
def serving(home: HubHome) -> Iterator[None]:
    """Hold the home's serve lock for the block: one process serves a home at a time. A second
    one is refused with the running hub's address, and touches none of its files. The lock is
    on the home's folder itself (a lock file could be deleted, a settings file replaced). A
    home other local users can read is refused first (``check_private``)."""
    home.require()
    check_private(home)
    fd = os.open(home.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            where = ""
            with contextlib.suppress(HubConfigError):
                info = home.serve_info()
                where = f" (pid {info.pid}, api {info.api_url}, index {info.index_url})"
            raise HubConfigError(
                f"the hub at {home.root} is already being served{where}",
                "Use the running hub, or stop it before serving this home again",
            ) from None
        yield
    finally:
        os.close(fd)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def index_command(home: HubHome, host: str, port: int, backend: str = "simple-dir") -> list[str]:
    """pypiserver's command line. ``backend``: ``simple-dir`` (the default) reads the folder
    on every request, so what it lists is what is on disk; ``cached-dir`` caches the listing
    and follows the folder with watchdog (``bench/bench_hub_reuse.py`` compares them)."""
    return [
        sys.executable, "-m", "hub_index.index_main", str(home.served_manifest), "run",
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


def _stop(proc: subprocess.Popen[bytes], wait_s: float) -> None:
    """Ask ``proc`` to stop (SIGTERM), and kill it if it has not after ``wait_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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


def open_service(
    home: HubHome,
    index_url: str | None = None,
    max_rebuilds: int = MAX_REBUILDS,
    db: HubDatabase | None = None,
) -> HubService:
    """The hub's service over ``home``'s database, keys, policy and folders. ``index_url``:
    where its package index answers (else ``PLANEXE_HUB_INDEX_URL``, else the one the
    running hub wrote in its serve file)."""
    if index_url is None:
        index_url = os.environ.get("PLANEXE_HUB_INDEX_URL") or home.serve_info().index_url
    db = db or HubDatabase(home.settings().database_url)
    policy = home.policy()
    signer = HubKeySigner.from_file(home.signing_key)
    return HubService(
        db=db,
        policy=policy,
        verifier=policy.verifier(home.root),
        signer=signer,
        index_url=index_url,
        files=IndexFiles(home.packages, home.staging, home.revoked, home.served_manifest),
        metadata=MetadataRepository(db.metadata_store(), signer.tuf_signer()),
        work=home.work,
        max_rebuilds=max_rebuilds,
        max_usage_per_minute=int(
            os.environ.get("PLANEXE_HUB_USAGE_PER_MINUTE") or MAX_USAGE_PER_MINUTE
        ),
    )


MAX_CONNECTIONS = 4096
"""Connections the API holds at once, idle and half-sent ones included (uvicorn's
``limit_concurrency``; the next is answered 503). An idle connection costs the event loop a
few KiB and no thread, so many slow or silent clients cannot take every slot, as 64 did; a
connection that sends no whole request head within ``HEADERS_TIMEOUT_S`` is closed. Requests
run at most 40 at once all the same (the thread pool of the synchronous routes)."""


def _enough_open_files(needed: int) -> None:
    """Raise this process's soft limit of open files to ``needed`` where the hard one allows
    (the default of 1,024 would refuse connections before the API's own limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class UvicornThread:
    """An ASGI app under uvicorn on a thread of this process (one worker), with the hub's
    HTTP protocol and limits: the hub's API, or a benchmark's baseline app."""

    def __init__(self, app: object, sock: socket.socket, max_connections: int) -> None:
        import uvicorn

        from hub_index.api import GuardedHttpProtocol

        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            http=GuardedHttpProtocol,
            loop="auto",  # uvloop where installed (the hub's extra installs it)
            ws="none",  # the API takes no protocol upgrade (its protocol refuses them)
            log_level="warning",
            access_log=False,
            lifespan="off",
            limit_concurrency=max_connections,
            timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise HubUnavailableError("the hub's API (uvicorn) did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@contextmanager
def serve_api(
    home: HubHome,
    service: HubService | None,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int = 1,
    *,
    index_url: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    read_timeout_s: float = READ_TIMEOUT_S,
    max_connections: int | None = None,
) -> Iterator[str]:
    """The API (``hub_index/api.py``) for the block; its URL. One worker runs on a
    thread over ``service``; more run as uvicorn's worker processes, each opening ``home``
    (its database must then be one every process shares: PostgreSQL, or SQLite's file)."""
    max_connections = max_connections or MAX_CONNECTIONS
    _enough_open_files(max_connections + 256)
    if workers > 1:
        port = port or free_port(host)
    # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on every connection (for a socket of
    # protocol 0 it does not, and each answer then waits about 40 ms for a delayed ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    url = f"http://{host}:{sock.getsockname()[1]}"
    if workers <= 1:
        from hub_index.api import create_app

        if service is None:
            service = open_service(home, index_url)
        app = create_app(service, max_body_bytes=max_body_bytes, read_timeout_s=read_timeout_s)
        runner = UvicornThread(app, sock, max_connections)
        runner.start()
        try:
            yield url
        finally:
            runner.stop()
        return
    sock.close()  # uvicorn binds it again in its main process, for its workers to share
    env = {
        **os.environ,
        "PLANEXE_HUB_HOME": str(home.root),
        "PLANEXE_HUB_MAX_BODY_BYTES": str(max_body_bytes),
        "PLANEXE_HUB_READ_TIMEOUT_S": str(read_timeout_s),
    }
    if index_url is not None:
        env["PLANEXE_HUB_INDEX_URL"] = index_url
    command = [
        sys.executable, "-m", "uvicorn", "hub_index.api:app_from_environment", "--factory",
        "--host", host, "--port", str(port), "--workers", str(workers), "--no-access-log",
        "--http", "hub_index.api:GuardedHttpProtocol", "--loop", "auto", "--ws", "none",
        "--lifespan", "off", "--log-level", "warning", "--timeout-keep-alive", "5",
        "--limit-concurrency", str(max_connections),
    ]  # fmt: skip
    log = home.root / "api.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, preexec_fn=_die_with_parent,
        )  # fmt: skip
    try:
        _wait_ready(url + "/api/info", proc, log)
        yield url
    finally:
        _stop(proc, wait_s=15)


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
    max_connections: int | None = None,
    max_rebuilds: int = MAX_REBUILDS,
    workers: int = 1,
) -> Iterator[RunningHub]:
    """Run the hub of ``home`` for the duration of the block (port 0: a free port); the
    keyword options are the API's limits (see ``hub_index/api.py``). The API runs under
    uvicorn on a thread of this process, or as ``workers`` processes when more than one."""
    settings = home.require().settings()
    with serving(home):
        if index_port and index_port == api_port:
            raise HubConfigError(
                f"--index-port and --api-port are both {api_port}", "Give them different ports"
            )
        _check_port(host, index_port, "--index-port")
        _check_port(host, api_port, "--api-port")
        with _served(
            home, settings.database_url, host, index_port or free_port(host), api_port, backend,
            max_body_bytes, read_timeout_s, max_connections, max_rebuilds, workers,
        ) as running:  # fmt: skip
            yield running


@contextmanager
def _served(
    home: HubHome,
    database_url: str,
    host: str,
    index_port: int,
    api_port: int,
    backend: str,
    max_body_bytes: int,
    read_timeout_s: float,
    max_connections: int | None,
    max_rebuilds: int,
    workers: int,
) -> Iterator[RunningHub]:
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
    db = HubDatabase(database_url)
    try:
        _wait_ready(index_url + "/simple/", proc, log)
        db.upgrade()
        service = open_service(home, index_url, max_rebuilds, db)
        for line in service.reconcile():
            _log.warning("index: %s", line)
        with serve_api(
            home,
            service if workers <= 1 else None,
            host,
            api_port,
            workers,
            index_url=index_url,
            max_body_bytes=max_body_bytes,
            read_timeout_s=read_timeout_s,
            max_connections=max_connections or MAX_CONNECTIONS,
        ) as api_url:
            info = ServeInfo(api_url=api_url, index_url=index_url, pid=os.getpid())
            write_serve_info(home, info)
            yield RunningHub(home, api_url, index_url, service)
    finally:
        with contextlib.suppress(HubConfigError):  # only this process's own record
            if home.serve_file.is_file() and home.serve_info().pid == os.getpid():
                home.serve_file.unlink(missing_ok=True)
        _stop(proc, wait_s=10)
        db.close()
