"""The sandbox: starts an untrusted program isolated and bounded.

Plugin code below the trusted tiers runs only here: in a pipeline's plugin workers and in the
synthesizer's contract-test harness.

``BubblewrapSandbox`` starts the program under bubblewrap with every namespace unshared (no
network unless granted, own pid namespace, unprivileged uid), a filesystem made of read-only
binds of the system, the Python installation and the folders the caller names, and a private
``/tmp`` (tmpfs). bubblewrap itself starts with an empty environment, so nothing of the host's
environment is readable through ``/proc/1/environ``; the program gets only the variables the
caller names. Limits: CPU time, address space, file size and open files as rlimits (set with
``prlimit``), processes, memory (tmpfs included) and a CPU quota as a cgroup of its own; the
caller kills the process, and with it every process of the cgroup, when its time is up, and
can kill what it started beside its own processes (``end_strays``).

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
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from plan_pipeline.errors import SandboxUnavailableError

SANDBOX_UID = 65534
_HOST_PATH = "/usr/bin:/bin"
_GROUP_PREFIX = "planexe-sandbox-"
_ISOLATION = (
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
)
"""bubblewrap's namespaces, the same for the start-up probe and every sandboxed process."""
_NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl")


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed process (``wall_seconds``: per answer awaited)."""

    cpu_seconds: int = 60
    address_space_bytes: int = 2 * 1024**3
    memory_bytes: int = 1024**3
    max_processes: int = 32
    file_size_bytes: int = 32 * 1024**2
    open_files: int = 256
    wall_seconds: float = 90.0
    cpus: float = 1.0
    """Processor time per second the process and everything it starts may use together (a
    cgroup CPU quota, where the machine's cgroups offer the controller)."""

    def describe(self) -> str:
        """The limits a killed process may have reached, for error messages."""
        return (
            f"CPU time {self.cpu_seconds} s, memory {self.memory_bytes // 1024**2} MiB, "
            f"{self.max_processes} processes or file size {self.file_size_bytes // 1024**2} MiB"
        )

    def reached(self, signame: str, out_of_memory: bool) -> str:
        """Which limit a process killed by ``signame`` reached: the kernel sends SIGXCPU at
        the CPU time limit (SIGKILL a second later, for a process that ignores it), SIGXFSZ
        at the file size limit, and the cgroup's out-of-memory killer SIGKILL (processes
        over their limit fail to start instead)."""
        if signame == "SIGKILL" and out_of_memory:
            return f"it used its memory limit of {self.memory_bytes // 1024**2} MiB"
        if signame == "SIGXCPU":
            return f"it used its CPU time limit of {self.cpu_seconds} s"
        if signame == "SIGKILL":
            return (
                f"not out of memory: past its CPU time limit of {self.cpu_seconds} s with "
                "SIGXCPU ignored, or by its own code"
            )
        if signame == "SIGXFSZ":
            return f"it wrote past its file size limit of {self.file_size_bytes // 1024**2} MiB"
        return f"it crashed ({signame})"


@dataclass(frozen=True)
class Mount:
    """A host path visible in the sandbox at ``target``, read-only."""

    source: Path
    target: str


def signal_name(returncode: int) -> str | None:
    """The signal that ended a process (``-N`` from Popen, ``128 + N`` through bwrap's init)."""
    if returncode < 0:
        number = -returncode
    elif 128 < returncode < 160:
        number = returncode - 128
    else:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class SandboxProcess:
    """A started sandboxed process: pipes to its standard input and output, and a kill switch.

    Its standard error goes to an unlinked host file bounded by the file-size limit
    (``stderr_tail``), so a chatty program can neither block on a full pipe nor fill the disk.
    """

    def __init__(
        self, popen: subprocess.Popen[bytes], group: _Cgroup | None, stderr: IO[bytes]
    ) -> None:
        self.popen = popen
        self._group = group
        self._stderr = stderr
        self._own: set[int] = set()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def out_of_memory(self) -> bool:
        """Whether the cgroup's out-of-memory killer struck (read before ``kill``)."""
        return self._group is not None and self._group.oom_kills() > 0

    def keep_current(self) -> None:
        """Take the processes running now as this one's own: ``end_strays`` spares them."""
        if self._group is not None:
            self._own = self._group.pids()

    def end_strays(self) -> bool:
        """Kill every process of the cgroup but its own (what the program forked or left
        behind); False if some are still there after about a second (then kill it all)."""
        if self._group is None:
            return True
        for pause in _pauses():
            strays = self._group.pids() - self._own
            if not strays:
                return True
            for pid in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(pause)
        return not (self._group.pids() - self._own)

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the process wrote to standard error."""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", "replace")
        return ""

    def kill(self) -> int:
        """Kill the process and everything it started; its exit status."""
        if self._group is not None:
            self._group.kill_all()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        returncode = self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        if self._group is not None:
            self._group.remove()
            self._group = None
        with contextlib.suppress(OSError):
            self._stderr.close()
        return returncode


class Sandbox(Protocol):
    """Starts a program with the given mounts and environment under the given limits."""

    name: str
    isolated: bool
    """False only for ``UnsafeNoSandbox``: mounts are ignored and host paths are used."""

    def spawn(
        self,
        argv: Sequence[str],
        mounts: Sequence[Mount],
        env: Mapping[str, str],
        limits: SandboxLimits,
        *,
        network: bool = False,
    ) -> SandboxProcess: ...


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
    def sweep(cls, older_than_s: float = 60.0) -> None:
        """Remove empty sandbox cgroups left by processes that ended without cleaning up
        (a forked Luigi worker exits without running its exit handlers)."""
        now = time.time()
        for group in cls.ROOT.glob(f"*/{_GROUP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if now - group.stat().st_mtime > older_than_s and not (
                    (group / "cgroup.procs").read_text().strip()
                ):
                    group.rmdir()

    @classmethod
    def create(cls, limits: SandboxLimits) -> _Cgroup:
        cls.sweep()
        name = f"{_GROUP_PREFIX}{uuid.uuid4().hex[:12]}"
        pids_v1, memory_v1, cpu_v1 = cls.ROOT / "pids", cls.ROOT / "memory", cls.ROOT / "cpu"
        if (pids_v1 / "pids.max").exists() or (pids_v1 / "cgroup.procs").exists():
            dirs = [pids_v1 / name, memory_v1 / name]
            if (cpu_v1 / "cpu.cfs_quota_us").exists():
                dirs.append(cpu_v1 / name)
            try:
                for d in dirs:
                    d.mkdir()
                (dirs[0] / "pids.max").write_text(str(limits.max_processes))
                (dirs[1] / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
                if len(dirs) == 3:
                    (dirs[2] / "cpu.cfs_period_us").write_text(str(_CPU_PERIOD_US))
                    (dirs[2] / "cpu.cfs_quota_us").write_text(str(_quota_us(limits)))
            except OSError:
                _Cgroup([d for d in dirs if d.exists()]).remove()
                raise
            return cls(dirs)
        controllers = (cls.ROOT / "cgroup.controllers").read_text().split()
        if not {"pids", "memory"} <= set(controllers):
            raise OSError(0, "the cgroup v2 hierarchy lacks the pids or memory controller")
        group = cls.ROOT / name
        group.mkdir()
        try:
            (group / "pids.max").write_text(str(limits.max_processes))
            (group / "memory.max").write_text(str(limits.memory_bytes))
            (group / "memory.swap.max").write_text("0")
            if (group / "cpu.max").exists():
                (group / "cpu.max").write_text(f"{_quota_us(limits)} {_CPU_PERIOD_US}")
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

    def oom_kills(self) -> int:
        """How often the out-of-memory killer killed in this group."""
        for d in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError, ValueError):
                    for line in (d / name).read_text().splitlines():
                        key, _, count = line.partition(" ")
                        if key == "oom_kill":
                            return int(count)
        return 0

    def kill_all(self) -> None:
        """SIGKILL every process of the group until it is empty (at most about a second);
        the first checks come after a millisecond, as a killed process leaves at once."""
        for pause in _pauses():
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(pause)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for pause in _pauses():
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(pause)


_CPU_PERIOD_US = 100_000


def _quota_us(limits: SandboxLimits) -> int:
    return max(1000, int(limits.cpus * _CPU_PERIOD_US))


def _pauses(total_s: float = 1.0, longest_s: float = 0.02) -> Iterator[float]:
    """Pauses between retries: 1 ms, doubling up to ``longest_s``, about ``total_s`` in all."""
    pause, spent = 0.001, 0.0
    while spent < total_s:
        yield pause
        spent += pause
        pause = min(pause * 2, longest_s)


# -- runners ---------------------------------------------------------------------------------


def _prlimit_args(limits: SandboxLimits) -> list[str]:
    return [
        "prlimit",
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",  # SIGXCPU, then SIGKILL
        f"--as={limits.address_space_bytes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _start(
    command: list[str], group: _Cgroup | None, pass_fds: tuple[int, ...] = ()
) -> SandboxProcess:
    """Start ``command`` with pipes, a bounded standard error and an environment of ``PATH``
    alone, in ``/``: nothing of the host's working folder or variables reaches the sandbox's
    first process, whose environment a plugin can read."""
    if group is not None:
        # join the cgroup first, then exec: every descendant is counted and can be killed
        joins = " && ".join(f"echo $$ > {str(p)!r}" for p in group.procs_files())
        command = ["/bin/sh", "-c", f'{joins} && exec "$@"', "sandbox", *command]
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - SandboxProcess.kill closes it
    try:
        popen = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            start_new_session=True, close_fds=True, env={"PATH": _HOST_PATH}, cwd="/",
            pass_fds=pass_fds,
        )  # fmt: skip
    except OSError:
        stderr.close()
        if group is not None:
            group.remove()
        raise
    return SandboxProcess(popen, group, stderr)


def _arguments(args: Sequence[str]) -> int:
    """A descriptor to read ``args`` from, NUL-separated, as ``bwrap --args`` takes them."""
    fd = os.memfd_create("bwrap-args", os.MFD_CLOEXEC)
    os.write(fd, b"".join(a.encode() + b"\0" for a in args))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


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


def interpreter_mounts() -> list[Mount]:
    """The Python installation (interpreter and standard library) at its own path, read-only.

    Not the virtualenv and not its site-packages: a sandboxed program sees only the packages
    its caller mounts for it."""
    base = Path(sys.base_prefix).resolve()
    binary = Path(sys.executable).resolve()
    mounts = [Mount(base, str(base))]
    if not binary.is_relative_to(base):
        mounts.append(Mount(binary, str(binary)))
    return [m for m in mounts if not m.source.is_relative_to("/usr")]


def interpreter() -> str:
    """The real Python binary behind ``sys.executable`` (a virtualenv's link resolved)."""
    return str(Path(sys.executable).resolve())


_DETECTED: set[tuple[str, str]] = set()
"""The ``bwrap`` and ``prlimit`` pairs whose probe succeeded in this process."""


class BubblewrapSandbox:
    """bubblewrap namespaces + rlimits + a cgroup: the default, required sandbox."""

    name = "bubblewrap"
    isolated = True

    def __init__(self, bwrap: str) -> None:
        self.bwrap = bwrap

    @classmethod
    def detect(cls) -> BubblewrapSandbox:
        """The sandbox, or ``SandboxUnavailableError`` saying which isolation is missing.

        A successful probe is remembered for this process, per pair of ``bwrap`` and
        ``prlimit`` found on the path (each probe starts bubblewrap, about 13 ms)."""
        bwrap = shutil.which("bwrap")
        fix = (
            "Install bubblewrap (Debian package 'bubblewrap') and run as a user that may create "
            "namespaces and cgroups, or set PLANEXE_UNSAFE_NO_SANDBOX=1 to run plugins without "
            "isolation"
        )
        if bwrap is None:
            raise SandboxUnavailableError("sandbox unavailable: bwrap is not installed", fix)
        prlimit = shutil.which("prlimit")
        if prlimit is None:
            raise SandboxUnavailableError("sandbox unavailable: prlimit is not installed", fix)
        if (bwrap, prlimit) in _DETECTED:
            return cls(bwrap)
        probe = subprocess.run(
            [bwrap, *_ISOLATION, *_system_mounts(), "--", "/bin/true"],
            capture_output=True, text=True, check=False, env={"PATH": _HOST_PATH},
        )  # fmt: skip
        if probe.returncode != 0:
            reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "failed"
            raise SandboxUnavailableError(
                f"sandbox unavailable: bwrap cannot isolate: {reason}", fix
            )
        problem = _Cgroup.available()
        if problem:
            raise SandboxUnavailableError(f"sandbox unavailable: {problem}", fix)
        _DETECTED.add((bwrap, prlimit))
        return cls(bwrap)

    def spawn(
        self,
        argv: Sequence[str],
        mounts: Sequence[Mount],
        env: Mapping[str, str],
        limits: SandboxLimits,
        *,
        network: bool = False,
    ) -> SandboxProcess:
        args = [
            *_ISOLATION,
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
            *_system_mounts(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--chdir", "/tmp", "--clearenv",
        ]  # fmt: skip
        if network:
            args.append("--share-net")
            args += [a for f in _NETWORK_FILES if Path(f).exists() for a in ("--ro-bind", f, f)]
        for mount in mounts:
            args += ["--ro-bind", str(mount.source), mount.target]
        for key, value in sorted(env.items()):
            args += ["--setenv", key, value]
        # the arguments (host paths of the mounts among them) go through a descriptor, so the
        # sandbox's first process shows only "bwrap --args N -- ARGV": a plugin reading
        # /proc/1/cmdline learns nothing of the host, and the gate looks like production
        fd = _arguments(args)
        try:
            group = _Cgroup.create(limits)
            command = [*_prlimit_args(limits), self.bwrap, "--args", str(fd), "--", *argv]
            return _start(command, group, pass_fds=(fd,))
        finally:
            os.close(fd)


class UnsafeNoSandbox:
    """Runs the program as a plain subprocess with rlimits and an empty environment only:
    NO isolation. Mounts are ignored: the program sees the host as it is.

    For hosts without namespaces or cgroups, and only when the caller asks for it explicitly.
    """

    name = "unsafe-none"
    isolated = False

    def spawn(
        self,
        argv: Sequence[str],
        mounts: Sequence[Mount],
        env: Mapping[str, str],
        limits: SandboxLimits,
        *,
        network: bool = False,
    ) -> SandboxProcess:
        variables = [f"{key}={value}" for key, value in sorted(env.items())]
        return _start([*_prlimit_args(limits), "env", "-i", *variables, *argv], None)
