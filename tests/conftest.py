from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.venvs import overlay_venv

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLAN = ROOT / "examples" / "plans" / "solar_microgrid" / "plan.yaml"


def pytest_configure(config: pytest.Config) -> None:
    """Every process of the tests keeps its state (the quarantine list) in a folder of this
    run, never in the user's own."""
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="planexe-tests-state-")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


CliRunner = Callable[..., CliResult]


@pytest.fixture
def run_cli(tmp_path: Path) -> CliRunner:
    """Run ``plugin-hub`` in a fresh process; ``extra_path`` folders go first on its path."""

    def run(
        *args: str | Path,
        extra_path: list[Path] | None = None,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
        timeout: float = 120,
    ) -> CliResult:
        environ = {k: v for k, v in os.environ.items() if k not in {"RUN_ID_DIR", "PYTHONPATH"}}
        if extra_path:
            environ["PYTHONPATH"] = os.pathsep.join(str(p) for p in extra_path)
        environ.update(env or {})
        proc = subprocess.run(
            [python, "-m", "plan_pipeline.cli", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=environ,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def example_plan() -> Path:
    return EXAMPLE_PLAN


@pytest.fixture(scope="session")
def throwaway_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An overlay virtualenv with pip (see ``tests/venvs.py``), shared by a session."""
    return Path(overlay_venv(tmp_path_factory.mktemp("venv"), with_pip=True))
