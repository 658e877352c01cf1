"""The offline code generator: the spec's rules as the plugin's logic module.

The module is ``plan_pipeline.rules.rules_module``: one readable block of Python per rule
(the run-time check of a plugin's answers runs the same module). Here it gets the checks of
a plugin's logic: the rules must produce every required output field, and the source must
have exactly the shape the rules give.

Deterministic: the same spec always gives the same source. A spec whose rules do not produce
every required output field, or that uses anything outside the expression subset, is refused
with ``UnsupportedSpecError``; no partial plugin is ever written.
"""

from __future__ import annotations

import ast
from typing import Any

from plan_pipeline.errors import ContractLanguageError
from plan_pipeline.expressions import SEE_RULES
from plan_pipeline.rules import parse_path, rules_module
from plan_pipeline.spec import PluginSpec
from synthesizer.codegen import GeneratedLogic
from synthesizer.errors import UnsupportedSpecError


def _required_fields(schema: dict[str, Any]) -> list[str]:
    required = schema.get("required", [])
    return [r for r in required if isinstance(r, str)]


class RulesCodeGenerator:
    """Generates ``compute()`` from the spec's ``rules`` (no network, no model)."""

    name = "rules"

    def generate(self, spec: PluginSpec) -> GeneratedLogic:
        try:
            set_fields = {parse_path(r.set)[0][0] for r in spec.rules if r.set is not None}
        except ContractLanguageError as exc:
            raise UnsupportedSpecError(exc.problem, exc.fix) from None
        missing = [f for f in _required_fields(spec.output_schema) if f not in set_fields]
        if missing or not spec.rules:
            fields = ", ".join(missing) or "(any)"
            raise UnsupportedSpecError(
                f"capability '{spec.capability}' needs a code-generation backend that can handle "
                f"this: the spec has no rules that compute output field(s) {fields}",
                "Add rules for them to the stage contract, or choose another backend with "
                "--codegen",
            )
        try:
            source, dates = rules_module(
                spec.rules,
                capability=spec.capability,
                generator=self.name,
                summary=spec.summary or f"Compute '{spec.capability}'.",
            )
        except ContractLanguageError as exc:
            raise UnsupportedSpecError(
                f"capability '{spec.capability}' needs a code-generation backend that can "
                f"handle this: {exc.problem}",
                exc.fix
                or f"Rewrite the rule within the rules language ({SEE_RULES}) or choose "
                "another backend with --codegen",
            ) from None
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
