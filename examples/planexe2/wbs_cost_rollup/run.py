"""Stage wbs_cost_rollup, done by the plugin for its capability (see SKILL.md).

planexe-plugin-hub resolves budget.wbs_cost_rollup,
runs its plugin in the isolated runtime and writes the outputs.
"""

from plan_pipeline.planexe2 import run_skill as run  # noqa: F401
