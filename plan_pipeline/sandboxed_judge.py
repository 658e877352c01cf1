"""A trusted program run in the sandbox to judge untrusted data, one JSON line per question.

Judging a plugin's answer can cost what the answer chooses: jsonschema's ``uniqueItems`` is
quadratic in the items, a schema ``pattern`` can backtrack exponentially, a constraint can
build a huge string. In the host such a check has no bound (a regular expression does not
even stop for signals). Here the check runs in a sandboxed child under its limits and a wall
deadline per question; an answer that takes too long ends the child, which counts as a failed
check, and the next question starts a new one.

The program (a file of the standard library and the ``packages`` it is given, nothing of this
project) reads a first line ``{"path": [...], ...setup}``, puts ``path`` in front of
``sys.path`` and then answers every further line with one line.
"""

from __future__ import annotations

import json
import os
import select
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plan_pipeline.sandbox import (
    Mount,
    Sandbox,
    SandboxLimits,
    SandboxProcess,
    interpreter,
    interpreter_mounts,
    signal_name,
)

_ROOT = "/judge"
_LIB = f"{_ROOT}/lib"


class JudgeStopped(Exception):
    """The judge gave no answer; the message says why (its child was stopped)."""


class SandboxedJudge:
    """``program`` in ``sandbox``: started at once, restarted after it was stopped.

    ``files`` are more modules beside the program; ``packages`` are installed packages it
    imports (mounted read-only). ``close()`` stops it."""

    def __init__(
        self,
        program: Path,
        setup: dict[str, Any],
        sandbox: Sandbox,
        limits: SandboxLimits,
        *,
        files: Sequence[Path] = (),
        packages: Sequence[Path] = (),
        max_answer_bytes: int = 64 * 1024,
    ) -> None:
        self._program = program
        self._files = tuple(files)
        self._packages = tuple(packages)
        self._sandbox = sandbox
        self.limits = limits
        self._max_answer = max_answer_bytes
        self._setup = json.dumps({"path": self._paths(), **setup})
        self._process: SandboxProcess | None = None
        self._buffer = b""
        self.starts = 0
        self._start()

    def _paths(self) -> list[str]:
        if self._sandbox.isolated:
            return [_LIB, _ROOT]
        folders = [str(self._program.parent)]
        for path in (*self._files, *self._packages):
            if str(path.parent) not in folders:
                folders.append(str(path.parent))
        return folders

    def _start(self) -> None:
        if self._sandbox.isolated:
            mounts = [
                *interpreter_mounts(),
                *(Mount(p, f"{_ROOT}/{p.name}") for p in (self._program, *self._files)),
                *(Mount(p, f"{_LIB}/{p.name}") for p in self._packages),
            ]
            program = f"{_ROOT}/{self._program.name}"
        else:
            mounts, program = [], str(self._program)
        process = self._sandbox.spawn(
            [interpreter(), "-I", "-S", "-B", program], mounts, {}, self.limits
        )
        self._process, self._buffer = process, b""
        self.starts += 1
        self._finalizer = weakref.finalize(self, process.kill)  # a caller that forgot close()
        self._write(self._setup)

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> SandboxedJudge:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _stop(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        self._finalizer.detach()
        return process.kill()

    def ask(self, question: Any) -> Any:
        """The judge's answer to ``question`` (plain JSON), within ``limits.wall_seconds``.

        Raises ``JudgeStopped`` when there is none: the child is then stopped, and the next
        question starts a new one."""
        if self._process is None:
            self._start()
        try:
            line = json.dumps(question, allow_nan=False)
        except (ValueError, RecursionError) as exc:
            raise JudgeStopped(f"the question is not plain JSON: {exc}") from None
        try:
            self._write(line)
        except OSError:
            raise self._stopped("it stopped before it got the question", signal=True) from None
        deadline = time.monotonic() + self.limits.wall_seconds
        assert self._process is not None and self._process.popen.stdout is not None
        fd = self._process.popen.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._stopped(
                    f"it took longer than {self.limits.wall_seconds:g} s and was stopped"
                )
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._stopped(f"it stopped ({self.limits.describe()})", signal=True)
            self._buffer += chunk
            if len(self._buffer) > self._max_answer:
                raise self._stopped("it answered too much")
        answer, _, self._buffer = self._buffer.partition(b"\n")
        try:
            return json.loads(answer)
        except ValueError:
            raise self._stopped("its answer is not JSON") from None

    def wrong_shape(self, why: str) -> JudgeStopped:
        """Stop the child after an answer of the wrong shape (a bug of the program)."""
        self._stop()
        return JudgeStopped(f"its answer has the wrong shape ({why})")

    def _write(self, line: str) -> None:
        assert self._process is not None and self._process.popen.stdin is not None
        self._process.popen.stdin.write(line.encode("utf-8") + b"\n")
        self._process.popen.stdin.flush()

    def _stopped(self, why: str, *, signal: bool = False) -> JudgeStopped:
        status = self._stop()
        name = signal_name(status) if signal and status is not None else None
        return JudgeStopped(f"{why}, by {name}" if name else why)
