"""The commands of the hub's clients (``search``, ``show``, ``install``, ``verify``,
``metrics``, and the maintainers' ``publish``, ``promote``, ``revoke``), added to ``plugin-hub``
through the ``planexe.commands`` entry point. They work with the worker install: a hub URL
with the client files ``plugin-hub export-client`` writes, or a hub home on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from plan_pipeline.cli import fail
from plan_pipeline.cli import out as _out
from plan_pipeline.errors import PlanPipelineError
from plan_pipeline.trust import Tier

if TYPE_CHECKING:
    from hub_client.client import PluginHubClient
    from hub_client.records import PluginRecord

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Hub home (default: $PLANEXE_HUB_HOME, or $PLANEXE_HUB_URL)."),
]


def _client(home: Path | None, offline: bool = False) -> PluginHubClient:
    from hub_client.client import PluginHubClient
    from hub_client.local_home import HubHome

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
    wheels: Annotated[list[Path], typer.Argument(metavar="WHEEL...", help="Wheels to publish.")],
    home: HomeOption = None,
    capability: Annotated[
        str | None,
        typer.Option("--capability", help="The capability to record; default: the wheel's one."),
    ] = None,
    tier: Annotated[
        Tier | None, typer.Option("--tier", help="core or verified; default: the policy's.")
    ] = None,
    owner: Annotated[str, typer.Option("--owner", help="Who publishes, for the record.")] = (
        "maintainer"
    ),
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
    text: Annotated[
        str,
        typer.Argument(
            metavar="[TEXT]", help="A capability or part of one; none lists every plugin."
        ),
    ] = "",
    home: HomeOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Include revoked plugins.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """List the hub's plugins whose capability contains TEXT (any case), or every plugin."""
    try:
        records = _client(home).search(text, include_revoked=all_)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if as_json:
        _out.print_json(
            json.dumps([r.model_dump(mode="json", exclude={"signature_bundle"}) for r in records])
        )
        return
    if not records:
        _out.print(f"no plugins for {escape(text)}" if text else "the hub has no plugins")
        return
    table = Table(title=f"{len(records)} plugin(s)")
    table.add_column("id", no_wrap=True)  # whole, to be copied into show, promote, revoke
    for column in ("capability", "version", "tier", "status"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            escape(r.plugin_id), escape(r.capability), escape(r.version), r.trust_tier.value,
            r.status.value,
        )  # fmt: skip
    _out.print(table)


