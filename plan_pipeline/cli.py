"""``plugin-hub``: the command line. The pipeline's commands are here; the other parts add
theirs through the ``planexe.commands`` entry points (``plan_pipeline/command_groups.py``).

Errors are translated here, at one boundary: a ``PlanPipelineError`` becomes one line on
standard error and its exit code (2 bad input, 3 stopped at a missing capability, 1 a plugin
failed); anything unexpected becomes one line pointing at the log, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from rich.markup import escape

from plan_pipeline import interrupts
from plan_pipeline.command_groups import DISTRIBUTION, add_command_groups
from plan_pipeline.errors import PlanFileError, PlanPipelineError
from plan_pipeline.plan import load_plan
from plan_pipeline.progress import PROGRESS_STREAM_ENV
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.run_plan_pipeline import RunSettings, RunSummary, default_run_dir, run_pipeline
from plan_pipeline.synthesis import SynthesisMode

app = typer.Typer(
    name="plugin-hub",
    help="Run plan pipelines and recover from missing capabilities with verified plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"plugin-hub (planexe-plugin-hub) {metadata.version(DISTRIBUTION)}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Run plan pipelines and recover from missing capabilities with verified plugins."""


def fail(error: PlanPipelineError) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(str(error))}")
    return typer.Exit(error.exit_code)


@app.command("run")
def run_command(
    plan: Annotated[Path, typer.Argument(help="Plan file (YAML).")],
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", help="Run directory; default: $RUN_ID_DIR or run/<plan>-<time>."),
    ] = None,
    synthesis: Annotated[
        SynthesisMode,
        typer.Option("--synthesis", help="What to do when a capability is missing."),
    ] = SynthesisMode.SUGGEST,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Luigi workers.")] = 1,
    scheduler_url: Annotated[
        str | None,
        typer.Option("--scheduler-url", help="Central luigid URL; default: local scheduler."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the run's summary as JSON (progress goes to standard error)."
        ),
    ] = False,
) -> None:
    """Run (or resume) a plan; outputs go to one numbered file per stage."""
    if as_json:  # the stages' progress (worker processes too) goes to standard error
        os.environ[PROGRESS_STREAM_ENV] = "stderr"
    try:
        loaded = load_plan(plan)
        settings = RunSettings(
            plan_file=plan,
            run_dir=run_dir or default_run_dir(loaded),
            mode=synthesis,
            workers=workers,
            scheduler_url=scheduler_url,
        )
        summary = run_pipeline(settings)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if interrupts.interrupted():  # the stages' failures are the interrupt's: said once
        raise interrupts.Interrupted
    if as_json:
        out.print_json(json.dumps(_summary_json(summary)))
    if summary.failures:
        for failure in summary.failures:
            err.print(f"[red]error:[/] {escape(str(failure))}")
        raise typer.Exit(max(f.exit_code for f in summary.failures))
    if as_json:
        return
    total = len(summary.plan.plan.stages)
    out.print(
        f"[bold green]plan complete:[/] {len(summary.completed)}/{total} stages in "
        f"{summary.seconds:.1f} s; outputs in {escape(str(summary.run_dir))}"
    )


def _summary_json(summary: RunSummary) -> dict[str, Any]:
    from plan_pipeline.run_records import read_records

    failures = [{"error": str(f), "exit_code": f.exit_code} for f in summary.failures]
    return {
        "plan": summary.plan.plan.name,
        "run_dir": str(summary.run_dir),
        "complete": summary.ok,
        "stages": len(summary.plan.plan.stages),
        "completed": summary.completed,
        "seconds": round(summary.seconds, 3),
        "failures": failures,
        "exit_code": max((f.exit_code for f in summary.failures), default=0),
        "records": [r.model_dump(mode="json") for r in read_records(summary.run_dir)],
    }


