from __future__ import annotations

import pytest

from plan_pipeline.capability_names import package_slug, validate_capability_name
from plan_pipeline.errors import CapabilityNameError


@pytest.mark.parametrize("name", ["risk.score_matrix", "a.b", "energy.solar_yield2.v1"])
def test_valid_names(name: str) -> None:
    assert validate_capability_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "risk",
        "Risk.score",
        "risk..score",
        ".risk",
        "risk.",
        "risk/score",
        "../etc",
        "risk.score-matrix",
        "risk.1st",
        "risk.score matrix",
        "a." + "b" * 70,
        "",
        None,
        3,
    ],
)
def test_invalid_names(name: object) -> None:
    with pytest.raises(CapabilityNameError, match="invalid capability name"):
        validate_capability_name(name)


def test_too_long_name_says_the_limit() -> None:
    with pytest.raises(CapabilityNameError, match="at most 64"):
        validate_capability_name("a." + "b" * 70)


def test_package_slug() -> None:
    assert package_slug("risk.score_matrix") == "risk_score_matrix"
