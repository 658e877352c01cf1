"""Contract expressions: a small, side-effect-free Python subset, translated to plain Python.

A spec's rules and constraints are written over ``input``, ``output`` and ``item`` with
attribute access on mappings (``item.likelihood * item.impact``). ``translate`` checks an
expression against the subset and returns readable Python that indexes mappings instead
(``item['likelihood'] * item['impact']``).

The subset:

- literals; names bound by the context, a comprehension or a ``key=`` lambda;
- ``a.b`` (the mapping key ``b``), ``a[0]``, ``a['k']`` and slices ``a[1:]``, ``a[::-1]``;
- arithmetic (``**`` only with a small constant exponent; ``&``, ``|``, ``^`` but no shifts),
  comparisons, ``and``/``or``/``not``,
  ``x if c else y``;
- list, tuple, set and dict displays (``{**a, 'k': 1}``), list, set and dict comprehensions
  and generator expressions;
- calls of pure built-ins (``BUILTIN_FUNCTIONS``): ``range`` refuses more than ``MAX_RANGE``
  numbers; ``sorted``, ``min`` and ``max`` take ``key=lambda r: ...`` (plus ``reverse=`` and
  ``default=``), ``enumerate`` takes ``start=``;
- calls of methods of ``str``, ``list`` and ``dict`` that return new values
  (``ALLOWED_METHODS``: ``", ".join(...)``, ``item.name.upper()``, ``input.rates.get(k, 0)``);
  ``"{} | {}".format(a, b)`` only on a constant string with plain positional fields;
- f-strings whose fields carry at most a short constant format spec (``f"{item.cost:,.2f}"``);
- the date functions (``DATE_FUNCTIONS``) over ISO date strings ``YYYY-MM-DD``:
  ``is_iso_date``, ``date_add_days``, ``days_between`` and ``weekday``, defined below; their
  source (``date_functions_source()``) goes into the generated plugin and the constraint
  evaluator, so a rule and a constraint compute the same thing wherever they run.

No other calls, methods or keywords, no names starting with an underscore, no lambdas but a
``key=``, no assignments. Every construct's cost is bounded by its operands; what depends on
the data (``"-" * output.width``, loops over big inputs) is bounded where the expression runs:
rules in the plugin's sandboxed worker, constraints in the harness's sandboxed evaluator.

A method is told from a mapping key by the call: ``item.title`` is the key ``title``,
``item.title()`` the method.
"""

from __future__ import annotations

import ast
import datetime as _datetime
import difflib
import inspect
import re
import string
from collections.abc import Iterable
from functools import cache
from keyword import iskeyword

from plan_pipeline.contract import MAX_EXPRESSION_LENGTH
from plan_pipeline.errors import ContractLanguageError

BUILTIN_FUNCTIONS = frozenset(
    {"abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "len", "list", "max",
     "min", "range", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "zip"}
)  # fmt: skip
"""Python's built-ins an expression may call."""
DATE_FUNCTIONS = frozenset({"is_iso_date", "date_add_days", "days_between", "weekday"})
"""The date functions over ISO date strings, defined in this module (see below)."""
ALLOWED_FUNCTIONS = BUILTIN_FUNCTIONS | DATE_FUNCTIONS
_KEYWORDS: dict[str, frozenset[str]] = {
    "sorted": frozenset({"key", "reverse"}),
    "min": frozenset({"key", "default"}),
    "max": frozenset({"key", "default"}),
    "enumerate": frozenset({"start"}),
}
"""The keyword arguments a function takes; ``key`` may be a lambda."""
STR_METHODS = frozenset(
    {"join", "split", "rsplit", "splitlines", "strip", "lstrip", "rstrip", "lower", "upper",
     "title", "capitalize", "casefold", "swapcase", "startswith", "endswith", "replace",
     "count", "find", "rfind", "index", "rindex", "partition", "rpartition", "removeprefix",
     "removesuffix", "zfill", "ljust", "rjust", "center", "isdigit", "isdecimal", "isnumeric",
     "isalpha", "isalnum", "isascii", "isspace", "isupper", "islower", "istitle", "format"}
)  # fmt: skip
LIST_METHODS = frozenset({"count", "index", "copy"})
DICT_METHODS = frozenset({"get", "keys", "values", "items", "copy"})
SET_METHODS = frozenset(
    {"union", "intersection", "difference", "symmetric_difference", "issubset", "issuperset",
     "isdisjoint", "copy"}
)  # fmt: skip
ALLOWED_METHODS = STR_METHODS | LIST_METHODS | DICT_METHODS | SET_METHODS
"""Methods of ``str``, ``list``, ``dict`` and ``set`` that return new values and take no
callables."""
MAX_POWER = 10
MAX_FORMAT_WIDTH = 64
MAX_RANGE = 100_000
RANGE_FUNCTION = "bounded_range"
"""What ``range`` becomes in translated Python: ``range`` refusing more than ``MAX_RANGE``."""
CONTEXT_NAMES = frozenset({"input", "output", "item"})
RESERVED_NAMES = ALLOWED_FUNCTIONS | CONTEXT_NAMES | {RANGE_FUNCTION}
"""Names a comprehension variable, a lambda parameter or a ``let`` may not take."""
LET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FORMAT_SPEC = re.compile(
    r"^(?:[^{}]?[<>^=])?[-+ ]?(?P<width>0?\d{1,3})?[,_]?(?:\.(?P<precision>\d{1,3}))?"
    r"[bcdeEfFgGnosxX%]?$"
)

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
    ast.FloorDiv, ast.Mod, ast.Pow, ast.BitAnd, ast.BitOr, ast.BitXor, ast.UnaryOp, ast.Not,
    ast.USub, ast.UAdd, ast.Compare,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    ast.IfExp, ast.Call, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Subscript,
    ast.Slice, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp,
    ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.JoinedStr, ast.FormattedValue,
)  # fmt: skip

