"""``make demo`` runs the three rollout phases from real installs of the project's wheel: no
virtualenv of the demo sees the development environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_recovers_from_installs_of_the_wheel_alone(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")}
    env |= {"DEMO_DIR": str(tmp_path / "demo"), "DEMO_PYTHON": sys.executable,
            "PLANEXE_PROPERTY_EXAMPLES": "10"}  # fmt: skip
    done = subprocess.run(
        ["bash", "examples/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Second run: 0 syntheses, 2 plugins reused from the hub." in done.stdout
    assert "Both publish-mode runs wrote the same report." in done.stdout
    venvs = sorted((tmp_path / "demo").glob("venv-*"))
    assert [v.name for v in venvs] == ["venv-hub", "venv-synth", "venv-worker"]
    development = str(Path(sys.prefix))
    for venv in venvs:
        config = (venv / "pyvenv.cfg").read_text()
        assert "include-system-site-packages = false" in config
        for pth in venv.glob("lib/python*/site-packages/*.pth"):
            text = pth.read_text()
            assert development not in text and str(ROOT) not in text, pth
