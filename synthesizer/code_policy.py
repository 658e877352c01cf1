"""The AST policy of the static-analysis gate: what plugin source may say, by the spec's
permissions.

Defense in depth, not the wall: generated plugins run in a sandboxed worker whatever this
finds. The policy refuses what ordinary plugin logic never needs and escapes often use:

- imports outside the allowed modules (pure standard-library modules, ``pluggy``, the
  plugin's own package and its declared dependencies, widened only by permissions);
- a module used as anything but ``module.name``, a module reached as an attribute of another
  (``dataclasses.sys``), a name an allowed module does not have when imported (``copy.copyreg``:
  only what its ``dir`` lists is reachable), a private or dangerous name of an allowed module
  (``typing.get_type_hints``, ``dataclasses.make_dataclass``, ``string.Formatter``...), and
  assignments to a module's attributes (monkeypatching);
- dangerous built-ins (``eval``, ``exec``, ``compile``, ``globals``, ``vars``...) under any
  spelling: as names, as attributes, as rebound names; ``getattr``/``hasattr`` except with a
  constant public name, ``setattr``/``delattr`` always;
- dunder names, attributes, strings, keywords, parameters and method definitions (but a few
  plain protocol methods), frame, code and generator internals (``f_back``, ``gi_frame``...);
- ``match`` class patterns except plain built-in types, ``str.format`` on anything but a
  constant string with plain fields, decorators outside a short list, metaclasses and class
  keywords, JSON decoder hooks;
- file access without a filesystem permission, by ``open`` or by any file-reading attribute.
"""

from __future__ import annotations

import ast
import importlib
import string
import types
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from synthesizer.report import Finding

PURE_MODULES = frozenset(
    {"__future__", "typing", "math", "cmath", "json", "re", "statistics", "datetime", "decimal",
     "fractions", "itertools", "functools", "collections", "collections.abc", "dataclasses",
     "enum", "copy", "numbers", "bisect", "heapq", "textwrap", "unicodedata", "string",
     "operator", "pluggy"}
)  # fmt: skip
"""Modules without side effects; their dangerous names are in ``DANGEROUS_NAMES``."""

DANGEROUS_NAMES: dict[str, frozenset[str]] = {
    "typing": frozenset({"get_type_hints", "ForwardRef", "evaluate_forward_ref"}),
    "dataclasses": frozenset({"make_dataclass"}),
    "json": frozenset({"JSONDecoder", "JSONEncoder"}),
    "string": frozenset({"Formatter"}),
    "operator": frozenset({"attrgetter", "methodcaller"}),
    "pluggy": frozenset({"PluginManager", "HookCaller", "HookRelay"}),
    "functools": frozenset({"singledispatch", "singledispatchmethod", "update_wrapper", "wraps"}),
}
"""Names of pure modules that evaluate strings, look up attributes by name or load code."""

PERMISSION_MODULES: dict[str, frozenset[str]] = {
    "network": frozenset({"socket", "ssl", "http", "urllib", "requests", "httpx"}),
    "subprocess": frozenset({"subprocess", "os", "shlex"}),
    "filesystem_read": frozenset({"os", "pathlib", "io", "csv", "glob", "fnmatch"}),
    "filesystem_write": frozenset({"os", "pathlib", "io", "csv", "shutil", "tempfile"}),
    "environment": frozenset({"os"}),
}
KNOWN_PERMISSIONS = frozenset(PERMISSION_MODULES)
_FILE_PERMISSIONS = frozenset({"filesystem_read", "filesystem_write"})

