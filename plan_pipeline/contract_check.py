"""The spec's contract, checked by the trusted harness: schemas, constraints, goldens.

Nothing here runs plugin code: it judges the plain JSON answers the sandboxed worker gave.
What a check costs depends on the plugin's output (``"-" * output.width`` in a constraint,
``uniqueItems`` over 16,000 rows, a ``pattern`` that backtracks), and on the hub even the
spec is a stranger's. So the schemas are checked through ``plan_pipeline.schema_judge``
(here only where the cost is bounded by the data's size, else in its sandboxed child under
a deadline) and the constraints always in a sandboxed child (``constraint_child.py``) under
its own limits: a hostile output can at worst end a child, which counts as a failed check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plan_pipeline.constraint_child import same
from plan_pipeline.contract import Contract
from plan_pipeline.errors import ContractLanguageError
from plan_pipeline.expressions import (
    ALLOWED_FUNCTIONS,
    DATE_FUNCTIONS,
    MAX_RANGE,
    RANGE_FUNCTION,
    date_functions_source,
    translate,
)
from plan_pipeline.rules import rules_module
from plan_pipeline.sandbox import BubblewrapSandbox, Sandbox, SandboxLimits
from plan_pipeline.sandboxed_judge import JudgeStopped, SandboxedJudge
from plan_pipeline.schema_judge import SchemaJudge
from plan_pipeline.spec import PluginSpec

EVALUATOR_LIMITS = SandboxLimits(
    cpu_seconds=30,
    address_space_bytes=1024**3,
    memory_bytes=512 * 1024**2,
    max_processes=8,
    file_size_bytes=1024**2,
    open_files=32,
    wall_seconds=2.0,
)
"""Limits of the contract's sandboxed children; ``wall_seconds`` bounds one output's check."""
_CHILD = Path(__file__).with_name("constraint_child.py")


def translated_constraints(spec: Contract | PluginSpec) -> list[str]:
    """The spec's constraints as the Python the evaluator runs; ``ContractLanguageError`` for
    one outside the contract subset (no plugin of this spec could then be checked)."""
    sources = [translate(text, {"input", "output"}) for text in spec.constraints]
    for text, source in zip(spec.constraints, sources, strict=True):
        compile(source, f"<constraint {text}>", "eval")  # fails here, not in the child
    return sources


class ContractCheck:
    """A spec's or a stage's contract: schemas through the schema judge, constraints in a
    sandboxed child (started at once, beside whatever the caller starts next). ``close()``
    stops both (``schemas``: a judge the caller shares, which it stops itself)."""

    def __init__(
        self,
        spec: Contract | PluginSpec,
        sandbox: Sandbox | None = None,
        limits: SandboxLimits = EVALUATOR_LIMITS,
        *,
        schemas: SchemaJudge | None = None,
        rules: bool = False,
    ) -> None:
        """``rules``: also check that an output holds what the contract's rules compute
        (when it has rules the language can express)."""
        self.spec = spec
        self.constraints = list(spec.constraints)
        sources = translated_constraints(spec)
        self.rules_source = _rules_source(spec) if rules else None
        chosen = sandbox or BubblewrapSandbox.detect()
        self._own_schemas = schemas is None
        self._schemas = schemas or SchemaJudge(chosen, limits)
        setup = {
            "functions": sorted(ALLOWED_FUNCTIONS - DATE_FUNCTIONS),
            "date_functions": sorted(DATE_FUNCTIONS),
            "date_source": date_functions_source(),
            "range_function": RANGE_FUNCTION,
            "max_range": MAX_RANGE,
            "constraints": sources,
            "rules_source": self.rules_source,
        }
        wanted = sources or self.rules_source
        self._judge = SandboxedJudge(_CHILD, setup, chosen, limits) if wanted else None

    @property
    def starts(self) -> int:
        """How often the constraints' child was started (once, plus once after each stop)."""
        return self._judge.starts if self._judge is not None else 0

    def close(self) -> None:
        if self._own_schemas:
            self._schemas.close()
        if self._judge is not None:
            self._judge.close()

    def __enter__(self) -> ContractCheck:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def input_problem(self, inputs: Any) -> str | None:
        """How ``inputs`` (a golden example's) breaks the input schema, or ``None``."""
        try:
            return self._schemas.problem(inputs, self.spec.input_schema)
        except JudgeStopped as exc:
            return f"(its check was ended: {exc})"

    def problems(self, inputs: Any, output: Any) -> list[str]:
        """What is wrong with ``output`` for ``inputs``; empty when it follows the contract."""
        if not isinstance(output, dict):
            return [f"the output is {type(output).__name__}, not a JSON object"]
        try:
            problem = self._schemas.problem(output, self.spec.output_schema)
        except JudgeStopped as exc:
            return [f"the output cannot be checked against the output schema: {exc}"]
        if problem is not None:
            return [f"the output breaks the output schema {problem}"]
        return self.constraint_problems(inputs, output)

    def constraint_problems(self, inputs: Any, output: Any) -> list[str]:
        """The constraints ``output`` (already checked against the output schema) breaks."""
        if self._judge is None:
            return []
        try:
            verdicts = self._verdicts(self._judge.ask([inputs, output]))
        except JudgeStopped as exc:
            return [f"the constraints cannot be evaluated for this output: {exc}"]
        ruled = verdicts.pop() if self.rules_source is not None else True
        found = []
        for text, verdict in zip(self.constraints, verdicts, strict=True):
            if isinstance(verdict, dict):
                error_name = str(verdict.get("error"))[:80]
                found.append(f"constraint {text!r} cannot be evaluated: {error_name}")
            elif verdict is not True:
                found.append(f"constraint does not hold: {text}")
        # after the constraints, which say more of what is wrong
        if isinstance(ruled, dict) and "differs" in ruled:
            found.append(f"{RULES_DIFFER} (at {str(ruled['differs'])[:300]})")
        elif ruled is not True:
            error_name = str(ruled.get("error") if isinstance(ruled, dict) else ruled)[:80]
            found.append(f"the contract's rules cannot be computed for this input: {error_name}")
        return found

    def _verdicts(self, answer: Any) -> list[Any]:
        assert self._judge is not None
        wanted = len(self.constraints) + (self.rules_source is not None)
        if not isinstance(answer, list) or len(answer) != wanted:
            raise self._judge.wrong_shape("not one verdict per constraint")
        return answer


RULES_DIFFER = "the output is not what the contract's rules compute"
"""How a problem begins when an output differs from the rules' answer for its input."""


def _rules_source(spec: Contract | PluginSpec) -> str | None:
    """The module of ``spec``'s rules, or ``None`` when it has none the language expresses
    (its constraints are still checked)."""
    if not spec.rules:
        return None
    try:
        source, _ = rules_module(spec.rules, capability="contract", generator="rules", summary="")
    except ContractLanguageError:
        return None
    return source


__all__ = ["EVALUATOR_LIMITS", "RULES_DIFFER", "ContractCheck", "same", "translated_constraints"]
