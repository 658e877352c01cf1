"""The static-analysis gate rejects unsafe plugin code and accepts every generated plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from plan_pipeline.spec import PluginSpec
from synthesizer.render import PluginNames, render_project
from synthesizer.rules_codegen import RulesCodeGenerator
from synthesizer.static_analysis import check_policy, static_analysis_gate
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
