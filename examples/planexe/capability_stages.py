"""Three PlanExe stages that PlanExe lacks, each backed by a capability instead of an LLM.

- ``RiskScoresTask``: numeric scores from ``IdentifyRisksTask``'s low/medium/high likelihood
  and severity.
- ``PertEstimatesTask``: PERT estimates from ``EstimateTaskDurationsTask``'s
  ``days_min``/``days_realistic``/``days_max`` (PlanExe uses only ``days_realistic``).
- ``WBSCostRollupTask``: a cost roll-up over the WBS at a day rate (PlanExe has no budget
  stage).

Import this module in PlanExe's ``run_plan_pipeline.py`` after its tasks are defined (it finds
``PlanTask`` and the upstream tasks by their Luigi names, so it works when that file runs as
``python -m``), and add the tasks to ``FullPlanPipeline.requires()``. See "Using it from
PlanExe" in the README.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from plan_pipeline.planexe import CapabilityTask, From, Value, host_task, load_contract

CONTRACTS = Path(__file__).resolve().parent / "contracts"
PlanTask = host_task("PlanTask")


class CapabilityFilenameEnum(StrEnum):
    """Output files, numbered next to the PlanExe files they derive from."""

    RISK_SCORES_RAW = "003-3-risk_scores_raw.json"
    RISK_SCORES_MARKDOWN = "003-4-risk_scores.md"
    PERT_ESTIMATES_RAW = "022-3-pert_estimates_raw.json"
    PERT_ESTIMATES_MARKDOWN = "022-4-pert_estimates.md"
    WBS_COST_ROLLUP_RAW = "023-5-wbs_cost_rollup_raw.json"
    WBS_COST_ROLLUP_MARKDOWN = "023-6-wbs_cost_rollup.md"


class RiskScoresTask(CapabilityTask, PlanTask):
    """Numeric scores from identify_risks' low/medium/high likelihood and severity, and a
    markdown table."""

    capability = "risk.planexe_scores"
    version = ">=1.0,<2"
    contract = load_contract(CONTRACTS / "risk_scores.yaml")
    plugin_inputs: ClassVar[dict[str, From | Value]] = {
        "risks": From("identify_risks", "raw", select="risks")
    }

    def requires(self) -> dict[str, Any]:
        return {"identify_risks": self.clone(host_task("IdentifyRisksTask"))}

    def output(self) -> dict[str, Any]:
        return {
            "raw": self.local_target(CapabilityFilenameEnum.RISK_SCORES_RAW),
            "markdown": self.local_target(CapabilityFilenameEnum.RISK_SCORES_MARKDOWN),
        }


class PertEstimatesTask(CapabilityTask, PlanTask):
    """PERT estimates from estimate_task_durations' days_min, days_realistic and days_max,
    over the WBS's tasks."""

    capability = "schedule.pert_estimates"
    version = ">=1.0,<2"
    contract = load_contract(CONTRACTS / "pert_estimates.yaml")
    plugin_inputs: ClassVar[dict[str, From | Value]] = {
        "wbs": From("wbs_project"),
        "durations": From("task_durations"),
    }

    def requires(self) -> dict[str, Any]:
        return {
            "wbs_project": self.clone(host_task("WBSProjectLevel1AndLevel2Task")),
            "task_durations": self.clone(host_task("EstimateTaskDurationsTask")),
        }

    def output(self) -> dict[str, Any]:
        return {
            "raw": self.local_target(CapabilityFilenameEnum.PERT_ESTIMATES_RAW),
            "markdown": self.local_target(CapabilityFilenameEnum.PERT_ESTIMATES_MARKDOWN),
        }


class WBSCostRollupTask(CapabilityTask, PlanTask):
    """A cost roll-up over the WBS at a day rate, from the task durations."""

    capability = "budget.wbs_cost_rollup"
    version = ">=1.0,<2"
    contract = load_contract(CONTRACTS / "wbs_cost_rollup.yaml")
    plugin_inputs: ClassVar[dict[str, From | Value]] = {
        "wbs": From("wbs_project"),
        "durations": From("task_durations"),
        "day_rate": Value(650),
        "currency": Value("EUR"),
    }

    def requires(self) -> dict[str, Any]:
        return {
            "wbs_project": self.clone(host_task("WBSProjectLevel1AndLevel2Task")),
            "task_durations": self.clone(host_task("EstimateTaskDurationsTask")),
        }

    def output(self) -> dict[str, Any]:
        return {
            "raw": self.local_target(CapabilityFilenameEnum.WBS_COST_ROLLUP_RAW),
            "markdown": self.local_target(CapabilityFilenameEnum.WBS_COST_ROLLUP_MARKDOWN),
        }
