"""The ``ClaudeCLI`` provider: the host's own Claude Code CLI, on the subscription it is logged
in with, the way PlanExe2 calls it for its stages.

Each answer is one ``claude -p --output-format json`` process: the system message in a file
(``--system-prompt-file``), the conversation on standard input, no tools, no MCP servers, no
session kept, in an empty working folder, with the variables of an enclosing Claude Code
session left out. The CLI prints one JSON envelope (``result``, ``is_error``, ``usage``,
``total_cost_usd``...), read strictly here; anything else is a ``ProviderError`` in one line,
so ``auto`` moves on. The CLI has no temperature: a request for a hotter answer is sent as is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from synthesizer.llm_client import MAX_RESPONSE_BYTES, Completion, Message, ProviderError
from synthesizer.llm_config import ProviderSettings

MAX_TURNS = 2
_DROPPED_ENV = ("ANTHROPIC_BASE_URL", "AI_AGENT", "BAGGAGE", "CLAUDECODE")
_DROPPED_PREFIXES = ("CLAUDE_", "CLAUDE_CODE_")
_MAX_TOKENS = 10**9


class _Usage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    output_tokens: int = 0


class _Envelope(BaseModel):
    """What ``claude -p --output-format json`` prints (the fields read here)."""

    model_config = ConfigDict(extra="ignore")

    type: str | None = None
    subtype: str | None = None
    is_error: bool = False
    result: str | None = None
    usage: _Usage | None = None
    total_cost_usd: float | None = None


class ClaudeCLIProvider:
    """One ``ClaudeCLI`` entry: its ``model`` and ``executable`` (``claude`` on ``PATH``)."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    def complete(
        self, messages: Sequence[Message], min_temperature: float | None = None
    ) -> Completion:
        del min_temperature  # the CLI samples as it does
        settings = self.settings
        where = f"LLM entry '{settings.name}' (ClaudeCLI, {settings.model})"
        executable = shutil.which(settings.executable)
        if executable is None:
            raise ProviderError(
                f"{where}: the command '{settings.executable}' is not found on PATH",
                "Install Claude Code and log in (claude auth login), or set 'executable' in "
                "the entry to its path",
            )
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="planexe-claude-") as tmp:
            system_file = Path(tmp) / "system.txt"
            system_file.write_text(system, encoding="utf-8")
            work = Path(tmp) / "work"
            work.mkdir()
            command = [
                executable, "-p", "--output-format", "json", "--model", settings.model,
                "--max-turns", str(MAX_TURNS), "--tools", "", "--no-session-persistence",
                "--setting-sources", "project", "--strict-mcp-config",
                "--disable-slash-commands", "--system-prompt-file", str(system_file),
            ]  # fmt: skip
            try:
                done = subprocess.run(
                    command, input=_prompt(messages).encode("utf-8"), capture_output=True,
                    cwd=work, env=_environment(), timeout=settings.timeout_s, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise ProviderError(
                    f"{where} did not answer within {settings.timeout_s:g} s",
                    "Raise its 'timeout', or choose a faster model",
                ) from None
            except OSError as exc:
                raise ProviderError(
                    f"{where}: cannot start {settings.executable}: {exc.strerror or exc}",
                    "Check the 'executable' of the entry",
                ) from None
        return self._completion(done, time.perf_counter() - started, where)

    def _completion(
        self, done: subprocess.CompletedProcess[bytes], seconds: float, where: str
    ) -> Completion:
        if len(done.stdout) > MAX_RESPONSE_BYTES:
            raise ProviderError(
                f"{where} printed more than {MAX_RESPONSE_BYTES // 1024**2} MiB",
                "Choose another entry",
            )
        try:
            envelope = _Envelope.model_validate_json(done.stdout)
        except (ValidationError, ValueError):
            said = _first_line(done.stderr) or _first_line(done.stdout) or "nothing"
            raise ProviderError(
                f"{where} exited with {done.returncode} without a JSON answer: {said}",
                "Run 'claude -p hello' to see what is wrong (log in with 'claude auth login')",
            ) from None
        if envelope.is_error or not isinstance(envelope.result, str) or not envelope.result:
            said = _first_line((envelope.result or envelope.subtype or "").encode()) or "no text"
            raise ProviderError(
                f"{where} answered with an error: {said}",
                "Run 'claude -p hello' to see what is wrong, or choose another entry",
            )
        usage = envelope.usage or _Usage()
        prompt = usage.input_tokens + usage.cache_read_input_tokens
        prompt += usage.cache_creation_input_tokens
        cost = envelope.total_cost_usd
        return Completion(
            text=envelope.result,
            provider=self.settings.name,
            model=self.settings.model,
            prompt_tokens=min(max(prompt, 0), _MAX_TOKENS),
            completion_tokens=min(max(usage.output_tokens, 0), _MAX_TOKENS),
            seconds=seconds,
            finish_reason="stop",
            cost_usd=cost if cost is not None and 0 <= cost < 10**6 else None,
        )


def _prompt(messages: Sequence[Message]) -> str:
    """The conversation as one prompt: the opening request, then each earlier answer and what
    it was told (the CLI keeps no session between calls)."""
    turns = [m for m in messages if m["role"] != "system"]
    parts = [turns[0]["content"]] if turns else []
    for message in turns[1:]:
        if message["role"] == "assistant":
            parts.append("Your earlier answer was:\n\n" + message["content"])
        else:
            parts.append(message["content"])
    return "\n\n---\n\n".join(parts)


def _environment() -> dict[str, str]:
    """This process's environment without an enclosing Claude Code session's variables."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED_ENV and not key.startswith(_DROPPED_PREFIXES)
    }


def _first_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    line = text.splitlines()[0] if text else ""
    return "".join(c if c.isprintable() else "?" for c in line)[:200]
