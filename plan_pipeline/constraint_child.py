"""The constraint evaluator: the program ``ContractCheck`` runs in a sandbox to judge outputs.

Run as ``python -I -S -B constraint_child.py`` through ``plan_pipeline.sandboxed_judge``
(standard library only: it sees nothing else). Its first input line is ``{"path",
"functions", "range_function", "max_range", "constraints"}``: the names of the allowed
built-ins, what ``range`` became and its longest length, and the constraints as translated
Python; with ``"date_functions"`` and ``"date_source"``, the names and the source of the
language's date functions (``plan_pipeline.expressions``, standard library only). Each
further line is ``[input, output]``; the answer is one line with, per
constraint, ``true``, ``false`` or ``{"error": "TypeName"}``.

The constraints were checked against the contract subset before they came here, and the data
is plain JSON; the sandbox and its limits are for what the subset cannot bound statically
(``"-" * output.width``, a loop over a huge input): that ends this process, not the harness.
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


def _date_functions(setup: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """The date functions the harness sent as source: they import ``datetime`` alone."""
    names = list(setup.get("date_functions", []))
    if not names:
        return {}
    scope: dict[str, Any] = {"__builtins__": builtins, "__name__": "date_functions"}
    exec(compile(setup["date_source"], "<date functions>", "exec"), scope)
    return {name: scope[name] for name in names}


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


def main() -> None:
    setup = json.loads(sys.stdin.readline())
    functions = {name: getattr(builtins, name) for name in setup["functions"]}
    functions[setup["range_function"]] = _bounded_range(int(setup["max_range"]))
    functions.pop("range", None)
    functions.update(_date_functions(setup))
    names = {"__builtins__": functions}
    codes = [compile(source, "<constraint>", "eval") for source in setup["constraints"]]
    for line in sys.stdin:
        try:
            inputs, output = json.loads(line)
            results = _answer(codes, names, inputs, output)
        except MemoryError:
            results = [{"error": "MemoryError"} for _ in codes]
        sys.stdout.write(json.dumps(results) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
