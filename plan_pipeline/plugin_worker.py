"""Sandboxed plugin workers: untrusted plugin code runs in its own isolated process.

A ``PluginWorker`` starts ``worker_main.py`` in the sandbox with nothing but the Python
installation, a runtime folder (its program, the plugin contract, ``pluggy``) and a library
folder holding the plugin's own packages and those of its requirements, both read-only, and
talks to it in JSON lines over its standard input and output. Every worker, in a gate as in
a pipeline, sees this one layout. It stays warm:
a stage that calls the plugin many times pays the start-up once.

A ``PrestartedWorker`` is started before its plugin is known, when a missing capability is
about to be fetched or synthesized: Python and pluggy load in the sandbox while the host
fetches and installs the plugin. Its library folder is a new empty folder of the host's,
mounted read-only; the plugin's own packages are copied in when it is handed over, so the
worker still sees nothing else. A plugin that needs more than pluggy gets a worker of its own.

Nothing the worker says is trusted. Every answer must arrive within the time limit, carry the
identifier of the request, stay under a size limit and be plain JSON; anything else kills the
worker (and everything it started) and raises ``PluginWorkerError``; an exception the plugin
raised comes back as ``PluginRunError``. The callers validate the
result itself (schemas, constraints) outside the worker.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata as metadata
import json
import os
import select
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from plan_pipeline.errors import PluginRunError, PluginWorkerError, one_line
from plan_pipeline.sandbox import (
    Mount,
    Sandbox,
    SandboxLimits,
    SandboxProcess,
    interpreter,
    interpreter_mounts,
    signal_name,
)

WORKER_MAIN = Path(__file__).with_name("worker_main.py")
HOOKSPECS = Path(__file__).with_name("hookspecs.py")
_RUNTIME_IN_SANDBOX = "/sandbox/runtime"
_MAIN_IN_SANDBOX = f"{_RUNTIME_IN_SANDBOX}/worker_main.py"
_HOOKSPECS_IN_SANDBOX = f"{_RUNTIME_IN_SANDBOX}/hookspecs.py"
_LIB_IN_SANDBOX = "/sandbox/lib"
_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LC_ALL": "C.UTF-8"}
_SKIPPED_SUFFIXES = (".dist-info", ".data", ".pth", ".egg-info")
MAX_ANSWER_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class WorkerPlugin:
    """What a worker loads: an entry point's target and the package folders it needs."""

    label: str
    """How errors name the plugin (distribution and version)."""
    target: str
    """``module`` or ``module:attribute``, as in the entry point."""
    packages: tuple[Path, ...]
    """Top-level packages and modules of the plugin and of everything it requires."""
    own: tuple[Path, ...] = ()
    """Those of the plugin's own distribution."""

    @classmethod
    def from_distribution(cls, dist: metadata.Distribution, target: str) -> WorkerPlugin:
        label = f"{dist.metadata['Name']} {dist.version}"
        own = tuple(_top_levels(dist, label).values())
        return cls(label, target, tuple(distribution_packages(dist, label)), own)


def distribution_packages(dist: metadata.Distribution, label: str) -> list[Path]:
    """The top-level packages and modules of ``dist`` and, recursively, of its requirements
    (found in the running environment), from their installed file lists."""
    found: dict[str, Path] = {}
    for current in requirement_closure(dist, label):
        for top, path in _top_levels(current, label).items():
            found.setdefault(top, path)
    return list(found.values())


def requirement_closure(dist: metadata.Distribution, label: str) -> list[metadata.Distribution]:
    """``dist`` and, recursively, the installed distributions it requires (markers evaluated
    here, no extras): what a worker of ``dist`` mounts. ``PluginWorkerError`` names the first
    requirement that is not installed."""
    found: list[metadata.Distribution] = []
    seen: set[str] = set()

    def visit(current: metadata.Distribution) -> None:
        name = canonicalize_name(current.metadata["Name"] or "")
        if name in seen:
            return
        seen.add(name)
        found.append(current)
        for requirement in _requirements(current):
            try:
                visit(metadata.distribution(requirement))
            except metadata.PackageNotFoundError:
                raise PluginWorkerError(
                    f"plugin {label} requires {requirement}, which is not installed",
                    f"Install {requirement} or uninstall the plugin",
                ) from None

    visit(dist)
    return found


