"""Creating a hub home (``plugin-hub init``) and the files ``plugin-hub serve`` writes in it.

The home's layout and how clients read it: ``hub_client/local_home.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Callable
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
    home.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home.root, 0o700)  # its secrets are the hub user's alone (check_private)
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
    _write_private(home.settings_file, settings.model_dump_json(indent=2) + "\n")
    db = HubDatabase(url)
    try:
        db.upgrade()
        for path in _sqlite_files(url):
            if path.exists():
                os.chmod(path, 0o600)
        MetadataRepository(db.metadata_store(), online).store_initial(documents)
        db.add_token("hub-admin", token_digest(credentials.api_token), ["publish", "admin"])
        db.add_token("hub-publish", token_digest(credentials.publish_token), ["publish"])
    finally:
        db.close()
    return home


def check_private(home: HubHome) -> None:
    """Refuse a home that another local user could read or change: its folder, and every file
    with a secret in it (the settings with the database URL, the keys, the tokens, the SQLite
    database), must be the hub user's own with no access for group or others. A readable
    ``hub.json`` hands out the database's password; a readable ``hub.db`` its token digests."""
    secrets_files = [
        home.settings_file,
        home.credentials_file,
        home.htpasswd,
        home.signing_key,
        home.admin_key,
    ]
    secrets_files += _sqlite_files(home.settings().database_url)
    for path in [home.root, *secrets_files]:
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            mode = stat.S_IMODE(info.st_mode)
            owner = "" if info.st_uid == os.geteuid() else f", owned by uid {info.st_uid}"
            fix = "700" if path == home.root else "600"
            raise HubConfigError(
                f"{path} is open to other local users (mode {mode:o}{owner}): the hub's secrets "
                "must be its user's alone",
                f"Run 'chmod {fix} {path}' as the hub's user (and chown it to that user)",
            )


