"""The static-analysis gate: bandit plus an AST policy driven by the spec's permissions.

Runs on the rendered sources before anything of the plugin is built, imported or run. The
policy allows a plugin what its spec grants and nothing else. With no permissions (the
default) a plugin may import only pure standard-library modules, ``pluggy``, its own package
and its declared dependencies, and may not:

- reach the network, start processes or touch the filesystem or the environment;
- run dynamic code (``eval``, ``exec``, ``compile``, ``__import__``, ``importlib``);
- look names up dynamically (``getattr``/``setattr``/``delattr`` with a computed or dunder
  name, ``globals()``, ``locals()``, ``vars()``) or reach interpreter internals through dunder
  attributes (``__class__``, ``__subclasses__``, ``__globals__``, ``__builtins__``...);
- decode and load code or objects (``base64``, ``pickle``, ``marshal``, ``ctypes``...).
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name

from synthesizer.report import Finding, GateResult, timed

PURE_MODULES = frozenset(
    {"__future__", "typing", "math", "cmath", "json", "re", "statistics", "datetime", "decimal",
     "fractions", "itertools", "functools", "collections", "dataclasses", "enum", "copy",
     "numbers", "bisect", "heapq", "textwrap", "unicodedata", "pluggy"}
)  # fmt: skip

PERMISSION_MODULES: dict[str, frozenset[str]] = {
    "network": frozenset({"socket", "ssl", "http", "urllib", "requests", "httpx"}),
    "subprocess": frozenset({"subprocess", "os", "shlex"}),
    "filesystem_read": frozenset({"os", "pathlib", "io", "csv", "glob", "fnmatch"}),
    "filesystem_write": frozenset({"os", "pathlib", "io", "csv", "shutil", "tempfile"}),
    "environment": frozenset({"os"}),
}
KNOWN_PERMISSIONS = frozenset(PERMISSION_MODULES)

ALWAYS_FORBIDDEN_CALLS = frozenset(
    {"eval", "exec", "compile", "__import__", "breakpoint", "globals", "locals", "vars",
     "exit", "quit", "help", "memoryview"}
)  # fmt: skip
FILE_CALLS = frozenset({"open"})
DYNAMIC_ATTRIBUTE_CALLS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
ALLOWED_DUNDERS = frozenset({"__name__", "__doc__", "__future__", "__all__", "__version__"})
STRING_EVALUATORS = frozenset(
    {
        "attrgetter",
        "methodcaller",
        "Formatter",
        "get_type_hints",
        "ForwardRef",
        "_eval_type",
        "evaluate_forward_ref",
        "get_annotations",
        "__getattribute__",
        "format_map",
    }
)
"""Library functions that look up attributes or evaluate code named in a string."""


def allowed_modules(permissions: Iterable[str], own: Iterable[str]) -> frozenset[str]:
    """Top-level modules a plugin with ``permissions`` may import (plus its ``own`` names)."""
    allowed = set(PURE_MODULES) | set(own)
    for permission in permissions:
        allowed |= PERMISSION_MODULES.get(permission, frozenset())
    return frozenset(allowed)


class _Policy(ast.NodeVisitor):
    def __init__(self, path: str, allowed: frozenset[str], permissions: frozenset[str]) -> None:
        self.path = path
        self.allowed = allowed
        self.permissions = permissions
        self.findings: list[Finding] = []
        self._checked_calls: set[int] = set()

    def _flag(self, node: ast.AST, rule: str, message: str) -> None:
        line = getattr(node, "lineno", None)
        self.findings.append(Finding(rule=rule, message=message, path=self.path, line=line))

    def _check_module(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if top not in self.allowed:
            self._flag(node, "import", f"import of '{module}' is not allowed by the spec")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._check_module(node, node.module)
        for alias in node.names:
            if alias.name.startswith("__") and alias.name not in ALLOWED_DUNDERS:
                self._flag(node, "dunder", f"import of '{alias.name}' is not allowed")
            if alias.name in STRING_EVALUATORS:
                self._flag(node, "string-evaluator", f"import of '{alias.name}' is not allowed")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in DYNAMIC_ATTRIBUTE_CALLS:
            attr = node.args[1] if len(node.args) > 1 else None
            if (
                isinstance(attr, ast.Constant)
                and isinstance(attr.value, str)
                and not attr.value.startswith("_")
            ):
                self._checked_calls.add(id(func))  # a plain, public, constant name: allowed
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("__") and node.attr not in ALLOWED_DUNDERS:
            self._flag(node, "dunder", f"access to '{node.attr}' is not allowed")
        if node.attr in STRING_EVALUATORS:
            self._flag(node, "string-evaluator", f"use of '{node.attr}' is not allowed")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        """Forbidden built-ins are refused wherever they are named, not only where called:
        ``e = eval`` or ``[getattr][0]`` would otherwise slip through."""
        name = node.id
        if name.startswith("__") and name not in ALLOWED_DUNDERS:
            self._flag(node, "dunder", f"use of '{name}' is not allowed")
        elif name in ALWAYS_FORBIDDEN_CALLS:
            self._flag(node, "dynamic-code", f"use of '{name}' is not allowed")
        elif name in FILE_CALLS and not self.permissions & {"filesystem_read", "filesystem_write"}:
            self._flag(node, "filesystem", f"use of '{name}' needs a filesystem permission")
        elif name in DYNAMIC_ATTRIBUTE_CALLS and id(node) not in self._checked_calls:
            self._flag(node, "dynamic-attribute", f"'{name}' with a computed or private name")
        elif name in STRING_EVALUATORS:
            self._flag(node, "string-evaluator", f"use of '{name}' is not allowed")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "__" in node.value:
            self._flag(node, "dunder", "a string naming a dunder ('__') is not allowed")


def check_policy(
    files: Iterable[Path], root: Path, permissions: Iterable[str], own_modules: Iterable[str]
) -> list[Finding]:
    """The AST-policy findings for ``files`` (paths reported relative to ``root``)."""
    granted = frozenset(permissions)
    allowed = allowed_modules(granted, own_modules)
    findings: list[Finding] = []
    for path in sorted(files):
        rel = str(path.relative_to(root))
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            findings.append(Finding(rule="syntax", message=f"cannot parse: {exc}", path=rel))
            continue
        policy = _Policy(rel, allowed, granted)
        policy.visit(tree)
        findings += policy.findings
    return findings


def run_bandit(files: Iterable[Path], root: Path) -> list[Finding]:
    """bandit's findings for ``files``, through its Python API (no subprocess)."""
    from bandit.core import config as bandit_config
    from bandit.core import manager as bandit_manager

    logging.getLogger("bandit").setLevel(logging.ERROR)
    manager = bandit_manager.BanditManager(bandit_config.BanditConfig(), "file", quiet=True)
    manager.discover_files([str(p) for p in sorted(files)])
    manager.run_tests()
    findings = [
        Finding(
            rule=f"bandit:{issue.test_id}",
            message=f"{issue.text} (severity {issue.severity}, confidence {issue.confidence})",
            path=str(Path(issue.fname).relative_to(root)),
            line=issue.lineno,
        )
        for issue in manager.get_issue_list()
    ]
    findings += [
        Finding(rule="bandit:skipped", message=f"bandit could not analyse the file: {reason}",
                path=str(Path(name).relative_to(root)))
        for name, reason in manager.get_skipped()
    ]  # fmt: skip
    return findings


def static_analysis_gate(
    package_dir: Path, root: Path, permissions: Iterable[str], dependencies: Iterable[str]
) -> GateResult:
    """Run the AST policy and bandit on every Python file of ``package_dir``."""
    own = {package_dir.name} | {name for d in dependencies for name in _import_names(d)}
    with timed() as took:
        files = list(package_dir.rglob("*.py"))
        unknown = sorted(set(permissions) - KNOWN_PERMISSIONS)
        findings = [
            Finding(rule="permission", message=f"unknown permission '{p}'") for p in unknown
        ]
        findings += check_policy(files, root, permissions, own)
        findings += run_bandit(files, root)
    return GateResult.from_findings(
        "static_analysis", findings, f"{len(files)} files clean", took[0]
    )


def _import_names(requirement: str) -> tuple[str, ...]:
    """The modules a declared dependency provides (from the allowlist; else its own name)."""
    from synthesizer.audit import ALLOWED_DEPENDENCIES

    name = canonicalize_name(requirement.split("==")[0].split("[")[0].strip())
    return ALLOWED_DEPENDENCIES.get(name, (name.replace("-", "_"),))