@app.command("capabilities")
def capabilities_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
) -> None:
    """List installed capabilities and their providers (reads metadata, imports nothing)."""
    registry = CapabilityRegistry()
    names = registry.capabilities()
    if as_json:
        out.print_json(json.dumps(_capabilities_json(registry, names)))
        return
    if not names:
        out.print("no capabilities installed")
    for name in names:
        try:
            selection = registry.select(name)
        except PlanPipelineError as exc:
            out.print(f"{name}: [red]{escape(str(exc))}[/]")
            continue
        line = f"{name}: {selection.chosen.describe()} ({selection.tier.value})"
        out.print(escape(line))
        report = selection.conflict_report()
        if report:
            out.print(f"  [yellow]{escape(report)}[/]")
    for problem in registry.ignored:
        out.print(f"[yellow]ignored: {escape(problem)}[/]")


def _capabilities_json(registry: CapabilityRegistry, names: list[str]) -> dict[str, Any]:
    listed: list[dict[str, Any]] = []
    for name in names:
        try:
            selection = registry.select(name)
        except PlanPipelineError as exc:
            listed.append({"capability": name, "error": str(exc)})
            continue
        listed.append(
            {
                "capability": name,
                "provider": selection.chosen.describe(),
                "tier": selection.tier.value,
                "conflict": selection.conflict_report() or None,
            }
        )
    return {"capabilities": listed, "ignored": list(registry.ignored)}


@app.command("quarantine")
def quarantine_command(
    release: Annotated[
        str | None,
        typer.Option(
            "--release",
            metavar="DIST==VERSION",
            help="Take this plugin off the list, so this environment runs it again.",
        ),
    ] = None,
) -> None:
    """List the plugins this environment quarantined: each gave an answer that broke its
    stage contract at run time, and is never loaded here again until released."""
    from plan_pipeline.quarantine import LocalQuarantine

    quarantine = LocalQuarantine()
    try:
        if release is not None:
            dist_name, _, version = release.partition("==")
            if not dist_name.strip() or not version.strip():
                raise PlanFileError(
                    f"--release {release!r} does not name a plugin",
                    "Write it as DIST==VERSION, as 'plugin-hub quarantine' lists it",
                )
            if not quarantine.release(dist_name.strip(), version.strip()):
                raise PlanFileError(
                    f"{dist_name.strip()} {version.strip()} is not quarantined here",
                    "Run 'plugin-hub quarantine' to list the quarantined plugins",
                )
            out.print(escape(f"released {dist_name.strip()} {version.strip()}"))
            return
        entries = quarantine.entries()
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if not entries:
        out.print("no plugin is quarantined in this environment")
    for entry in entries:
        when = entry.at.strftime("%Y-%m-%d %H:%M UTC")
        line = f"{entry.dist_name}=={entry.version} ({entry.capability}), {when}: {entry.reason}"
        out.print(escape(line), soft_wrap=True)


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """What one run resolved, synthesized and reused, and how long each stage took."""
    from rich.table import Table

    from plan_pipeline.run_records import read_records
    from plan_pipeline.usage import Resolution

    try:
        records = read_records(run_dir)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in records]))
        return
    if not records:
        out.print(f"no stage of {escape(str(run_dir))} has ended yet")
        return
    table = Table(title=f"run {escape(run_dir.name)}")
    for column in ("stage", "capability", "how", "plugin", "stage time", "miss to loaded"):
        if "time" in column or "loaded" in column:
            table.add_column(column, justify="right", overflow="fold")
        else:
            table.add_column(column, overflow="fold")
    for r in records:
        how = (r.resolution or "-").replace("-", " ").strip() or "-"
        table.add_row(
            escape(r.stage),
            escape(r.capability),
            how if r.ok else f"[red]{how}, failed[/]",
            escape(r.provider or "-"),
            f"{r.seconds:.2f} s",
            "-" if r.time_to_capability_s is None else f"{r.time_to_capability_s:.2f} s",
        )
    out.print(table)
    counts = {how: sum(r.resolution == how for r in records) for how in get_args(Resolution)}
    failed = sum(not r.ok for r in records)
    summary = ", ".join(f"{n} {how.replace('-', ' ')}" for how, n in counts.items() if n)
    out.print(f"{len(records)} stage(s): {summary or 'none resolved'}; {failed} failed")


