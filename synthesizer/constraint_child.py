"""The contract's judge: the program ``ContractCheck`` runs in a sandbox to judge outputs.

Run as ``python -I -S -B constraint_child.py`` through ``plan_pipeline.sandboxed_judge``: it
sees the standard library, jsonschema and the schema judge's module, nothing else. Its first
input line is ``{"path", "schema", "functions", "range_function", "max_range",
"constraints"}``: where to import from, the output schema, the names of the allowed built-ins,
what ``range`` became and its longest length, and the constraints as translated Python. Each
further line is ``[input, output]``; the answer is one line ``{"schema": null | "at PATH:
message", "verdicts": [...]}`` with, per constraint, ``true``, ``false`` or ``{"error":
"TypeName"}`` (no verdicts when the schema is broken). With ``"schema": null`` the harness
checks the schema itself, and jsonschema is not imported here. With ``"schema": null`` the harness
checks the schema itself, and jsonschema is not imported here.

The constraints were checked against the contract subset before they came here, and the data
is plain JSON; the sandbox and its limits are for what neither the subset nor the schema
bounds statically (``"-" * output.width``, ``uniqueItems`` over many rows, a backtracking
``pattern``): that ends this process, not the harness.
"""

import builtins
import json
import sys
from collections.abc import Callable
from types import CodeType
from typing import Any


def _bounded_range(longest: int) -> Callable[..., range]:
    def bounded_range(*bounds: int) -> range:
        """``range``, refusing more than ``longest`` numbers (what ``range`` translates to)."""
        numbers = range(*bounds)
        if len(numbers) > longest:
            raise ValueError(f"range of {len(numbers)} numbers is longer than {longest}")
        return numbers

    return bounded_range


def _answer(
    codes: list[CodeType], names: dict[str, Any], inputs: Any, output: Any
) -> list[bool | dict[str, str]]:
    results: list[bool | dict[str, str]] = []
    for code in codes:
        scope = dict(names, input=inputs, output=output)
        try:
            results.append(bool(eval(code, scope)))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            results.append({"error": type(exc).__name__})
    return results


def _schema_problem(validator: Any, output: Any) -> Any:
    if validator is None:  # the harness checks the schema: its check costs what the output does
        return None
    from schema_judge_main import problem_of  # type: ignore[import-not-found]

    try:
        return problem_of(validator, output)
    except RecursionError:
        return "at $: the output is nested too deeply to check"


def main() -> None:
    setup = json.loads(sys.stdin.readline())
    sys.path[:0] = setup["path"]
    validator = None
    if setup["schema"] is not None:
        from schema_judge_main import validator_for

        validator = validator_for(setup["schema"])
    functions = {name: getattr(builtins, name) for name in setup["functions"]}
    functions[setup["range_function"]] = _bounded_range(int(setup["max_range"]))
    functions.pop("range", None)
    names = {"__builtins__": functions}
    codes = [compile(source, "<constraint>", "eval") for source in setup["constraints"]]
    for line in sys.stdin:
        inputs, output = json.loads(line)
        answer: dict[str, Any] = {"schema": _schema_problem(validator, output), "verdicts": None}
        if answer["schema"] is None:
            try:
                answer["verdicts"] = _answer(codes, names, inputs, output)
            except MemoryError:
                answer["verdicts"] = [{"error": "MemoryError"} for _ in codes]
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
