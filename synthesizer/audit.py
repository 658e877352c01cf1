"""The dependency gate: allowlist, exact pins, and a pip-audit run against an OSV endpoint.

A plugin may depend only on packages from the allowlist, pinned exactly (``name==version``,
no extras, no markers), at the version the verification environment provides (the sandbox
tests run against it). What is audited is what the plugin's worker mounts: the pinned
distributions and pluggy and, recursively, everything they require, at the versions
installed here. That set is audited with ``pip-audit --strict --no-deps``
against an OSV-compatible endpoint: ``--osv-url`` if given, else a loopback server over the
advisories folder. Never the PyPI service: for packages of a private index it would find
nothing and report a false clean. An unreachable endpoint fails the gate.

A completed audit of the loopback advisories is cached in the user's cache folder
(``$XDG_CACHE_HOME`` or ``~/.cache``, ``planexe-plugin-hub/audit/``), keyed by everything that
decides its answer: the pinned set, a digest of the advisory files, the source of the OSV
server that matches them, pip-audit's version and the command's options. Nothing of the
plugin but its pins goes into the key. An audit against a remote ``--osv-url`` is never
cached: the service's advisories cannot be digested and change at any time. An entry that
does not parse, or whose key or findings are not what this module writes, is ignored (and
replaced by a new audit). An audit that did not complete (unreachable endpoint, timeout, a
skipped package) is not cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from plan_pipeline.errors import PluginWorkerError
from plan_pipeline.plugin_worker import requirement_closure
from synthesizer.report import Finding, GateResult, timed

DEFAULT_ADVISORIES = Path(__file__).resolve().parent / "advisories"
AUDIT_TIMEOUT_S = 60
_OSV_SERVER = Path(__file__).with_name("osv_server.py")
_CACHE_FORMAT = 1
_INCOMPLETE = frozenset({"audit-unavailable", "audit-failed", "audit-skipped"})

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
        if req.extras or req.marker is not None or req.url:
            findings.append(Finding(
                rule="dependency-pin",
                message=f"'{text}' must be a plain name==version, without extras, markers or URL",
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
            continue
        closure, problem = _mounted_closure(req.name)
        pins += closure
        if problem:
            findings.append(Finding(rule="dependency-available", message=problem))
    pins += _mounted_closure("pluggy")[0]
    return sorted(set(pins)), findings


def _mounted_closure(name: str) -> tuple[list[str], str | None]:
    """``name==version`` of the installed distribution ``name`` and of everything it requires,
    recursively (what a worker mounts beside the plugin), and why that set is incomplete."""
    try:
        dists = requirement_closure(metadata.distribution(name), name)
    except PluginWorkerError as exc:
        return [], exc.problem
    return [f"{canonicalize_name(d.metadata['Name'])}=={d.version}" for d in dists], None


@contextmanager
def osv_endpoint(osv_url: str | None, advisories: Path = DEFAULT_ADVISORIES) -> Iterator[str]:
    """``osv_url`` if given, else a loopback OSV server over ``advisories`` for the block."""
    if osv_url:
        yield osv_url
        return
    from synthesizer.osv_server import serve_advisories  # only when an audit runs

    with serve_advisories(advisories) as url:
        yield url


def _audit_command(requirements: Path, osv_url: str, cache_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "pip_audit", "--requirement", str(requirements), "--no-deps",
        "--disable-pip", "--strict", "--vulnerability-service", "osv", "--osv-url", osv_url,
        "--cache-dir", str(cache_dir), "--progress-spinner", "off",
        "--format", "json", "--timeout", "10",
    ]  # fmt: skip


def run_pip_audit(pins: list[str], osv_url: str, work: Path) -> list[Finding]:
    """Audit ``pins`` with pip-audit; any failure to audit is a finding (fail closed)."""
    requirements = work / "audit-requirements.txt"
    requirements.write_text("\n".join(pins) + "\n", encoding="utf-8")
    command = _audit_command(requirements, osv_url, work / "pip-audit-cache")
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


def audit_cache_dir() -> Path:
    """The user's folder of cached audits."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "planexe-plugin-hub" / "audit"


def advisories_digest(folder: Path) -> str | None:
    """sha256 over the advisory files the loopback server reads (``*.json``, by name), or
    ``None`` when they cannot all be read (then nothing is cached)."""
    digest = hashlib.sha256()
    try:
        for path in sorted(folder.glob("*.json")):
            data = path.read_bytes()
            digest.update(f"{path.name}\0{len(data)}\0".encode())
            digest.update(data)
    except OSError:
        return None
    return digest.hexdigest()


def audit_cache_key(pins: list[str], advisories: Path) -> str | None:
    """The cache key of auditing ``pins`` against the loopback server over ``advisories``:
    a digest of everything that decides the answer, or ``None`` when one part is unknown."""
    data = advisories_digest(advisories)
    try:
        server = hashlib.sha256(_OSV_SERVER.read_bytes()).hexdigest()
        pip_audit = metadata.version("pip-audit")
    except (OSError, metadata.PackageNotFoundError):
        return None
    if data is None:
        return None
    command = _audit_command(Path("REQUIREMENTS"), "OSV_URL", Path("CACHE"))[1:]
    parts = {
        "format": _CACHE_FORMAT,
        "pins": sorted(pins),
        "advisories": data,
        "osv_server": server,
        "pip_audit": pip_audit,
        "command": command,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _cached_findings(key: str) -> list[Finding] | None:
    """The findings of the cached audit ``key``; ``None`` when there is no entry or it is not
    one this module wrote (unreadable, another key, findings of an incomplete audit)."""
    path = audit_cache_dir() / f"{key}.json"
    try:
        entry: Any = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        raw = entry.get("findings")
        if not isinstance(raw, list):
            return None
        findings = [Finding.model_validate(item) for item in raw]
    except (OSError, UnicodeError, ValueError):
        return None
    if any(f.rule in _INCOMPLETE or not f.rule.startswith("advisory:") for f in findings):
        return None
    return findings


def _store_findings(key: str, pins: list[str], findings: list[Finding]) -> None:
    """Write the entry atomically (a new file renamed over the old); a cache that cannot be
    written only costs the next audit its time."""
    folder = audit_cache_dir()
    entry = {"key": key, "pins": sorted(pins), "findings": [f.model_dump() for f in findings]}
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
            os.replace(tmp, folder / f"{key}.json")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def dependency_audit_gate(
    dependencies: Iterable[str],
    *,
    osv_url: str | None = None,
    advisories: Path = DEFAULT_ADVISORIES,
) -> GateResult:
    """The whole dependency gate: policy checks, then the audit of the pinned set (from the
    cache when the same pins were audited against the same advisories before)."""
    with timed() as took:
        pins, findings = check_dependencies(dependencies)
        key = None if osv_url else audit_cache_key(pins, advisories)
        audited = _cached_findings(key) if key is not None else None
        cached = audited is not None
        if audited is None:
            with (
                tempfile.TemporaryDirectory(prefix="planexe-audit-") as tmp,
                osv_endpoint(osv_url, advisories) as url,
            ):
                audited = run_pip_audit(pins, url, Path(tmp))
            if key is not None and not any(f.rule in _INCOMPLETE for f in audited):
                _store_findings(key, pins, audited)
        findings += audited
    how = " (cached: an earlier audit of the same pins against the same advisories)"
    gate = GateResult.from_findings(
        "dependency_audit",
        findings,
        f"audited {len(pins)} distribution(s), the pins and all they require: no advisories"
        + (how if cached else ""),
        took[0],
    )
    if cached and findings:
        gate.summary += how
    return gate
