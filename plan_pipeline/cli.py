"""``plugin-hub``: the command line.

Errors are translated here, at one boundary: a ``PlanPipelineError`` becomes one line on
standard error and its exit code (2 bad input, 3 stopped at a missing capability, 1 a plugin
failed); anything unexpected becomes one line pointing at the log, never a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from plan_pipeline.errors import PlanPipelineError
from plan_pipeline.plan import load_plan
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.run_plan_pipeline import RunSettings, default_run_dir, run_pipeline
from plan_pipeline.synthesis import SynthesisMode
from plan_pipeline.trust import Tier

if TYPE_CHECKING:
    from hub_index.client import PluginHubClient
    from hub_index.records import PluginRecord

app = typer.Typer(
    name="plugin-hub",
    help="Run plan pipelines and recover from missing capabilities with verified plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_err = Console(stderr=True, highlight=False, soft_wrap=True)
_out = Console(highlight=False, soft_wrap=True)


def fail(error: PlanPipelineError) -> typer.Exit:
    _err.print(f"[red]error:[/] {escape(str(error))}")
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
) -> None:
    """Run (or resume) a plan; outputs go to one numbered file per stage."""
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
    if summary.failures:
        for failure in summary.failures:
            _err.print(f"[red]error:[/] {escape(str(failure))}")
        raise typer.Exit(max(f.exit_code for f in summary.failures))
    total = len(summary.plan.plan.stages)
    _out.print(
        f"[bold green]plan complete:[/] {len(summary.completed)}/{total} stages in "
        f"{summary.seconds:.1f} s; outputs in {escape(str(summary.run_dir))}"
    )


@app.command("synth")
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
    unsafe_no_sandbox: Annotated[
        bool,
        typer.Option(
            "--unsafe-no-sandbox", help="UNSAFE: run the plugin's tests without isolation."
        ),
    ] = False,
) -> None:
    """Turn a plugin spec into a verified wheel: generate, render, check, build, test."""
    from plan_pipeline.spec import PluginSpec
    from synthesizer.audit import DEFAULT_ADVISORIES
    from synthesizer.errors import SpecFileError
    from synthesizer.synthesize import SynthesisOptions, synthesize_plugin

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
        )
        if unsafe_no_sandbox:
            _err.print("[yellow]warning:[/] running the plugin's tests WITHOUT a sandbox")
        _out.print(f"[bold]synthesizing {escape(spec.capability)}[/] into {escape(str(out))}")
        result = synthesize_plugin(
            spec, out, options, progress=lambda line: _out.print(f"  {escape(line)}")
        )
    except PlanPipelineError as exc:
        raise fail(exc) from None
    _out.print(f"[bold green]wheel:[/] {escape(str(result.wheel))}")
    _out.print(f"[bold green]sdist:[/] {escape(str(result.artifacts.sdist))}")
    _out.print(f"[bold green]report:[/] {escape(str(result.report_path))}")


# -- the hub -----------------------------------------------------------------------------------

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Hub home (default: $PLANEXE_HUB_HOME, or $PLANEXE_HUB_URL)."),
]


def _client(home: Path | None, offline: bool = False) -> PluginHubClient:
    from hub_index.client import PluginHubClient
    from hub_index.home import HubHome

    if home is not None:
        return PluginHubClient.from_home(HubHome(home), offline=offline)
    return PluginHubClient.from_env(offline=offline)


def _show(record: PluginRecord) -> None:
    _out.print(
        f"{escape(record.plugin_id)}  {escape(record.capability)}  "
        f"{escape(record.dist_name)} {escape(record.version)}  tier={record.trust_tier.value}  "
        f"status={record.status.value}  signer={escape(record.signer_identity)}  "
        f"sha256={record.checksum[:16]}..."
    )


@app.command("init")
def init_command(
    home: Annotated[Path, typer.Argument(help="New, empty folder for the hub.")],
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="PostgreSQL URL; default: SQLite in the home."),
    ] = None,
) -> None:
    """Create a hub home: signing key, upload credentials, policy, migrated database."""
    from hub_index.home import init_home

    try:
        created = init_home(home, database_url)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    _out.print(f"[bold green]hub home created:[/] {escape(str(created.root))}")
    _out.print(f"  signer identity: {escape(created.signer_identity())}")
    _out.print(f"  start it with: plugin-hub serve {escape(str(created.root))}")


@app.command("serve")
def serve_command(
    home: Annotated[Path, typer.Argument(help="Hub home made by 'plugin-hub init'.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    index_port: Annotated[int, typer.Option("--index-port")] = 8808,
    api_port: Annotated[int, typer.Option("--api-port")] = 8809,
) -> None:
    """Run the hub (package index and metadata API) until interrupted (Ctrl-C or SIGTERM)."""
    import signal
    import time

    from hub_index.home import HubHome
    from hub_index.server import embedded_hub

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # also when started with SIGINT ignored (in the background of a shell) or stopped by a
    # service manager's SIGTERM: the hub always shuts down cleanly
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        with embedded_hub(HubHome(home), host, index_port, api_port) as hub:
            _out.print(f"[bold green]hub running[/] index {hub.simple_url}  api {hub.api_url}")
            _out.print(f"  pipelines: export PLANEXE_HUB_HOME={escape(str(home))}")
            if hub.home.admin_key.exists():
                _out.print(
                    f"[yellow]warning:[/] the admin key is on the hub's machine "
                    f"({escape(str(hub.home.admin_key))}): whoever takes this machine can sign "
                    "core plugins. Move it to a maintainer's machine and point "
                    "PLANEXE_HUB_ADMIN_KEY at it there"
                )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        _out.print("hub stopped")
    except PlanPipelineError as exc:
        raise fail(exc) from None


def _capability_of(wheel: Path) -> str:
    import zipfile

    from plan_pipeline.errors import PlanFileError

    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(names[0]).decode() if names else ""
    section, found = "", []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "planexe.plugins" and "=" in line:
            found.append(line.split("=")[0].strip().strip('"'))
    if len(found) != 1:
        raise PlanFileError(
            f"{wheel.name} declares {len(found)} capabilities in 'planexe.plugins'",
            "Pass --capability to name the one to record",
        )
    return found[0]


@app.command("publish")
def publish_command(
    wheels: Annotated[list[Path], typer.Argument(help="Wheel files to publish.")],
    home: HomeOption = None,
    capability: Annotated[str | None, typer.Option("--capability")] = None,
    tier: Annotated[
        Tier | None, typer.Option("--tier", help="core or verified; default: the policy's.")
    ] = None,
    owner: Annotated[str, typer.Option("--owner")] = "maintainer",
) -> None:
    """Sign, upload and record hand-built plugin wheels (the maintainer path)."""
    try:
        client = _client(home)
        chosen = tier or client.policy.publish_tier
        if chosen not in (Tier.CORE, Tier.VERIFIED):
            raise PlanPipelineError(
                f"maintainer publishing is for tiers core and verified, not {chosen.value}"
            )
        for wheel in wheels:
            record = client.publish(
                wheel, capability or _capability_of(wheel), tier=chosen, owner=owner
            )
            _show(record)
    except PlanPipelineError as exc:
        raise fail(exc) from None


@app.command("search")
def search_command(
    capability: Annotated[str, typer.Argument()],
    home: HomeOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Include revoked plugins.")] = False,
) -> None:
    """List the hub's plugins for a capability."""
    try:
        records = _client(home).records(capability, include_revoked=all_)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if not records:
        _out.print(f"no plugins for {escape(capability)}")
    for record in records:
        _show(record)


