"""The hub server's commands (``init``, ``serve``, ``export-client``, ``find-duplicates``),
added to ``plugin-hub`` through the ``planexe.commands`` entry point; ``init``, ``serve`` and
``find-duplicates`` need the ``hub`` extra."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from plan_pipeline.cli import fail
from plan_pipeline.cli import out as _out
from plan_pipeline.command_groups import needs_extra
from plan_pipeline.errors import PlanPipelineError


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
    _out.print(
        f"  API tokens: {escape(str(created.credentials_file))} (admin and publish; pipelines "
        "set PLANEXE_HUB_TOKEN to the publish token)"
    )
    _out.print(
        f"  pipelines elsewhere: plugin-hub export-client {escape(str(created.root))} FOLDER"
    )


def serve_command(
    home: Annotated[Path, typer.Argument(help="Hub home made by 'plugin-hub init'.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    index_port: Annotated[
        int,
        typer.Option(
            "--index-port", min=0, max=65535, help="The package index's port (0: a free one)."
        ),
    ] = 8808,
    api_port: Annotated[
        int,
        typer.Option(
            "--api-port", min=0, max=65535, help="The API's port, what clients use (0: a free one)."
        ),
    ] = 8809,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="API processes (one shared database).")
    ] = 1,
) -> None:
    """Run the hub (package index and metadata API) until interrupted (Ctrl-C or SIGTERM)."""
    import signal
    import time

    with needs_extra("hub", "plugin-hub serve"):
        from hub_client.local_home import HubHome
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
        with embedded_hub(hub_home, host, index_port, api_port, workers=workers) as hub:
            _out.print(
                f"[bold green]hub running[/] index {hub.simple_url}  api {hub.api_url} "
                f"({workers} process(es))"
            )
            _out.print(f"  pipelines here: export PLANEXE_HUB_HOME={escape(str(home))}")
            _out.print(
                f"  pipelines elsewhere: plugin-hub export-client {escape(str(home))} FOLDER"
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        _out.print("hub stopped")
    except PlanPipelineError as exc:
        raise fail(exc) from None


def export_client_command(
    home: Annotated[Path, typer.Argument(help="The hub's home.")],
    folder: Annotated[Path, typer.Argument(help="Folder to write the client files into.")],
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="The API's address as clients reach it; default: the running hub's, else "
            "the settings' host and API port.",
        ),
    ] = None,
    with_token: Annotated[
        bool,
        typer.Option("--with-token", help="Also write the publish token (for publish mode)."),
    ] = False,
    token_name: Annotated[
        str | None,
        typer.Option(
            "--token-name",
            help="With --with-token: make a publish token of this installation's own, named so "
            "(its usage and reports count apart); default: the hub's shared publish token.",
        ),
    ] = None,
) -> None:
    """Write what a pipeline on another machine needs (trust policy, metadata root, public
    keys) into FOLDER and print the environment lines that use it."""
    from hub_client.client import api_url
    from hub_client.local_home import HubHome
    from hub_index.home import CLIENT_TOKEN, add_publish_token, export_client

    try:
        if token_name is not None and not with_token:
            raise PlanPipelineError(
                "--token-name makes a token to write, which needs --with-token",
                "Add --with-token",
            )
        hub_home = HubHome(home).require()
        if url is None:
            if hub_home.serve_file.is_file():
                url = hub_home.serve_info().api_url
            else:
                settings = hub_home.settings()
                url = f"http://{settings.host}:{settings.api_port}"
        token = None
        if token_name is not None:
            with needs_extra("hub", "plugin-hub export-client --token-name"):  # the database
                token = add_publish_token(hub_home, token_name)
        environ = export_client(hub_home, folder, api_url(url), with_token, token)
    except PlanPipelineError as exc:
        raise fail(exc) from None
    _out.print(
        f"# client files in {escape(str(folder.absolute()))}; copy the folder to the "
        "pipeline's machine, then there (with the paths where you put it):"
    )
    for name, value in environ.items():
        shown = shlex.quote(value)
        if name == "PLANEXE_HUB_TOKEN":  # the token stays in its file, out of shell history
            shown = f'"$(cat {shlex.quote(value)})"'
        _out.print(escape(f"export {name}={shown}"))
    if not with_token:
        _out.print(
            "# publish mode also needs PLANEXE_HUB_TOKEN: the publish token of "
            f"{escape(str(hub_home.credentials_file))} (or run again with --with-token, which "
            f"writes it to {CLIENT_TOKEN})"
        )


def find_duplicates_command(
    home: Annotated[Path, typer.Argument(help="Hub home made by 'plugin-hub init'.")],
) -> None:
    """Check the hub's active plugins pair by pair against each other's contract (every
    gate, in the sandbox) and record the pairs of which each passes the other's."""
    with needs_extra("hub", "plugin-hub find-duplicates"):
        from hub_client.local_home import HubHome
        from hub_index.db import HubDatabase
        from hub_index.home import check_private
        from hub_index.index_files import IndexFiles
        from hub_index.library import HubLibrary

    try:
        hub = HubHome(home)
        check_private(hub)
        with HubDatabase(hub.settings().database_url) as db:
            db.upgrade()
            files = IndexFiles(hub.packages, hub.staging, hub.revoked, hub.served_manifest)
            found = HubLibrary(db, files).find_duplicates(
                lambda line: _out.print(escape(line), highlight=False)
            )
    except PlanPipelineError as exc:
        raise fail(exc) from None
    for pair in found:
        _out.print(
            f"duplicates: {escape(pair.first.dist_name)} {escape(pair.first.version)} "
            f"({pair.first.plugin_id}) and {escape(pair.second.dist_name)} "
            f"{escape(pair.second.version)} ({pair.second.plugin_id})",
            highlight=False,
        )
    _out.print(
        f"{len(found)} pair(s) of duplicates; retire one behind the other with "
        "plugin-hub retire ID --behind ID"
    )


def register(app: typer.Typer) -> None:
    """Add the hub server's commands to ``app``."""
    app.command("init")(init_command)
    app.command("serve")(serve_command)
    app.command("export-client")(export_client_command)
    app.command("find-duplicates")(find_duplicates_command)