_NODE_HINTS: dict[type[ast.AST], str] = {
    ast.NamedExpr: "an expression cannot assign; compute the value in a rule of its own",
    ast.Lambda: "a lambda is allowed only as the key= of sorted, min or max",
    ast.Starred: "unpacking with * is not allowed; join lists with a + b",
    ast.Await: "expressions are synchronous",
    ast.Yield: "use a generator expression: (x for x in xs)",
    ast.YieldFrom: "use a generator expression: (x for x in xs)",
    ast.Invert: "use 'not' for conditions, -x - 1 for numbers",
    ast.LShift: "use '*' with a power of two",
    ast.RShift: "use '//' with a power of two",
    ast.MatMult: "use a comprehension",
}
_CALL_HINTS: dict[str, str] = {
    "sort": "sort into a new list with sorted(xs) or sorted(xs, key=lambda r: r.field)",
    "reverse": "reverse into a new value with reversed(xs) or xs[::-1]",
    "append": "build a new list: xs + [x], or a comprehension",
    "extend": "build a new list: xs + ys",
    "insert": "build a new list: xs[:i] + [x] + xs[i:]",
    "pop": "take the value with xs[-1] or d.get(k), the rest with a slice or a comprehension",
    "remove": "filter with a comprehension: [x for x in xs if x != y]",
    "clear": "use an empty value: [] or {}",
    "update": "merge into a new dict: {**a, **b}",
    "setdefault": "read with d.get(k, default)",
    "format_map": "use an f-string: f'{x.name}'",
    "map": "use a comprehension: [f(x) for x in xs]",
    "filter": "use a comprehension: [x for x in xs if ...]",
    "isinstance": "compare values instead, or describe the type in the output schema",
    "type": "describe the type in the output schema",
    "repr": "use str(x) or an f-string",
    "print": "an expression computes a value; it cannot print",
    "math.floor": "use int(x) for positive numbers, or x // 1",
    "math.ceil": "use -(-x // 1)",
    "math.sqrt": "use x ** 0.5",
    "date": "dates are ISO strings: use date_add_days, days_between, weekday or is_iso_date",
    "datetime": "dates are ISO strings: use date_add_days, days_between, weekday or is_iso_date",
    "date.fromisoformat": "dates are ISO strings: compare them, or use days_between",
    "timedelta": "add days with date_add_days(d, n)",
    "isoweekday": "use weekday(d) + 1",
}


