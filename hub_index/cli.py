"""The hub's commands (``init``, ``serve``, ``publish``, ``search``, ``show``, ``install``,
``verify``, ``promote``, ``revoke``), added to ``plugin-hub`` through the ``planexe.commands``
entry point. The client's commands work with the worker install; ``init``, ``serve`` and
``publish`` need the ``hub`` extra."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from plan_pipeline.cli import fail
from plan_pipeline.cli import out as _out
from plan_pipeline.command_groups import needs_extra
from plan_pipeline.errors import PlanPipelineError
from plan_pipeline.trust import Tier

if TYPE_CHECKING:
    from hub_index.client import PluginHubClient
    from hub_index.records import PluginRecord

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
        with needs_extra("hub", "plugin-hub init"):  # the database and its migrations
            created = init_home(home, database_url)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    _out.print(f"[bold green]hub home created:[/] {escape(str(created.root))}")
    _out.print(f"  signer identity: {escape(created.signer_identity())}")
    _out.print(f"  start it with: plugin-hub serve {escape(str(created.root))}")


def serve_command(
    home: Annotated[Path, typer.Argument(help="Hub home made by 'plugin-hub init'.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    index_port: Annotated[int, typer.Option("--index-port")] = 8808,
    api_port: Annotated[int, typer.Option("--api-port")] = 8809,
    api: Annotated[
        str,
        typer.Option("--api", help="'asgi' (FastAPI under uvicorn) or 'threaded' (the old one)."),
    ] = "asgi",
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="API processes (asgi; one shared database).")
    ] = 1,
) -> None:
    """Run the hub (package index and metadata API) until interrupted (Ctrl-C or SIGTERM)."""
    import signal
    import time

    with needs_extra("hub", "plugin-hub serve"):
        from hub_index.home import HubHome
        from hub_index.server import embedded_hub

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # also when started with SIGINT ignored (in the background of a shell) or stopped by a
    # service manager's SIGTERM: the hub always shuts down cleanly
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    hub_home = HubHome(home)
    if hub_home.admin_key.exists():  # said before the hub starts: a stop cannot cut it off
        _out.print(
            f"[yellow]warning:[/] the admin key is on the hub's machine "
            f"({escape(str(hub_home.admin_key))}): whoever takes this machine can sign "
            "core plugins. Move it to a maintainer's machine and point "
            "PLANEXE_HUB_ADMIN_KEY at it there"
        )
    try:
        if api not in ("asgi", "threaded"):
            from hub_index.errors import HubConfigError

            raise HubConfigError(f"--api is 'asgi' or 'threaded', not {api!r}", "Choose one")
        with embedded_hub(hub_home, host, index_port, api_port, api=api, workers=workers) as hub:
            _out.print(
                f"[bold green]hub running[/] index {hub.simple_url}  api {hub.api_url} "
                f"({api}, {workers} process(es))"
            )
            _out.print(f"  pipelines: export PLANEXE_HUB_HOME={escape(str(home))}")
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


def show_command(plugin_id: Annotated[str, typer.Argument()], home: HomeOption = None) -> None:
    """Show one plugin record (JSON), and what its synthesis cost where the hub knows it."""
    try:
        client = _client(home)
        record = client.show(plugin_id)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    try:
        report = client.report(plugin_id)
    except PlanPipelineError:
        report = {}  # a hub without reports: the record is all there is
    _out.print_json(record.model_dump_json(exclude={"signature_bundle"}))
    cost = report.get("publisher_synthesis")
    if isinstance(cost, dict):
        from hub_index.hub_synthesizer import cost_line

        _out.print(f"synthesis (as the publisher reported it): {escape(cost_line(cost))}")


def metrics_command(
    home: HomeOption = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this UTC date or time (ISO), inclusive.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Until this UTC date or time (ISO), exclusive.")
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="The last N days (instead of --since).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """The seed's figures: recovery share, reuse rate, median time-to-capability (see
    docs/METRICS.md), overall and per capability."""
    from hub_index.metrics_table import metrics_table, parse_window

    try:
        start, end = parse_window(since, until, days)
        figures = _client(home).metrics(start, end)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if as_json:
        _out.print_json(figures.model_dump_json())
    else:
        _out.print(metrics_table(figures))


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


def register(app: typer.Typer) -> None:
    """Add the hub's commands to ``app``."""
    app.command("init")(init_command)
    app.command("serve")(serve_command)
    app.command("publish")(publish_command)
    app.command("search")(search_command)
    app.command("show")(show_command)
    app.command("metrics")(metrics_command)
    app.command("install")(install_command)
    app.command("verify")(verify_command)
    app.command("promote")(promote_command)
    app.command("revoke")(revoke_command)
