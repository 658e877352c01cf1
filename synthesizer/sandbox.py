"""The sandbox: runs a plugin's tests against its built wheel, isolated and bounded.

``BubblewrapSandbox`` runs the command under bubblewrap with every namespace unshared (no
network, own pid namespace, unprivileged uid), a filesystem made of read-only binds of the
system and Python directories, the unpacked wheel and the tests, a private ``/tmp`` (tmpfs)
and one writable folder for results. Limits: CPU time, address space, file size and open
files as rlimits (set with ``prlimit``), processes and memory (tmpfs included) as a cgroup of
its own, and a wall-clock timeout after which every process of the cgroup is killed.

``BubblewrapSandbox.detect()`` checks what the host allows and raises
``SandboxUnavailableError`` when isolation is missing; running without it takes the explicitly
named ``UnsafeNoSandbox``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from synthesizer.errors import SandboxUnavailableError

SANDBOX_UID = 65534


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    cpu_seconds: int = 60
    address_space_bytes: int = 2 * 1024**3
    memory_bytes: int = 1024**3
    max_processes: int = 32
    file_size_bytes: int = 32 * 1024**2
    open_files: int = 256
    wall_seconds: float = 90.0


@dataclass(frozen=True)
class Mount:
    """A host folder visible in the sandbox at ``target`` (read-only unless ``writable``)."""

    source: Path
    target: str
    writable: bool = False


@dataclass
class SandboxResult:
    returncode: int
    output: str
    duration_s: float
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def signal_name(self) -> str | None:
        """The signal that ended the command (bwrap reports it as exit status 128 + N)."""
        number = -self.returncode if self.returncode < 0 else self.returncode - 128
        if self.returncode >= 0 and not 128 < self.returncode < 160:
            return None
        try:
            return signal.Signals(number).name
        except ValueError:
            return f"signal {number}"


class Sandbox(Protocol):
    """Runs a command with the given mounts and environment under the given limits."""

    name: str

    def run(
        self,
        argv: Sequence[str],
        mounts: Sequence[Mount],
        env: dict[str, str],
        limits: SandboxLimits,
        work: Path,
    ) -> SandboxResult: ...


# -- cgroups ---------------------------------------------------------------------------------


class _Cgroup:
    """A pids + memory cgroup (v1 controllers or the v2 unified hierarchy)."""

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs

    @classmethod
    def available(cls) -> str | None:
        """``None`` if a cgroup with pids and memory limits can be made here, else why not."""
        try:
            group = cls.create(SandboxLimits())
        except OSError as exc:
            return f"cannot create a cgroup with pids and memory limits: {exc.strerror or exc}"
        group.remove()
        return None

    @classmethod
    def create(cls, limits: SandboxLimits) -> _Cgroup:
        name = f"planexe-sandbox-{uuid.uuid4().hex[:12]}"
        pids_v1, memory_v1 = cls.ROOT / "pids", cls.ROOT / "memory"
        if (pids_v1 / "pids.max").exists() or (pids_v1 / "cgroup.procs").exists():
            pids, memory = pids_v1 / name, memory_v1 / name
            pids.mkdir()
            try:
                memory.mkdir()
                (pids / "pids.max").write_text(str(limits.max_processes))
                (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            except OSError:
                _Cgroup([pids, memory]).remove()
                raise
            return cls([pids, memory])
        controllers = (cls.ROOT / "cgroup.controllers").read_text().split()
        if not {"pids", "memory"} <= set(controllers):
            raise OSError(0, "the cgroup v2 hierarchy lacks the pids or memory controller")
        group = cls.ROOT / name
        group.mkdir()
        try:
            (group / "pids.max").write_text(str(limits.max_processes))
            (group / "memory.max").write_text(str(limits.memory_bytes))
            (group / "memory.swap.max").write_text("0")
        except OSError:
            _Cgroup([group]).remove()
            raise
        return cls([group])

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files():
            with contextlib.suppress(OSError):
                found |= {int(p) for p in procs.read_text().split()}
        return found

    def kill_all(self) -> None:
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


# -- runners ---------------------------------------------------------------------------------


def _prlimit_args(limits: SandboxLimits) -> list[str]:
    return [
        "prlimit",
        f"--cpu={limits.cpu_seconds}",
        f"--as={limits.address_space_bytes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _run_bounded(
    command: list[str],
    limits: SandboxLimits,
    work: Path,
    group: _Cgroup | None,
    env: dict[str, str] | None = None,
) -> SandboxResult:
    """Run ``command`` with output to a size-limited file and a wall-clock timeout."""
    out_path = work / "sandbox-output.txt"
    if group is not None:
        # join the cgroup first, then exec: every descendant is counted and can be killed
        joins = " && ".join(f"echo $$ > {str(p)!r}" for p in group.procs_files())
        command = ["/bin/sh", "-c", f'{joins} && exec "$@"', "sandbox", *command]
    started = time.perf_counter()
    timed_out = False
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )  # fmt: skip
        try:
            returncode = proc.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            if group is not None:
                group.kill_all()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
    duration = time.perf_counter() - started
    with out_path.open("rb") as f:  # at most the file-size limit
        output = f.read().decode("utf-8", "replace")
    return SandboxResult(returncode, output, duration, timed_out)


def _system_mounts() -> list[str]:
    args: list[str] = []
    for path in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(path)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), path]
        elif p.is_dir():
            args += ["--ro-bind", path, path]
    for path in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
        if Path(path).exists():
            args += ["--ro-bind", path, path]
    return args


def python_mounts() -> list[Mount]:
    """The running Python installation, its environment and any other site-packages folder on
    its path (added by .pth files), read-only at the same paths. Nothing else: source trees,
    run folders or a hub home on the path stay invisible to the sandbox."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for entry in sys.path:
        path = Path(entry).resolve() if entry else None
        if (
            path is not None
            and path.name in ("site-packages", "dist-packages")
            and path.is_dir()
            and not any(path.is_relative_to(r) for r in roots)
        ):
            roots.add(path)
    return [Mount(root, str(root)) for root in sorted(roots)]