@app.command("show")
def show_command(plugin_id: Annotated[str, typer.Argument()], home: HomeOption = None) -> None:
    """Show one plugin record (JSON)."""
    try:
        record = _client(home).show(plugin_id)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    _out.print_json(record.model_dump_json(exclude={"signature_bundle"}))


@app.command("install")
def install_command(
    capability: Annotated[str, typer.Argument()],
    home: HomeOption = None,
    version: Annotated[str | None, typer.Option("--version", help="Version range.")] = None,
) -> None:
    """Install the best allowed plugin for a capability into this environment, verified."""
    try:
        record = _client(home).fetch(capability, version)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if record is None:
        raise fail(PlanPipelineError(f"the hub has no installable plugin for {capability}"))
    _out.print("installed:")
    _show(record)


@app.command("verify")
def verify_command(
    wheel: Annotated[Path, typer.Argument(help="Wheel file to check.")],
    home: HomeOption = None,
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Sigstore bundle (keyless, offline).")
    ] = None,
    identity: Annotated[str | None, typer.Option("--identity")] = None,
    issuer: Annotated[str | None, typer.Option("--issuer")] = None,
    trust: Annotated[str, typer.Option("--trust", help="production, staging or a path.")] = (
        "production"
    ),
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Check against the hub's signed metadata verified here before; no network.",
        ),
    ] = False,
) -> None:
    """Verify a wheel: against its hub record, or a keyless bundle against an identity."""
    from hub_index.signing import SigstoreIdentity, SigstoreVerifier

    try:
        data = wheel.read_bytes()
        if bundle is not None:
            if not (identity and issuer):
                raise PlanPipelineError("--bundle needs --identity and --issuer")
            verifier = SigstoreVerifier([SigstoreIdentity(identity, issuer)], trust)
            proven = verifier.verify(data, bundle.read_text(encoding="utf-8"))
        elif offline:
            signed = _client(home, offline=True).check_file(wheel.name, data)
            proven = (
                f"the hub's metadata verified here before: {signed.tier.value} release of "
                f"'{signed.release.capability}' (offline)"
            )
        else:
            from hub_index.client import wheel_release

            client = _client(home)
            name, version = wheel_release(wheel.name)
            record = client.by_dist(name, version)
            if record is None:
                raise PlanPipelineError(f"the hub has no record of {name} {version}")
            client.check_record(record)
            proven = client.verify(record, data)
    except OSError as exc:
        raise fail(PlanPipelineError(f"cannot read {wheel}: {exc.strerror}")) from None
    except PlanPipelineError as exc:
        raise fail(exc) from None
    _out.print(f"[bold green]verified:[/] {escape(wheel.name)} signed by {escape(proven)}")


