"""A contract's rules as a Python module: one readable block per rule, in order.

A rule ``{set: "risks[*].score", expr: "item.likelihood * item.impact"}`` becomes::

    # rule 2: risks[*].score = item.likelihood * item.impact
    for item in output['risks']:
        item['score'] = item['likelihood'] * item['impact']

A rule ``{let: total, expr: "sum(l.amount for l in input.lines)"}`` becomes a local variable
of ``compute()`` that later rules read as ``total``; it never reaches the output. When a rule
calls a date function, the functions' source (``plan_pipeline.expressions``) is copied into
the module after its imports.

Two readers: the offline code generator (``synthesizer/rules_codegen.py``) makes a plugin of
it, and the run-time check of a sandboxed plugin's answers (``answer_checks.py``) runs it in
the sandboxed evaluator to know the answer the rules give. Deterministic: the same rules
always give the same source. Anything outside the expression subset is a
``ContractLanguageError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from plan_pipeline.contract import Rule
from plan_pipeline.errors import ContractLanguageError
from plan_pipeline.expressions import (
    MAX_RANGE,
    RANGE_FUNCTION,
    SEE_RULES,
    builds_fresh_value,
    calls_date_functions,
    date_functions_source,
    translate,
)

_SEGMENT = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)(?P<star>\[\*\])?$")

_HEADER = '''\
"""Logic of the '{capability}' capability, generated from its spec by the '{generator}' code
generator. Each block implements one rule of the spec, in order; edit the spec, not this file.
"""

from __future__ import annotations

from typing import Any
{date_functions}

def _clone(value: Any) -> Any:
    """A deep copy of plain JSON data, so that rules never modify the caller's input."""
    if isinstance(value, dict):
        return {{key: _clone(item) for key, item in value.items()}}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def {range_function}(*bounds: int) -> range:
    """``range``, refusing more than {max_range} numbers: no rule loops without end."""
    numbers = range(*bounds)
    if len(numbers) > {max_range}:
        raise ValueError(f"range of {{len(numbers)}} numbers is longer than {max_range}")
    return numbers


def compute(input: dict[str, Any]) -> dict[str, Any]:
    {summary}
    output: dict[str, Any] = {{}}
'''


def parse_path(path: str) -> list[tuple[str, bool]]:
    """A rule's ``set`` path as (field, ``[*]``) segments."""
    segments = []
    for part in path.split("."):
        match = _SEGMENT.match(part)
        if not match:
            raise ContractLanguageError(f"rule path {path!r}: segment {part!r} is not a field name")
        segments.append((match["name"], bool(match["star"])))
    if segments[-1][1]:
        raise ContractLanguageError(
            f"rule path {path!r} ends with [*]", "Set a field of each item, e.g. 'items[*].x'"
        )
    return segments


def rules_module(
    rules: Sequence[Rule], *, capability: str, generator: str, summary: str
) -> tuple[str, bool]:
    """The module whose ``compute(input)`` applies ``rules``, and whether it carries the date
    functions. ``ContractLanguageError`` names the first rule outside the language."""
    body: list[str] = []
    lets: list[str] = []
    dates = False
    for index, rule in enumerate(rules, start=1):
        try:
            lines, python = _rule_block(index, rule, lets)
        except ContractLanguageError as exc:
            raise exc.in_context(f"rule {index}") from None
        body += lines
        dates = dates or calls_date_functions(python)
    header = _HEADER.format(
        capability=capability,
        generator=generator,
        summary=repr(" ".join(summary.split())),
        range_function=RANGE_FUNCTION,
        max_range=MAX_RANGE,
        date_functions=f"\n{date_functions_source()}" if dates else "",
    )
    return header + "\n".join(body) + "\n    return output\n", dates


def _rule_block(index: int, rule: Rule, lets: list[str]) -> tuple[list[str], str]:
    """The lines of one rule, and the Python its expression became."""
    if rule.let is not None:
        return _let_block(index, rule.let, rule.expr, lets)
    target = rule.target
    expr = rule.expr
    segments = parse_path(target)
    loops = any(star for _, star in segments)
    context = {"input", "output", *lets} | ({"item"} if loops else set())
    python = translate(expr, context)
    value = python
    if not builds_fresh_value(expr):  # a later rule must never modify the caller's input
        value = f"_clone({value})"
    lines = [f"    # rule {index}: {target} = {' '.join(expr.split())}"]
    indent = "    "
    container = "output"
    for name, star in segments[:-1]:
        if star:
            lines.append(f"{indent}for item in {container}[{name!r}]:")
            indent += "    "
            container = "item"
        else:
            container = f"{container}.setdefault({name!r}, {{}})"
    lines.append(f"{indent}{container}[{segments[-1][0]!r}] = {value}")
    return lines, python


def _let_block(index: int, name: str, expr: str, lets: list[str]) -> tuple[list[str], str]:
    if name in lets:
        raise ContractLanguageError(
            f"let name {name!r} is given twice",
            f"Give each named value a name of its own ({SEE_RULES})",
        )
    python = translate(expr, {"input", "output", *lets})
    # a snapshot: later rules that set fields of output items never change a named value
    value = python if builds_fresh_value(expr) else f"_clone({python})"
    lets.append(name)
    return [
        f"    # rule {index}: let {name} = {' '.join(expr.split())}",
        f"    {name} = {value}",
    ], python
