"""Near matches: the fit score, the field mapping, and the adapter through every real gate.

The candidate is a real wheel made by the rules generator; the adapter runs through static
analysis, the audit and the contract tests of the new contract in the bubblewrap sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plan_pipeline.published_wheel import PublishedPlugin, read_published
from plan_pipeline.spec import PluginSpec
from synthesizer.errors import GateFailedError
from synthesizer.near_match import GENERATOR, Unaligned, adapter, fit, renamed
from synthesizer.synthesize import synthesize_plugin


def _renamed_spec(risk_spec: PluginSpec, old: str, new: str, **changes: Any) -> PluginSpec:
    """``risk_spec`` for another capability, with the field ``old`` called ``new`` everywhere
    and no rules (so no generator could write it: only a near match can serve it)."""
    text = risk_spec.model_dump_json().replace(f'"{old}"', f'"{new}"').replace(f".{old}", f".{new}")
    data = PluginSpec.model_validate_json(text).model_dump()
    data.update(capability="risk.exposure_levels", rules=[], **changes)
    return PluginSpec.model_validate(data)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> PublishedPlugin:
    from tests.synthesizer.conftest import example_specs

    spec = example_specs()["risk.score_matrix"]
    result = synthesize_plugin(spec, tmp_path_factory.mktemp("candidate"))
    found = read_published(result.wheel.read_bytes(), "planexe-gen-risk-score-matrix", "1.0.0")
    assert found is not None
    return found


def test_a_wheel_is_read_as_data(published: PublishedPlugin, risk_spec: PluginSpec) -> None:
    assert published.spec.capability == "risk.score_matrix"
    assert "def compute" in published.logic
    assert read_published(b"not a zip", "x", "1") is None


def test_the_mapping_pairs_renamed_fields_at_every_depth(
    published: PublishedPlugin, risk_spec: PluginSpec
) -> None:
    same = adapter(risk_spec.model_copy(update={"capability": "risk.other"}), published)
    assert same.direct and same.fit > 0.9  # every field alike; the names differ

    new = _renamed_spec(risk_spec, "likelihood", "probability")
    made = adapter(new, published)
    assert renamed(made.inputs) == ["risks.probability -> likelihood"]
    assert renamed(made.outputs) == ["risks.likelihood -> probability"]
    assert 0.3 < made.fit < 1.0

    unrelated = PluginSpec.model_validate(
        {
            "capability": "budget.total",
            "stage_name": "BudgetTotalTask",
            "input_schema": {"type": "object", "required": ["amounts"],
                             "properties": {"amounts": {"type": "string"}}},
            "output_schema": {"type": "object", "required": ["total"],
                              "properties": {"total": {"type": "number"}}},
        }
    )  # fmt: skip
    with pytest.raises(Unaligned, match=r"nothing on the other side gives input\.risks"):
        adapter(unrelated, published)
    assert fit(unrelated, published.spec) < 0.3


def test_a_renamed_contract_is_served_by_the_candidate_s_own_logic(
    published: PublishedPlugin, risk_spec: PluginSpec, tmp_path: Path
) -> None:
    new = _renamed_spec(risk_spec, "likelihood", "probability")
    made = adapter(new, published)
    served = made.spec_for(new)
    result = synthesize_plugin(served, tmp_path / "adapter", logic=made.logic())
    assert result.report.passed and result.report.generator == GENERATOR
    assert result.logic is not None and published.logic.rstrip() in result.logic.source
    assert served.provenance["near_match_of"] == "planexe-gen-risk-score-matrix==1.0.0"
    assert served.provenance["near_match_logic_sha256"] == published.logic_sha256


def test_a_candidate_that_only_looks_alike_is_refused_by_the_gates(
    published: PublishedPlugin, risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """Same fields, another rule: the new contract doubles the score. The mapping is found,
    the contract tests refuse it."""
    doubled = _renamed_spec(
        risk_spec,
        "likelihood",
        "likelihood",
        constraints=["all(r.score == 2 * r.likelihood * r.impact for r in output.risks)"],
        examples=[],
    )
    made = adapter(doubled, published)
    assert made.direct
    with pytest.raises(GateFailedError, match="contract_tests"):
        synthesize_plugin(made.spec_for(doubled), tmp_path / "adapter", logic=made.logic())
