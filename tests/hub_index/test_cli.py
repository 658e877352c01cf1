"""The hub's command line: init, serve, the maintainer publish path, search, show, install,
verify (hub records and production Sigstore bundles), promote, revoke."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub_client.local_home import HubHome
from hub_index.server import RunningHub
from tests.conftest import CliRunner
from tests.hub_index.conftest import hub_env, maintainer_wheel

PROD = Path(__file__).parents[1] / "data" / "sigstore-production"
"""A wheel and its keyless bundle, signed through the public Sigstore instance."""
PROD_WHEEL = PROD / "rfc8785-0.1.2-py3-none-any.whl"
PROD_BUNDLE = PROD / "rfc8785-0.1.2-py3-none-any.whl.sigstore.json"
PROD_IDENTITY = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
PROD_ISSUER = "https://token.actions.githubusercontent.com"


def test_init_creates_a_complete_home(tmp_path: Path, run_cli: CliRunner) -> None:
    result = run_cli("init", tmp_path / "hub")
    assert result.code == 0, result.stderr
    home = HubHome(tmp_path / "hub")
    for path in (home.settings_file, home.policy_file, home.credentials_file, home.htpasswd,
                 home.signing_key, home.root / "hub.db"):  # fmt: skip
        assert path.is_file(), path
    assert oct(home.signing_key.stat().st_mode & 0o777) == "0o600"
    assert oct(home.credentials_file.stat().st_mode & 0o777) == "0o600"
    assert home.signer_identity() in result.stdout
    again = run_cli("init", tmp_path / "hub")
    assert again.code == 2
    assert "is already a hub home" in again.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_until_interrupted(
    tmp_path: Path, run_cli: CliRunner, stop: signal.Signals
) -> None:
    assert run_cli("init", tmp_path / "hub").code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plan_pipeline.cli", "serve", str(tmp_path / "hub"),
         "--index-port", "0", "--api-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # as from a shell's background: SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    serve_file = tmp_path / "hub" / "serve.json"
    for _ in range(200):
        if serve_file.is_file():
            break
        time.sleep(0.05)
    info = json.loads(serve_file.read_text())
    assert info["api_url"].startswith("http://127.0.0.1:")
    assert info["index_url"].startswith("http://127.0.0.1:")
    proc.send_signal(stop)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "hub stopped" in out
    assert "warning: the admin key is on the hub's machine" in " ".join(out.split())
    assert not serve_file.exists()


def test_maintainer_publishes_a_hand_built_wheel_then_search_show_verify(
    hub: RunningHub, tmp_path: Path, run_cli: CliRunner
) -> None:
    wheel = maintainer_wheel(
        tmp_path, "planexe-plugin-geometry-volume", capability="geometry.volume"
    )
    env = hub_env(hub.home)
    published = run_cli("publish", wheel, env=env)
    assert published.code == 0, published.stderr
    assert "tier=verified" in published.stdout
    plugin_id = next(line for line in published.stdout.splitlines() if "tier=" in line).split()[0]

    search = run_cli("search", "geometry.volume", env=env)
    assert plugin_id in search.stdout
    shown = run_cli("show", plugin_id, env=env)
    assert json.loads(shown.stdout)["capability"] == "geometry.volume"

    verified = run_cli("verify", wheel, env=env)
    assert verified.code == 0, verified.stderr
    assert f"signed by {hub.home.signer_identity()}" in verified.stdout
    tampered = tmp_path / "tampered" / wheel.name
    tampered.parent.mkdir()
    tampered.write_bytes(wheel.read_bytes() + b"\0")
    refused = run_cli("verify", tampered, env=env)
    assert refused.code == 1
    assert "but the hub's signed metadata says" in refused.stderr

    # offline: the signed metadata verified above, with the hub out of reach
    offline_env = env | {"PLANEXE_HUB_URL": "http://127.0.0.1:9"}
    offline = run_cli("verify", wheel, "--offline", env=offline_env)
    assert offline.code == 0, offline.stderr
    assert "verified:" in offline.stdout and "verified release of 'geometry.volume'" in (
        offline.stdout
    )
    refused = run_cli("verify", tampered, "--offline", env=offline_env)
    assert refused.code == 1
    assert "but the hub's signed metadata states" in refused.stderr

    core = run_cli("promote", plugin_id, "--tier", "core", env=env)
    assert "tier=core" in core.stdout
    revoked = run_cli("revoke", plugin_id, "--reason", "superseded", env=env)
    assert "status=revoked" in revoked.stdout and "tier=quarantined" in revoked.stdout
    again = run_cli("publish", wheel, env=env)
    assert again.code == 2
    assert "never reused" in again.stderr
    assert "Traceback" not in again.stderr


def test_generated_tier_is_not_for_maintainer_publishing(
    hub: RunningHub, tmp_path: Path, run_cli: CliRunner
) -> None:
    wheel = maintainer_wheel(tmp_path)
    result = run_cli("publish", wheel, "--tier", "generated", env=hub_env(hub.home))
    assert result.code == 2
    assert "tiers core and verified" in result.stderr


def test_install_command_installs_verified(
    hub: RunningHub, tmp_path: Path, run_cli: CliRunner, fresh_python: str
) -> None:
    wheel = maintainer_wheel(tmp_path)
    env = hub_env(hub.home)
    assert run_cli("publish", wheel, env=env).code == 0
    installed = run_cli("install", "geometry.area", env=env, python=fresh_python)
    assert installed.code == 0, installed.stderr
    listed = run_cli("capabilities", python=fresh_python)
    assert "geometry.area: planexe-plugin-geometry-area 1.0.0" in listed.stdout
    missing = run_cli("install", "geometry.nothing", env=env)
    assert missing.code == 2
    assert "no installable plugin" in missing.stderr


def test_production_bundle_verifies_offline_and_other_identity_is_rejected(
    run_cli: CliRunner,
) -> None:
    ok = run_cli("verify", PROD_WHEEL, "--bundle", PROD_BUNDLE, "--identity", PROD_IDENTITY,
                 "--issuer", PROD_ISSUER)  # fmt: skip
    assert ok.code == 0, ok.stderr
    assert f"signed by {PROD_IDENTITY}" in ok.stdout
    other = PROD_IDENTITY.replace("trailofbits/rfc8785.py", "someone/else")
    rejected = run_cli("verify", PROD_WHEEL, "--bundle", PROD_BUNDLE, "--identity", other,
                       "--issuer", PROD_ISSUER)  # fmt: skip
    assert rejected.code == 1
    assert "not from an accepted identity" in rejected.stderr
    wrong_issuer = run_cli("verify", PROD_WHEEL, "--bundle", PROD_BUNDLE, "--identity",
                           PROD_IDENTITY, "--issuer", "https://accounts.example.com")  # fmt: skip
    assert wrong_issuer.code == 1


def test_client_without_a_hub_says_how_to_configure_one(run_cli: CliRunner) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")}
    result = run_cli("search", "geometry.area", env=env)
    assert result.code == 2
    assert "no hub is configured" in result.stderr
    assert "PLANEXE_HUB_HOME" in result.stderr


def test_pipeline_pointing_at_a_stopped_hub_fails_early(
    tmp_path: Path, run_cli: CliRunner, example_plan: Path
) -> None:
    assert run_cli("init", tmp_path / "hub").code == 0
    env = hub_env(HubHome(tmp_path / "hub"))
    result = run_cli("run", example_plan, "--run-dir", tmp_path / "run", env=env)
    assert result.code == 2
    assert "is not running" in result.stderr
    assert not (tmp_path / "run" / "001-brief.json").exists()


def test_export_client_can_give_an_installation_a_token_of_its_own(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    assert run_cli("init", tmp_path / "hub").code == 0
    home = HubHome(tmp_path / "hub")
    made = run_cli("export-client", home.root, tmp_path / "ci", "--with-token",
                   "--token-name", "ci-runner")  # fmt: skip
    assert made.code == 0, made.stderr
    token = (tmp_path / "ci" / "publish-token").read_text().strip()
    assert token and token != home.credentials().publish_token
    from hub_index.db import HubDatabase
    from hub_index.home import token_digest

    db = HubDatabase(home.settings().database_url)
    try:
        assert db.token_name(token_digest(token)) == "ci-runner"
        assert db.token_scopes(token_digest(token)) == ["publish"]
    finally:
        db.close()
    again = run_cli("export-client", home.root, tmp_path / "ci2", "--with-token",
                    "--token-name", "ci-runner")  # fmt: skip
    assert again.code == 2 and "already exists" in again.stderr
    alone = run_cli("export-client", home.root, tmp_path / "ci3", "--token-name", "x")
    assert alone.code == 2 and "needs --with-token" in alone.stderr
