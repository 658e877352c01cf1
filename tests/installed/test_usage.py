"""Usage while the hub is down is not lost, as installed: a run against a stopped hub keeps
its rows in the run directory and says so once; the next run that reaches the hub sends them,
and the hub's figures count both runs."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

from tests.installed.conftest import clean_env, ok, run, serve

PLAN = Path(__file__).resolve().parents[2] / "examples" / "plans" / "solar_microgrid"


def _pending(run_dir: Path, hub_url: str) -> Path:
    """The file the README names: ``.planexe/usage-pending-<16 hex of the URL's sha256>``."""
    digest = hashlib.sha256(hub_url.encode()).hexdigest()[:16]
    return run_dir / ".planexe" / f"usage-pending-{digest}.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rows_kept_while_the_hub_is_down_are_sent_at_the_next_contact(
    hub_bin: Path, worker_bin: Path, tmp_path: Path
) -> None:
    shutil.copytree(PLAN, tmp_path / "plan")
    plan = tmp_path / "plan" / "plan.yaml"
    ports = (_free_port(), _free_port())
    hub = serve(hub_bin, tmp_path, ports)
    client_env = next(hub).client_env
    hub.close()  # the hub stops; the pipeline's machine still has its client files
    env = clean_env(**client_env, XDG_CACHE_HOME=str(tmp_path / "cache"))

    first = run(worker_bin / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run-1",
                env=env, cwd=tmp_path)  # fmt: skip
    assert first.returncode == 3, first.stdout + first.stderr  # suggest: stops at the misses
    pending = _pending(tmp_path / "run-1", client_env["PLANEXE_HUB_URL"])
    kept = pending.read_text().splitlines()
    assert len(kept) >= 4  # the built-in stages and the misses, each one row
    said = [line for line in first.stderr.splitlines() if "usage rows are kept in" in line]
    assert len(said) == 1 and str(pending) in said[0]

    hub = serve(hub_bin, tmp_path, ports)
    next(hub)
    try:
        second = run(worker_bin / "plugin-hub", "run", plan, "--run-dir", tmp_path / "run-2",
                     env=env, cwd=tmp_path)  # fmt: skip
        assert second.returncode == 3, second.stdout + second.stderr
        assert "usage rows are kept" not in second.stderr
        assert pending.read_text() == ""
        figures = json.loads(ok(run(worker_bin / "plugin-hub", "metrics", "--json", env=env,
                                    cwd=tmp_path)))  # fmt: skip
        assert figures["overall"]["stage_runs"] == 2 * len(kept)
    finally:
        hub.close()
