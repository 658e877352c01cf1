"""The maintainer path: ``cookiecutter plugin_template``, ``python -m build``, ``pip install``
into a clean environment, and the pipeline there discovers and runs the plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, CliRunner

PLAN = """\
name: area
stages:
  - name: area
    capability: geometry.rectangle_area
    inputs:
      width: {value: 3}
      height: {value: 2.5}
"""


def _cookiecutter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        [str(bin_dir / "cookiecutter"), "--no-input", str(ROOT / "plugin_template"), *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_rendered_by_hand_builds_installs_and_is_discovered(
    tmp_path: Path, run_cli: CliRunner, throwaway_env: Path
) -> None:
    rendered = _cookiecutter("capability=geometry.rectangle_area", cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    project = tmp_path / "planexe-plugin-geometry-rectangle-area"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(project)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert list((tmp_path / "dist").glob("*.tar.gz"))

    python = str(throwaway_env)
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--no-index", str(wheel)], check=True, capture_output=True)
    try:
        plan = tmp_path / "plan.yaml"
        plan.write_text(PLAN)
        listed = run_cli("capabilities", python=python)
        assert "geometry.rectangle_area: planexe-plugin-geometry-rectangle-area 0.1.0" in (
            listed.stdout
        )
        run = run_cli("run", plan, "--run-dir", tmp_path / "run", python=python)
        assert run.code == 0, run.stderr
        assert json.loads((tmp_path / "run" / "001-area.json").read_text()) == {"area": 7.5}
        # the rendered project's own contract tests pass against the installed wheel
        tests = subprocess.run(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
            capture_output=True, text=True, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert tests.returncode == 0, tests.stdout[-2000:]
    finally:
        subprocess.run([*pip, "uninstall", "-y", "planexe-plugin-geometry-rectangle-area"],
                       check=True, capture_output=True)  # fmt: skip


def test_invalid_capability_is_refused_when_rendering(tmp_path: Path) -> None:
    rendered = _cookiecutter("capability=../../etc", cwd=tmp_path)
    assert rendered.returncode != 0
    assert "invalid capability name '../../etc'" in rendered.stdout + rendered.stderr
    # cookiecutter may leave the empty project folder it made before the hook ran; no file
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
