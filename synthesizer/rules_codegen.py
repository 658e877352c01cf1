"""The offline code generator: one readable block of Python per spec rule.

A rule ``{set: "risks[*].score", expr: "item.likelihood * item.impact"}`` becomes::

    # rule 2: risks[*].score = item.likelihood * item.impact
    for item in output['risks']:
        item['score'] = item['likelihood'] * item['impact']

A rule ``{let: total, expr: "sum(l.amount for l in input.lines)"}`` becomes a local variable
of ``compute()`` that later rules read as ``total``; it never reaches the output. When a rule
calls a date function, the functions' source (``plan_pipeline.expressions``) is copied into
the module after its imports.

Deterministic: the same spec always gives the same source. A spec whose rules do not produce
every required output field, or that uses anything outside the expression subset, is refused
with ``UnsupportedSpecError``; no partial plugin is ever written.
"""

from __future__ import annotations

import ast
import re
from typing import Any

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
from plan_pipeline.spec import PluginSpec
from synthesizer.codegen import GeneratedLogic
from synthesizer.errors import UnsupportedSpecError

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


def _parse_path(path: str) -> list[tuple[str, bool]]:
    segments = []
    for part in path.split("."):
        match = _SEGMENT.match(part)
        if not match:
            raise UnsupportedSpecError(f"rule path {path!r}: segment {part!r} is not a field name")
        segments.append((match["name"], bool(match["star"])))
    if segments[-1][1]:
        raise UnsupportedSpecError(
            f"rule path {path!r} ends with [*]", "Set a field of each item, e.g. 'items[*].x'"
        )
    return segments


def _rule_block(index: int, rule: Rule, lets: list[str]) -> tuple[list[str], str]:
    """The lines of one rule, and the Python its expression became."""
    if rule.let is not None:
        return _let_block(index, rule.let, rule.expr, lets)
    target = rule.target
    expr = rule.expr
    segments = _parse_path(target)
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


def _required_fields(schema: dict[str, Any]) -> list[str]:
    required = schema.get("required", [])
    return [r for r in required if isinstance(r, str)]


class RulesCodeGenerator:
    """Generates ``compute()`` from the spec's ``rules`` (no network, no model)."""

    name = "rules"

    def generate(self, spec: PluginSpec) -> GeneratedLogic:
        set_fields = {_parse_path(rule.set)[0][0] for rule in spec.rules if rule.set is not None}
        missing = [f for f in _required_fields(spec.output_schema) if f not in set_fields]
        if missing or not spec.rules:
            fields = ", ".join(missing) or "(any)"
            raise UnsupportedSpecError(
                f"capability '{spec.capability}' needs a code-generation backend that can handle "
                f"this: the spec has no rules that compute output field(s) {fields}",
                "Add rules for them to the stage contract, or choose another backend with "
                "--codegen",
            )
        body: list[str] = []
        lets: list[str] = []
        dates = False
        for index, rule in enumerate(spec.rules, start=1):
            try:
                lines, python = _rule_block(index, rule, lets)
                body += lines
                dates = dates or calls_date_functions(python)
            except ContractLanguageError as exc:
                raise UnsupportedSpecError(
                    f"capability '{spec.capability}' needs a code-generation backend that can "
                    f"handle this: rule {index}: {exc.problem}",
                    exc.fix
                    or f"Rewrite the rule within the rules language ({SEE_RULES}) or choose "
                    "another backend with --codegen",
                ) from None
        summary = repr(" ".join((spec.summary or f"Compute '{spec.capability}'.").split()))
        header = _HEADER.format(
            capability=spec.capability,
            generator=self.name,
            summary=summary,
            range_function=RANGE_FUNCTION,
            max_range=MAX_RANGE,
            date_functions=f"\n{date_functions_source()}" if dates else "",
        )
        source = header + "\n".join(body) + "\n    return output\n"
        _check_structure(source, spec.capability, dates)
        return GeneratedLogic(generator=self.name, source=source)


_MODULE_SHAPE = [ast.Expr, ast.ImportFrom, ast.ImportFrom, *[ast.FunctionDef] * 3]
_DATES_SHAPE = [
    ast.Expr, ast.ImportFrom, ast.ImportFrom, ast.Import, ast.Assign, *[ast.FunctionDef] * 9
]  # fmt: skip
"""With the date functions: their import, their bound and six functions more."""
_COMPUTE_STATEMENTS = (ast.AnnAssign, ast.Assign, ast.For, ast.Return)


def _check_structure(source: str, capability: str, dates: bool = False) -> None:
    """Refuse generated source whose shape is not exactly what the generator writes.

    Spec text reaches the source only as string literals, comments and checked expressions;
    this makes sure none of it changed the program's structure.
    """
    problem = None
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        problem = f"it does not parse: {exc.msg}"
    else:
        shape = [type(node) for node in tree.body]
        compute = tree.body[-1] if tree.body else None
        expected = _DATES_SHAPE if dates else _MODULE_SHAPE
        if shape != expected or not isinstance(compute, ast.FunctionDef):
            problem = "its top-level statements are not the expected ones"
        elif compute.name != "compute" or not isinstance(compute.body[0], ast.Expr):
            problem = "compute() is not the expected function"
        elif not all(isinstance(s, _COMPUTE_STATEMENTS) for s in compute.body[1:]):
            problem = "compute() holds statements the rules do not produce"
    if problem:
        raise UnsupportedSpecError(
            f"capability '{capability}': the generated logic is not well-formed ({problem})",
            "Check the spec's summary and rules for unusual characters",
        )