def _top_levels(dist: metadata.Distribution, label: str) -> dict[str, Path]:
    """``dist``'s own top-level packages and modules, from its installed file list."""
    files = dist.files
    if files is None:
        name = canonicalize_name(dist.metadata["Name"] or "")
        raise PluginWorkerError(
            f"cannot isolate plugin {label}: the installed files of {name} are not listed "
            "(no RECORD)",
            "Reinstall it with pip or uv",
        )
    found: dict[str, Path] = {}
    for file in files:
        top = file.parts[0] if file.parts else ""
        if (
            not top
            or top in ("..", "__pycache__")
            or top.endswith(_SKIPPED_SUFFIXES)
            or Path(top).is_absolute()  # a RECORD line "/etc/passwd" would mount the host's /
        ):
            continue
        path = Path(str(dist.locate_file(top)))
        base = Path(str(dist.locate_file(""))).resolve()
        if path.is_symlink() or not path.resolve().is_relative_to(base):
            continue  # a link would bind whatever it points at (/etc) into the sandbox
        found.setdefault(top, path)
    return found


def _requirements(dist: metadata.Distribution) -> Iterable[str]:
    for line in dist.requires or []:
        with contextlib.suppress(InvalidRequirement):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                yield requirement.name


class PluginWorker:
    """One plugin in a warm sandboxed process; ``call`` sends a hook call and returns its result."""

    def __init__(
        self,
        plugin: WorkerPlugin,
        sandbox: Sandbox,
        limits: SandboxLimits | None = None,
        *,
        network: bool = False,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.plugin = plugin
        self.sandbox = sandbox
        self.limits = limits or SandboxLimits()
        self.network = network
        self.max_answer_bytes = max_answer_bytes
        self.starts = 0
        self._process: SandboxProcess | None = None
        self._loaded = False
        self._up = False
        self._staging: Path | None = None
        self._buffer = b""
        self._next_id = 0

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker (if it is not running) and wait until the plugin is imported.

        In the sandbox it sees what every worker sees (``_sandbox_layout``): the runtime
        folder, and a library folder into which the plugin's packages and those of its
        requirements other than the runtime's are linked or copied."""
        if self._process is None:
            if not self.sandbox.isolated:
                paths = sorted({str(p.parent) for p in self.plugin.packages})
                argv = [*_python(), str(WORKER_MAIN), str(HOOKSPECS), *paths]
                process = self.sandbox.spawn(argv, [], _ENV, self.limits, network=self.network)
                self._adopt(process, None)
            else:
                runtime = runtime_folder()
                library = _new_library()
                try:
                    _stage(
                        self.plugin,
                        [p for p in self.plugin.packages if p.name not in _runtime_names()],
                        library,
                    )
                    argv, mounts = _sandbox_layout(runtime, library)
                    process = self.sandbox.spawn(
                        argv, mounts, _ENV, self.limits, network=self.network
                    )
                except BaseException:
                    shutil.rmtree(library, ignore_errors=True)
                    raise
                self._adopt(process, library)
        if self._loaded:
            return
        process = self._alive()
        if not self._up:  # no plugin code ran yet: what runs now is the worker's own
            self._receive(-1, "start")
            process.keep_current()
            self._up = True
        load = json.dumps({"id": 0, "load": self.plugin.target})
        self._send((load + "\n").encode("utf-8"), "start", gone_ok=True)
        ready = self._receive(0, "start")
        if not ready.get("ok"):
            self._fail(f"could not load the plugin: {one_line(str(ready.get('error')))}", kill=True)
        self._end_strays("start")
        self._loaded = True

    def _adopt(self, process: SandboxProcess, staging: Path | None) -> None:
        """Take ``process``, a started worker still waiting for its plugin (``staging``: its
        library folder, removed when the worker stops)."""
        self._process, self._staging = process, staging
        self.starts += 1
        self._loaded, self._up, self._buffer, self._next_id = False, False, b"", 0

    def close(self) -> None:
        """Stop the worker and everything it started."""
        if self._process is not None:
            process, self._process = self._process, None
            self._stop(process)

    def _stop(self, process: SandboxProcess) -> None:
        process.kill()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __enter__(self) -> PluginWorker:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call ``hook`` of the plugin in the worker; its result, checked to be plain JSON."""
        self.start()
        self._end_strays("its previous call")  # what it started while idle, too
        self._next_id += 1
        ident = self._next_id
        request = json.dumps({"id": ident, "hook": hook, "kwargs": kwargs}, allow_nan=False)
        self._send((request + "\n").encode("utf-8"), hook)
        answer = self._receive(ident, hook)
        self._end_strays(hook)
        if not answer.get("ok"):
            raise PluginRunError(
                f"plugin {self.plugin.label} failed: {one_line(str(answer.get('error')))[:2000]}",
                "Fix the inputs or the plugin",
            )
        return answer.get("result")

    def describe(self, capability: str) -> Any:
        return self.call("planexe_describe", capability=capability)

    def run(self, capability: str, inputs: dict[str, Any], context: dict[str, Any]) -> Any:
        return self.call("planexe_run", capability=capability, inputs=inputs, context=context)

    # -- the pipes ---------------------------------------------------------------------------

    def _alive(self) -> SandboxProcess:
        if self._process is None:
            raise PluginWorkerError(f"the worker of plugin {self.plugin.label} is not running")
        return self._process

    def _send(self, data: bytes, what: str, *, gone_ok: bool = False) -> None:
        """Write ``data`` to the worker; ``gone_ok``: a worker that has exited is not an error
        here (its answer, read next, says why it stopped)."""
        process = self._alive()
        assert process.popen.stdin is not None
        fd = process.popen.stdin.fileno()
        os.set_blocking(fd, False)
        deadline = time.monotonic() + self.limits.wall_seconds
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._timeout(what)
            _, writable, _ = select.select([], [fd], [], remaining)
            if not writable:
                continue
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                continue
            except OSError:
                if gone_ok:
                    return
                self._fail(f"stopped while {what} was sent to it", kill=True, exited=True)
            view = view[written:]

    def _receive(self, ident: int, what: str) -> dict[str, Any]:
        process = self._alive()
        assert process.popen.stdout is not None
        fd = process.popen.stdout.fileno()
        deadline = time.monotonic() + self.limits.wall_seconds
        chunks, size = [self._buffer], len(self._buffer)
        while b"\n" not in chunks[-1]:
            if size > self.max_answer_bytes:
                limit = self.max_answer_bytes // 1024**2
                self._fail(f"answered {what} with more than {limit} MiB", kill=True)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._timeout(what)
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                self._fail(f"stopped before it answered {what}", kill=True, exited=True)
            chunks.append(chunk)
            size += len(chunk)
        line, _, self._buffer = b"".join(chunks).partition(b"\n")
        if len(line) > self.max_answer_bytes:
            limit = self.max_answer_bytes // 1024**2
            self._fail(f"answered {what} with more than {limit} MiB", kill=True)
        try:
            answer = json.loads(line, parse_constant=_refuse_constant, parse_float=_finite)
            json.dumps(answer, ensure_ascii=False).encode("utf-8")  # no lone surrogates
        except (ValueError, RecursionError, UnicodeError) as exc:
            self._fail(
                f"its answer to {what} is not plain JSON ({one_line(str(exc))})"[:300], kill=True
            )
        if not isinstance(answer, dict) or answer.get("id") != ident:
            self._fail(f"answered {what} with an answer to another request", kill=True)
        return answer

    def _end_strays(self, what: str) -> None:
        """Kill what the plugin started and left running after answering ``what`` (children,
        daemons): no process of a plugin outlives its answer to go on using the machine."""
        if not self._alive().end_strays():
            self._fail(f"kept starting processes after it answered {what}", kill=True)

    def _timeout(self, what: str) -> NoReturn:
        self._fail(
            f"did not answer {what} within {self.limits.wall_seconds:g} s and was stopped",
            kill=True,
        )

    def _fail(self, problem: str, *, kill: bool, exited: bool = False) -> NoReturn:
        """Stop the worker (when ``kill``) and raise; ``exited``: it stopped by itself, so its
        exit status and last error line are worth telling."""
        process = self._process
        detail = ""
        if process is not None and kill:
            self._process = None
            if exited:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.popen.wait(timeout=1)
            returncode = process.popen.poll()
            out_of_memory = process.out_of_memory()
            self._stop(process)
            if exited and returncode is not None:
                signame = signal_name(returncode)
                detail = (
                    f" (killed by {signame}: {self.limits.reached(signame, out_of_memory)})"
                    if signame
                    else f" (exit code {returncode})"
                )
                tail = process.stderr_tail().strip().splitlines()
                if tail:
                    detail += f": {one_line(tail[-1])[:300]}"
        raise PluginWorkerError(
            f"plugin {self.plugin.label}: its sandboxed worker {problem}{detail}",
            "Fix the plugin or its inputs; outputs written before are kept",
        )


def _python() -> list[str]:
    """The worker's interpreter, isolated from the environment and site-packages."""
    return [interpreter(), "-I", "-S", "-B"]


def _sandbox_layout(runtime: Path, library: Path) -> tuple[list[str], list[Mount]]:
    """The command and mounts of every sandboxed worker, in a gate as in a pipeline: Python,
    the runtime folder (the worker's program, the contract, pluggy) and a library folder of
    its own, nothing else. Both folders are staged under one kind of name in the system's
    temporary folder, so what a plugin can read of its mounts (``/proc/self/mountinfo``)
    does not tell a gate from production."""
    mounts = [
        *interpreter_mounts(),
        Mount(runtime, _RUNTIME_IN_SANDBOX),
        Mount(library, _LIB_IN_SANDBOX),
    ]
    argv = [
        *_python(),
        _MAIN_IN_SANDBOX,
        _HOOKSPECS_IN_SANDBOX,
        _RUNTIME_IN_SANDBOX,
        _LIB_IN_SANDBOX,
    ]
    return argv, mounts


@cache
def _runtime_packages() -> tuple[Path, ...]:
    return tuple(distribution_packages(metadata.distribution("pluggy"), "pluggy"))


def _runtime_names() -> frozenset[str]:
    return frozenset(p.name for p in _runtime_packages())


_RUNTIME: list[Path] = []


def runtime_folder() -> Path:
    """This process's runtime folder: the worker's program, the plugin contract and pluggy,
    linked or copied once (removed when the process ends, or by a later process's sweep)."""
    if _RUNTIME and _still_ours(_RUNTIME[0]):
        return _RUNTIME[0]
    folder = _new_library()
    try:
        for source in (WORKER_MAIN, HOOKSPECS, *_runtime_packages()):
            _copy_package(source, folder / source.name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _RUNTIME[:] = [folder]
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _still_ours(folder: Path) -> bool:
    """Whether ``folder`` is still the private folder this process made: a real folder of
    this user that nobody else may write (one that a cleaner removed and another local user
    made again under the same name is not)."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and stat.S_IMODE(info.st_mode) & 0o077 == 0
    )


def _new_library() -> Path:
    """A new folder, private to this user, for what a worker imports (read-only inside)."""
    sweep_libraries()
    return Path(tempfile.mkdtemp(prefix=f"{_LIBRARY_PREFIX}{os.getpid()}-"))


def _copy_package(package: Path, target: Path) -> None:
    """``package`` (a folder or a module) at ``target``, linked where the file system allows
    (symbolic links inside stay links: nothing outside is followed)."""
    if package.is_dir():
        shutil.copytree(
            package,
            target,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
            copy_function=_link_or_copy,
        )
    else:
        _link_or_copy(str(package), str(target))


def _stage(plugin: WorkerPlugin, packages: Iterable[Path], library: Path) -> None:
    """Link or copy ``packages`` into ``library``; ``PluginWorkerError`` when it fails."""
    try:
        for package in packages:
            _copy_package(package, library / package.name)
    except OSError as exc:
        raise PluginWorkerError(
            f"cannot stage plugin {plugin.label} for its worker: {exc}",
            "Reinstall the plugin with pip or uv",
        ) from None


class PrestartedWorker:
    """A sandboxed worker started before its plugin is known (see the module's docstring)."""

    def __init__(
        self, sandbox: Sandbox, limits: SandboxLimits | None = None, *, network: bool = False
    ) -> None:
        if not sandbox.isolated:
            raise PluginWorkerError("a worker can only be started early in a sandbox")
        self.sandbox = sandbox
        self.limits = limits or SandboxLimits()
        self.network = network
        self.runtime = _runtime_packages()
        runtime = runtime_folder()
        self.library = _new_library()
        """The host's folder (private to this user) the worker imports from, read-only inside:
        the handed-over plugin's own packages; removed when the worker stops, or by the next
        early worker on this machine once this process is gone."""
        argv, mounts = _sandbox_layout(runtime, self.library)
        try:
            self._process: SandboxProcess | None = sandbox.spawn(
                argv, mounts, _ENV, self.limits, network=network
            )
        except BaseException:
            shutil.rmtree(self.library, ignore_errors=True)
            raise

    def fits(self, plugin: WorkerPlugin, *, network: bool) -> bool:
        """Whether ``plugin`` runs here as it would in a worker of its own: it requires exactly
        the runtime (pluggy) beside its own packages, none of which shadows the runtime or is
        a symbolic link, and the network grant is the same."""
        own = set(plugin.own)
        return (
            self._process is not None
            and self._process.popen.poll() is None
            and network == self.network
            and set(plugin.packages) - own == set(self.runtime)
            and not {p.name for p in own} & {p.name for p in self.runtime}
            and not any(p.is_symlink() for p in own)
        )

    def hand_over(self, plugin: WorkerPlugin) -> PluginWorker:
        """A worker for ``plugin`` on this process: its own packages are linked or copied into
        the library folder (symbolic links inside them stay links: nothing outside is
        followed), and the plugin is imported on its first call. Any failure stops this
        worker and removes its folder."""
        process, self._process = self._process, None
        if process is None:
            raise PluginWorkerError("this early worker was handed over or stopped already")
        try:
            _stage(plugin, plugin.own, self.library)
        except BaseException:
            process.kill()
            shutil.rmtree(self.library, ignore_errors=True)
            raise
        worker = PluginWorker(plugin, self.sandbox, self.limits, network=self.network)
        worker._adopt(process, self.library)
        return worker

    def close(self) -> None:
        """Stop it, if it was not handed over."""
        if self._process is not None:
            process, self._process = self._process, None
            process.kill()
            shutil.rmtree(self.library, ignore_errors=True)


_LIBRARY_PREFIX = "planexe-worker-"


def sweep_libraries() -> None:
    """Remove early workers' folders left by processes of this user that are gone (killed, or
    ended without stopping their workers; the workers die with them, the folders stay)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_LIBRARY_PREFIX}*-*"):
        pid = folder.name.removeprefix(_LIBRARY_PREFIX).split("-", 1)[0]
        try:
            info = folder.lstat()
            if not pid.isdigit() or info.st_uid != os.geteuid() or not folder.is_dir():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, OverflowError):  # not ours to judge (another user's, no such pid)
            continue


def _link_or_copy(source: str, target: str) -> None:
    """A hard link (no data written) where the file system allows it, else a copy; a
    symbolic link is copied as a link, never followed."""
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not plain JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value