FORBIDDEN_BUILTINS = frozenset(
    {"eval", "exec", "compile", "__import__", "breakpoint", "globals", "locals", "vars",
     "exit", "quit", "help", "memoryview", "license", "credits", "copyright", "setattr",
     "delattr"}
)  # fmt: skip
NAMED_ATTRIBUTE_CALLS = frozenset({"getattr", "hasattr"})
"""Allowed only as a direct call with a constant public name."""
FILE_NAMES = frozenset(
    {"open", "read_text", "read_bytes", "write_text", "write_bytes", "getline", "getlines",
     "open_text", "open_binary", "read_binary", "as_file", "files", "fdopen", "listdir",
     "scandir", "walk", "iterdir", "glob", "rglob"}
)  # fmt: skip
"""Built-ins and attributes that open, read or list files: need a filesystem permission."""
INTERNAL_ATTRIBUTES = frozenset(
    {"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "tb_frame",
     "tb_next", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
     "ag_frame", "ag_code", "co_code", "co_consts", "co_names", "func_globals", "func_code",
     "mro", "currentframe", "_getframe", "get_objects", "get_referrers", "get_referents",
     "modules", "builtins", "system", "popen", "import_module", "load_module", "exec_module",
     "format_map", "attrgetter", "methodcaller", "get_type_hints", "make_dataclass",
     "posix_spawn", "posix_spawnp", "execl", "execle", "execlp", "execlpe", "execv", "execve",
     "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve",
     "spawnvp", "spawnvpe", "fork", "forkpty", "kill", "killpg", "startfile"}
)  # fmt: skip
"""Attribute names refused on any object: frames, code, interpreter state, code loaders, and
the ways ``os`` starts or signals processes (a module other permissions grant; starting a
program needs the ``subprocess`` module and its permission)."""
ALLOWED_DUNDERS = frozenset({"__name__", "__doc__", "__future__", "__all__", "__version__"})
ALLOWED_DUNDER_METHODS = frozenset(
    {"__init__", "__post_init__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__",
     "__le__", "__gt__", "__ge__", "__hash__", "__len__", "__iter__", "__contains__",
     "__bool__"}
)  # fmt: skip
ALLOWED_DECORATORS = frozenset(
    {"staticmethod", "classmethod", "property", "dataclass", "dataclasses.dataclass",
     "cache", "functools.cache", "lru_cache", "functools.lru_cache", "cached_property",
     "functools.cached_property", "total_ordering", "functools.total_ordering", "unique",
     "enum.unique", "overload", "typing.overload", "final", "typing.final", "hookimpl"}
)  # fmt: skip
MATCHABLE_TYPES = frozenset(
    {"int", "float", "str", "bool", "list", "dict", "tuple", "set", "frozenset", "bytes"}
)
HOOK_KEYWORDS = frozenset(
    {"object_hook", "object_pairs_hook", "parse_float", "parse_int", "parse_constant", "cls"}
)
"""Keywords that hand a callable to a decoder (``json.loads(..., object_hook=...)``)."""


def allowed_modules(permissions: Iterable[str], own: Iterable[str]) -> frozenset[str]:
    """Modules a plugin with ``permissions`` may import (plus its ``own`` packages)."""
    allowed = set(PURE_MODULES) | set(own)
    for permission in permissions:
        allowed |= PERMISSION_MODULES.get(permission, frozenset())
    return frozenset(allowed)


_INSPECTABLE = PURE_MODULES | frozenset().union(*PERMISSION_MODULES.values())


@cache
def _module_members(name: str) -> dict[str, bool] | None:
    """Public names of module ``name`` mapped to whether each is itself a module, or ``None``
    for a module that is not ours to import (the plugin's own package is never imported)."""
    if name.split(".")[0] not in _INSPECTABLE:
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    return {
        attr: isinstance(getattr(module, attr, None), types.ModuleType)
        for attr in dir(module)
        if not attr.startswith("_")
    }


_OWNERS = frozenset({"self", "cls"})
_NOT_REBINDABLE = FORBIDDEN_BUILTINS | NAMED_ATTRIBUTE_CALLS | {"open", "format", "print"}
_STRING_EVALUATORS = DANGEROUS_NAMES["typing"] | DANGEROUS_NAMES["operator"]
_Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names, else ``None``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


