"""``HubSettings``: which plugin hub a run uses, as data rather than process environment.

The hub's parts read the ``PLANEXE_HUB_*`` variables; a caller that resolves capabilities for
several hubs (or tests) passes a ``HubSettings`` instead, and it travels to the hub's
synthesizer and usage reporter as that same set of variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

_VARIABLES = {
    "home": "PLANEXE_HUB_HOME",
    "url": "PLANEXE_HUB_URL",
    "policy": "PLANEXE_HUB_POLICY",
    "token": "PLANEXE_HUB_TOKEN",
}


class HubSettings(BaseModel):
    """A hub on this machine (``home``), or a remote one (``url`` with a local ``policy``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path | None = None
    """The hub's home folder (same machine): its URL, policy and tokens are read from it."""
    url: str | None = None
    policy: Path | None = None
    """The client's own trust policy: the keys whose signatures it accepts."""
    token: SecretStr | None = None
    """A publish token, needed only by the ``publish`` synthesis mode."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ
        values = {field: env.get(name) or None for field, name in _VARIABLES.items()}
        return cls.model_validate(values)

    @property
    def configured(self) -> bool:
        return self.home is not None or self.url is not None

    def environ(self) -> dict[str, str]:
        """These settings as the ``PLANEXE_HUB_*`` variables the hub's parts read."""
        values = {
            "home": self.home,
            "url": self.url,
            "policy": self.policy,
            "token": self.token.get_secret_value() if self.token else None,
        }
        return {_VARIABLES[k]: str(v) for k, v in values.items() if v is not None}
