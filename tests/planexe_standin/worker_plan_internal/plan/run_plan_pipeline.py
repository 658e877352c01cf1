"""Stand-in for PlanExe's ``run_plan_pipeline.py``: its ``PlanTask``, three upstream stages and
``FullPlanPipeline``, run the way PlanExe runs them::

    RUN_ID_DIR=/abs/run python -m worker_plan_internal.plan.run_plan_pipeline

``PlanTask`` keeps PlanExe's parameters and its ``run()``, which wraps every exception in
"Failed to run X with any of the LLMs". The upstream stages write PlanExe's output shapes from
``fixtures/`` (a scripted LLM). The marked lines are the ones the README's "Using it from
PlanExe" adds to a PlanExe checkout. ``STANDIN_SKIP_PREFLIGHT=1`` leaves the pre-flight
check out, as a checkout that did not add it; ``STANDIN_WORKERS`` sets the Luigi workers.
"""

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import luigi
from worker_plan_api.filenames import ExtraFilenameEnum, FilenameEnum
from worker_plan_api.speedvsdetail import SpeedVsDetailEnum

logger = logging.getLogger(__name__)
DEFAULT_LLM_MODEL = "ollama-llama3.1"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


class ScriptedLLM:
    """Answers each stage with its recorded output; counts calls in the run directory."""

    def __init__(self, run_id_dir: Path) -> None:
        self.run_id_dir = run_id_dir

    def answer(self, filename: str) -> str:
        with open(self.run_id_dir / "llm_calls.txt", "a") as calls:
            calls.write(filename + "\n")
        return (FIXTURES / filename).read_text()


class PlanTask(luigi.Task):
    run_id_dir = luigi.Parameter(default=Path("run") / datetime.now().strftime("%Y%m%d_%H%M%S"))
    speedvsdetail = luigi.EnumParameter(
        enum=SpeedVsDetailEnum, default=SpeedVsDetailEnum.ALL_DETAILS_BUT_SLOW
    )
    llm_models = luigi.ListParameter(default=[DEFAULT_LLM_MODEL])

    def file_path(self, filename: FilenameEnum) -> Path:
        return Path(self.run_id_dir) / filename.value

    def local_target(self, filename: FilenameEnum) -> luigi.LocalTarget:
        return luigi.LocalTarget(self.file_path(filename))

    def run(self):
        """Don't override this method (PlanExe's words). Override run_inner or run_with_llm."""
        try:
            self.run_inner()
        except Exception as e:
            raise Exception(
                f"Failed to run {self.__class__.__name__} with any of the LLMs in the list: "
                f"{self.llm_models!r} for run_id_dir: {self.run_id_dir!r}"
            ) from e

    def run_inner(self):
        self.run_with_llm(ScriptedLLM(Path(self.run_id_dir)))

    def run_with_llm(self, llm) -> None:
        raise NotImplementedError("Subclasses must implement this method.")


class IdentifyRisksTask(PlanTask):
    def output(self):
        return {
            "raw": self.local_target(FilenameEnum.IDENTIFY_RISKS_RAW),
            "markdown": self.local_target(FilenameEnum.IDENTIFY_RISKS_MARKDOWN),
        }

    def run_with_llm(self, llm) -> None:
        raw = llm.answer(FilenameEnum.IDENTIFY_RISKS_RAW.value)
        with self.output()["raw"].open("w") as f:
            f.write(raw)
        with self.output()["markdown"].open("w") as f:
            f.write((FIXTURES / FilenameEnum.IDENTIFY_RISKS_MARKDOWN.value).read_text())


class WBSProjectLevel1AndLevel2Task(PlanTask):
    def output(self):
        return self.local_target(FilenameEnum.WBS_PROJECT_LEVEL1_AND_LEVEL2)

    def run_with_llm(self, llm) -> None:
        with self.output().open("w") as f:
            f.write(llm.answer(FilenameEnum.WBS_PROJECT_LEVEL1_AND_LEVEL2.value))


class EstimateTaskDurationsTask(PlanTask):
    def requires(self):
        return {"wbs_project": self.clone(WBSProjectLevel1AndLevel2Task)}

    def output(self):
        return self.local_target(FilenameEnum.TASK_DURATIONS)

    def run_with_llm(self, llm) -> None:
        durations = json.loads(llm.answer(FilenameEnum.TASK_DURATIONS.value))
        with open(self.file_path(FilenameEnum.TASK_DURATIONS), "w") as f:
            json.dump(durations, f, indent=2)


# --- added for planexe-plugin-hub ----------------------------------------------------------
from worker_plan_internal.plan.capability_stages import (  # noqa: E402
    PertEstimatesTask,
    RiskScoresTask,
    WBSCostRollupTask,
)

from plan_pipeline.planexe import preflight  # noqa: E402

# -------------------------------------------------------------------------------------------


class FullPlanPipeline(PlanTask):
    def requires(self):
        return {
            "risks": self.clone(IdentifyRisksTask),
            "durations": self.clone(EstimateTaskDurationsTask),
            "risk_scores": self.clone(RiskScoresTask),  # added
            "pert_estimates": self.clone(PertEstimatesTask),  # added
            "wbs_cost_rollup": self.clone(WBSCostRollupTask),  # added
        }

    def output(self):
        return self.local_target(FilenameEnum.PIPELINE_COMPLETE)

    def run_inner(self):
        with self.output().open("w") as f:
            f.write("Full pipeline executed successfully.\n")


@dataclass
class ExecutePipeline:
    run_id_dir: Path
    speedvsdetail: SpeedVsDetailEnum
    llm_models: list
    full_plan_pipeline_task: FullPlanPipeline | None = field(default=None)
    luigi_build_return_value: bool | None = field(default=None, init=False)

    def setup(self) -> None:
        self.full_plan_pipeline_task = FullPlanPipeline(
            run_id_dir=self.run_id_dir, speedvsdetail=self.speedvsdetail, llm_models=self.llm_models
        )
        if os.environ.get("STANDIN_SKIP_PREFLIGHT") != "1":
            preflight(self.full_plan_pipeline_task)  # added

    def run(self) -> None:
        self.luigi_build_return_value = luigi.build(
            [self.full_plan_pipeline_task],
            local_scheduler=True,
            workers=int(os.environ.get("STANDIN_WORKERS", "2")),
        )
        logger.info(f"luigi_build_return_value: {self.luigi_build_return_value}")


def configure_logging(run_id_dir: Path) -> None:
    formatter = logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    root_logger = logging.getLogger()
    root_logger.handlers.clear()
    root_logger.setLevel(logging.INFO)
    stdout_handler = logging.StreamHandler(stream=sys.stdout)
    stdout_handler.setFormatter(formatter)
    root_logger.addHandler(stdout_handler)
    file_handler = logging.FileHandler(run_id_dir / ExtraFilenameEnum.LOG_TXT.value, mode="a")
    file_handler.setFormatter(formatter)
    root_logger.addHandler(file_handler)


if __name__ == "__main__":
    run_id_dir = Path(os.environ["RUN_ID_DIR"])
    configure_logging(run_id_dir)
    execute_pipeline = ExecutePipeline(
        run_id_dir=run_id_dir,
        speedvsdetail=SpeedVsDetailEnum.ALL_DETAILS_BUT_SLOW,
        llm_models=[DEFAULT_LLM_MODEL],
    )
    try:
        execute_pipeline.setup()
    except Exception as e:
        logger.error(f"Failed to setup pipeline: {e}")
        sys.exit(1)
    execute_pipeline.run()
    sys.exit(0 if execute_pipeline.luigi_build_return_value else 1)
