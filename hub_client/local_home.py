"""A hub home as the clients on its machine read it: one folder with everything a hub needs.

The hub creates and serves it (``hub_index/home.py``: ``plugin-hub init``, ``serve``); a
pipeline or a maintainer on the same machine reads its settings, tokens, policy and the URLs
it serves through ``HubHome`` (``PLANEXE_HUB_HOME``).

::

    HOME/
      hub.json            settings (database URL, host, ports)
      policy.yaml         trust policy (tiers, signers, capability patterns)
      credentials.json    the API tokens: admin and publish (mode 600)
      htpasswd            pypiserver's upload credentials: a random password kept nowhere,
                          so nobody can upload to or remove from the index through it
      keys/               the hub's online key (signs wheels, generated releases, snapshot
                          and timestamp), the admin key (root and targets; move it off the
                          hub's machine, see 'plugin-hub init'), root.json (the metadata's
                          trust root, given to clients with the policy)
      packages/           the files the index serves: recorded, active releases only
      staging/            uploads and rebuilds before they are recorded
      revoked/            files of revoked releases, never served
      hub.db              SQLite database (the embedded default)
      serve.json          written by 'plugin-hub serve': the URLs it listens on
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hub_client.bundles import key_identity, load_public_key, public_path
from hub_client.errors import HubConfigError
from hub_client.policy import TrustPolicy

DEFAULT_INDEX_PORT = 8808
DEFAULT_API_PORT = 8809


class HubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database_url: str
    host: str = "127.0.0.1"
    index_port: int = DEFAULT_INDEX_PORT
    api_port: int = DEFAULT_API_PORT


class HubCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_token: str
    """Admin token: any tier, promote, revoke."""
    publish_token: str
    """Pipeline token: publish generated plugins, claims, usage."""


class ServeInfo(BaseModel):
    api_url: str
    index_url: str
    pid: int


@dataclass(frozen=True)
class HubHome:
    root: Path

    def __post_init__(self) -> None:
        # absolute: nothing the hub does may depend on the working directory
        object.__setattr__(self, "root", Path(self.root).absolute())

    @property
    def settings_file(self) -> Path:
        return self.root / "hub.json"

    @property
    def policy_file(self) -> Path:
        return self.root / "policy.yaml"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    @property
    def htpasswd(self) -> Path:
        return self.root / "htpasswd"

    @property
    def signing_key(self) -> Path:
        return self.root / "keys" / "hub-signing.pem"

    @property
    def admin_key(self) -> Path:
        return self.root / "keys" / "admin.pem"

    @property
    def metadata_root(self) -> Path:
        return self.root / "keys" / "root.json"

    @property
    def packages(self) -> Path:
        return self.root / "packages"

    @property
    def served_manifest(self) -> Path:
        """The files of ``packages`` the hub put there (the index serves no other)."""
        return self.root / "served.json"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def revoked(self) -> Path:
        return self.root / "revoked"

    @property
    def work(self) -> Path:
        """Where the hub rebuilds published plugins."""
        return self.root / "work"

    @property
    def serve_file(self) -> Path:
        return self.root / "serve.json"

    def exists(self) -> bool:
        return self.settings_file.is_file()

    def require(self) -> HubHome:
        if not self.exists():
            raise HubConfigError(
                f"{self.root} is not a hub home (no hub.json)",
                f"Run 'plugin-hub init {self.root}' first",
            )
        return self

    def settings(self) -> HubSettings:
        return _read_model(self.require().settings_file, HubSettings)

    def credentials(self) -> HubCredentials:
        return _read_model(self.require().credentials_file, HubCredentials)

    def policy(self) -> TrustPolicy:
        return TrustPolicy.load(self.require().policy_file)

    def serve_info(self) -> ServeInfo:
        if not self.serve_file.is_file():
            raise HubConfigError(
                f"the hub at {self.root} is not running (no serve.json)",
                f"Start it with 'plugin-hub serve {self.root}'",
            )
        return _read_model(self.serve_file, ServeInfo)

    def signer_identity(self) -> str:
        return key_identity(load_public_key(public_path(self.signing_key)))


M = TypeVar("M", bound=BaseModel)


def _read_model(path: Path, model: type[M]) -> M:
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HubConfigError(f"{path} is missing", "Run 'plugin-hub init' again") from None
    except ValidationError as exc:
        raise HubConfigError(f"{path} is invalid: {str(exc).splitlines()[0]}") from None
