"""The static-analysis gate: bandit, the AST policy of ``code_policy.py``, and names.

Runs on the rendered sources before anything of the plugin is built, imported or run. The
policy allows a plugin what its spec grants and nothing else; it is defense in depth: a
generated plugin runs in a sandboxed worker whatever the analysis found.

Names: pyflakes (PyCQA's checker, which reads the code without running it) finds names used
but never defined or imported, and star imports, as findings with their line, before the
contract tests would only see that "the sandboxed worker could not load the plugin".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name

from synthesizer.code_policy import KNOWN_PERMISSIONS, check_policy
from synthesizer.report import Finding, GateResult, timed


def run_bandit(files: Iterable[Path], root: Path) -> list[Finding]:
    """bandit's findings for ``files``, through its Python API (no subprocess).

    ``# nosec`` comments are ignored: the plugin's author (a model, a stranger) does not
    decide which of its lines the gate reads."""
    # bandit loads its formatter plugins on import, and one it does not use here (sarif)
    # logs an ERROR when its module is missing
    logging.getLogger("stevedore.extension").setLevel(logging.CRITICAL)
    from bandit.core import config as bandit_config
    from bandit.core import manager as bandit_manager

    logging.getLogger("bandit").setLevel(logging.ERROR)
    manager = bandit_manager.BanditManager(
        bandit_config.BanditConfig(), "file", quiet=True, ignore_nosec=True
    )
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


_NAME_PROBLEMS = ("UndefinedName", "UndefinedExport", "UndefinedLocal", "ImportStarUsed")


def check_names(files: Iterable[Path], root: Path) -> list[Finding]:
    """Names used but never defined or imported, and star imports (pyflakes)."""
    import ast

    from pyflakes import checker

    findings: list[Finding] = []
    for path in sorted(files):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # the policy reports what does not parse
        for message in checker.Checker(tree, filename=str(path)).messages:
            kind = type(message).__name__
            if kind not in _NAME_PROBLEMS:
                continue
            text = message.message % message.message_args
            if kind == "UndefinedName":
                text += ": import it or define it before use"
            where = str(path.relative_to(root))
            findings.append(Finding(rule="names", message=text, path=where, line=message.lineno))
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
        findings += check_names(files, root)
        findings += run_bandit(files, root)
    return GateResult.from_findings(
        "static_analysis", findings, f"{len(files)} files clean", took[0]
    )


def _import_names(requirement: str) -> tuple[str, ...]:
    """The modules a declared dependency provides (from the allowlist; else its own name)."""
    from synthesizer.audit import ALLOWED_DEPENDENCIES

    name = canonicalize_name(requirement.split("==")[0].split("[")[0].strip())
    return ALLOWED_DEPENDENCIES.get(name, (name.replace("-", "_"),))