SEE_RULES = "see RULES.md in the plan_pipeline package"
"""Where refusals send a spec's author: the rules language's reference (``docs/RULES.md``,
installed as ``plan_pipeline/RULES.md``)."""


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker(ast.NodeVisitor):
    def __init__(self, expr: str, context: frozenset[str]) -> None:
        self.expr = expr
        self.scopes: list[set[str]] = [set(context)]

    def fail(self, what: str) -> ContractLanguageError:
        return ContractLanguageError(f"expression {self.expr!r}: {what}")

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            hint = _NODE_HINTS.get(type(node))
            tail = f" ({hint})" if hint else ""
            raise self.fail(f"{type(node).__name__} is not allowed in contract expressions{tail}")
        super().generic_visit(node)

    def _known(self) -> set[str]:
        return set().union(*self.scopes)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            return
        if node.id.startswith("_"):
            raise self.fail(f"name {node.id!r} is not allowed")
        if node.id not in self._known() and node.id not in ALLOWED_FUNCTIONS:
            hint = _CALL_HINTS.get(node.id)
            if hint:
                raise self.fail(f"{node.id!r} is not allowed ({hint})")
            known = ", ".join(sorted(self.scopes[0]))
            raise self.fail(
                f"unknown name {node.id!r}{_suggest(node.id, self._known() | ALLOWED_FUNCTIONS)}"
                f" (use {known} or a comprehension variable)"
            )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise self.fail(f"field {node.attr!r} is not allowed (no leading underscore)")
        self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        self.visit(node.slice)

    def visit_Call(self, node: ast.Call) -> None:
        if is_method_call(node):
            assert isinstance(node.func, ast.Attribute)
            self.visit(node.func.value)
            if node.func.attr == "format":
                self._check_format_call(node, node.func)
        else:
            self._check_function(node)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail("*arguments are not allowed (pass the values one by one)")
            self.visit(arg)
        self._check_keywords(node)

    def _check_function(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ALLOWED_FUNCTIONS:
            if func.id in self._known():
                raise self.fail(f"{func.id!r} is shadowed")
            return
        shown = ast.unparse(func)
        name = func.attr if isinstance(func, ast.Attribute) else shown
        hint = _CALL_HINTS.get(shown) or _CALL_HINTS.get(name)
        if isinstance(func, ast.Attribute) and not func.attr.startswith("_"):
            what = f"method {func.attr!r} is not allowed"
            choices: frozenset[str] = ALLOWED_METHODS
        else:
            what = f"call of {shown!r} is not allowed"
            choices = ALLOWED_FUNCTIONS
        if hint:
            raise self.fail(f"{what} ({hint})")
        kind = "methods" if choices is ALLOWED_METHODS else "functions"
        raise self.fail(f"{what}{_suggest(name, choices)}; the allowed {kind}: {SEE_RULES}")

    def _check_keywords(self, node: ast.Call) -> None:
        if not node.keywords:
            return
        name = node.func.id if isinstance(node.func, ast.Name) else None
        allowed = _KEYWORDS.get(name or "", frozenset())
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.fail("**arguments are not allowed")
            if keyword.arg not in allowed:
                shown = ast.unparse(node.func)
                takes = ", ".join(f"{k}=" for k in sorted(allowed)) or "none"
                raise self.fail(
                    f"keyword argument {keyword.arg!r} of {shown!r} is not allowed "
                    f"(keywords it takes: {takes}; pass other arguments by position)"
                )
            if keyword.arg == "key" and isinstance(keyword.value, ast.Lambda):
                self._lambda(keyword.value)
            else:
                self.visit(keyword.value)

    def _lambda(self, node: ast.Lambda) -> None:
        args = node.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.defaults or args.posonlyargs:
            raise self.fail("a key= lambda takes plain parameters only: lambda r: r.cost")
        self.scopes.append({self._bind(arg.arg, "lambda parameter") for arg in args.args})
        self.visit(node.body)
        self.scopes.pop()

    def _bind(self, name: str, what: str) -> str:
        if name.startswith("_") or name in RESERVED_NAMES:
            raise self.fail(f"{what} {name!r} is not allowed (choose another name)")
        return name

    def _check_format_call(self, node: ast.Call, func: ast.Attribute) -> None:
        base = func.value
        if not (isinstance(base, ast.Constant) and isinstance(base.value, str)):
            raise self.fail(
                "'.format' is allowed only on a constant string (use an f-string: f'{x}')"
            )
        try:
            fields = list(string.Formatter().parse(base.value))
        except ValueError:
            raise self.fail("the format string is not valid") from None
        for _, field, spec, conversion in fields:
            if field is None:
                continue
            if field and not field.isdigit():
                raise self.fail(
                    f"format field '{{{field}}}' is not plain (use '{{}}' or '{{0}}' and pass "
                    "the value, e.g. '{}'.format(item.name))"
                )
            if conversion not in (None, "s"):
                raise self.fail("format conversions other than !s are not allowed")
            self._check_format_spec(spec or "")

    def _check_format_spec(self, text: str) -> None:
        match = _FORMAT_SPEC.match(text)
        too_wide = match is not None and any(
            int(match[group] or 0) > MAX_FORMAT_WIDTH for group in ("width", "precision")
        )
        if match is None or too_wide:
            raise self.fail(
                f"format spec {text!r} is not allowed (use an alignment, sign, width and "
                f"precision of at most {MAX_FORMAT_WIDTH}, a ',' and a type, e.g. ',.2f')"
            )

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
        self._check_format_spec("".join(str(p.value) for p in parts if isinstance(p, ast.Constant)))

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
        if isinstance(node.op, ast.Mod) and _may_be_text(node.left):
            raise self.fail("'%' formatting is not allowed (use an f-string: f'{x:.2f}')")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise self.fail(f"constant {node.value!r} is not allowed")

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> None:
        bound: set[str] = set()
        self.scopes.append(bound)
        for gen in node.generators:
            if gen.is_async:
                raise self.fail("async comprehensions are not allowed")
            self.visit(gen.iter)
            for target in ast.walk(gen.target):
                if isinstance(target, ast.Name):
                    bound.add(self._bind(target.id, "comprehension variable"))
                elif not isinstance(target, ast.Tuple | ast.Store):
                    raise self.fail("comprehension targets must be names")
            for cond in gen.ifs:
                self.visit(cond)
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.scopes.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node)

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._comprehension(node)

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._comprehension(node)


