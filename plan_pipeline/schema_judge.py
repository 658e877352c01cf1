"""Untrusted data checked against a JSON schema in the sandbox, under a deadline.

A sandboxed plugin's input and output are checked by ``SchemaJudge`` (see
``sandboxed_judge.py`` for why not in this process): its program, ``schema_judge_main.py``,
sees jsonschema and nothing else of the host.
"""

from __future__ import annotations

import importlib.metadata as metadata
from functools import cache
from pathlib import Path
from typing import Any

from plan_pipeline.plugin_worker import distribution_packages
from plan_pipeline.sandbox import Sandbox, SandboxLimits
from plan_pipeline.sandboxed_judge import JudgeStopped, SandboxedJudge

PROGRAM = Path(__file__).with_name("schema_judge_main.py")
JUDGE_LIMITS = SandboxLimits(
    cpu_seconds=120,
    address_space_bytes=4 * 1024**3,
    memory_bytes=2 * 1024**3,
    max_processes=8,
    file_size_bytes=1024**2,
    open_files=64,
    wall_seconds=10.0,
)
"""Limits of the schema judge; ``wall_seconds`` bounds the check of one instance (an output
of the largest size a worker may answer, 64 MiB, checks in a few seconds)."""


@cache
def jsonschema_packages() -> tuple[Path, ...]:
    """jsonschema's installed packages and, recursively, those of what it requires."""
    return tuple(distribution_packages(metadata.distribution("jsonschema"), "jsonschema"))


class SchemaJudge:
    """Checks instances against schemas in a sandboxed child, started on the first check."""

    def __init__(self, sandbox: Sandbox, limits: SandboxLimits = JUDGE_LIMITS) -> None:
        self._sandbox = sandbox
        self.limits = limits
        self._judge: SandboxedJudge | None = None

    @property
    def started(self) -> bool:
        return self._judge is not None

    def problem(self, instance: Any, schema: dict[str, Any]) -> str | None:
        """``instance``'s most relevant violation of ``schema`` as ``at PATH: message``, or
        ``None``; ``JudgeStopped`` when the check could not end (too slow, too big)."""
        if self._judge is None:
            self._judge = SandboxedJudge(
                PROGRAM, {}, self._sandbox, self.limits, packages=jsonschema_packages()
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


__all__ = ["JUDGE_LIMITS", "JudgeStopped", "SchemaJudge"]
