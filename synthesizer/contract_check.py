"""The spec's contract, checked by the trusted harness: output schema, constraints, goldens.

Nothing here runs plugin code: it judges the plain JSON answers the sandboxed worker gave.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jsonschema

from plan_pipeline.schemas import validator
from plan_pipeline.spec import PluginSpec
from synthesizer.expressions import ALLOWED_FUNCTIONS, translate

_BUILTINS: dict[str, Any] = {
    name: getattr(__import__("builtins"), name) for name in sorted(ALLOWED_FUNCTIONS)
}


class ContractCheck:
    """The spec's contract, checked in this process: schemas, constraints, golden outputs."""

    def __init__(self, spec: PluginSpec) -> None:
        self.spec = spec
        self.output_validator = validator(spec.output_schema)
        self.constraints: list[tuple[str, Callable[[Any, Any], Any]]] = []
        for text in spec.constraints:
            code = compile(translate(text, {"input", "output"}), f"<constraint {text}>", "eval")
            self.constraints.append((text, _evaluator(code)))

    def problems(self, inputs: Any, output: Any) -> list[str]:
        """What is wrong with ``output`` for ``inputs``; empty when it follows the contract."""
        if not isinstance(output, dict):
            return [f"the output is {type(output).__name__}, not a JSON object"]
        error = jsonschema.exceptions.best_match(self.output_validator.iter_errors(output))
        if error is not None:
            return [f"the output breaks the output schema at {error.json_path}: {error.message}"]
        found = []
        for text, holds in self.constraints:
            try:
                ok = bool(holds(inputs, output))
            except Exception as exc:
                found.append(f"constraint {text!r} cannot be evaluated: {type(exc).__name__}")
                continue
            if not ok:
                found.append(f"constraint does not hold: {text}")
        return found


def _evaluator(code: Any) -> Callable[[Any, Any], Any]:
    def holds(inputs: Any, output: Any) -> Any:
        # a checked expression of the contract subset: names, indexing, pure built-ins and
        # whitelisted methods only; the names are globals so that comprehensions see them
        names = {"__builtins__": _BUILTINS, "input": inputs, "output": output}
        return eval(code, names)

    return holds


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
