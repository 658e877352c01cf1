"""The spec's contract, checked by the trusted harness: output schema, constraints, goldens.

Nothing here runs plugin code: it judges the plain JSON answers the sandboxed worker gave.
The constraints, and an output schema whose check is not of linear cost, are checked in a
sandboxed judge (``constraint_child.py`` through ``plan_pipeline.sandboxed_judge``) under its
own limits: the constraints are checked expressions of the contract subset and the schema is
the spec's, but what they cost depends on the plugin's output (``"-" * output.width``,
``uniqueItems`` over 16,000 rows, a ``pattern`` that backtracks), so a hostile output can at
worst end that child, which then counts as a failed check. A schema of only linear keywords
(``plan_pipeline.schemas.checks_in_linear_time``) is checked here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from plan_pipeline.sandbox import BubblewrapSandbox, Sandbox, SandboxLimits
from plan_pipeline.sandboxed_judge import JudgeStopped, SandboxedJudge
from plan_pipeline.schema_judge import PROGRAM as SCHEMA_JUDGE_PROGRAM
from plan_pipeline.schema_judge import jsonschema_packages
from plan_pipeline.schema_judge_main import problem_of
from plan_pipeline.schemas import checks_in_linear_time, validator
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
"""Limits of the contract's judge; ``wall_seconds`` bounds one output's check."""
_CHILD = Path(__file__).with_name("constraint_child.py")


class ContractCheck:
    """The spec's contract (output schema and constraints), judged in a sandboxed child.

    ``sandbox`` runs the judge (the bubblewrap sandbox when not given); it starts at once,
    beside whatever the caller starts next. ``close()`` stops it.
    """

    def __init__(
        self,
        spec: PluginSpec,
        sandbox: Sandbox | None = None,
        limits: SandboxLimits = EVALUATOR_LIMITS,
    ) -> None:
        self.spec = spec
        self.constraints = list(spec.constraints)
        sources = [translate(text, {"input", "output"}) for text in self.constraints]
        for text, source in zip(self.constraints, sources, strict=True):
            compile(source, f"<constraint {text}>", "eval")  # fails here, not in the child
        linear = checks_in_linear_time(spec.output_schema)
        self._here = validator(spec.output_schema) if linear else None
        """The output schema's validator, where its check costs what the output's size does
        (then the schema is checked here, and the judge does not import jsonschema)."""
        setup = {
            "schema": None if linear else spec.output_schema,
            "functions": sorted(ALLOWED_FUNCTIONS),
            "range_function": RANGE_FUNCTION,
            "max_range": MAX_RANGE,
            "constraints": sources,
        }
        self._judge = (
            SandboxedJudge(
                _CHILD,
                setup,
                sandbox or BubblewrapSandbox.detect(),
                limits,
                files=[] if linear else [SCHEMA_JUDGE_PROGRAM],
                packages=[] if linear else jsonschema_packages(),
            )
            if sources or not linear
            else None
        )

    @property
    def starts(self) -> int:
        """How often the judge was started (once, plus once after each stop)."""
        return self._judge.starts if self._judge is not None else 0

    def close(self) -> None:
        if self._judge is not None:
            self._judge.close()

    def __enter__(self) -> ContractCheck:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def problems(self, inputs: Any, output: Any) -> list[str]:
        """What is wrong with ``output`` for ``inputs``; empty when it follows the contract."""
        if not isinstance(output, dict):
            return [f"the output is {type(output).__name__}, not a JSON object"]
        if self._here is not None:
            problem = problem_of(self._here, output)
            if problem is not None:
                return [f"the output breaks the output schema {problem}"]
        if self._judge is None:
            return []
        try:
            answer = self._judge.ask([inputs, output])
            schema_problem, verdicts = self._parse(answer)
        except JudgeStopped as exc:
            return [f"the output cannot be checked against the contract: {exc}"]
        if schema_problem is not None:
            return [f"the output breaks the output schema {schema_problem}"]
        found = []
        for text, verdict in zip(self.constraints, verdicts, strict=True):
            if isinstance(verdict, dict):
                error_name = str(verdict.get("error"))[:80]
                found.append(f"constraint {text!r} cannot be evaluated: {error_name}")
            elif verdict is not True:
                found.append(f"constraint does not hold: {text}")
        return found

    def _parse(self, answer: Any) -> tuple[str | None, list[Any]]:
        assert self._judge is not None
        if not isinstance(answer, dict):
            raise self._judge.wrong_shape("not an object")
        problem, verdicts = answer.get("schema"), answer.get("verdicts")
        if isinstance(problem, str):
            return problem[:300], []
        if problem is not None:
            raise self._judge.wrong_shape("'schema' is neither text nor null")
        if not isinstance(verdicts, list) or len(verdicts) != len(self.constraints):
            raise self._judge.wrong_shape("not one verdict per constraint")
        return None, verdicts


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