def ranking_command(
    capability: Annotated[str, typer.Argument(metavar="CAPABILITY", help="A capability name.")],
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ranking as JSON.")] = False,
) -> None:
    """Rank the hub's plugins of CAPABILITY: score and parts, best first (docs/DECISIONS.md)."""
    try:
        ranked = _client(home).ranking(capability)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if as_json:
        _out.print_json(json.dumps([r.model_dump(mode="json") for r in ranked]))
        return
    if not ranked:
        _out.print(f"the hub has no active plugin of {escape(capability)}")
        return
    table = Table(title=f"{escape(capability)}: score = 0.35 R + 0.30 Q + 0.20 A + 0.15 S")
    for column in ("plugin", "score", "reliability (R)", "quality (Q)", "adoption (A)",
                   "tier (S)", "tokens", "uses"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for r in ranked:
        table.add_row(
            escape(f"{r.dist_name} {r.version}"), f"{r.rank.score:.3f}",
            f"{r.rank.reliability:.3f}", f"{r.rank.quality:.3f}", f"{r.rank.adoption:.3f}",
            f"{r.rank.safety_tier:.2f} {r.tier.value}", str(r.evidence.tokens),
            str(r.evidence.uses),
        )  # fmt: skip
    _out.print(table)


def show_command(
    plugin_id: Annotated[str, typer.Argument(metavar="ID", help="The plugin's id (search).")],
    home: HomeOption = None,
) -> None:
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
        from hub_client.hub_synthesizer import cost_line

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
    token: Annotated[
        str | None,
        typer.Option("--token", help="Only the uses sent with the API token of this name."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """The success metrics: recovery share, reuse rate, median time-to-capability (see
    docs/METRICS.md), overall and per capability, and how many tokens sent the uses."""
    from hub_client.metrics_table import metrics_table, parse_window

    try:
        start, end = parse_window(since, until, days)
        figures = _client(home).metrics(start, end, token)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if as_json:
        _out.print_json(figures.model_dump_json())
    else:
        _out.print(metrics_table(figures))


def install_command(
    capability: Annotated[str, typer.Argument(help="The capability to install.")],
    home: HomeOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Version range, e.g. '>=1.0,<2'.")
    ] = None,
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
    identity: Annotated[
        str | None, typer.Option("--identity", help="Keyless: the signer's certificate identity.")
    ] = None,
    issuer: Annotated[
        str | None, typer.Option("--issuer", help="Keyless: the identity's OIDC issuer.")
    ] = None,
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
    from hub_client.bundles import SigstoreIdentity, SigstoreVerifier

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
            from hub_client.client import wheel_release

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
    plugin_id: Annotated[str, typer.Argument(metavar="ID", help="The plugin's id (search).")],
    tier: Annotated[Tier, typer.Option("--tier", help="The new tier.")],
    home: HomeOption = None,
) -> None:
    """Change a plugin's trust tier (e.g. generated -> verified after review)."""
    try:
        _show(_client(home).promote(plugin_id, tier))
    except PlanPipelineError as exc:
        raise fail(exc) from None


def revoke_command(
    plugin_id: Annotated[str, typer.Argument(metavar="ID", help="The plugin's id (search).")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the signed record.")],
    home: HomeOption = None,
) -> None:
    """Revoke a plugin: never loaded again, its name and version never reused."""
    try:
        _show(_client(home).revoke(plugin_id, reason))
    except PlanPipelineError as exc:
        raise fail(exc) from None


def promotion_candidates_command(
    home: HomeOption = None,
    min_runs: Annotated[
        int | None, typer.Option("--min-runs", min=1, help="Successful stage runs (default 5).")
    ] = None,
    min_tokens: Annotated[
        int | None,
        typer.Option("--min-tokens", min=1, help="Distinct API tokens among them (default 2)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
) -> None:
    """List generated plugins that earned review: runs, tokens, no violation, pure computation."""
    try:
        found = _client(home).promotion_candidates(min_runs, min_tokens)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if as_json:
        _out.print_json(json.dumps([c.model_dump(mode="json") for c in found]))
        return
    if not found:
        _out.print("no generated plugin has earned review yet")
        return
    table = Table(title=f"{len(found)} plugin(s) for review (promote: plugin-hub promote ID)")
    table.add_column("id", no_wrap=True)
    for column in ("capability", "plugin", "successful runs", "tokens"):
        table.add_column(column, overflow="fold")
    for c in found:
        table.add_row(
            escape(c.plugin_id), escape(c.capability), escape(f"{c.dist_name} {c.version}"),
            str(c.successful_runs), str(c.tokens),
        )  # fmt: skip
    _out.print(table)


def duplicates_command(
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
) -> None:
    """List the pairs of plugins the hub found to pass each other's contract."""
    try:
        pairs = _client(home).duplicates()
    except PlanPipelineError as exc:
        raise fail(exc) from None
    if as_json:
        _out.print_json(json.dumps([p.model_dump(mode="json") for p in pairs]))
        return
    if not pairs:
        _out.print("no duplicates recorded (the hub's operator runs plugin-hub find-duplicates)")
        return
    table = Table(title=f"{len(pairs)} pair(s) (retire one: plugin-hub retire ID --behind ID)")
    for column in ("id", "plugin", "id ", "duplicate of it"):
        table.add_column(column, overflow="fold")
    for pair in pairs:
        table.add_row(
            escape(pair.first.plugin_id),
            escape(f"{pair.first.capability} ({pair.first.dist_name} {pair.first.version})"),
            escape(pair.second.plugin_id),
            escape(f"{pair.second.capability} ({pair.second.dist_name} {pair.second.version})"),
        )
    _out.print(table)


def retire_command(
    plugin_id: Annotated[str, typer.Argument(metavar="ID", help="The plugin to retire.")],
    behind: Annotated[
        str, typer.Option("--behind", metavar="ID", help="Its duplicate, which stays.")
    ],
    home: HomeOption = None,
) -> None:
    """Retire a plugin behind its duplicate: an admin-signed revocation naming the plugin that
    serves its capability instead."""
    try:
        _show(_client(home).retire(plugin_id, behind))
    except PlanPipelineError as exc:
        raise fail(exc) from None


def register(app: typer.Typer) -> None:
    """Add the hub clients' commands to ``app``."""
    app.command("publish")(publish_command)
    app.command("search")(search_command)
    app.command("show")(show_command)
    app.command("ranking")(ranking_command)
    app.command("metrics")(metrics_command)
    app.command("install")(install_command)
    app.command("verify")(verify_command)
    app.command("promote")(promote_command)
    app.command("revoke")(revoke_command)
    app.command("retire")(retire_command)
    app.command("promotion-candidates")(promotion_candidates_command)
    app.command("duplicates")(duplicates_command)
