"""Set up and run the PlanExe stand-in with the example capability stages, as an operator would:
copy ``examples/planexe/capability_stages.py`` and its contracts into the checkout, then run
``python -m worker_plan_internal.plan.run_plan_pipeline`` with ``RUN_ID_DIR`` set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

STANDIN = Path(__file__).resolve().parent
EXAMPLE = STANDIN.parents[1] / "examples" / "planexe"
FIXTURES = STANDIN / "fixtures"
MODULE = "worker_plan_internal.plan.run_plan_pipeline"


def planexe_checkout(tmp_path: Path) -> Path:
    """A copy of the stand-in with the example stages added; returns its root."""
    root = tmp_path / "planexe"
    shutil.copytree(STANDIN, root, ignore=shutil.ignore_patterns("fixtures", "harness.py"))
    plan_dir = root / "worker_plan_internal" / "plan"
    shutil.copy(EXAMPLE / "capability_stages.py", plan_dir / "capability_stages.py")
    shutil.copytree(EXAMPLE / "contracts", plan_dir / "contracts")
    shutil.copytree(FIXTURES, root / "fixtures")
    return root


def planexe_env(
    root: Path, run_dir: Path, python: str = sys.executable, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANEXE_", "STANDIN_"))}
    env |= {
        "PYTHONPATH": str(root),
        "RUN_ID_DIR": str(run_dir),
        "PATH": f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONWARNINGS": "ignore",
        "PLANEXE_PROPERTY_EXAMPLES": "10",
    }
    return env | extra


def run_planexe(
    root: Path, run_dir: Path, python: str = sys.executable, **extra: str
) -> subprocess.CompletedProcess[str]:
    run_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [python, "-m", MODULE],
        env=planexe_env(root, run_dir, python, **extra),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def start_like_worker_api(
    root: Path, run_dir: Path, python: str = sys.executable, **fixed: str
) -> subprocess.CompletedProcess[str]:
    """A run started the way PlanExe's worker API (``worker_plan/app.py``) starts one: its own
    environment copied, with ``RUN_ID_DIR``, ``LLM_MODEL`` and ``SPEED_VS_DETAIL`` set, the
    pipeline module run from the app's root, its output not kept (the API shows only the
    return code and the run directory's files). ``fixed`` is what the operator set for every
    run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env = planexe_env(root, run_dir, python, **fixed) | {
        "LLM_MODEL": "ollama-llama3.1",
        "SPEED_VS_DETAIL": "all_details_but_slow",
    }
    process = subprocess.Popen(
        [python, "-m", MODULE], cwd=root, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return subprocess.CompletedProcess(process.args, process.wait(timeout=600), "", "")
