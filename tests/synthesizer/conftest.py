from __future__ import annotations

import sys
from pathlib import Path

import pytest

from plan_pipeline.plan import load_plan
from plan_pipeline.spec import PluginSpec, draft_spec
from tests.conftest import EXAMPLE_PLAN


def example_specs() -> dict[str, PluginSpec]:
    """The specs the example plan drafts for its two missing capabilities."""
    plan = load_plan(EXAMPLE_PLAN)
    specs = {}
    for stage in plan.plan.stages:
        if stage.contract is not None:
            specs[stage.capability] = draft_spec(
                stage, {}, provenance={"plan": "solar-microgrid", "run_id": "t"}
            )
    return specs


@pytest.fixture
def risk_spec() -> PluginSpec:
    return example_specs()["risk.score_matrix"]


@pytest.fixture
def solar_spec() -> PluginSpec:
    return example_specs()["energy.solar_yield"]


@pytest.fixture
def fast_limits_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANEXE_PROPERTY_EXAMPLES", "10")


def spec_path(tmp_path: Path, spec: PluginSpec) -> Path:
    path = tmp_path / f"{spec.capability}.json"
    path.write_text(spec.to_json())
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The corpus figures (``test_corpus.py``), when the corpus ran in this session."""
    corpus = sys.modules.get("tests.synthesizer.test_corpus")
    for line in getattr(corpus, "FIGURES", []):
        terminalreporter.write_sep("-", line)
