"""Every command and every option of ``plugin-hub`` (all parts' commands) says what it is."""

from __future__ import annotations

import typer

from plan_pipeline.cli import app
from plan_pipeline.command_groups import add_command_groups


def test_every_command_and_option_has_help() -> None:
    add_command_groups(app)
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    assert {"run", "report", "capabilities", "search", "serve", "export-client", "synth"} <= set(
        commands
    )
    missing = [
        f"{name} {param.name}"
        for name, command in commands.items()
        for param in command.params
        if not getattr(param, "help", None)
    ]
    missing += [name for name, command in commands.items() if not command.help]
    assert missing == []
