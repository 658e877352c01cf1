"""The ``ClaudeCLI`` provider: the host's own Claude Code CLI, on the subscription it is logged
in with, the way PlanExe2 calls it for its stages.

Each answer is one ``claude -p --output-format json`` process: the system message in a file
(``--system-prompt-file``), the conversation on standard input, no tools, no MCP servers, no
session kept, in an empty working folder under this user's cache (the CLI reads
``CLAUDE.md`` from every folder above it: none may be the shared temporary folder), in a
process group of its own that is killed whole, without an enclosing Claude Code session's
variables or this project's. The CLI prints one JSON envelope (``result``, ``is_error``, ``usage``,
``total_cost_usd``...), read strictly here; anything else is a ``ProviderError`` in one line,
so ``auto`` moves on. The CLI has no temperature: a request for a hotter answer is sent as is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, ValidationError

from synthesizer.llm_client import MAX_RESPONSE_BYTES, Completion, Message, ProviderError
from synthesizer.llm_config import ProviderSettings

MAX_TURNS = 2
_DROPPED_ENV = ("ANTHROPIC_BASE_URL", "AI_AGENT", "BAGGAGE", "CLAUDECODE")
_DROPPED_PREFIXES = ("CLAUDE_", "CLAUDE_CODE_", "PLANEXE_")
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
        with tempfile.TemporaryDirectory(prefix="claude-", dir=_private_root()) as tmp:
            system_file = Path(tmp) / "system.txt"
            system_file.write_text(system, encoding="utf-8")
            work = Path(tmp) / "work"  # empty; no folder above it another user can write
            work.mkdir()
            command = [
                executable, "-p", "--output-format", "json", "--model", settings.model,
                "--max-turns", str(MAX_TURNS), "--tools", "", "--no-session-persistence",
                "--setting-sources", "project", "--strict-mcp-config",
                "--disable-slash-commands", "--system-prompt-file", str(system_file),
            ]  # fmt: skip
            with (Path(tmp) / "out").open("w+b") as out:
                code = self._run(command, _prompt(messages), work, out, where)
                size = out.seek(0, os.SEEK_END)
                if size > MAX_RESPONSE_BYTES:
                    raise ProviderError(
                        f"{where} printed more than {MAX_RESPONSE_BYTES // 1024**2} MiB",
                        "Choose another entry",
                    )
                out.seek(0)
                printed = out.read()
            said = (Path(tmp) / "err").read_bytes()[:4096] if (Path(tmp) / "err").exists() else b""
        done = subprocess.CompletedProcess(command, code, printed, said)
        return self._completion(done, time.perf_counter() - started, where)

    def _run(self, command: list[str], prompt: str, work: Path, out: IO[bytes], where: str) -> int:
        """The CLI in a process group of its own, its output into ``out``; the whole group is
        killed when it outlives the entry's timeout."""
        timeout = self.settings.timeout_s
        try:
            with (work.parent / "err").open("wb") as err:
                process = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=work,
                    env=_environment(), start_new_session=True,
                )  # fmt: skip
                try:
                    process.communicate(prompt.encode("utf-8"), timeout=timeout)
                except subprocess.TimeoutExpired:
                    _kill_group(process)
                    raise ProviderError(
                        f"{where} did not answer within {timeout:g} s",
                        "Raise its 'timeout', or choose a faster model",
                    ) from None
                except BaseException:
                    _kill_group(process)
                    raise
                _kill_group(process)  # nothing it started outlives its answer
                return process.returncode
        except OSError as exc:
            raise ProviderError(
                f"{where}: cannot start {self.settings.executable}: {exc.strerror or exc}",
                "Check the 'executable' of the entry",
            ) from None

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
    """This process's environment without an enclosing Claude Code session's variables and
    without this project's own (hub tokens, other providers' settings)."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED_ENV and not key.startswith(_DROPPED_PREFIXES)
    }


def _private_root() -> Path:
    """A folder of this user's for the CLI's working folders: the CLI reads ``CLAUDE.md`` from
    its working folder and every folder above it, so none may be one another user can write
    (as the shared temporary folder is)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = base / "planexe-plugin-hub" / "claude"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _first_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    line = text.splitlines()[0] if text else ""
    return "".join(c if c.isprintable() else "?" for c in line)[:200]
