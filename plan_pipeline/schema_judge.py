"""Data checked against JSON schemas at a bounded cost: here when that is cheap, else in the
sandbox under a deadline.

Stage data and plugin answers are hostile (a sandboxed plugin wrote them, or an upstream
stage's did), and a check's cost depends on them (see ``sandboxed_judge.py``). ``SchemaJudge``
checks in this process only what costs at most the data's size times a small constant: a
schema that ``checks_in_linear_time`` and an instance of at most ``HOST_CHECK_BYTES`` as JSON.
Everything else goes to its sandboxed child (started on first use), whose program,
``schema_judge_main.py``, sees jsonschema and nothing else of the host.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from plan_pipeline.plugin_worker import distribution_packages
from plan_pipeline.sandbox import Sandbox, SandboxLimits
from plan_pipeline.sandboxed_judge import JudgeStopped, SandboxedJudge
from plan_pipeline.schema_judge_main import problem_of
from plan_pipeline.schemas import checks_in_linear_time, validator

PROGRAM = Path(__file__).with_name("schema_judge_main.py")
HOST_CHECK_BYTES = 64 * 1024
"""The largest instance (as JSON) checked in this process, and only against a linear schema."""
JUDGE_LIMITS = SandboxLimits(
    cpu_seconds=120,
    address_space_bytes=4 * 1024**3,
    memory_bytes=2 * 1024**3,
    max_processes=8,
    file_size_bytes=1024**2,
    open_files=64,
    wall_seconds=10.0,
)
"""Limits of the schema judge; ``wall_seconds`` bounds the check of one instance (about a
million values against a plain schema: an answer much bigger than that fails its check)."""


@cache
def jsonschema_packages() -> tuple[Path, ...]:
    """jsonschema's installed packages and, recursively, those of what it requires."""
    return tuple(distribution_packages(metadata.distribution("jsonschema"), "jsonschema"))


class SchemaJudge:
    """Checks instances against schemas in a sandboxed child, started on the first check."""

    def __init__(
        self, sandbox: Sandbox | Callable[[], Sandbox], limits: SandboxLimits = JUDGE_LIMITS
    ) -> None:
        """``sandbox``: the sandbox of the child, or what gives it when the child starts
        (so that checks that stay here never need one)."""
        self._sandbox = sandbox
        self.limits = limits
        self._judge: SandboxedJudge | None = None
        self._validators: dict[str, Any] = {}

    def _here(self, schema: dict[str, Any]) -> Any:
        """The validator to check ``schema`` with in this process, or ``None``."""
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            self._validators[key] = validator(schema) if checks_in_linear_time(schema) else None
        return self._validators[key]

    @property
    def started(self) -> bool:
        return self._judge is not None

    def problem(self, instance: Any, schema: dict[str, Any]) -> str | None:
        """``instance``'s most relevant violation of ``schema`` as ``at PATH: message``, or
        ``None``; ``JudgeStopped`` when the check could not end (too slow, too big)."""
        here = self._here(schema)
        if here is not None and _json_size(instance) <= HOST_CHECK_BYTES:
            return problem_of(here, instance)
        if self._judge is None:
            sandbox = self._sandbox if not callable(self._sandbox) else self._sandbox()
            self._judge = SandboxedJudge(
                PROGRAM, {}, sandbox, self.limits, packages=jsonschema_packages()
            )
        answer = self._judge.ask({"schema": schema, "instance": instance})
        if not isinstance(answer, dict) or not isinstance(answer.get("problem"), str | None):
            raise self._judge.wrong_shape("no 'problem'")
        problem: str | None = answer["problem"]
        return problem

    def close(self) -> None:
        if self._judge is not None:
            self._judge.close()
            self._judge = None


def _json_size(instance: Any) -> int:
    """The size of ``instance`` as JSON, or more than any limit when it is not plain JSON."""
    try:
        return len(json.dumps(instance, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return HOST_CHECK_BYTES + 1


__all__ = ["JUDGE_LIMITS", "JudgeStopped", "SchemaJudge"]
