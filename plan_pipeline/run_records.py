"""What each stage of a run did, kept in the run directory (``plugin-hub report RUN_DIR``).

Every stage that ends, well or not, writes ``RUN/.planexe/stages/<stage>.json``: its
capability, how it got it (installed, synthesized, reused from the hub, or missed), the
plugin that ran, how long the stage took and how long the capability took to get, and the
error when it failed. The same end is reported to the hub's usage rows when a hub is set.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.errors import ContractViolationError, PlanFileError
from plan_pipeline.files import write_atomic
from plan_pipeline.resolver import PluginResolver
from plan_pipeline.usage import Resolution, StageResult, UsageReporter

STAGES_DIR = Path(".planexe") / "stages"


class StageRecord(BaseModel):
    stage: str = Field(max_length=200)
    capability: str = Field(max_length=200)
    resolution: Resolution | None
    """``installed``, ``synthesized``, ``reused``, ``near-match``, ``missed``; ``None``: it
    never resolved."""
    provider: str | None = Field(max_length=400)
    seconds: float
    time_to_capability_s: float | None
    ok: bool
    error: str | None = Field(default=None, max_length=1000)
    finished_at: AwareDatetime
    markdown: str | None = Field(default=None, max_length=400)
    """The stage's markdown output (a file name in the run directory), when it wrote one."""


def stage_finished(
    run_dir: Path,
    need: CapabilityNeed,
    resolver: PluginResolver,
    result: StageResult | None,
    seconds: float,
    error: Exception | None,
    reporter: UsageReporter | None,
) -> None:
    """Record how ``need``'s stage ended, here and (with ``reporter``) in the hub."""
    resolution = resolver.resolution.get(need.name)
    ttc_ms = resolver.time_to_capability_ms.get(need.name)
    if resolution is None and (result is not None or ttc_ms is not None):
        resolution = "installed"
    record = StageRecord(
        stage=need.name,
        capability=need.capability,
        resolution=resolution,
        provider=result.provider if result is not None else None,
        seconds=round(seconds, 4),
        time_to_capability_s=round(ttc_ms / 1000, 4) if ttc_ms is not None else None,
        ok=error is None,
        error=str(error)[:500] if error is not None else None,
        finished_at=datetime.now(UTC),
        markdown=result.markdown.name if result is not None and result.markdown else None,
    )
    folder = run_dir / STAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / f"{need.name}.json", record.model_dump_json(indent=2) + "\n")
    if reporter is not None:
        violation = error if isinstance(error, ContractViolationError) else None
        reporter.report(
            need, run_dir.name, result, seconds, type(error).__name__ if error else None,
            ttc_ms, resolution, run_dir=run_dir, violation=violation,
        )  # fmt: skip


def read_records(run_dir: Path) -> list[StageRecord]:
    """The stages of ``run_dir`` that ended, in the order they ended."""
    if not run_dir.is_dir():
        raise PlanFileError(f"run directory {run_dir} does not exist", "Check the path")
    records = []
    for path in sorted((run_dir / STAGES_DIR).glob("*.json")):
        if not path.is_file() or path.is_symlink():
            continue  # only the regular files this module writes (never a FIFO or a link)
        try:
            records.append(StageRecord.model_validate(json.loads(path.read_text("utf-8"))))
        except (OSError, ValueError, ValidationError, RecursionError):
            raise PlanFileError(
                f"{path} is not a stage record", "Delete it; the stage's next run writes it again"
            ) from None
    return sorted(records, key=lambda r: r.finished_at)
