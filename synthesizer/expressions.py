"""Contract expressions: a small, side-effect-free Python subset, translated to plain Python.

A spec's rules and constraints are written over ``input``, ``output`` and ``item`` with
attribute access on mappings (``item.likelihood * item.impact``). ``translate`` checks an
expression against the subset and returns readable Python that indexes mappings instead
(``item['likelihood'] * item['impact']``).

The subset: literals, names bound by the context or a comprehension, ``a.b`` (a mapping key),
``a[0]`` / ``a['k']``, arithmetic (``**`` only with a small constant exponent), comparisons,
``and``/``or``/``not``, ``x if c else y``, list/tuple/dict displays, list comprehensions and
generator expressions, calls of a fixed set of pure built-ins, calls of a fixed set of methods
of ``str`` and ``dict`` that return new values (``", ".join(...)``, ``item.name.upper()``,
``input.rates.get(k, 0)``), and f-strings whose fields carry at most a short constant format
spec (``f"{item.cost:,.2f}"``). No other calls or methods, no names starting with an
underscore, no lambdas, no assignments.

A method is told from a mapping key by the call: ``item.title`` is the key ``title``,
``item.title()`` the method.
"""

from __future__ import annotations

import ast
import re
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
ALLOWED_METHODS = frozenset(
    {"join", "split", "strip", "lstrip", "rstrip", "lower", "upper", "title", "capitalize",
     "startswith", "endswith", "replace", "count", "find", "get", "keys", "values", "items"}
)  # fmt: skip
"""Methods of ``str`` and ``dict`` that return new values and take no callables."""
MAX_POWER = 10
MAX_FORMAT_WIDTH = 64
_FORMAT_SPEC = re.compile(
    r"^(?:[^{}]?[<>^=])?[-+ ]?(?P<width>0?\d{1,3})?[,_]?(?:\.(?P<precision>\d{1,3}))?"
    r"[bcdeEfFgGnosxX%]?$"
)

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
    ast.FloorDiv, ast.Mod, ast.Pow, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Compare,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    ast.IfExp, ast.Call, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Subscript,
    ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.ListComp, ast.GeneratorExp,
    ast.comprehension, ast.JoinedStr, ast.FormattedValue,
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
        if is_method_call(node):
            assert isinstance(node.func, ast.Attribute)
            self.visit(node.func.value)
        elif not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
            shown = ast.unparse(node.func)
            allowed = ", ".join(sorted(ALLOWED_FUNCTIONS))
            methods = ", ".join(sorted(ALLOWED_METHODS))
            raise self.fail(
                f"call of {shown!r} is not allowed (functions: {allowed}; methods: {methods})"
            )
        elif node.func.id in self.scopes[-1] - ALLOWED_FUNCTIONS:
            raise self.fail(f"{node.func.id!r} is shadowed")
        if node.keywords:
            raise self.fail("keyword arguments are not allowed")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail("*arguments are not allowed")
            self.visit(arg)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        if node.conversion not in (-1, ord("s")):
            raise self.fail("f-string conversions other than !s are not allowed")
        self.visit(node.value)
        spec = node.format_spec
        if spec is None:
            return
        parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
        if not all(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts):
            raise self.fail("an f-string format spec must be constant (no nested fields)")
        text = "".join(str(p.value) for p in parts if isinstance(p, ast.Constant))
        match = _FORMAT_SPEC.match(text)
        too_wide = match is not None and any(
            int(match[group] or 0) > MAX_FORMAT_WIDTH for group in ("width", "precision")
        )
        if match is None or too_wide:
            raise self.fail(
                f"format spec {text!r} is not allowed (use an alignment, sign, width and "
                f"precision of at most {MAX_FORMAT_WIDTH}, a ',' and a type, e.g. ',.2f')"
            )

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if (
            isinstance(node.op, ast.Pow)
            and any(
                isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Pow)
                for inner in ast.walk(node.left)
            )
            and not (
                isinstance(node.right, ast.Constant)
                and isinstance(node.right.value, int | float)
                and abs(node.right.value) <= 1
            )
        ):  # a tower such as (9 ** 10) ** 10 ** ... would take the harness minutes
            raise self.fail(
                "'**' over a base that holds '**' needs an exponent of at most 1 (a root)"
            )
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


def is_method_call(node: ast.Call) -> bool:
    """Whether ``node`` calls one of the allowed methods (``x.join(...)``)."""
    return isinstance(node.func, ast.Attribute) and node.func.attr in ALLOWED_METHODS


class _ToSubscripts(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        if is_method_call(node):
            assert isinstance(node.func, ast.Attribute)
            node.func.value = self.visit(node.func.value)
            node.args = [self.visit(arg) for arg in node.args]
            return node
        return self.generic_visit(node)

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
    try:
        _Checker(expr, frozenset(context)).visit(tree)
        translated = _ToSubscripts().visit(tree)
        source = ast.unparse(ast.fix_missing_locations(translated))
        compile(source, "<expression>", "eval")  # what unparse wrote must parse here too
    except (SyntaxError, RecursionError) as exc:
        what = "nested too deeply" if isinstance(exc, RecursionError) else "not expressible"
        raise UnsupportedSpecError(
            f"expression {expr!r} is {what} in this Python", "Write it more simply"
        ) from None
    return source


def builds_fresh_value(expr: str) -> bool:
    """True when ``expr``'s value shares nothing with ``input``: a constant, a comparison, a
    unary operation or an f-string. Anything else (a reference, ``x.get(...)``, ``a or b``,
    ``input.rows + []``, a comprehension over input items) may alias the input and is copied."""
    node = ast.parse(expr.strip(), mode="eval").body
    fresh = (ast.Constant, ast.JoinedStr, ast.UnaryOp, ast.Compare)
    return isinstance(node, fresh)
