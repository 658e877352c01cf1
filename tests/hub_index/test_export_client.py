"""``plugin-hub export-client`` against a hostile folder and a careless policy: it writes only
through names it just made, only into a folder no one else can write, and only the public
files the policy names inside the home."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from hub_client.errors import HubConfigError
from hub_client.policy import TrustPolicy
from hub_index.home import export_client, init_home

URL = "http://127.0.0.1:8809"


def test_the_exported_files_verify_as_the_homes(tmp_path: Path) -> None:
    home = init_home(tmp_path / "hub")
    environ = export_client(home, tmp_path / "client", URL, with_token=True)
    policy_file = Path(environ["PLANEXE_HUB_POLICY"])
    exported = TrustPolicy.load(policy_file)
    assert exported.root_bytes(policy_file.parent) == home.metadata_root.read_bytes()
    exported.verifier(policy_file.parent)  # its keys load
    token = Path(environ["PLANEXE_HUB_TOKEN"])
    assert token.read_text().strip() == home.credentials().publish_token
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "client").stat().st_mode) == 0o700


def test_a_link_planted_in_the_folder_is_replaced_not_written_through(tmp_path: Path) -> None:
    home = init_home(tmp_path / "hub")
    folder, victim = tmp_path / "client", tmp_path / "victim.txt"
    folder.mkdir(mode=0o700)
    victim.write_text("precious\n")
    (folder / "publish-token").symlink_to(victim)
    (folder / "policy.yaml").symlink_to(victim)
    export_client(home, folder, URL, with_token=True)
    assert victim.read_text() == "precious\n"
    assert not (folder / "publish-token").is_symlink()
    assert stat.S_IMODE((folder / "publish-token").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o770])
def test_a_folder_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    home = init_home(tmp_path / "hub")
    folder = tmp_path / "shared-client"
    folder.mkdir()
    os.chmod(folder, mode)
    with pytest.raises(HubConfigError, match="only this user can write"):
        export_client(home, folder, URL, with_token=True)
    assert list(folder.iterdir()) == []


def test_the_home_itself_is_refused(tmp_path: Path) -> None:
    home = init_home(tmp_path / "hub")
    with pytest.raises(HubConfigError, match="inside the hub home"):
        export_client(home, home.root / "keys", URL, with_token=False)


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("public_key", "keys/admin.pem", "is not what the policy names it for"),
        ("public_key", "keys/hub-signing.pem", "is not what the policy names it for"),
        ("public_key", "/etc/passwd", "outside the hub home's keys/ folder"),
        ("trust", "keys/admin.pem", "is not what the policy names it for"),
        ("trust", "credentials.json", "outside the hub home's keys/ folder"),
        ("public_key", "hub.json", "outside the hub home's keys/ folder"),
        ("trust", "keys/fifo", "is not what the policy names it for"),
    ],
)
def test_a_policy_naming_a_private_key_or_a_file_elsewhere_exports_nothing(
    tmp_path: Path, field: str, value: str, said: str
) -> None:
    home = init_home(tmp_path / "hub")
    policy = yaml.safe_load(home.policy_file.read_text())
    if field == "trust":
        policy["signers"].append(
            {"kind": "sigstore", "identity": "a@b.c", "issuer": "https://i", "trust": value}
        )
    else:
        policy["signers"][0]["public_key"] = value
    home.policy_file.write_text(yaml.safe_dump(policy))
    os.mkfifo(home.root / "keys" / "fifo")  # read, it would block: never opened for reading
    with pytest.raises(HubConfigError, match=said):
        export_client(home, tmp_path / "client", URL, with_token=True)
    assert not [p for p in (tmp_path / "client").rglob("*") if p.is_file()]