def _may_be_text(node: ast.expr) -> bool:
    """Whether ``node``'s value can be a string that a spec wrote: it holds a string constant,
    an f-string or a string method's result anywhere inside (``('' + '%s') % x``). Text that
    comes only from the data stays possible; where it is formatted, the sandbox bounds it."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.JoinedStr):
            return True
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            return True
        if isinstance(inner, ast.Call) and (
            (isinstance(inner.func, ast.Attribute) and inner.func.attr in STR_METHODS)
            or (isinstance(inner.func, ast.Name) and inner.func.id in _TEXT_FUNCTIONS)
        ):
            return True
    return False


_TEXT_FUNCTIONS = frozenset({"str", "repr", "format", "chr", "ascii"})


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

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "range":  # never a bound name: the checker refuses that
            return ast.copy_location(ast.Name(id=RANGE_FUNCTION, ctx=node.ctx), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        value = self.visit(node.value)
        return ast.copy_location(
            ast.Subscript(value=value, slice=ast.Constant(node.attr), ctx=ast.Load()), node
        )


def translate(expr: str, context: Iterable[str]) -> str:
    """Check ``expr`` against the subset and return it as plain Python source.

    ``context`` names the variables the expression may use (``input``, ``output``, ``item``).
    Raises ``ContractLanguageError`` naming the construct that is not allowed. The source calls
    ``bounded_range`` where the expression says ``range``.
    """
    if len(expr) > MAX_EXPRESSION_LENGTH:
        raise ContractLanguageError(
            f"expression {expr[:60]!r}... is {len(expr):,} characters long, more than "
            f"{MAX_EXPRESSION_LENGTH:,}",
            "Split it into several rules or write it more simply",
        )
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (RecursionError, MemoryError, ValueError):
        raise ContractLanguageError(
            f"expression {expr[:60]!r} is nested too deeply or holds a null character",
            "Write it more simply",
        ) from None
    except SyntaxError as exc:
        hint = ""
        keyword_keys = [w for w in re.findall(r"\.\s*([a-z]+)\b", expr) if iskeyword(w)]
        if keyword_keys:
            hint = (
                f" (the key {keyword_keys[0]!r} is a Python keyword: read it as "
                f"x[{keyword_keys[0]!r}])"
            )
        elif re.search(r"(?<![=!<>])=(?!=)", expr) and "lambda" not in expr:
            hint = " (compare with '==')"
        raise ContractLanguageError(
            f"expression {expr!r} is not valid Python: {exc.msg}{hint}"
        ) from None
    try:
        _Checker(expr, frozenset(context)).visit(tree)
        translated = _ToSubscripts().visit(tree)
        source = ast.unparse(ast.fix_missing_locations(translated))
        compile(source, "<expression>", "eval")  # what unparse wrote must parse here too
    except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        what = "not expressible" if isinstance(exc, SyntaxError) else "nested too deeply"
        raise ContractLanguageError(
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


def check_let_name(name: str) -> str:
    """``name`` if a ``let`` rule may bind it, else ``ContractLanguageError``: lower-case
    letters, digits and ``_``, not a Python keyword, not ``input``, ``output`` or ``item``,
    not an allowed function."""
    if not LET_NAME.match(name) or iskeyword(name):
        raise ContractLanguageError(
            f"let name {name!r} is not allowed",
            "Name the value with lower-case letters, digits and '_', starting with a letter "
            f"and not a Python keyword ({SEE_RULES})",
        )
    if name in RESERVED_NAMES:
        what = "an allowed function" if name in ALLOWED_FUNCTIONS else "a name of the language"
        raise ContractLanguageError(
            f"let name {name!r} would shadow {what}", f"Choose another name ({SEE_RULES})"
        )
    return name


def calls_date_functions(source: str) -> bool:
    """Whether translated Python ``source`` names one of the date functions."""
    tree = ast.parse(source, mode="eval")
    return any(isinstance(n, ast.Name) and n.id in DATE_FUNCTIONS for n in ast.walk(tree))


# -- the date functions -------------------------------------------------------------------
#
# Dates are plain JSON: ISO strings ``YYYY-MM-DD`` in and out, never a date object. These
# functions are the language's, and their source is copied as it is into every generated
# plugin that uses them and into the constraint evaluator: they use nothing but ``datetime``.

_MAX_DAYS = 3_652_058
"""Days from 0001-01-01 to 9999-12-31: no day count between two dates is larger."""


def _iso_date(value: object, function: str) -> _datetime.date:
    """``value`` as a date when it is a real calendar date written ``YYYY-MM-DD``."""
    problem = "is not a date written YYYY-MM-DD"
    if (
        isinstance(value, str)
        and len(value) == 10
        and value[4] == "-"
        and value[7] == "-"
        and all(c in "0123456789" for c in value[:4] + value[5:7] + value[8:])
    ):
        try:
            return _datetime.date(int(value[:4]), int(value[5:7]), int(value[8:]))
        except ValueError:
            problem = "is not a real calendar date (years 0001 to 9999)"
    shown = repr(value[:12]) if isinstance(value, str) else "a value that is not text"
    raise ValueError(f"{function}: {shown} {problem}")


def _whole_days(value: object, function: str) -> int:
    """``value`` as a whole number of days (an int, or a float without a fraction)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        shown = "a boolean" if isinstance(value, bool) else "a value of another kind"
        raise ValueError(
            f"{function}: the day count must be a whole number, not "
            f"{repr(value) if isinstance(value, float) else shown}"
        )
    if abs(value) > _MAX_DAYS:
        raise ValueError(
            f"{function}: a day count beyond {_MAX_DAYS} leads outside the years 1 to 9999"
        )
    return value


