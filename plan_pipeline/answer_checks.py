"""Contracts enforced at run time: every answer of a sandboxed plugin, checked outside it.

A plugin that passed every gate can still lie later: keep state between calls, tell a gate
from production, or answer right only on the inputs it expects a gate to send. So a pipeline
does not trust a past check: each answer of a plugin that runs in a sandboxed worker is checked
here against the stage contract, as the gate checked it. The output schema is checked by the
stage runner; here come the contract's golden examples (an input equal to one must get its
output), its rules (the output must hold what they compute for the input: a contract with
rules states every answer exactly) and its constraints, evaluated in the sandboxed
evaluator (``contract_check.py``) under its limits, so a hostile answer costs at most a
bounded check.

The evaluator of a contract starts beside the plugin's first call (``prepare``) and serves
every later answer of the run; ``close()`` stops them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from plan_pipeline.contract import Contract
from plan_pipeline.contract_check import RULES_DIFFER, ContractCheck, same
from plan_pipeline.quarantine import LocalQuarantine
from plan_pipeline.sandbox import Sandbox
from plan_pipeline.schema_judge import SchemaJudge


class AnswerChecks:
    """The run-time checks of one process, and the quarantine their failures go to."""

    def __init__(
        self,
        sandbox: Callable[[], Sandbox],
        schemas: SchemaJudge,
        quarantine: LocalQuarantine,
    ) -> None:
        self._sandbox = sandbox
        self._schemas = schemas
        self.quarantine = quarantine
        self._checks: dict[str, ContractCheck] = {}

    def problems(self, contract: Contract, inputs: Any, output: Any) -> list[str]:
        """What ``output`` (already within the output schema) breaks of ``contract`` for
        ``inputs``: a golden example's output, then the constraints and the rules. Each
        problem is a violation (``is_violation``) or a check that could not be done."""
        for number, example in enumerate(contract.examples, start=1):
            golden = example.output is not None and example.input == inputs
            if golden and not same(output, example.output):
                return [f"golden example {number} expects {excerpt(example.output)}"]
        if not contract.constraints and not contract.rules:
            return []
        return self._check(contract).constraint_problems(inputs, output)

    def prepare(self, contract: Contract) -> None:
        """Start ``contract``'s evaluator now, so that it starts beside the plugin's call."""
        if contract.constraints or contract.rules:
            self._check(contract)

    def _check(self, contract: Contract) -> ContractCheck:
        key = contract.model_dump_json()
        if key not in self._checks:
            self._checks[key] = ContractCheck(
                contract, self._sandbox(), schemas=self._schemas, rules=True
            )
        return self._checks[key]

    def close(self) -> None:
        for check in self._checks.values():
            check.close()
        self._checks.clear()


VIOLATIONS = ("golden example ", "constraint does not hold: ", RULES_DIFFER)
"""How the problems that prove a wrong answer begin; any other problem is a check that could
not be done (the evaluator stopped, a constraint raised on these inputs), which upstream data
can cause: it fails the stage but accuses no plugin."""


def is_violation(problem: str) -> bool:
    return problem.startswith(VIOLATIONS)


def excerpt(value: Any, limit: int = 200) -> str:
    """``value`` as JSON, cut to ``limit`` characters (for one-line messages)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
