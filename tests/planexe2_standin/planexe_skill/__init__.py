"""Stand-in for PlanExe2's ``planexe_skill`` package: a dependency-free DAG runner whose stages
are folders ``skills/<name>/`` (``SKILL.md`` frontmatter declaring input and output files, and
``run.py`` with ``def run(ctx)``). What it keeps of PlanExe2, as documented there:

- the frontmatter subset (``key: scalar``, ``key: [a, b]``, block lists), ``name`` matching
  the folder;
- edges from file names: a stage depends on the stage that writes each of its inputs;
- ``ctx`` reads declared inputs and writes declared outputs only (``SkillContractError``),
  writes are staged in ``RUN_DIR/.planexe_skill/staging/<stage>/`` and moved into the run
  directory only when the stage succeeds and wrote every declared output;
- ``RUN_DIR/.planexe_skill/manifest.json``: a stage is dirty when an output is missing, its
  skill folder changed (hashed after it ran) or an input changed;
- the failure report (stage, error, inputs, log, the ``--only`` and whole-run commands), exit
  1 when a stage failed or was blocked, 2 for a missing run directory or input;
- a fake LLM backend (``--backend fake``): it answers each stage from ``fake_llm/<stage>.json``
  in the checkout and appends one row per call to ``RUN_DIR/usage_metrics.jsonl``.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SKILLS_ROOT = REPO_ROOT / "skills"
