"""``plugin-hub synth``: the synthesizer's command (added to ``plugin-hub`` through the
``planexe.commands`` entry point)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from plan_pipeline.cli import err as _err
from plan_pipeline.cli import fail
from plan_pipeline.cli import out as _out
from plan_pipeline.command_groups import needs_extra
from plan_pipeline.errors import PlanPipelineError


def register(app: typer.Typer) -> None:
    """Add the synthesizer's commands to ``app``."""
    app.command("synth")(synth_command)


def synth_command(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC", help="Plugin spec (JSON).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the project, wheel and report.")],
    codegen: Annotated[
        str, typer.Option("--codegen", help="Code generator ('planexe.codegen' entry point).")
    ] = "rules",
    osv_url: Annotated[
        str | None,
        typer.Option("--osv-url", help="OSV endpoint for the audit; default: a loopback one."),
    ] = None,
    advisories: Annotated[
        Path | None,
        typer.Option("--advisories", help="Folder of OSV advisories for the loopback endpoint."),
    ] = None,
    property_examples: Annotated[
        int, typer.Option("--property-examples", min=1, help="Hypothesis examples per test.")
    ] = 50,
    llm: Annotated[
        str | None,
        typer.Option("--llm", help="LLM entry for --codegen llm ('auto': all by priority)."),
    ] = None,
    llm_config: Annotated[
        Path | None,
        typer.Option("--llm-config", help="LLM configuration file (else $PLANEXE_LLM_CONFIG)."),
    ] = None,
    rounds: Annotated[
        int, typer.Option("--rounds", min=1, help="LLM rounds: the first answer and repairs.")
    ] = 3,
    samples: Annotated[
        int,
        typer.Option(
            "--samples", min=1, help="LLM answers in the first round; the first to pass wins."
        ),
    ] = 1,
    unsafe_no_sandbox: Annotated[
        bool,
        typer.Option(
            "--unsafe-no-sandbox", help="UNSAFE: run the plugin's tests without isolation."
        ),
    ] = False,
) -> None:
    """Turn a plugin spec into a verified wheel: generate, render, check, build, test."""
    from plan_pipeline.spec import PluginSpec

    with needs_extra("synth", "plugin-hub synth"):
        from synthesizer.audit import DEFAULT_ADVISORIES
        from synthesizer.errors import SpecFileError
        from synthesizer.synthesize import SynthesisOptions, synthesize_plugin
    if codegen == "llm":
        with needs_extra("llm", "plugin-hub synth --codegen llm"):
            pass

    try:
        try:
            spec = PluginSpec.read(spec_file)
        except FileNotFoundError:
            raise SpecFileError(f"spec file {spec_file} does not exist", "Check the path") from None
        except (OSError, ValueError) as exc:
            first = str(exc).splitlines()
            raise SpecFileError(
                f"spec file {spec_file} is not a valid plugin spec: {' '.join(first[:3])[:300]}",
                "Write it with 'plugin-hub run --synthesis suggest' or fix the JSON",
            ) from None
        options = SynthesisOptions(
            codegen=codegen,
            osv_url=osv_url,
            unsafe_no_sandbox=unsafe_no_sandbox,
            property_examples=property_examples,
            advisories=advisories or DEFAULT_ADVISORIES,
            llm_config=llm_config,
            llm=llm,
            repair_rounds=rounds,
            samples=samples,
        )
        if unsafe_no_sandbox:
            _err.print("[yellow]warning:[/] running the plugin's tests WITHOUT a sandbox")
        _out.print(f"[bold]synthesizing {escape(spec.capability)}[/] into {escape(str(out))}")
        progress = lambda line: _out.print(f"  {escape(line)}")  # noqa: E731
        if codegen == "llm":
            from synthesizer.llm_synthesis import synthesize_with_llm

            result = synthesize_with_llm(spec, out, options, progress)
        else:
            result = synthesize_plugin(spec, out, options, progress=progress)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    _out.print(f"[bold green]wheel:[/] {escape(str(result.wheel))}")
    _out.print(f"[bold green]sdist:[/] {escape(str(result.artifacts.sdist))}")
    _out.print(f"[bold green]report:[/] {escape(str(result.report_path))}")