def is_iso_date(d: object) -> bool:
    """Whether ``d`` is a real calendar date written ``YYYY-MM-DD`` (leap years count)."""
    try:
        _iso_date(d, "is_iso_date")
    except ValueError:
        return False
    return True


def date_add_days(d: object, n: object) -> str:
    """The date ``n`` days after ``d`` (before, for a negative ``n``), as ``YYYY-MM-DD``."""
    start = _iso_date(d, "date_add_days")
    days = _whole_days(n, "date_add_days")
    try:
        return (start + _datetime.timedelta(days=days)).isoformat()
    except OverflowError:
        raise ValueError(
            f"date_add_days: {start.isoformat()} plus {days} days is outside the years 1 to 9999"
        ) from None


def days_between(a: object, b: object) -> int:
    """The number of days from ``a`` to ``b``: negative when ``b`` is before ``a``."""
    return (_iso_date(b, "days_between") - _iso_date(a, "days_between")).days


def weekday(d: object) -> int:
    """The day of the week of ``d``: 0 for Monday to 6 for Sunday."""
    return _iso_date(d, "weekday").weekday()


_DATE_DEFINITIONS = (_iso_date, _whole_days, is_iso_date, date_add_days, days_between, weekday)


@cache
def date_functions_source() -> str:
    """The date functions' source as a module fragment that imports what it needs: copied
    into generated plugins and run by the constraint evaluator."""
    parts = [
        "import datetime as _datetime",
        f"_MAX_DAYS = {_MAX_DAYS}",
        *(inspect.getsource(function).rstrip("\n") for function in _DATE_DEFINITIONS),
    ]
    return "\n\n\n".join(parts) + "\n"