@app.command("promote")
def promote_command(
    plugin_id: Annotated[str, typer.Argument()],
    tier: Annotated[Tier, typer.Option("--tier")],
    home: HomeOption = None,
) -> None:
    """Change a plugin's trust tier (e.g. generated -> verified after review)."""
    try:
        _show(_client(home).promote(plugin_id, tier))
    except PlanPipelineError as exc:
        raise fail(exc) from None


@app.command("revoke")
def revoke_command(
    plugin_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option("--reason")],
    home: HomeOption = None,
) -> None:
    """Revoke a plugin: never loaded again, its name and version never reused."""
    try:
        _show(_client(home).revoke(plugin_id, reason))
    except PlanPipelineError as exc:
        raise fail(exc) from None


@app.command("capabilities")
def capabilities_command() -> None:
    """List installed capabilities and their providers (reads metadata, imports nothing)."""
    registry = CapabilityRegistry()
    names = registry.capabilities()
    if not names:
        _out.print("no capabilities installed")
    for name in names:
        try:
            selection = registry.select(name)
        except PlanPipelineError as exc:
            _out.print(f"{name}: [red]{escape(str(exc))}[/]")
            continue
        line = f"{name}: {selection.chosen.describe()} ({selection.tier.value})"
        _out.print(escape(line))
        report = selection.conflict_report()
        if report:
            _out.print(f"  [yellow]{escape(report)}[/]")
    for problem in registry.ignored:
        _out.print(f"[yellow]ignored: {escape(problem)}[/]")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``plugin-hub`` console script."""
    try:
        app(args=argv, prog_name="plugin-hub")
    except PlanPipelineError as exc:  # pragma: no cover - commands translate their own
        raise SystemExit(fail(exc).exit_code) from None
    except Exception as exc:
        logger = logging.getLogger("planexe")
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        logger.exception("internal error")
        _err.print(f"[red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
