"""The trust policy file: tiers, capability patterns, and signers each under their own root."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_client.errors import HubConfigError, PolicyError, VerificationError
from hub_client.policy import SignerRule, TrustPolicy
from plan_pipeline.trust import Tier

SHARED = Path(__file__).parents[1] / "data" / "sigstore-production"
"""A wheel and its keyless bundle, signed through the public Sigstore instance."""
IDENTITY = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
ISSUER = "https://token.actions.githubusercontent.com"


def _verify(policy: TrustPolicy) -> str:
    wheel = (SHARED / "rfc8785-0.1.2-py3-none-any.whl").read_bytes()
    bundle = (SHARED / "rfc8785-0.1.2-py3-none-any.whl.sigstore.json").read_text()
    return policy.verifier(SHARED).verify(wheel, bundle)


def test_keyless_identity_counts_only_under_its_own_trust_root() -> None:
    under_production = TrustPolicy(
        signers=[SignerRule(kind="sigstore", identity=IDENTITY, issuer=ISSUER)]
    )
    assert _verify(under_production) == IDENTITY
    mixed = TrustPolicy(
        signers=[
            SignerRule(kind="sigstore", identity=IDENTITY, issuer=ISSUER, trust="staging"),
            SignerRule(kind="sigstore", identity="someone@example.com", issuer=ISSUER),
        ]
    )
    with pytest.raises(VerificationError):
        _verify(mixed)


def test_tiers_and_capability_patterns() -> None:
    policy = TrustPolicy(auto_install_tiers=[Tier.CORE], capability_patterns=["risk.*"])
    policy.check_tier(Tier.CORE)
    with pytest.raises(PolicyError, match="does not install tier 'generated'"):
        policy.check_tier(Tier.GENERATED)
    with pytest.raises(PolicyError, match="quarantined"):
        policy.check_tier(Tier.QUARANTINED)
    policy.check_capability("risk.score_matrix")
    with pytest.raises(PolicyError, match=r"does not allow capability 'energy\.solar_yield'"):
        policy.check_capability("energy.solar_yield")


def test_invalid_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("signers:\n  - kind: sigstore\n    identity: x\n")
    with pytest.raises(HubConfigError, match="needs identity and issuer"):
        TrustPolicy.load(path)
    with pytest.raises(HubConfigError, match="does not exist"):
        TrustPolicy.load(tmp_path / "missing.yaml")
