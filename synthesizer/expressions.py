"""Contract expressions: a small, side-effect-free Python subset, translated to plain Python.

A spec's rules and constraints are written over ``input``, ``output`` and ``item`` with
attribute access on mappings (``item.likelihood * item.impact``). ``translate`` checks an
expression against the subset and returns readable Python that indexes mappings instead
(``item['likelihood'] * item['impact']``).

The subset: literals, names bound by the context or a comprehension, ``a.b`` (a mapping key),
``a[0]`` / ``a['k']``, arithmetic (``**`` only with a small constant exponent), comparisons,
``and``/``or``/``not``, ``x if c else y``, list/tuple/dict displays, list comprehensions and
generator expressions, and calls of a fixed set of pure built-ins. No other calls, no methods,
no names starting with an underscore, no lambdas, no assignments.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from synthesizer.errors import UnsupportedSpecError

ALLOWED_FUNCTIONS = frozenset(
    {
        "abs",
        "all",
        "any",
        "bool",
        "float",
        "int",
        "len",
        "max",
        "min",
        "round",
        "sorted",
        "str",
        "sum",
    }
)
MAX_POWER = 10

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
    ast.FloorDiv, ast.Mod, ast.Pow, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Compare,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    ast.IfExp, ast.Call, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Subscript,
    ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.ListComp, ast.GeneratorExp,
    ast.comprehension,
)  # fmt: skip


class _Checker(ast.NodeVisitor):
    def __init__(self, expr: str, context: frozenset[str]) -> None:
        self.expr = expr
        self.scopes: list[set[str]] = [set(context)]

    def fail(self, what: str) -> UnsupportedSpecError:
        return UnsupportedSpecError(f"expression {self.expr!r}: {what}")

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            raise self.fail(f"{type(node).__name__} is not allowed in contract expressions")
        super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            return
        if node.id.startswith("_"):
            raise self.fail(f"name {node.id!r} is not allowed")
        if not any(node.id in scope for scope in self.scopes) and node.id not in ALLOWED_FUNCTIONS:
            known = ", ".join(sorted(self.scopes[0]))
            raise self.fail(f"unknown name {node.id!r} (use {known} or a comprehension variable)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise self.fail(f"field {node.attr!r} is not allowed (no leading underscore)")
        self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
            shown = ast.unparse(node.func)
            allowed = ", ".join(sorted(ALLOWED_FUNCTIONS))
            raise self.fail(f"call of {shown!r} is not allowed (allowed: {allowed})")
        if node.keywords:
            raise self.fail("keyword arguments are not allowed")
        if node.func.id in self.scopes[-1] - ALLOWED_FUNCTIONS:
            raise self.fail(f"{node.func.id!r} is shadowed")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail("*arguments are not allowed")
            self.visit(arg)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (
                isinstance(exponent, ast.Constant)
                and isinstance(exponent.value, int | float)
                and not isinstance(exponent.value, bool)
                and abs(exponent.value) <= MAX_POWER
            ):
                raise self.fail(f"'**' needs a constant exponent of at most {MAX_POWER}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise self.fail(f"constant {node.value!r} is not allowed")

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> None:
        bound: set[str] = set()
        self.scopes.append(bound)
        for gen in node.generators:
            if gen.is_async:
                raise self.fail("async comprehensions are not allowed")
            self.visit(gen.iter)
            for target in ast.walk(gen.target):
                if isinstance(target, ast.Name):
                    if target.id.startswith("_") or target.id in ALLOWED_FUNCTIONS:
                        raise self.fail(f"comprehension variable {target.id!r} is not allowed")
                    bound.add(target.id)
                elif not isinstance(target, ast.Tuple | ast.Store):
                    raise self.fail("comprehension targets must be names")
            for cond in gen.ifs:
                self.visit(cond)
        self.visit(node.elt)
        self.scopes.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._comprehension(node)


class _ToSubscripts(ast.NodeTransformer):
    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        value = self.visit(node.value)
        return ast.copy_location(
            ast.Subscript(value=value, slice=ast.Constant(node.attr), ctx=ast.Load()), node
        )


def translate(expr: str, context: Iterable[str]) -> str:
    """Check ``expr`` against the subset and return it as plain Python source.

    ``context`` names the variables the expression may use (``input``, ``output``, ``item``).
    Raises ``UnsupportedSpecError`` naming the construct that is not allowed.
    """
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsupportedSpecError(f"expression {expr!r} is not valid Python: {exc.msg}") from None
    _Checker(expr, frozenset(context)).visit(tree)
    translated = _ToSubscripts().visit(tree)
    return ast.unparse(ast.fix_missing_locations(translated))


def is_plain_reference(expr: str) -> bool:
    """True when ``expr`` only names a value (``input.risks``), so the result may alias input."""
    node = ast.parse(expr.strip(), mode="eval").body
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return isinstance(node, ast.Name)
