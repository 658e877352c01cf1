"""The spec's contract, checked by the trusted harness: output schema, constraints, goldens.

Nothing here runs plugin code: it judges the plain JSON answers the sandboxed worker gave.
The schema is checked in this process. The constraints are evaluated in a sandboxed child
(``constraint_child.py``) under its own limits: they are checked expressions of the contract
subset, but their cost depends on the plugin's output (``"-" * output.width``), so a hostile
output can at worst end that child, which then counts as a failed check.
"""

from __future__ import annotations

import json
import math
import os
import select
import time
import weakref
from pathlib import Path
from typing import Any

import jsonschema

from plan_pipeline.sandbox import (
    BubblewrapSandbox,
    Mount,
    Sandbox,
    SandboxLimits,
    SandboxProcess,
    interpreter,
    interpreter_mounts,
    signal_name,
)
from plan_pipeline.schemas import validator
from plan_pipeline.spec import PluginSpec
from synthesizer.expressions import ALLOWED_FUNCTIONS, MAX_RANGE, RANGE_FUNCTION, translate

EVALUATOR_LIMITS = SandboxLimits(
    cpu_seconds=30,
    address_space_bytes=1024**3,
    memory_bytes=512 * 1024**2,
    max_processes=8,
    file_size_bytes=1024**2,
    open_files=32,
    wall_seconds=2.0,
)
"""Limits of the constraint evaluator; ``wall_seconds`` bounds one output's check."""
_CHILD = Path(__file__).with_name("constraint_child.py")
_CHILD_TARGET = "/harness/constraint_child.py"
_MAX_ANSWER = 64 * 1024


class ContractCheck:
    """The spec's contract: schemas here, constraints in a sandboxed evaluator.

    ``sandbox`` runs the evaluator (the bubblewrap sandbox when not given); it starts at once,
    beside whatever the caller starts next. ``close()`` stops it.
    """

    def __init__(
        self,
        spec: PluginSpec,
        sandbox: Sandbox | None = None,
        limits: SandboxLimits = EVALUATOR_LIMITS,
    ) -> None:
        self.spec = spec
        self.output_validator = validator(spec.output_schema)
        self.constraints = list(spec.constraints)
        sources = [translate(text, {"input", "output"}) for text in self.constraints]
        for text, source in zip(self.constraints, sources, strict=True):
            compile(source, f"<constraint {text}>", "eval")  # fails here, not in the child
        self._evaluator = (
            _Evaluator(sources, sandbox or BubblewrapSandbox.detect(), limits) if sources else None
        )

    def close(self) -> None:
        if self._evaluator is not None:
            self._evaluator.close()

    def __enter__(self) -> ContractCheck:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def problems(self, inputs: Any, output: Any) -> list[str]:
        """What is wrong with ``output`` for ``inputs``; empty when it follows the contract."""
        if not isinstance(output, dict):
            return [f"the output is {type(output).__name__}, not a JSON object"]
        error = jsonschema.exceptions.best_match(self.output_validator.iter_errors(output))
        if error is not None:
            return [f"the output breaks the output schema at {error.json_path}: {error.message}"]
        if self._evaluator is None:
            return []
        verdicts = self._evaluator.evaluate(inputs, output)
        if isinstance(verdicts, str):
            return [f"the constraints cannot be evaluated for this output: {verdicts}"]
        found = []
        for text, verdict in zip(self.constraints, verdicts, strict=True):
            if isinstance(verdict, dict):
                error_name = str(verdict.get("error"))[:80]
                found.append(f"constraint {text!r} cannot be evaluated: {error_name}")
            elif verdict is not True:
                found.append(f"constraint does not hold: {text}")
        return found


class _Evaluator:
    """The sandboxed child that evaluates the constraints; restarted after it is stopped."""

    def __init__(self, sources: list[str], sandbox: Sandbox, limits: SandboxLimits) -> None:
        self._setup = json.dumps(
            {
                "functions": sorted(ALLOWED_FUNCTIONS),
                "range_function": RANGE_FUNCTION,
                "max_range": MAX_RANGE,
                "constraints": sources,
            }
        )
        self._count = len(sources)
        self._sandbox = sandbox
        self._limits = limits
        self._process: SandboxProcess | None = None
        self._buffer = b""
        self._start()

    def _start(self) -> None:
        if self._sandbox.isolated:
            mounts = [*interpreter_mounts(), Mount(_CHILD, _CHILD_TARGET)]
            program = _CHILD_TARGET
        else:
            mounts, program = [], str(_CHILD)
        process = self._sandbox.spawn(
            [interpreter(), "-I", "-S", program], mounts, {}, self._limits
        )
        self._process, self._buffer = process, b""
        self._finalizer = weakref.finalize(self, process.kill)  # a harness that forgot close()
        self._write(self._setup)

    def close(self) -> None:
        self._stop()

    def _stop(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        self._finalizer.detach()
        return process.kill()

    def evaluate(self, inputs: Any, output: Any) -> list[Any] | str:
        """One verdict per constraint (``True``, ``False`` or ``{"error": name}``), or why
        there is none (the child was stopped; the next call starts a new one)."""
        if self._process is None:
            self._start()
        try:
            self._write(json.dumps([inputs, output]))
        except (OSError, ValueError):
            return self._stopped("the evaluator stopped before it got the output", signal=True)
        deadline = time.monotonic() + self._limits.wall_seconds
        assert self._process is not None and self._process.popen.stdout is not None
        fd = self._process.popen.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._stopped(
                    f"they took longer than {self._limits.wall_seconds:g} s and were stopped"
                )
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return self._stopped(
                    f"the evaluator stopped ({self._limits.describe()})", signal=True
                )
            self._buffer += chunk
            if len(self._buffer) > _MAX_ANSWER:
                return self._stopped("the evaluator answered too much")
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            verdicts = json.loads(line)
        except ValueError:
            return self._stopped("the evaluator's answer is not JSON")
        if not isinstance(verdicts, list) or len(verdicts) != self._count:
            return self._stopped("the evaluator's answer has the wrong shape")
        return verdicts

    def _write(self, line: str) -> None:
        assert self._process is not None and self._process.popen.stdin is not None
        self._process.popen.stdin.write(line.encode("utf-8") + b"\n")
        self._process.popen.stdin.flush()

    def _stopped(self, why: str, *, signal: bool = False) -> str:
        status = self._stop()
        name = signal_name(status) if signal and status is not None else None
        return f"{why}, by {name}" if name else why


def same(actual: Any, expected: Any) -> bool:
    """JSON equality with floats compared to a relative 1e-9 and bools never equal to numbers."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, float):
        return isinstance(actual, int | float) and math.isclose(actual, expected, rel_tol=1e-9)
    if isinstance(actual, float):  # an integer expected: only the same integer, exactly
        return isinstance(expected, int) and actual.is_integer() and int(actual) == expected
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same(actual[k], expected[k]) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected) and type(actual) is type(expected)
