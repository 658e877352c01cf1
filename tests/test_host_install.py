"""The worker part installs next to a host's pins: PlanExe's, kept in ``constraints/``.

Real installs into throwaway virtualenvs, from the package index this machine's pip and uv are
configured with: our wheel (built here) and its dependencies, nothing else. The hub and the
synthesizer are extras, so none of their dependencies come with the worker part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from uv import find_uv_bin

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints" / "planexe-fd5cd20.txt"
EXTRAS_ONLY = ("pypiserver", "twine", "bandit", "pip-audit", "cookiecutter", "alembic")


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _run(*command: str | Path, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_"))}
    for key in ("PIP_INDEX_URL", "UV_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX"):
        if key in os.environ:  # the machine's index, if it is set this way
            env[key] = os.environ[key]
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, env=env, cwd=cwd
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def _venv(path: Path) -> Path:
    _run(sys.executable, "-m", "venv", path)
    return path / "bin" / "python"


def _installed(python: Path) -> dict[str, str]:
    listed = json.loads(_run(python, "-m", "pip", "list", "--format", "json"))
    return {canonicalize_name(p["name"]): p["version"] for p in listed}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, ROOT)
    (built,) = out.glob("planexe_plugin_hub-*.whl")
    yield built


@pytest.fixture(scope="module")
def worker_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the worker part installed under PlanExe's pins."""
    python = _venv(tmp_path_factory.mktemp("worker") / "venv")
    _run(find_uv_bin(), "pip", "install", "--python", python, "-c", CONSTRAINTS, wheel)
    return python


def test_the_worker_part_installs_under_planexes_pins_and_pip_check_is_clean(
    worker_env: Path,
) -> None:
    installed = _installed(worker_env)
    pins = _pins()
    shared = {name: installed[name] for name in pins if name in installed}
    assert {"luigi", "pydantic", "packaging", "rich", "typer", "pyyaml"} <= set(shared)
    assert shared == {name: pins[name] for name in shared}
    assert "No broken requirements found" in _run(worker_env, "-m", "pip", "check")
    assert not [name for name in EXTRAS_ONLY if name in installed]


def test_installing_into_a_planexe_environment_changes_none_of_its_pins(
    wheel: Path, worker_env: Path, tmp_path: Path
) -> None:
    """PlanExe's packages first (those the worker part shares with it, at its pins), then
    a plain ``pip install`` of ours, as an operator would run it."""
    pins = _pins()
    shared = sorted(name for name in _installed(worker_env) if name in pins)
    python = _venv(tmp_path / "planexe")
    _run(find_uv_bin(), "pip", "install", "--python", python, *(f"{n}=={pins[n]}" for n in shared))
    before = _installed(python)
    _run(python, "-m", "pip", "install", "--quiet", wheel)
    after = _installed(python)
    assert {n: after[n] for n in shared} == {n: before[n] for n in shared}
    assert "No broken requirements found" in _run(python, "-m", "pip", "check")


def test_the_worker_parts_commands_name_the_missing_extras(
    worker_env: Path, tmp_path: Path
) -> None:
    plugin_hub = worker_env.parent / "plugin-hub"
    assert "capabilities" in _run(plugin_hub, "--help")
    for command, extra in (
        (["serve", str(tmp_path)], "hub"),
        (["init", str(tmp_path / "home")], "hub"),
        (["synth", str(tmp_path / "spec.json"), "--out", str(tmp_path / "o")], "synth"),
    ):
        done = subprocess.run([plugin_hub, *command], capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert f"needs the {extra} extra" in done.stderr
        assert f"pip install 'planexe-plugin-hub[{extra}]'" in done.stderr
        assert "Traceback" not in done.stderr
