"""The dependency gate: allowlist, exact pins, and a pip-audit run against an OSV endpoint.

A plugin may depend only on packages from the allowlist, pinned exactly (``name==version``),
at the version the verification environment provides (the sandbox tests run against it). The
pinned set, plus ``pluggy`` at its installed version, is audited with ``pip-audit --strict``
against an OSV-compatible endpoint: ``--osv-url`` if given, else a loopback server over the
advisories folder. Never the PyPI service: for packages of a private index it would find
nothing and report a false clean. An unreachable endpoint fails the gate.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from synthesizer.osv_server import serve_advisories
from synthesizer.report import Finding, GateResult, timed

DEFAULT_ADVISORIES = Path(__file__).resolve().parent / "advisories"
AUDIT_TIMEOUT_S = 60

ALLOWED_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "pyyaml": ("yaml",),
    "python-dateutil": ("dateutil",),
    "jsonschema": ("jsonschema",),
    "packaging": ("packaging",),
}
"""Distributions a plugin may depend on, with the modules each provides."""


def check_dependencies(
    dependencies: Iterable[str], allowlist: dict[str, tuple[str, ...]] = ALLOWED_DEPENDENCIES
) -> tuple[list[str], list[Finding]]:
    """Pinned requirements for the audit, and findings for every dependency that breaks policy."""
    pins: list[str] = []
    findings: list[Finding] = []
    for text in dependencies:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            findings.append(Finding(rule="dependency", message=f"{text!r}: {exc}"))
            continue
        name = canonicalize_name(req.name)
        specs = list(req.specifier)
        if name not in allowlist:
            findings.append(Finding(
                rule="dependency-allowlist",
                message=f"'{req.name}' is not on the dependency allowlist "
                f"({', '.join(sorted(allowlist))})",
            ))  # fmt: skip
            continue
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            findings.append(Finding(
                rule="dependency-pin", message=f"'{text}' must be pinned exactly, as name==version"
            ))  # fmt: skip
            continue
        pinned = specs[0].version
        try:
            present = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            present = None
        if present != pinned:
            findings.append(Finding(
                rule="dependency-available",
                message=f"'{text}' is not available for verification "
                f"(the environment has {present or 'no'} {req.name})",
            ))  # fmt: skip
        pins.append(f"{name}=={pinned}")
    pins.append(f"pluggy=={metadata.version('pluggy')}")
    return pins, findings


@contextmanager
def osv_endpoint(osv_url: str | None, advisories: Path = DEFAULT_ADVISORIES) -> Iterator[str]:
    """``osv_url`` if given, else a loopback OSV server over ``advisories`` for the block."""
    if osv_url:
        yield osv_url
        return
    with serve_advisories(advisories) as url:
        yield url


def run_pip_audit(pins: list[str], osv_url: str, work: Path) -> list[Finding]:
    """Audit ``pins`` with pip-audit; any failure to audit is a finding (fail closed)."""
    requirements = work / "audit-requirements.txt"
    requirements.write_text("\n".join(pins) + "\n", encoding="utf-8")
    command = [
        sys.executable, "-m", "pip_audit", "--requirement", str(requirements), "--no-deps",
        "--disable-pip", "--strict", "--vulnerability-service", "osv", "--osv-url", osv_url,
        "--cache-dir", str(work / "pip-audit-cache"), "--progress-spinner", "off",
        "--format", "json", "--timeout", "10",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return [Finding(rule="audit-unavailable", message=f"pip-audit timed out ({osv_url})")]
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [Finding(
            rule="audit-unavailable",
            message=f"pip-audit could not audit against {osv_url} (exit {proc.returncode}): {last}",
        )]  # fmt: skip
    findings = []
    for dep in report.get("dependencies", []):
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none"
            findings.append(Finding(
                rule=f"advisory:{vuln['id']}",
                message=f"{dep['name']}=={dep.get('version')} is affected by {vuln['id']} "
                f"(fixed in: {fixes})",
            ))  # fmt: skip
        if "skip_reason" in dep:
            findings.append(Finding(
                rule="audit-skipped", message=f"{dep['name']}: {dep['skip_reason']}"
            ))  # fmt: skip
    if proc.returncode not in (0, 1) and not findings:
        findings.append(Finding(rule="audit-failed", message=f"pip-audit exit {proc.returncode}"))
    return findings


def dependency_audit_gate(
    dependencies: Iterable[str],
    *,
    osv_url: str | None = None,
    advisories: Path = DEFAULT_ADVISORIES,
) -> GateResult:
    """The whole dependency gate: policy checks, then the audit of the pinned set."""
    with timed() as took:
        pins, findings = check_dependencies(dependencies)
        with (
            tempfile.TemporaryDirectory(prefix="planexe-audit-") as tmp,
            osv_endpoint(osv_url, advisories) as url,
        ):
            findings += run_pip_audit(pins, url, Path(tmp))
    return GateResult.from_findings(
        "dependency_audit",
        findings,
        f"{len(pins)} pinned dependencies audited, no advisories",
        took[0],
    )