class _Policy(ast.NodeVisitor):
    def __init__(
        self, path: str, allowed: frozenset[str], own: frozenset[str], permissions: frozenset[str]
    ) -> None:
        self.path = path
        self.allowed = allowed
        self.own = own
        self.files_allowed = bool(permissions & _FILE_PERMISSIONS)
        self.findings: list[Finding] = []
        self.modules: dict[str, str] = {}
        """Names bound to modules by imports, and the module each names."""
        self._module_bases: set[int] = set()
        self._checked_calls: set[int] = set()
        self._checked_formats: set[int] = set()

    def flag(self, node: ast.AST, rule: str, message: str) -> None:
        line = getattr(node, "lineno", None)
        self.findings.append(Finding(rule=rule, message=message, path=self.path, line=line))

    # -- imports and modules -------------------------------------------------------------

    def _module_allowed(self, module: str) -> bool:
        if module in self.allowed:
            return True
        top = module.split(".")[0]
        return top in self.own or (top in self.allowed and top not in PURE_MODULES)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not self._module_allowed(alias.name):
                self.flag(node, "import", f"import of '{alias.name}' is not allowed by the spec")
            if alias.asname:
                self.modules[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.modules[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.flag(node, "import", "relative imports are not allowed: name the package")
            return
        if not self._module_allowed(module):
            self.flag(node, "import", f"import of '{module}' is not allowed by the spec")
            return
        for alias in node.names:
            bound = alias.asname or alias.name
            if node.level and alias.name.startswith("_"):
                self.flag(node, "module-attribute", f"'{alias.name}' is private to its module")
            elif alias.name == "*":
                self.flag(node, "import", f"'from {module} import *' is not allowed")
            elif node.level == 0 and self._member_problem(node, module, alias.name):
                continue
            elif node.level == 0 and self._is_module(module, alias.name):
                self.modules[bound] = f"{module}.{alias.name}"
            self._check_binding(node, bound)

    def _is_member(self, module: str, name: str) -> bool:
        """Whether ``name`` is a public name ``module`` has when imported here (a module
        not ours to inspect, such as the plugin's own, has every name): a name it lacks is
        either an error or set at run time by someone else (``copy.copyreg``), so refused."""
        members = _module_members(module)
        return members is None or name in members or name in ALLOWED_DUNDERS

    def _is_module(self, module: str, name: str) -> bool:
        members = _module_members(module)
        return bool(members and members.get(name))

    def _member_problem(self, node: ast.AST, module: str, name: str) -> bool:
        """Flag ``module.name`` if it is private, dangerous or a module not allowed."""
        shown = f"{module}.{name}"
        if name.startswith("__") and name not in ALLOWED_DUNDERS:
            self.flag(node, "dunder", f"use of '{shown}' is not allowed")
        elif name.startswith("_") and module.split(".")[0] not in self.own:
            self.flag(node, "module-attribute", f"'{shown}' is private to its module")
        elif name in DANGEROUS_NAMES.get(module, ()) or name in INTERNAL_ATTRIBUTES:
            self.flag(node, "module-attribute", f"'{shown}' is not allowed")
        elif not self._is_member(module, name):
            self.flag(node, "module-attribute", f"'{shown}' is not a public name of '{module}'")
        elif self._is_module(module, name) and not self._module_allowed(shown):
            self.flag(node, "module-attribute", f"module '{shown}' reached through '{module}'")
        else:
            return False
        return True

    # -- names -------------------------------------------------------------------------------

    def _check_binding(self, node: ast.AST, name: str) -> None:
        if name.startswith("__") and name not in ALLOWED_DUNDERS:
            self.flag(node, "dunder", f"binding '{name}' is not allowed")
        elif name in _NOT_REBINDABLE:
            self.flag(node, "rebinding", f"'{name}' may not be rebound")

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if not isinstance(node.ctx, ast.Load):
            if name in self.modules:
                self.flag(node, "rebinding", f"module name '{name}' may not be rebound")
            self._check_binding(node, name)
            return
        if name in self.modules:
            if id(node) not in self._module_bases:
                self.flag(node, "module-value", f"module '{name}' may only be used as {name}.X")
        elif name.startswith("__") and name not in ALLOWED_DUNDERS:
            self.flag(node, "dunder", f"use of '{name}' is not allowed")
        elif name in FORBIDDEN_BUILTINS:
            self.flag(node, "dynamic-code", f"use of '{name}' is not allowed")
        elif name == "open" and not self.files_allowed:
            self.flag(node, "filesystem", f"use of '{name}' needs a filesystem permission")
        elif name in NAMED_ATTRIBUTE_CALLS and id(node) not in self._checked_calls:
            self.flag(node, "dynamic-attribute", f"'{name}' with a computed or private name")
        elif name in _STRING_EVALUATORS:
            self.flag(node, "string-evaluator", f"use of '{name}' is not allowed")

    def visit_arg(self, node: ast.arg) -> None:
        self._check_binding(node, node.arg)
        if node.arg in self.modules:
            self.flag(node, "rebinding", f"module name '{node.arg}' may not be rebound")
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._check_binding(node, name)

    visit_Nonlocal = visit_Global  # type: ignore[assignment]

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._check_binding(node, node.name)
        self.generic_visit(node)

    # -- attributes ----------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        base = node.value
        if isinstance(base, ast.Attribute):
            self._module_bases.add(id(base))  # a module reached here is used as module.X
        if isinstance(base, ast.Name) and base.id in self.modules:
            self._module_bases.add(id(base))
            module = self.modules[base.id]
            if not isinstance(node.ctx, ast.Load):
                self.flag(node, "monkeypatch", f"assignment to '{module}.{attr}' is not allowed")
            elif self._member_problem(node, module, attr):
                pass
            elif attr == "open" and not self.files_allowed:
                self.flag(node, "filesystem", f"'{module}.open' needs a filesystem permission")
            elif self._is_module(module, attr) and id(node) not in self._module_bases:
                self.flag(node, "module-value", f"module '{module}.{attr}' used as a value")
            elif attr == "format" and id(node) not in self._checked_formats:
                self.flag(node, "format", "'.format' is allowed only called on a constant string")
            self.generic_visit(node)
            return
        root = _dotted(node)
        if not isinstance(node.ctx, ast.Load) and root and root.split(".")[0] in self.modules:
            self.flag(node, "monkeypatch", f"assignment to '{root}' is not allowed")
        if attr.startswith("__") and attr not in ALLOWED_DUNDERS:
            self.flag(node, "dunder", f"access to '{attr}' is not allowed")
        elif attr.startswith("_") and not (isinstance(base, ast.Name) and base.id in _OWNERS):
            self.flag(node, "private", f"'.{attr}' is private (only self._x and cls._x)")
        elif attr == "format" and id(node) not in self._checked_formats:
            self.flag(node, "format", "'.format' is allowed only called on a constant string")
        elif attr in FORBIDDEN_BUILTINS | NAMED_ATTRIBUTE_CALLS:
            self.flag(node, "dynamic-code", f"'.{attr}' is not allowed")
        elif attr in INTERNAL_ATTRIBUTES:
            self.flag(node, "internals", f"'.{attr}' reaches interpreter internals")
        elif attr in FILE_NAMES and not self.files_allowed:
            self.flag(node, "filesystem", f"'.{attr}' needs a filesystem permission")
        self.generic_visit(node)

    # -- calls -----------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in NAMED_ATTRIBUTE_CALLS:
            attr = node.args[1] if len(node.args) > 1 else None
            target = node.args[0] if node.args else None
            if (
                isinstance(attr, ast.Constant)
                and isinstance(attr.value, str)
                and attr.value.isidentifier()
                and not attr.value.startswith("_")
                and attr.value not in INTERNAL_ATTRIBUTES | FORBIDDEN_BUILTINS
                and not (isinstance(target, ast.Name) and target.id in self.modules)
            ):
                self._checked_calls.add(id(func))
        if isinstance(func, ast.Attribute) and func.attr == "format":
            self._checked_formats.add(id(func))
            self._check_format(node, func)
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) != 1:
            self.flag(node, "dynamic-class", "type() with other than one argument makes classes")
        for keyword in node.keywords:
            if keyword.arg is None:
                self.flag(node, "keywords", "'**' keyword unpacking is not allowed in calls")
                continue
            if keyword.arg.startswith("__"):
                self.flag(node, "dunder", f"keyword '{keyword.arg}' is not allowed")
            elif keyword.arg in HOOK_KEYWORDS or (
                keyword.arg == "default"
                and isinstance(func, ast.Attribute)
                and func.attr in {"dump", "dumps"}
            ):
                self.flag(node, "decoder-hook", f"keyword '{keyword.arg}' hands over a callable")
        self.generic_visit(node)

    def _check_format(self, node: ast.Call, func: ast.Attribute) -> None:
        base = func.value
        if not (isinstance(base, ast.Constant) and isinstance(base.value, str)):
            self.flag(node, "format", "'.format' is allowed only on a constant string")
            return
        try:
            fields = list(string.Formatter().parse(base.value))
        except ValueError:
            self.flag(node, "format", "the format string is not valid")
            return
        for _, field, spec, _ in fields:
            if field and not (field.isdigit() or field.isidentifier()):
                self.flag(node, "format", f"format field '{{{field}}}' reaches into a value")
            if spec and "{" in spec:
                self.flag(node, "format", "nested format fields are not allowed")

    # -- definitions ---------------------------------------------------------------------

    def _check_decorators(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    ) -> None:
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            name = _dotted(target)
            if name not in ALLOWED_DECORATORS:
                shown = name or ast.unparse(target)
                self.flag(decorator, "decorator", f"decorator '{shown}' is not allowed")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        name = node.name
        if name.startswith("__") and name not in ALLOWED_DUNDER_METHODS:
            self.flag(node, "dunder", f"defining '{name}' is not allowed")
        elif not name.startswith("__"):
            self._check_binding(node, name)
        if name in self.modules:
            self.flag(node, "rebinding", f"module name '{name}' may not be rebound")
        self._check_decorators(node)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._check_binding(node, node.name)
        if node.keywords:
            self.flag(node, "metaclass", "class keywords (metaclass=...) are not allowed")
        self._check_decorators(node)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        cls = node.cls
        if not (isinstance(cls, ast.Name) and cls.id in MATCHABLE_TYPES) or node.kwd_patterns:
            shown = ast.unparse(cls)
            self.flag(node, "match-class", f"class pattern '{shown}(...)' is not allowed")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and "__" in value:
            self.flag(node, "dunder", "a string naming a dunder ('__') is not allowed")


def check_policy(
    files: Iterable[Path], root: Path, permissions: Iterable[str], own_modules: Iterable[str]
) -> list[Finding]:
    """The AST-policy findings for ``files`` (paths reported relative to ``root``)."""
    granted = frozenset(permissions)
    own = frozenset(own_modules)
    allowed = allowed_modules(granted, own)
    findings: list[Finding] = []
    for path in sorted(files):
        rel = str(path.relative_to(root))
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            findings.append(Finding(rule="syntax", message=f"cannot parse: {exc}", path=rel))
            continue
        policy = _Policy(rel, allowed, own, granted)
        policy.visit(tree)
        findings += policy.findings
    return findings