class BubblewrapSandbox:
    """bubblewrap namespaces + rlimits + a cgroup: the default, required sandbox."""

    name = "bubblewrap"

    def __init__(self, bwrap: str) -> None:
        self.bwrap = bwrap

    @classmethod
    def detect(cls) -> BubblewrapSandbox:
        """The sandbox, or ``SandboxUnavailableError`` saying which isolation is missing."""
        bwrap = shutil.which("bwrap")
        fix = (
            "Install bubblewrap (Debian package 'bubblewrap') and run as a user that may create "
            "namespaces and cgroups, or pass the unsafe option to run the tests without a sandbox"
        )
        if bwrap is None:
            raise SandboxUnavailableError("sandbox unavailable: bwrap is not installed", fix)
        if shutil.which("prlimit") is None:
            raise SandboxUnavailableError("sandbox unavailable: prlimit is not installed", fix)
        probe = subprocess.run(
            [bwrap, "--unshare-all", "--die-with-parent", *_system_mounts(), "--", "/bin/true"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if probe.returncode != 0:
            reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "failed"
            raise SandboxUnavailableError(
                f"sandbox unavailable: bwrap cannot isolate: {reason}", fix
            )
        problem = _Cgroup.available()
        if problem:
            raise SandboxUnavailableError(f"sandbox unavailable: {problem}", fix)
        return cls(bwrap)

    def run(
        self,
        argv: Sequence[str],
        mounts: Sequence[Mount],
        env: dict[str, str],
        limits: SandboxLimits,
        work: Path,
    ) -> SandboxResult:
        args = [
            self.bwrap, "--unshare-all", "--die-with-parent", "--new-session",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
            *_system_mounts(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--chdir", "/tmp", "--clearenv",
        ]  # fmt: skip
        for mount in mounts:
            args += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
        for key, value in sorted(env.items()):
            args += ["--setenv", key, value]
        group = _Cgroup.create(limits)
        try:
            return _run_bounded([*_prlimit_args(limits), *args, "--", *argv], limits, work, group)
        finally:
            group.remove()


class UnsafeNoSandbox:
    """Runs the tests as a plain subprocess with rlimits only: NO isolation.

    For hosts without namespaces or cgroups, and only when the caller asks for it explicitly.
    Mount targets are mapped back to their host paths through the environment.
    """

    name = "unsafe-none"

    def run(
        self,
        argv: Sequence[str],
        mounts: Sequence[Mount],
        env: dict[str, str],
        limits: SandboxLimits,
        work: Path,
    ) -> SandboxResult:
        mapping = {m.target: str(m.source) for m in mounts}

        def host(value: str) -> str:
            for target, source in mapping.items():
                value = value.replace(target, source)
            return value

        command = [*_prlimit_args(limits), *(host(a) for a in argv)]
        full_env = {"PATH": "/usr/bin:/bin", **{k: host(v) for k, v in env.items()}}
        result = _run_bounded(command, limits, work, None, env=full_env)
        result.notes.append("ran WITHOUT a sandbox (unsafe option)")
        return result
