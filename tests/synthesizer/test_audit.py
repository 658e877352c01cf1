"""The dependency gate: allowlist, exact pins, and pip-audit against an OSV endpoint."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

from synthesizer.audit import DEFAULT_ADVISORIES, check_dependencies, dependency_audit_gate
from synthesizer.osv_server import affects, serve_advisories

PYYAML_ADVISORY = "GHSA-8q59-q68h-6hv4"


def test_known_advisory_rejects_the_pinned_version() -> None:
    gate = dependency_audit_gate(["pyyaml==5.3"])
    assert not gate.passed
    # pip-audit names the advisory by its id or an alias (GHSA-8q59-q68h-6hv4 = CVE-2020-14343)
    ids = {f"advisory:{PYYAML_ADVISORY}", "advisory:CVE-2020-14343"}
    advisories = [f for f in gate.findings if f.rule in ids]
    assert len(advisories) == 1
    assert "pyyaml==5.3 is affected by" in advisories[0].message
    assert "(fixed in: 5.4)" in advisories[0].message


def test_clean_pins_pass() -> None:
    gate = dependency_audit_gate([])
    assert gate.passed, gate.findings
    assert gate.summary.startswith("1 pinned dependencies audited")


def test_unreachable_endpoint_fails_closed() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gate = dependency_audit_gate([], osv_url=f"http://127.0.0.1:{port}/v1/query")
    assert not gate.passed
    assert gate.findings[0].rule == "audit-unavailable"


def test_loopback_endpoint_rejects_malformed_queries(tmp_path: Path) -> None:
    with serve_advisories(tmp_path) as url:
        request = urllib.request.Request(url, data=b"not json", method="POST")
        try:
            urllib.request.urlopen(request)
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
    assert status == 400


def test_policy_findings() -> None:
    pins, findings = check_dependencies(["requests==2.32.0", "pyyaml>=6", "jsonschema"])
    rules = [f.rule for f in findings]
    assert rules == ["dependency-allowlist", "dependency-pin", "dependency-pin"]
    assert pins[-1].startswith("pluggy==")


def test_osv_matching_rules() -> None:
    advisory = json.loads((DEFAULT_ADVISORIES / f"{PYYAML_ADVISORY}.json").read_text())
    assert affects(advisory, "PyYAML", "5.3.1")
    assert not affects(advisory, "pyyaml", "5.4")
    assert not affects(advisory, "other", "1.0")
    listed = {"affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1.0"]}]}
    assert affects(listed, "x", "1.0") and not affects(listed, "x", "1.1")
    last = {
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "x"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "1.0"}, {"last_affected": "1.2"}],
                    }
                ],
            }
        ]
    }
    assert affects(last, "x", "1.2") and not affects(last, "x", "1.3")
    assert not affects(last, "x", "0.9")
