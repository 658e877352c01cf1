"""The hub home: one folder with everything a hub needs.

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

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hub_index.errors import HubConfigError
from hub_index.policy import SignerRule, TrustPolicy
from hub_index.signing import generate_key, key_identity, load_public_key, public_path, sha256_hex

UPLOAD_USER = "hub-uploader"
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


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(text, encoding="utf-8")


def init_home(root: Path, database_url: str | None = None) -> HubHome:
    """Create a hub home: key, credentials, htpasswd, policy, settings, migrated database."""
    from passlib.apache import HtpasswdFile

    from hub_index.db import HubDatabase
    from hub_index.metadata_repository import MetadataRepository
    from hub_index.release_metadata import tuf_signer

    home = HubHome(root.resolve())
    if home.exists():
        raise HubConfigError(
            f"{home.root} is already a hub home", "Use it as it is, or choose an empty folder"
        )
    if root.exists() and any(root.iterdir()):
        raise HubConfigError(f"{home.root} is not empty", "Choose an empty or new folder")
    for folder in (home.packages, home.staging, home.revoked):
        folder.mkdir(parents=True, exist_ok=True)
    key = generate_key(home.signing_key)
    admin_key = generate_key(home.admin_key)
    credentials = HubCredentials(
        api_token=secrets.token_urlsafe(32),
        publish_token=secrets.token_urlsafe(32),
    )
    _write_private(home.credentials_file, credentials.model_dump_json(indent=2) + "\n")
    htpasswd = HtpasswdFile(str(home.htpasswd), new=True, default_scheme="sha256_crypt")
    htpasswd.set_password(UPLOAD_USER, secrets.token_urlsafe(32))  # never written down
    htpasswd.save()
    os.chmod(home.htpasswd, 0o600)
    online = tuf_signer(key)
    documents = MetadataRepository.initial_documents(tuf_signer(admin_key), online)
    home.metadata_root.write_bytes(documents["root"].to_bytes())
    policy = TrustPolicy(
        metadata_root="keys/root.json",
        signers=[SignerRule(kind="hub-key", public_key="keys/hub-signing.pub.pem")],
    )
    home.policy_file.write_text(
        f"# Trust policy of this hub; its hub key is {key_identity(key.public_key())}\n"
        + policy.dump(),
        encoding="utf-8",
    )
    url = database_url or f"sqlite:///{home.root / 'hub.db'}"
    settings = HubSettings(database_url=url)
    home.settings_file.write_text(settings.model_dump_json(indent=2) + "\n", encoding="utf-8")
    db = HubDatabase(url)
    try:
        db.upgrade()
        MetadataRepository(db.metadata_store(), online).store_initial(documents)
        db.add_token("hub-admin", token_digest(credentials.api_token), ["publish", "admin"])
        db.add_token("hub-publish", token_digest(credentials.publish_token), ["publish"])
    finally:
        db.close()
    return home


def write_serve_info(home: HubHome, info: ServeInfo) -> None:
    home.serve_file.write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")


def token_digest(token: str) -> str:
    return sha256_hex(token.encode())
