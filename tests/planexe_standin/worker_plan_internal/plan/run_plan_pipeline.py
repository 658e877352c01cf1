"""Stand-in for PlanExe's ``run_plan_pipeline.py``: its ``PlanTask``, three upstream stages and
``FullPlanPipeline``, run the way PlanExe runs them::

    RUN_ID_DIR=/abs/run python -m worker_plan_internal.plan.run_plan_pipeline

``PlanTask`` keeps PlanExe's parameters and its ``run()``, which wraps every exception in
"Failed to run X with any of the LLMs". The upstream stages write PlanExe's output shapes from
``fixtures/`` (a scripted LLM). The marked lines are the ones the README's "Using it from
PlanExe" adds to a PlanExe checkout. ``STANDIN_SKIP_PREFLIGHT=1`` leaves the pre-flight
check out, as a checkout that did not add it; ``STANDIN_WORKERS`` sets the Luigi workers.

PlanExe's progress and stop callback is kept: ``ExecutePipeline.callback_run_task`` reaches
every task as the private parameter ``_pipeline_executor_callback`` and is called after each
LLM call; it logs each call (task, progress by files) to ``progress_calls.jsonl`` and raises
``PipelineStopRequested`` from call ``STANDIN_STOP_AT_CALLBACK`` on, as PlanExe's database
worker does when a user stops a run. ``ReportTask`` writes ``030-report.html`` with
``ReportGenerator``'s ``append_markdown`` sections.
"""

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import luigi
import luigi.parameter
from worker_plan_api.filenames import ExtraFilenameEnum, FilenameEnum
from worker_plan_api.speedvsdetail import SpeedVsDetailEnum
from worker_plan_internal.llm_util.llm_executor import PipelineStopRequested

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
    _pipeline_executor_callback = luigi.Parameter(
        default=None,
        significant=False,
        visibility=luigi.parameter.ParameterVisibility.PRIVATE,
    )

    def file_path(self, filename: FilenameEnum) -> Path:
        return Path(self.run_id_dir) / filename.value

    def local_target(self, filename: FilenameEnum) -> luigi.LocalTarget:
        return luigi.LocalTarget(self.file_path(filename))

    def run(self):
        """Don't override this method (PlanExe's words). Override run_inner or run_with_llm."""
        try:
            self.run_inner()
        except PipelineStopRequested:
            flag_path = Path(self.run_id_dir) / ExtraFilenameEnum.PIPELINE_STOP_REQUESTED_FLAG
            flag_path.touch()
            raise
        except Exception as e:
            raise Exception(
                f"Failed to run {self.__class__.__name__} with any of the LLMs in the list: "
                f"{self.llm_models!r} for run_id_dir: {self.run_id_dir!r}"
            ) from e

    def run_inner(self):
        started = time.perf_counter()
        self.run_with_llm(ScriptedLLM(Path(self.run_id_dir)))
        if self._pipeline_executor_callback is not None:  # after the LLM attempt, as PlanExe
            self._pipeline_executor_callback(self, time.perf_counter() - started)

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

from plan_pipeline.planexe import capability_report, preflight  # noqa: E402

# -------------------------------------------------------------------------------------------


class ReportGenerator:
    """PlanExe's report generator: sections appended in order, saved as one HTML page."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, str]] = []

    def append_markdown(self, document_title: str, file_path: Path) -> None:
        if not Path(file_path).is_file():
            logger.warning(f"Document: '{document_title}'. Could not read file: {file_path}")
            return
        self.sections.append((document_title, Path(file_path).read_text()))

    def save_report(self, path: str) -> None:
        body = "".join(
            f'<div class="section"><h2>{title}</h2><pre>{text}</pre></div>\n'
            for title, text in self.sections
        )
        Path(path).write_text(f"<html><body>\n{body}</body></html>\n")


class ReportTask(PlanTask):
    def requires(self):
        return {
            "risks": self.clone(IdentifyRisksTask),
            "risk_scores": self.clone(RiskScoresTask),  # added
            "pert_estimates": self.clone(PertEstimatesTask),  # added
            "wbs_cost_rollup": self.clone(WBSCostRollupTask),  # added
        }

    def output(self):
        return self.local_target(FilenameEnum.REPORT)

    def run_inner(self):
        rg = ReportGenerator()
        rg.append_markdown("Risks", self.input()["risks"]["markdown"].path)
        capability_report(rg, self.run_id_dir)  # added
        rg.save_report(self.output().path)


class FullPlanPipeline(PlanTask):
    def requires(self):
        return {
            "risks": self.clone(IdentifyRisksTask),
            "durations": self.clone(EstimateTaskDurationsTask),
            "risk_scores": self.clone(RiskScoresTask),  # added
            "pert_estimates": self.clone(PertEstimatesTask),  # added
            "wbs_cost_rollup": self.clone(WBSCostRollupTask),  # added
            "report": self.clone(ReportTask),
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
            run_id_dir=self.run_id_dir,
            speedvsdetail=self.speedvsdetail,
            llm_models=self.llm_models,
            _pipeline_executor_callback=self.callback_run_task,
        )
        if os.environ.get("STANDIN_SKIP_PREFLIGHT") != "1":
            preflight(self.full_plan_pipeline_task)  # added

    def callback_run_task(self, task: PlanTask, duration: float) -> None:
        """PlanExe's progress callback: progress by the files on disk; a stop raises."""
        calls = Path(self.run_id_dir) / "progress_calls.jsonl"
        count = len(calls.read_text().splitlines()) + 1 if calls.exists() else 1
        files = len([p for p in Path(self.run_id_dir).iterdir() if not p.name.startswith(".")])
        with calls.open("a") as f:
            f.write(json.dumps({"task": type(task).__name__, "files": files}) + "\n")
        stop_at = int(os.environ.get("STANDIN_STOP_AT_CALLBACK", "0"))
        if stop_at and count >= stop_at:
            raise PipelineStopRequested("Stop requested by the user")

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
    sys.exit(0 if execute_pipeline.luigi_build_return_value else 1)  # added: an honest exit code
