"""Set up and run the PlanExe2 stand-in with the example capability skills, as a PlanExe2 user
would: copy the folders of ``examples/planexe2/`` into the checkout's ``skills/``, then run
``python -m planexe_skill`` from the checkout. The upstream stages' fake LLM answers with
PlanExe's output shapes (the PlanExe stand-in's fixtures)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

STANDIN = Path(__file__).resolve().parent
EXAMPLE = STANDIN.parents[1] / "examples" / "planexe2"
FIXTURES = STANDIN.parent / "planexe_standin" / "fixtures"
FAKE_LLM = {
    "identify_risks": "003-1-identify_risks_raw.json",
    "wbs_project_level1_and_level2": "019-wbs_project_level1_and_level2.json",
    "estimate_task_durations": "022-2-task_durations.json",
}
CAPABILITY_SKILLS = ("pert_estimates", "risk_scores", "wbs_cost_rollup")


def planexe2_checkout(tmp_path: Path) -> Path:
    """A copy of the stand-in with the example capability skills added; returns its root."""
    root = tmp_path / "planexe2"
    shutil.copytree(STANDIN / "planexe_skill", root / "planexe_skill")
    shutil.copytree(STANDIN / "skills", root / "skills")
    for name in CAPABILITY_SKILLS:
        shutil.copytree(EXAMPLE / name, root / "skills" / name)
    (root / "fake_llm").mkdir()
    for stage, fixture in FAKE_LLM.items():
        shutil.copy(FIXTURES / fixture, root / "fake_llm" / f"{stage}.json")
    return root


def planexe2_env(root: Path, python: str = sys.executable, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANEXE_", "STANDIN_"))}
    env |= {
        "PATH": f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONWARNINGS": "ignore",
        "PLANEXE_PROPERTY_EXAMPLES": "10",
    }
    env.pop("PYTHONPATH", None)
    return env | extra


def run_planexe2(
    root: Path, *args: str, python: str = sys.executable, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``python -m planexe_skill ARGS`` from the checkout's root, as PlanExe2 is run."""
    return subprocess.run(
        [python, "-m", "planexe_skill", *args],
        cwd=root, env=planexe2_env(root, python, **extra),
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def plugin_hub(
    root: Path, *args: str, python: str = sys.executable, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``plugin-hub ARGS`` in the same environment, from the checkout's root."""
    return subprocess.run(
        [str(Path(python).parent / "plugin-hub"), *args],
        cwd=root, env=planexe2_env(root, python, **extra),
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