planexe2_app = typer.Typer(
    help="Capability-backed skills for PlanExe2 (python -m planexe_skill).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(planexe2_app, name="planexe2")


@planexe2_app.command("preflight")
def planexe2_preflight_command(
    skills_dir: Annotated[
        Path, typer.Argument(metavar="SKILLS_DIR", help="The checkout's skills/ folder.")
    ],
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", help="The run directory: its plugins count, specs go there."),
    ] = None,
) -> None:
    """Before any stage runs: list every capability skill whose capability no installed plugin
    provides, lock the ones found (a changed lock makes PlanExe2 rerun the stage), and in
    suggest mode (PLANEXE_SYNTHESIS) write the missing ones' specs into the run directory."""
    from plan_pipeline.planexe2 import preflight

    try:
        checks = preflight(skills_dir, run_dir)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if not checks:
        out.print(f"no capability skill in {escape(str(skills_dir))}")
    for check in checks:
        skill = check.skill
        if check.plugin is None:
            out.print(escape(f"{skill.name}: {skill.capability} missing: {check.problem}"))
            continue
        changed = " (lock changed: PlanExe2 runs the stage again)" if check.lock_changed else ""
        plugin = check.plugin
        found = f"{plugin['dist_name']} {plugin['version']} ({plugin['tier']})"
        out.print(escape(f"{skill.name}: {skill.capability} from {found}{changed}"))


@planexe2_app.command("scaffold")
def planexe2_scaffold_command(
    contract: Annotated[
        Path, typer.Argument(metavar="CONTRACT", help="The stage contract (YAML or JSON).")
    ],
    skills_dir: Annotated[Path, typer.Option("--skills", help="The checkout's skills/ folder.")],
    name: Annotated[str, typer.Option("--name", help="The skill's name (its folder).")],
    capability: Annotated[str, typer.Option("--capability", help="The capability it needs.")],
    inputs: Annotated[
        list[str],
        typer.Option("--input", metavar="NAME=FILE[#PATH]", help="A plugin input from a file."),
    ],
    outputs: Annotated[
        list[str], typer.Option("--output", metavar="FILE", help="A .json and a .md output.")
    ],
    values: Annotated[
        list[str] | None,
        typer.Option("--value", metavar="NAME=JSON", help="A fixed plugin input."),
    ] = None,
    version: Annotated[str, typer.Option("--version", help="The version range.")] = ">=1.0,<2",
    description: Annotated[
        str, typer.Option("--description", help="One line: what the stage is for.")
    ] = "",
) -> None:
    """Write a capability skill folder from a contract: SKILL.md, the contract, and a run.py
    of one line that hands ctx to planexe-plugin-hub."""
    from plan_pipeline.planexe2 import scaffold

    try:
        folder = scaffold(
            contract, skills_dir, name, capability, version, inputs, outputs, description, values
        )
    except PlanPipelineError as exc:
        raise fail(exc) from None
    out.print(escape(f"wrote {folder}: SKILL.md, contract.yaml, run.py"))


INTERRUPTED_EXIT = 130
"""The exit code of a command stopped by Ctrl-C (SIGINT), as shells report it."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``plugin-hub`` console script."""
    add_command_groups(app)
    interrupts.install()
    try:
        app(args=argv, prog_name="plugin-hub")
    except interrupts.Interrupted:
        raise _interrupted() from None
    except SystemExit:
        if interrupts.interrupted():
            raise _interrupted() from None
        raise
    except PlanPipelineError as exc:  # pragma: no cover - commands translate their own
        raise SystemExit(fail(exc).exit_code) from None
    except Exception as exc:
        logger = logging.getLogger("planexe")
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        logger.exception("internal error")
        err.print(f"[red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}")
        raise SystemExit(1) from None
    if interrupts.interrupted():
        raise _interrupted()


def _interrupted() -> SystemExit:
    err.print(
        "[red]interrupted:[/] completed stage outputs, specs and published plugins are kept; "
        "run the same command again to continue"
    )
    return SystemExit(INTERRUPTED_EXIT)


if __name__ == "__main__":
    main()
