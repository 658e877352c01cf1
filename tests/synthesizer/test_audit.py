"""The dependency gate: allowlist, exact pins, and pip-audit against an OSV endpoint."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import socket
import urllib.request
from pathlib import Path

import pytest

from synthesizer.audit import (
    DEFAULT_ADVISORIES,
    audit_cache_dir,
    audit_cache_key,
    check_dependencies,
    dependency_audit_gate,
)
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
    assert gate.summary.startswith("audited 1 distribution(s), the pins and all they require")


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
    jsonschema = importlib.metadata.version("jsonschema")
    pins, findings = check_dependencies(
        [
            "requests==2.32.0",
            "pyyaml>=6",
            "jsonschema",
            f"jsonschema[format]=={jsonschema}",
            f"jsonschema=={jsonschema}; python_version > '3'",
        ]
    )
    rules = [f.rule for f in findings]
    assert rules == ["dependency-allowlist", *["dependency-pin"] * 4]
    assert "without extras, markers or URL" in findings[3].message
    assert pins == [f"pluggy=={importlib.metadata.version('pluggy')}"]


def test_what_a_pin_requires_is_audited_at_the_installed_version() -> None:
    jsonschema = importlib.metadata.version("jsonschema")
    pins, findings = check_dependencies([f"jsonschema=={jsonschema}"])
    assert findings == []
    for name in ("jsonschema", "attrs", "referencing", "rpds-py", "pluggy"):
        version = importlib.metadata.version(name)
        assert f"{name}=={version}" in pins, (name, pins)


def test_an_advisory_on_a_requirement_of_a_pin_fails_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker mounts jsonschema's requirements too: an advisory on attrs, which no spec
    names, must fail a plugin that pins jsonschema."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "advisories"
    folder.mkdir()
    attrs = importlib.metadata.version("attrs")
    advisory = {
        "id": "TEST-ATTRS",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "attrs"}, "versions": [attrs]}],
    }
    (folder / "TEST-ATTRS.json").write_text(json.dumps(advisory))
    pin = f"jsonschema=={importlib.metadata.version('jsonschema')}"
    gate = dependency_audit_gate([pin], advisories=folder)
    assert not gate.passed
    assert [f.message for f in gate.findings] == [
        f"attrs=={attrs} is affected by TEST-ATTRS (fixed in: none)"
    ]


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


CACHED = "(cached: an earlier audit of the same pins against the same advisories)"


def test_a_repeated_audit_is_answered_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = dependency_audit_gate([])
    assert first.passed and CACHED not in first.summary
    again = dependency_audit_gate([])
    assert again.passed and again.summary.endswith(CACHED)
    # an advisory hit is cached too, and still fails the gate with the advisory named
    failing = dependency_audit_gate(["pyyaml==5.3"])
    cached = dependency_audit_gate(["pyyaml==5.3"])
    assert not cached.passed and cached.summary.endswith(CACHED)
    assert [f.rule for f in cached.findings] == [f.rule for f in failing.findings]


def test_the_cache_key_follows_the_advisories_and_the_pins(tmp_path: Path) -> None:
    folder = tmp_path / "advisories"
    folder.mkdir()
    pins = ["pluggy==1.5.0"]
    empty = audit_cache_key(pins, folder)
    shutil.copy(DEFAULT_ADVISORIES / f"{PYYAML_ADVISORY}.json", folder)
    one = audit_cache_key(pins, folder)
    (folder / "README.md").write_text("not read by the server")
    assert audit_cache_key(pins, folder) == one
    assert len({empty, one, audit_cache_key(["pluggy==1.6.0"], folder)}) == 3
    assert audit_cache_key(list(reversed(["a==1", "b==2"])), folder) == audit_cache_key(
        ["a==1", "b==2"], folder
    )


def test_a_new_advisory_is_not_hidden_by_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "advisories"
    folder.mkdir()
    pin = f"pyyaml=={importlib.metadata.version('pyyaml')}"
    assert dependency_audit_gate([pin], advisories=folder).passed
    advisory = {
        "id": "TEST-0001",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "pyyaml"},
                      "versions": [importlib.metadata.version("pyyaml")]}],
    }  # fmt: skip
    (folder / "TEST-0001.json").write_text(json.dumps(advisory))
    gate = dependency_audit_gate([pin], advisories=folder)
    assert not gate.passed
    assert CACHED not in gate.summary
    assert any(f.rule == "advisory:TEST-0001" for f in gate.findings)


@pytest.mark.parametrize(
    "entry",
    [
        "{not json",
        '{"key": "another", "findings": []}',
        '{"key": "KEY", "findings": "none"}',
        '{"key": "KEY", "findings": [{"rule": "audit-unavailable", "message": "x"}]}',
    ],
    ids=["not json", "another key", "no list", "an incomplete audit"],
)
def test_a_corrupt_cache_entry_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pins, _ = check_dependencies([])
    key = audit_cache_key(pins, DEFAULT_ADVISORIES)
    assert key is not None
    audit_cache_dir().mkdir(parents=True)
    (audit_cache_dir() / f"{key}.json").write_text(entry.replace("KEY", key))
    gate = dependency_audit_gate([])
    assert gate.passed and CACHED not in gate.summary  # audited again, entry replaced
    assert dependency_audit_gate([]).summary.endswith(CACHED)


def test_a_remote_endpoint_is_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with serve_advisories(DEFAULT_ADVISORIES) as url:
        for _ in range(2):
            gate = dependency_audit_gate([], osv_url=url)
            assert gate.passed and CACHED not in gate.summary
    assert not audit_cache_dir().exists()
