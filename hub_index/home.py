"""Creating a hub home (``plugin-hub init``) and the files ``plugin-hub serve`` writes in it.

The home's layout and how clients read it: ``hub_client/local_home.py``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hub_client.bundles import key_identity, sha256_hex
from hub_client.errors import HubConfigError
from hub_client.local_home import HubCredentials, HubHome, HubSettings, ServeInfo
from hub_client.policy import SignerRule, TrustPolicy
from hub_index.signing import generate_key

UPLOAD_USER = "hub-uploader"


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(text, encoding="utf-8")


def init_home(root: Path, database_url: str | None = None) -> HubHome:
    """Create a hub home: key, credentials, htpasswd, policy, settings, migrated database."""
    from passlib.apache import HtpasswdFile

    from hub_client.release_metadata import tuf_signer
    from hub_index.db import HubDatabase
    from hub_index.metadata_repository import MetadataRepository

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


CLIENT_POLICY = "policy.yaml"
CLIENT_TOKEN = "publish-token"


def export_client(home: HubHome, folder: Path, api_url: str, with_token: bool) -> dict[str, str]:
    """Write what a pipeline on another machine needs into ``folder``: the trust policy, the
    metadata root and the public keys it names (paths relative to the folder), and with
    ``with_token`` the publish token (mode 600). Returns the environment that uses them."""
    policy = home.policy()
    folder = folder.absolute()
    keys = folder / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    if policy.metadata_root is None:
        raise HubConfigError(f"the policy of {home.root} names no metadata_root")
    _copy(home.root / policy.metadata_root, keys / "root.json")
    signers = []
    for rule in policy.signers:
        if rule.kind == "hub-key" and rule.public_key:
            name = Path(rule.public_key).name
            _copy(home.root / rule.public_key, keys / name)
            rule = rule.model_copy(update={"public_key": f"keys/{name}"})
        elif rule.kind == "sigstore" and rule.trust not in ("production", "staging"):
            name = Path(rule.trust).name
            _copy(home.root / rule.trust, keys / name)
            rule = rule.model_copy(update={"trust": f"keys/{name}"})
        signers.append(rule)
    exported = policy.model_copy(update={"metadata_root": "keys/root.json", "signers": signers})
    (folder / CLIENT_POLICY).write_text(
        f"# Trust policy of the hub at {api_url}, exported by 'plugin-hub export-client'\n"
        + exported.dump(),
        encoding="utf-8",
    )
    environ = {"PLANEXE_HUB_URL": api_url, "PLANEXE_HUB_POLICY": str(folder / CLIENT_POLICY)}
    if with_token:
        _write_private(folder / CLIENT_TOKEN, home.credentials().publish_token + "\n")
        environ["PLANEXE_HUB_TOKEN"] = f"$(cat {folder / CLIENT_TOKEN})"
    return environ


def _copy(source: Path, target: Path) -> None:
    try:
        target.write_bytes(source.read_bytes())
    except OSError as exc:
        raise HubConfigError(
            f"cannot copy {source} to {target}: {exc.strerror}",
            "Check that the hub home is complete ('plugin-hub init' made it) and the folder "
            "is writable",
        ) from None
