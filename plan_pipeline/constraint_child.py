"""The constraint evaluator: the program ``ContractCheck`` runs in a sandbox to judge outputs.

Run as ``python -I -S -B constraint_child.py`` through ``plan_pipeline.sandboxed_judge``
(standard library only: it sees nothing else). Its first input line is ``{"path",
"functions", "range_function", "max_range", "constraints"}``: the names of the allowed
built-ins, what ``range`` became and its longest length, and the constraints as translated
Python; with ``"date_functions"`` and ``"date_source"``, the names and the source of the
language's date functions (``plan_pipeline.expressions``, standard library only); with
``"rules_source"``, the module of the contract's rules (``plan_pipeline.rules``). Each
further line is ``[input, output]``; the answer is one line with, per constraint, ``true``,
``false`` or ``{"error": "TypeName"}``, and with rules one verdict more: ``true`` when the
output holds what the rules compute for the input (``covers``), else ``{"differs": PATH}``,
or ``{"error": "TypeName"}`` when the rules cannot be computed for it.

``same`` and ``covers`` are also imported by the harness (this file needs nothing but the
standard library either way).

The constraints were checked against the contract subset before they came here, and the data
is plain JSON; the sandbox and its limits are for what the subset cannot bound statically
(``"-" * output.width``, a loop over a huge input): that ends this process, not the harness.
"""

import builtins
import json
import math
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


def _date_functions(setup: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """The date functions the harness sent as source: they import ``datetime`` alone."""
    names = list(setup.get("date_functions", []))
    if not names:
        return {}
    scope: dict[str, Any] = {"__builtins__": builtins, "__name__": "date_functions"}
    exec(compile(setup["date_source"], "<date functions>", "exec"), scope)
    return {name: scope[name] for name in names}


def same(actual: Any, expected: Any) -> bool:
    """JSON equality with floats compared to a relative 1e-9 and bools never equal to numbers."""
    return covers(actual, expected, exact=True) is None


def covers(actual: Any, expected: Any, path: str = "$", exact: bool = False) -> str | None:
    """Where ``actual`` first differs from ``expected`` (``None``: nowhere), by ``same``'s
    equality; unless ``exact``, a mapping of ``actual`` may hold keys ``expected`` has not
    (fields the rules do not compute)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return None if actual is expected else path
    if isinstance(expected, float):
        try:
            close = isinstance(actual, int | float) and math.isclose(actual, expected, rel_tol=1e-9)
        except OverflowError:  # an integer too big for a float: not the expected number
            close = False
        return None if close else path
    if isinstance(actual, float):  # an integer expected: only the same integer, exactly
        equal = isinstance(expected, int) and actual.is_integer() and int(actual) == expected
        return None if equal else path
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return path
        if (exact and actual.keys() != expected.keys()) or not expected.keys() <= actual.keys():
            return path
        for key in expected:
            where = covers(actual[key], expected[key], f"{path}.{key}", exact)
            if where is not None:
                return where
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return path
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            where = covers(a, e, f"{path}[{index}]", exact)
            if where is not None:
                return where
        return None
    return None if actual == expected and type(actual) is type(expected) else path


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


def _rules_verdict(compute: Callable[[Any], Any], inputs: Any, output: Any) -> Any:
    try:
        expected = compute(json.loads(json.dumps(inputs)))  # the rules never see the original
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return {"error": type(exc).__name__}
    where = covers(output, expected)
    return True if where is None else {"differs": where[:300]}


def _rules(setup: dict[str, Any]) -> Callable[[Any], Any] | None:
    """The ``compute`` of the contract's rules module, when the harness sent one."""
    source = setup.get("rules_source")
    if not source:
        return None
    scope: dict[str, Any] = {"__builtins__": builtins, "__name__": "contract_rules"}
    exec(compile(source, "<contract rules>", "exec"), scope)
    compute: Callable[[Any], Any] = scope["compute"]
    return compute


def main() -> None:
    setup = json.loads(sys.stdin.readline())
    functions = {name: getattr(builtins, name) for name in setup["functions"]}
    functions[setup["range_function"]] = _bounded_range(int(setup["max_range"]))
    functions.pop("range", None)
    functions.update(_date_functions(setup))
    names = {"__builtins__": functions}
    codes = [compile(source, "<constraint>", "eval") for source in setup["constraints"]]
    rules = _rules(setup)
    verdicts = len(codes) + (rules is not None)
    for line in sys.stdin:
        try:
            inputs, output = json.loads(line)
            results: list[Any] = _answer(codes, names, inputs, output)
            if rules is not None:
                results.append(_rules_verdict(rules, inputs, output))
        except MemoryError:
            results = [{"error": "MemoryError"} for _ in range(verdicts)]
        sys.stdout.write(json.dumps(results) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
