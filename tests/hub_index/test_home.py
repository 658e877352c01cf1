"""A hub home's secrets are its user's alone: created private, and checked at every start."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub_client.errors import HubConfigError
from hub_index.home import init_home
from hub_index.server import embedded_hub
from tests.conftest import CliRunner

NOBODY = 65534


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A folder every local user may enter (the tests' own temporary folders are private, so a
    home inside them would be safe whatever its modes)."""
    folder = Path(tempfile.mkdtemp(prefix="planexe-hub-home-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _as_another_user(*command: str | Path) -> subprocess.CompletedProcess[str]:
    """``command`` run by another local user (uid and gid 65534, no groups)."""
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    return subprocess.run(
        [*setpriv, *map(str, command)], capture_output=True, text=True, check=False
    )


def test_another_local_user_reads_none_of_a_new_homes_secrets(open_parent: Path) -> None:
    """The attack: read ``hub.json`` (the database URL, with its password) or ``hub.db`` (token
    digests) as another local user, to add an admin token. Both are refused; a file left
    open beside the home is read, so the attacker's reads work where they may."""
    home = init_home(open_parent / "hub")
    control = open_parent / "public.txt"
    control.write_text("open\n")
    os.chmod(control, 0o644)
    assert _as_another_user("cat", control).stdout == "open\n"
    for secret in (
        home.settings_file,
        home.root / "hub.db",
        home.credentials_file,
        home.admin_key,
        home.signing_key,
    ):
        done = _as_another_user("cat", secret)
        assert done.returncode != 0 and "Permission denied" in done.stderr, secret
        assert os.stat(secret).st_mode & 0o077 == 0, secret
    assert os.stat(home.root).st_mode & 0o777 == 0o700
    assert _as_another_user("ls", home.root).returncode != 0


def test_a_home_open_to_other_users_is_refused_at_start(tmp_path: Path, run_cli: CliRunner) -> None:
    """A home made readable (by hand, or by an older version) is not served: one line names
    the file and the chmod that fixes it, exit code 2; once fixed, it serves."""
    home = init_home(tmp_path / "hub")
    os.chmod(home.root, 0o755)
    opened = r"hub is open to other local users \(mode 755\)"
    with pytest.raises(HubConfigError, match=opened), embedded_hub(home):
        pass
    os.chmod(home.root, 0o700)
    os.chmod(home.settings_file, 0o644)
    done = run_cli("serve", home.root)
    assert done.code == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"{home.settings_file} is open to other local users (mode 644)" in line
    assert f"chmod 600 {home.settings_file}" in line
    os.chmod(home.settings_file, 0o600)
    os.chmod(home.root / "hub.db", 0o640)
    with pytest.raises(HubConfigError, match=r"hub\.db is open to other"), embedded_hub(home):
        pass
    os.chmod(home.root / "hub.db", 0o600)
    with embedded_hub(home) as running:
        assert running.api_url.startswith("http://127.0.0.1:")
