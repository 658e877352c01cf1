"""The test report: every gate a plugin went through, with result, findings and duration.

Shaped for the hub's ``plugin_hub_test_reports`` table (``pass_rate``, ``report_json``) and
written next to the wheel as ``<wheel>.report.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, Field


class Finding(BaseModel):
    """One problem a gate found."""

    rule: str
    message: str
    path: str | None = None
    line: int | None = None

    def describe(self) -> str:
        """The message, behind its location when it has one."""
        if self.path is None:
            return self.message
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class GateResult(BaseModel):
    """The outcome of one gate."""

    name: str
    passed: bool
    ran: bool = True
    summary: str = ""
    findings: list[Finding] = Field(default_factory=list)
    duration_s: float = 0.0

    @classmethod
    def from_findings(
        cls, name: str, findings: list[Finding], clean: str, duration_s: float
    ) -> GateResult:
        """Passed when there are no findings (``clean`` is then the summary)."""
        summary = (
            clean
            if not findings
            else (f"{len(findings)} finding(s), first: {findings[0].describe()}")
        )
        return cls(
            name=name,
            passed=not findings,
            summary=summary,
            findings=findings,
            duration_s=duration_s,
        )


class GateOutcome(BaseModel):
    """A gate's result in one attempt, without its findings."""

    name: str
    passed: bool
    ran: bool = True
    summary: str = ""


class Attempt(BaseModel):
    """One round of a code generator that writes with a model: what it was asked, what it
    wrote, what that cost, and what the gates said."""

    round: int
    sample: int = 1
    """Which of the round's answers (the first round may ask for several: ``--samples``)."""
    generator: str
    provider: str | None = None
    model: str | None = None
    prompt_sha256: str
    code_sha256: str | None = None
    """``None`` when the answer held no usable code (``problem`` says why)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    """The model's time for this round."""
    cost_usd: float | None = None
    """What the answer cost, where the provider says."""
    problem: str | None = None
    gates: list[GateOutcome] = Field(default_factory=list)


class TestReport(BaseModel):
    """All gates of one synthesis."""

    __test__ = False  # not a pytest test class

    capability: str
    dist_name: str
    version: str
    generator: str
    description: str = ""
    """What the stage is for, in its author's words (the spec's ``description``)."""
    wheel: str | None = None
    wheel_sha256: str | None = None
    gates: list[GateResult] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    """Seconds per synthesis step (codegen, render, static analysis, build, checks)."""
    attempts: list[Attempt] = Field(default_factory=list)
    """Every round of a generator that writes with a model (empty for the rules generator)."""

    @property
    def model(self) -> str | None:
        """The model that wrote the plugin's code (its last attempt), if any."""
        return self.attempts[-1].model if self.attempts else None

    @property
    def tokens(self) -> int:
        return sum(a.prompt_tokens + a.completion_tokens for a in self.attempts)

    @property
    def passed(self) -> bool:
        return bool(self.gates) and all(g.passed for g in self.gates)

    @property
    def pass_rate(self) -> float:
        return sum(g.passed for g in self.gates) / len(self.gates) if self.gates else 0.0

    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if g.ran and not g.passed]

    def cost(self, synthesis_seconds: float) -> dict[str, object]:
        """What the synthesis cost, as the hub records it: generator, model, rounds, tokens,
        the model's seconds and the whole synthesis's."""
        last = self.attempts[-1] if self.attempts else None
        return {
            "generator": self.generator,
            "provider": last.provider if last else None,
            "model": last.model if last else None,
            "rounds": max(1, len(self.attempts)),
            "prompt_tokens": sum(a.prompt_tokens for a in self.attempts),
            "completion_tokens": sum(a.completion_tokens for a in self.attempts),
            "model_seconds": round(sum(a.latency_s for a in self.attempts), 4),
            "synthesis_seconds": round(synthesis_seconds, 4),
        }

    def as_row(self) -> dict[str, object]:
        """The ``plugin_hub_test_reports`` columns this report fills."""
        return {"pass_rate": self.pass_rate, "report_json": self.model_dump_json()}

    def write(self, path: Path) -> Path:
        data = self.model_dump(mode="json")
        data["passed"] = self.passed
        data["pass_rate"] = self.pass_rate
        if self.attempts:
            data["model"] = self.model
            data["tokens"] = self.tokens
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` holds the seconds taken."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start
