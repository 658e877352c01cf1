"""A remote pipeline's hub set-up, as installed: ``plugin-hub export-client`` gives it what it
needs, and a run checks the whole set-up before any stage runs. Each mistake is one line with
exit code 2 that names the variable or file and the command that makes it; no stage ran."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from tests.installed.conftest import HubProcess, clean_env, ok, run

PLAN = Path(__file__).resolve().parents[2] / "examples" / "plans" / "solar_microgrid"


def _run_publish(worker_bin: Path, tmp_path: Path, env: dict[str, str]) -> tuple[str, Path]:
    if not (tmp_path / "plan").exists():
        shutil.copytree(PLAN, tmp_path / "plan")
    run_dir = tmp_path / "run"
    done = run(
        worker_bin / "plugin-hub", "run", tmp_path / "plan" / "plan.yaml", "--run-dir", run_dir,
        "--synthesis", "publish", env=clean_env(**env), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert not list(run_dir.glob("0*"))  # no stage ran
    return line, run_dir


def _copy_client(hub: HubProcess, tmp_path: Path) -> Path:
    folder = tmp_path / "client"
    shutil.copytree(Path(hub.client_env["PLANEXE_HUB_POLICY"]).parent, folder)
    return folder


@pytest.mark.parametrize(
    ("missing", "named"),
    [("keys/root.json", "keys/root.json"), ("keys/hub-signing.pub.pem", "hub-signing.pub.pem")],
)
def test_a_missing_client_file_is_named_before_any_stage(
    hub_process: HubProcess, worker_bin: Path, tmp_path: Path, missing: str, named: str
) -> None:
    folder = _copy_client(hub_process, tmp_path)
    (folder / missing).unlink()
    env = hub_process.client_env | {"PLANEXE_HUB_POLICY": str(folder / "policy.yaml")}
    line, _ = _run_publish(worker_bin, tmp_path, env)
    assert named in line and "plugin-hub export-client" in line


def test_a_url_without_its_scheme_is_a_configuration_error(
    hub_process: HubProcess, worker_bin: Path, tmp_path: Path
) -> None:
    bare = hub_process.api_url.removeprefix("http://")
    line, _ = _run_publish(worker_bin, tmp_path, hub_process.client_env | {"PLANEXE_HUB_URL": bare})
    assert f"PLANEXE_HUB_URL '{bare}' is not an http(s) address" in line
    assert f"http://{bare}" in line


def test_the_index_address_instead_of_the_apis_is_named(
    hub_process: HubProcess, worker_bin: Path, tmp_path: Path
) -> None:
    env = hub_process.client_env | {"PLANEXE_HUB_URL": hub_process.index_url}
    line, _ = _run_publish(worker_bin, tmp_path, env)
    assert "is the hub's package index, not its API" in line
    assert "PLANEXE_HUB_URL" in line


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_token_errors_name_the_variable_and_where_the_token_is(
    hub_process: HubProcess, worker_bin: Path, tmp_path: Path, token: str | None
) -> None:
    env = {k: v for k, v in hub_process.client_env.items() if k != "PLANEXE_HUB_TOKEN"}
    if token is not None:
        env["PLANEXE_HUB_TOKEN"] = token
    line, _ = _run_publish(worker_bin, tmp_path, env)
    assert "PLANEXE_HUB_TOKEN" in line and "credentials.json" in line
    if token is not None:
        assert "HTTP 403" in line


def test_publish_mode_without_a_hub_names_the_variables(worker_bin: Path, tmp_path: Path) -> None:
    line, _ = _run_publish(worker_bin, tmp_path, {})
    assert "needs a hub" in line and "PLANEXE_HUB_URL" in line and "export-client" in line


def test_a_second_serve_of_a_served_home_is_refused_and_the_hub_keeps_serving(
    hub_process: HubProcess, worker_bin: Path, tmp_path: Path
) -> None:
    before = (hub_process.home / "serve.json").read_text()
    done = run(hub_process.hub_bin / "plugin-hub", "serve", hub_process.home, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is already being served" in done.stderr and hub_process.api_url in done.stderr
    assert "Traceback" not in done.stderr
    assert (hub_process.home / "serve.json").read_text() == before
    env = clean_env(**hub_process.client_env)
    answer = ok(run(worker_bin / "plugin-hub", "search", "any.thing", env=env, cwd=tmp_path))
    assert "no plugins for any.thing" in answer
    assert json.loads(before)["api_url"] == hub_process.api_url


def test_publish_mode_with_the_hub_out_of_reach_stops_before_any_stage(
    hub_process: HubProcess, worker_bin: Path, tmp_path: Path
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{unused.getsockname()[1]}"
    line, _ = _run_publish(worker_bin, tmp_path, hub_process.client_env | {
        "PLANEXE_HUB_URL": nowhere
    })  # fmt: skip
    assert "the publish mode needs the hub, and cannot reach the hub at " + nowhere in line
    assert "plugin-hub serve" in line
