"""The near-match switch: on by default, off on request, a clear set-up error otherwise."""

from __future__ import annotations

import pytest

from hub_client.errors import HubConfigError
from hub_client.near_matches import near_matching


def test_near_matches_are_on_unless_switched_off() -> None:
    assert near_matching({}) is True
    assert near_matching({"PLANEXE_NEAR_MATCH": "on"}) is True
    assert near_matching({"PLANEXE_NEAR_MATCH": "OFF"}) is False
    assert near_matching({"PLANEXE_NEAR_MATCH": "0"}) is False
    with pytest.raises(HubConfigError, match="PLANEXE_NEAR_MATCH='maybe' is neither on nor off"):
        near_matching({"PLANEXE_NEAR_MATCH": "maybe"})
    assert HubConfigError.exit_code == 2
