"""The static-analysis gate rejects unsafe plugin code and accepts every generated plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from plan_pipeline.spec import PluginSpec
from synthesizer.code_policy import check_policy
from synthesizer.render import PluginNames, render_project
from synthesizer.rules_codegen import RulesCodeGenerator
from synthesizer.static_analysis import static_analysis_gate
from tests.synthesizer.conftest import example_specs

CORPUS = sorted((Path(__file__).parent / "unsafe_plugins").glob("*.py"))


def _package(tmp_path: Path, logic: str) -> Path:
    package = tmp_path / "planexe_gen_probe"
    package.mkdir()
    (package / "__init__.py").write_text("from planexe_gen_probe.logic import compute\n")
    (package / "logic.py").write_text(logic)
    return package


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("source", CORPUS, ids=lambda p: p.stem)
def test_unsafe_source_is_rejected(source: Path, tmp_path: Path) -> None:
    text = source.read_text()
    expected = text.splitlines()[0].removeprefix("# expect: ").strip()
    package = _package(tmp_path, text)
    gate = static_analysis_gate(package, tmp_path, permissions=[], dependencies=[])
    assert not gate.passed
    rules = {f.rule for f in gate.findings}
    assert expected in rules, (expected, gate.findings)
    assert all(f.path == "planexe_gen_probe/logic.py" for f in gate.findings if f.line)


def test_permissions_widen_the_policy(tmp_path: Path) -> None:
    source = (Path(__file__).parent / "unsafe_plugins" / "14_environ_secret.py").read_text()
    package = _package(tmp_path, source)
    assert not check_policy(package.rglob("*.py"), tmp_path, ["environment"], [package.name])
    assert check_policy(package.rglob("*.py"), tmp_path, [], [package.name])


def test_os_permissions_never_allow_starting_processes(tmp_path: Path) -> None:
    """A worker's spec may grant ``os`` (environment, files): its process functions stay
    refused however the spec widens the policy."""
    source = (Path(__file__).parent / "unsafe_plugins" / "82_os_posix_spawn.py").read_text()
    package = _package(tmp_path, source)
    for permissions in (["environment"], ["filesystem_read", "filesystem_write", "network"]):
        findings = check_policy(package.rglob("*.py"), tmp_path, permissions, [package.name])
        assert [f.rule for f in findings] == ["module-attribute"], permissions


def test_unknown_permission_is_a_finding(tmp_path: Path) -> None:
    package = _package(tmp_path, "def compute(input):\n    return {}\n")
    gate = static_analysis_gate(package, tmp_path, permissions=["root"], dependencies=[])
    assert not gate.passed
    assert gate.findings[0].message == "unknown permission 'root'"


def test_bandit_findings_fail_the_gate(tmp_path: Path) -> None:
    # allowed by the policy (no import, no call) but flagged by bandit: a hard-coded password
    source = 'PASSWORD = "hunter2"\n\n\ndef compute(input):\n    return {"p": PASSWORD}\n'
    gate = static_analysis_gate(_package(tmp_path, source), tmp_path, [], [])
    assert not gate.passed
    assert any(f.rule.startswith("bandit:") for f in gate.findings)


@pytest.mark.parametrize("comment", ["# nosec", "# nosec B602", "# nosec: B602,B404"])
def test_nosec_does_not_silence_the_gate(comment: str, tmp_path: Path) -> None:
    """A plugin granted ``subprocess`` that marks its shell call ``# nosec`` still fails."""
    source = (
        f"import subprocess  {comment}\n\n\n"
        "def compute(input):\n"
        f"    out = subprocess.run(input['cmd'], shell=True, capture_output=True)  {comment}\n"
        "    return {'out': out.stdout.decode()}\n"
    )
    package = _package(tmp_path, source)
    assert not check_policy(package.rglob("*.py"), tmp_path, ["subprocess"], [package.name])
    gate = static_analysis_gate(package, tmp_path, permissions=["subprocess"], dependencies=[])
    assert not gate.passed
    assert "bandit:B602" in {f.rule for f in gate.findings}, gate.findings


@pytest.mark.parametrize("capability", sorted(example_specs()))
def test_generated_plugins_pass(capability: str, tmp_path: Path) -> None:
    spec: PluginSpec = example_specs()[capability]
    project = render_project(spec, RulesCodeGenerator().generate(spec), tmp_path)
    package = project / PluginNames.for_capability(capability).module_name
    gate = static_analysis_gate(package, project, spec.permissions, spec.dependencies)
    assert gate.passed, gate.findings
    assert gate.summary == "3 files clean"


def test_declared_dependencies_may_be_imported_by_their_module_names(tmp_path: Path) -> None:
    package = _package(tmp_path, "import yaml\n\n\ndef compute(input):\n    return {}\n")
    assert static_analysis_gate(package, tmp_path, [], ["pyyaml==6.0.3"]).passed
    assert not static_analysis_gate(package, tmp_path, [], []).passed


ORDINARY = '''
"""Ordinary pure logic: none of it may be refused."""

from __future__ import annotations

import re
import statistics
import string
import textwrap
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Row:
    name: str
    score: float

    def __str__(self) -> str:
        return "{0}: {score:.1f}".format(self.name, score=self.score)


@lru_cache(maxsize=32)
def label(score: float) -> str:
    return "high" if score >= 15 else "low"


def compute(input: dict[str, Any]) -> dict[str, Any]:
    rows = [Row(r["name"], float(r["score"])) for r in input["rows"]]
    match len(rows):
        case 0:
            return {"table": "", "mean": 0}
        case int(n) if n > 100:
            rows = rows[:100]
    words = Counter(w for r in rows for w in WORD.findall(r.name.lower()))
    ordered = sorted(rows, key=lambda r: r.score)
    table = "\\n".join(f"| {r.name} | {label(r.score)} |" for r in ordered)
    header = string.capwords("risk table") + "\\n" + textwrap.dedent("""
        | name | level |""").strip()
    data = getattr(input, "get")("extra", {})
    return {
        "table": header + "\\n" + table,
        "mean": statistics.fmean(r.score for r in rows),
        "words": dict(words),
        "extra": data,
        "digits": string.digits,
    }
'''


def test_ordinary_pure_logic_is_not_refused(tmp_path: Path) -> None:
    package = _package(tmp_path, ORDINARY)
    findings = check_policy(package.rglob("*.py"), tmp_path, [], [package.name])
    assert findings == []