def _sqlite_files(database_url: str) -> list[Path]:
    """The files of a SQLite database URL (none for other databases)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return []
    database = Path(database_url[len(prefix) :].split("?")[0])
    return [
        database,
        *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal")),
    ]


def write_serve_info(home: HubHome, info: ServeInfo) -> None:
    home.serve_file.write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")


def token_digest(token: str) -> str:
    return sha256_hex(token.encode())


def add_publish_token(home: HubHome, name: str) -> str:
    """A new publish token of its own for one installation, stored by its digest as ``name``
    (its usage rows and reports then count apart from every other's); the secret, once."""
    from hub_index.db import HubDatabase  # the [hub] extra's (export-client needs none)

    secret = secrets.token_urlsafe(32)
    db = HubDatabase(home.settings().database_url)
    try:
        db.add_token(name, token_digest(secret), ["publish"])
    finally:
        db.close()
    return secret


CLIENT_POLICY = "policy.yaml"
CLIENT_TOKEN = "publish-token"


def export_client(
    home: HubHome, folder: Path, api_url: str, with_token: bool, token: str | None = None
) -> dict[str, str]:
    """Write what a pipeline on another machine needs into ``folder``: the trust policy, the
    metadata root and the public keys it names (paths relative to the folder), and with
    ``with_token`` a publish token (mode 600): ``token``, else the hub's shared one. Returns
    the environment that uses them.

    Only files inside the home are exported, each checked to be what the policy says (a
    public key, a TUF root, a JSON trust config), so a policy naming a private key or a file
    elsewhere exports nothing. ``folder`` must be this user's and writable by no one else;
    every file is written under a fresh name and renamed into place, so a link or a file
    someone else put there is replaced, never written through.
    """
    policy = home.policy()
    folder = folder.absolute()
    if folder.resolve().is_relative_to(home.root.resolve()):
        raise HubConfigError(
            f"{folder} is inside the hub home {home.root}", "Export to a folder outside it"
        )
    keys = _private_folder(_private_folder(folder) / "keys")
    if policy.metadata_root is None:
        raise HubConfigError(f"the policy of {home.root} names no metadata_root")
    files = {"root.json": _checked(home, policy.metadata_root, _tuf_root)}
    signers = []
    for rule in policy.signers:
        if rule.kind == "hub-key" and rule.public_key:
            name = _unique(files, Path(rule.public_key).name)
            files[name] = _checked(home, rule.public_key, _public_pem)
            rule = rule.model_copy(update={"public_key": f"keys/{name}"})
        elif rule.kind == "sigstore" and rule.trust not in ("production", "staging"):
            name = _unique(files, Path(rule.trust).name)
            files[name] = _checked(home, rule.trust, _json_document)
            rule = rule.model_copy(update={"trust": f"keys/{name}"})
        signers.append(rule)
    for name, data in files.items():
        _write_new(keys / name, data, 0o644)
    exported = policy.model_copy(update={"metadata_root": "keys/root.json", "signers": signers})
    text = f"# Trust policy of the hub at {api_url}, exported by 'plugin-hub export-client'\n"
    _write_new(folder / CLIENT_POLICY, (text + exported.dump()).encode(), 0o644)
    environ = {"PLANEXE_HUB_URL": api_url, "PLANEXE_HUB_POLICY": str(folder / CLIENT_POLICY)}
    if with_token:
        secret = (token or home.credentials().publish_token) + "\n"
        _write_new(folder / CLIENT_TOKEN, secret.encode(), 0o600)
        environ["PLANEXE_HUB_TOKEN"] = str(folder / CLIENT_TOKEN)
    return environ


def _private_folder(path: Path) -> Path:
    """``path``, created (mode 700) unless it is there; ``HubConfigError`` unless it is a
    real folder of this user's that no one else can write."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise HubConfigError(
            f"cannot create {path}: {exc.strerror}", "Choose another folder"
        ) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise HubConfigError(
            f"{path} is not a folder of this user's that only this user can write",
            "Export into a new folder, or one only you can write",
        )
    return path


def _unique(files: dict[str, bytes], name: str) -> str:
    if name in files:
        raise HubConfigError(
            f"the policy names two files called {name}",
            "Give the policy's keys and trust configs different file names",
        )
    return name


MAX_EXPORTED_BYTES = 1024 * 1024


def _checked(home: HubHome, relative: str, check: Callable[[bytes], None]) -> bytes:
    """The bytes of the home's file ``relative``, refused unless it is a regular file in the
    home's ``keys/`` folder (where the settings, the tokens and the database never are) and
    is what ``check`` expects."""
    keys = (home.root / "keys").resolve()
    path = (home.root / relative).resolve()
    if not path.is_relative_to(keys):
        raise HubConfigError(
            f"the policy names {relative}, outside the hub home's keys/ folder: it is not exported",
            "Keep the policy's keys, metadata root and trust configs in HOME/keys",
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ValueError("not a regular file")
            data = handle.read(MAX_EXPORTED_BYTES + 1)
        if len(data) > MAX_EXPORTED_BYTES:
            raise ValueError("larger than 1 MiB")
        check(data)
    except OSError as exc:
        raise HubConfigError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise HubConfigError(
            f"{path} is not what the policy names it for ({exc}): it is not exported",
            "Fix the policy",
        ) from None
    return data


def _public_pem(data: bytes) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    load_pem_public_key(data)  # a private key is refused here


def _tuf_root(data: bytes) -> None:
    document = json.loads(data)
    signed = document.get("signed") if isinstance(document, dict) else None
    if not (isinstance(signed, dict) and signed.get("_type") == "root"):
        raise ValueError("not a TUF root")


def _json_document(data: bytes) -> None:
    """A Sigstore trust config: a JSON object with its media type, and nothing private."""
    document = json.loads(data)
    media = document.get("mediaType") if isinstance(document, dict) else None
    if not (isinstance(media, str) and "sigstore" in media) or b"PRIVATE KEY" in data:
        raise ValueError("not a Sigstore trust config")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` under a fresh name and rename it into place."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HubConfigError(f"cannot write {path}: {exc.strerror}") from None
