"""Contracts enforced at run time: a sandboxed plugin's answer that breaks its stage contract
fails the stage, quarantines the plugin and stops its worker; a check that cannot be done
fails the stage without accusing the plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plan_pipeline import plugin_worker
from plan_pipeline.contract import CapabilityNeed, Contract
from plan_pipeline.errors import (
    CapabilityNotFoundError,
    ContractViolationError,
    StageOutputError,
)
from plan_pipeline.quarantine import LocalQuarantine
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.sandbox import SandboxLimits
from plan_pipeline.stage_runner import run_capability
from tests.plugin_factory import PluginSource, install_plugin

LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=10, max_processes=16)
CONTEXT = {"run_id": "run-t", "stage": "scores", "capability": "risk.scores"}

CONTRACT = Contract(
    input_schema={"type": "object", "required": ["risks"]},
    output_schema={"type": "object", "required": ["risks"]},
    constraints=[
        "all(r.score == r.likelihood * r.impact for r in output.risks)",
        "all(100 / r.impact > 0 for r in output.risks)",
    ],
    examples=[
        {  # type: ignore[list-item]
            "input": {"risks": [{"likelihood": 2, "impact": 3}]},
            "output": {"risks": [{"likelihood": 2, "impact": 3, "score": 6}]},
        }
    ],
)
NEED = CapabilityNeed(name="scores", capability="risk.scores", contract=CONTRACT)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CapabilityRegistry:
    """A plugin that scores every risk right, except a risk of likelihood 5 (scored 1)."""
    site = tmp_path / "site"
    install_plugin(
        site,
        PluginSource(
            "acme-risk-scores",
            f"acme_scores_{abs(hash(tmp_path)) % 10**8}",
            {
                "risk.scores": "{'risks': [dict(r, score=1 if r['likelihood'] == 5 else "
                "r['likelihood'] * r['impact']) for r in inputs['risks']]}"
            },
        ),
    )
    monkeypatch.syspath_prepend(str(site))
    return CapabilityRegistry(limits=LIMITS, quarantine=LocalQuarantine(tmp_path / "q.json"))


def _run(registry: CapabilityRegistry, risks: list[dict[str, Any]]) -> dict[str, Any]:
    loaded = registry.load("risk.scores")
    assert loaded.worker is not None  # a sandboxed plugin: its answers are checked
    output, _ = run_capability(NEED, loaded, {"risks": risks}, CONTEXT)
    return output


def test_a_right_answer_passes_and_a_wrong_one_quarantines_the_plugin(
    registry: CapabilityRegistry,
) -> None:
    try:
        assert _run(registry, [{"likelihood": 4, "impact": 2}])["risks"][0]["score"] == 8
        worker = registry.load("risk.scores").worker
        with pytest.raises(ContractViolationError) as stopped:
            _run(registry, [{"likelihood": 5, "impact": 2}])
        said = str(stopped.value)
        assert said.startswith("stage 'scores': plugin acme-risk-scores 1.0.0 broke the stage ")
        assert 'on input {"risks": [{"impact": 2, "likelihood": 5}]}' in said
        assert "constraint does not hold: all(r.score == r.likelihood * r.impact" in said
        assert "quarantined in this environment" in said
        assert (stopped.value.dist_name, stopped.value.version) == ("acme-risk-scores", "1.0.0")
        assert registry.quarantine.holds("acme-risk-scores", "1.0.0")
        assert worker is not None and worker._process is None  # its worker was stopped
        with pytest.raises(
            CapabilityNotFoundError, match=r"acme-risk-scores 1\.0\.0 is quarantined"
        ):
            registry.load("risk.scores")  # not even from this process's cache
        again = CapabilityRegistry(quarantine=LocalQuarantine(registry.quarantine.path))
        with pytest.raises(CapabilityNotFoundError, match="is quarantined"):
            again.select("risk.scores")
    finally:
        registry.close()


def test_a_golden_input_must_get_the_golden_output(
    registry: CapabilityRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = CONTRACT.examples[0]
    other = {"risks": [{"likelihood": 2, "impact": 3, "score": 6, "level": "low"}]}
    changed = golden.model_copy(update={"output": other})
    need = NEED.model_copy(update={"contract": CONTRACT.model_copy(update={"examples": [changed]})})
    try:
        loaded = registry.load("risk.scores")
        with pytest.raises(ContractViolationError, match="golden example 1 expects"):
            run_capability(need, loaded, golden.input, CONTEXT)
    finally:
        registry.close()


def test_a_check_that_cannot_be_done_fails_the_stage_but_accuses_nobody(
    registry: CapabilityRegistry,
) -> None:
    """An impact of 0 makes a constraint raise: upstream data can do that to any plugin."""
    try:
        with pytest.raises(StageOutputError, match="could not be checked against the stage"):
            _run(registry, [{"likelihood": 1, "impact": 0}])
        assert registry.quarantine.entries() == []
    finally:
        registry.close()


def test_a_quarantine_that_cannot_be_written_still_stops_the_answer(
    registry: CapabilityRegistry, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    registry.quarantine = LocalQuarantine(blocker / "q.json")
    try:
        with pytest.raises(ContractViolationError, match="could not be quarantined here"):
            _run(registry, [{"likelihood": 5, "impact": 1}])
    finally:
        registry.close()


def test_a_runtime_folder_another_user_could_have_made_again_is_not_reused() -> None:
    first = plugin_worker.runtime_folder()
    assert plugin_worker.runtime_folder() == first
    first.chmod(0o777)  # as a folder made again under the same name by someone else would be
    try:
        second = plugin_worker.runtime_folder()
        assert second != first and (second / "worker_main.py").is_file()
        assert second.stat().st_mode & 0o077 == 0
    finally:
        first.chmod(0o700)


RULES: list[dict[str, str]] = [
    {"set": "risks", "expr": "input.risks"},
    {"set": "risks[*].score", "expr": "item.likelihood * item.impact"},
    {"set": "risks[*].level", "expr": "'high' if item.score >= 15 else 'low'"},
    {
        "set": "per_impact",
        "expr": "sum(r.likelihood for r in input.risks) / sum(r.impact for r in input.risks)",
    },
]
RULED = Contract.model_validate(
    {
        "input_schema": {"type": "object", "required": ["risks"]},
        "output_schema": {"type": "object", "required": ["risks"]},
        "rules": RULES,
        "constraints": ["all(r.score == r.likelihood * r.impact for r in output.risks)"],
    }
)


def _ruled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str) -> CapabilityRegistry:
    """A plugin that scores right and answers ``level`` (an expression over ``s``, the
    score) for each risk's level, with a field of its own beside the rules' ones."""
    site = tmp_path / "site"
    install_plugin(
        site,
        PluginSource(
            "acme-risk-levels",
            f"acme_levels_{abs(hash(tmp_path)) % 10**8}",
            {
                "risk.scores": "(lambda rs: {'risks': rs, 'note': 'by acme', 'per_impact': "
                "sum(r['likelihood'] for r in rs) / (sum(r['impact'] for r in rs) or 1)})("
                f"[dict(r, score=s, level={level}) for r in inputs['risks'] "
                "for s in [r['likelihood'] * r['impact']]])"
            },
        ),
    )
    monkeypatch.syspath_prepend(str(site))
    return CapabilityRegistry(limits=LIMITS, quarantine=LocalQuarantine(tmp_path / "q.json"))


def test_an_answer_the_constraints_allow_but_the_rules_do_not_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The constraints pin only the score; the rules pin the level too. A plugin that says
    'low' for every risk breaks no constraint, and is stopped by the rules."""
    registry = _ruled(tmp_path, monkeypatch, "'low'")
    need = NEED.model_copy(update={"contract": RULED})
    try:
        loaded = registry.load("risk.scores")
        low = {"risks": [{"likelihood": 1, "impact": 2}]}
        output, _ = run_capability(need, loaded, low, CONTEXT)  # right, and a field of its own
        assert output["note"] == "by acme"
        high = {"risks": [{"likelihood": 1, "impact": 2}, {"likelihood": 5, "impact": 5}]}
        with pytest.raises(ContractViolationError) as stopped:
            run_capability(need, loaded, high, CONTEXT)
        assert "the output is not what the contract's rules compute (at $.risks[1].level)" in str(
            stopped.value
        )
        assert registry.quarantine.holds("acme-risk-levels", "1.0.0")
    finally:
        registry.close()


def test_rules_that_cannot_be_computed_for_an_input_accuse_nobody(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _ruled(tmp_path, monkeypatch, "'high' if s >= 15 else 'low'")
    need = NEED.model_copy(update={"contract": RULED})
    try:
        loaded = registry.load("risk.scores")
        with pytest.raises(
            StageOutputError, match="rules cannot be computed for this input: ZeroDiv"
        ):
            run_capability(need, loaded, {"risks": []}, CONTEXT)  # the rules divide by zero
        assert registry.quarantine.entries() == []
    finally:
        registry.close()
