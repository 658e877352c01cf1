"""The LLM backend's configuration: named provider entries, as PlanExe's ``llm_config.json``.

Each top-level key names an entry::

    {
      "openrouter-gemini-flash": {
        "comment": "cheap and fast",
        "priority": 1,
        "class": "OpenRouter",
        "arguments": {"model": "google/gemini-2.0-flash-001", "api_key": "${OPENROUTER_API_KEY}",
                      "temperature": 0.1, "timeout": 60.0, "max_retries": 5}
      },
      "ollama-llama": {"class": "Ollama", "priority": 2,
                       "arguments": {"model": "llama3.1:latest", "base_url": "http://127.0.0.1:11434/v1"}}
    }

``class`` is one of ``PROVIDER_CLASSES``; each is reached with the ``openai`` client at its
base URL (``base_url`` or, for PlanExe's spelling, ``api_base``), except ``ClaudeCLI``: the
host's own ``claude`` command (``executable``), on the subscription it is logged in with.
``${NAME}`` in a string argument is replaced by the environment variable ``NAME``. Keys
PlanExe uses that mean nothing here (``luigi_workers``, ``is_function_calling_model``...)
are accepted and ignored.
``auto`` chooses every entry in priority order (lowest first; entries without one last).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from synthesizer.errors import LLMConfigError

AUTO = "auto"
CONFIG_ENV = "PLANEXE_LLM_CONFIG"
CHOICE_ENV = "PLANEXE_LLM"
PROVIDER_CLASSES: dict[str, str | None] = {
    "OpenAI": None,  # the client's own default URL
    "OpenRouter": "https://openrouter.ai/api/v1",
    "Ollama": "http://127.0.0.1:11434/v1",
    "LMStudio": "http://127.0.0.1:1234/v1",
    "OpenAILike": None,  # any OpenAI-compatible server: base_url is required
    "ClaudeCLI": None,  # the host's own Claude Code CLI (claude -p), not an HTTP server
}
"""Provider classes and their default base URLs."""
CLAUDE_CLI = "ClaudeCLI"
_KEYLESS = frozenset({"Ollama", "LMStudio", "OpenAILike", CLAUDE_CLI})
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class LLMEntry(BaseModel):
    """One entry of the configuration file."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    provider_class: Literal[
        "OpenAI", "OpenRouter", "Ollama", "LMStudio", "OpenAILike", "ClaudeCLI"
    ] = Field(alias="class")
    comment: str = ""
    priority: int | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class ProviderSettings:
    """An entry resolved against the environment: what the client is made with."""

    name: str
    provider_class: str
    model: str
    base_url: str | None
    api_key: str
    timeout_s: float
    max_retries: int
    temperature: float | None
    max_tokens: int | None
    executable: str = "claude"
    """``ClaudeCLI``: the command (a name on ``PATH`` or a path)."""


class LLMConfig:
    """The entries of one configuration file, by name, in the file's order."""

    def __init__(self, entries: dict[str, LLMEntry], source: str) -> None:
        self.entries = entries
        self.source = source

    @classmethod
    def read(cls, path: Path) -> LLMConfig:
        """Read ``path``; ``LLMConfigError`` says what is wrong with it and how to fix it."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LLMConfigError(
                f"LLM configuration {path} does not exist",
                f"Write one (see docs/LLM.md) or set {CONFIG_ENV} to its path",
            ) from None
        except (OSError, UnicodeError, ValueError) as exc:
            raise LLMConfigError(
                f"LLM configuration {path} is not readable JSON: {exc}", "Fix the file"
            ) from None
        if not isinstance(raw, dict) or not raw:
            raise LLMConfigError(
                f"LLM configuration {path} holds no entries", "Add at least one named entry"
            )
        entries: dict[str, LLMEntry] = {}
        for name, value in raw.items():
            if name == AUTO:
                raise LLMConfigError(
                    f"LLM configuration {path}: '{AUTO}' is reserved (it tries every entry)",
                    "Rename that entry",
                )
            try:
                entries[name] = LLMEntry.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "entry"
                classes = ", ".join(PROVIDER_CLASSES)
                raise LLMConfigError(
                    f"LLM configuration {path}, entry '{name}': {where}: {first['msg']}",
                    f"An entry has a 'class' ({classes}), an integer 'priority' and "
                    "'arguments' with a 'model' (see docs/LLM.md)",
                ) from None
        return cls(entries, str(path))

    def chosen(self, name: str) -> list[str]:
        """The entries ``name`` stands for: itself, or with ``auto`` all by priority."""
        if name == AUTO:
            order = list(self.entries)
            return sorted(
                order,
                key=lambda n: (self.entries[n].priority is None, self.entries[n].priority or 0,
                               order.index(n)),
            )  # fmt: skip
        if name not in self.entries:
            raise LLMConfigError(
                f"no LLM entry named '{name}' in {self.source} (entries: "
                f"{', '.join(self.entries)})",
                f"Choose one of them, or '{AUTO}'",
            )
        return [name]

    def settings(self, name: str, environ: Mapping[str, str] | None = None) -> ProviderSettings:
        """Entry ``name`` with its placeholders filled from ``environ``."""
        env = os.environ if environ is None else environ
        entry = self.entries[name]
        filled = {key: _substitute(name, key, value, env) for key, value in entry.arguments.items()}
        try:
            args = _Arguments.model_validate(filled)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "arguments"
            raise LLMConfigError(
                f"LLM entry '{name}': argument {where}: {first['msg']}",
                "Fix it (timeout: seconds above 0; max_retries: 0 to 20; max_tokens: a whole "
                "number; base_url: an http(s) URL)",
            ) from None
        model = args.model or args.model_name
        if not model:
            raise LLMConfigError(
                f"LLM entry '{name}' names no model", "Add 'model' to its arguments"
            )
        base_url = args.base_url or args.api_base or PROVIDER_CLASSES[entry.provider_class]
        if entry.provider_class == "OpenAILike" and not base_url:
            raise LLMConfigError(
                f"LLM entry '{name}' (OpenAILike) has no base_url",
                "Add the server's base URL, e.g. http://127.0.0.1:8000/v1",
            )
        api_key = args.api_key
        if not api_key:
            if entry.provider_class not in _KEYLESS:
                raise LLMConfigError(
                    f"LLM entry '{name}' has no api_key",
                    'Add "api_key": "${YOUR_KEY_VARIABLE}" and set that variable',
                )
            api_key = "not-needed"  # local servers take any key
        return ProviderSettings(
            name=name,
            provider_class=entry.provider_class,
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout_s=args.timeout or args.request_timeout or 120.0,
            max_retries=args.max_retries,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            executable=args.executable,
        )


def _http_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


_Seconds = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]
_Url = Annotated[str | None, AfterValidator(_http_url)]
_Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Arguments(BaseModel):
    """An entry's arguments, as far as they mean something here (others are ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: _Text | None = None
    model_name: _Text | None = None
    base_url: _Url = None
    api_base: _Url = None
    api_key: str | None = None
    timeout: _Seconds | None = None
    request_timeout: _Seconds | None = None
    max_retries: Annotated[int, Field(strict=True, ge=0, le=20)] = 3
    temperature: Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)] | None = None
    max_tokens: Annotated[int, Field(strict=True, gt=0, le=10**7)] | None = None
    executable: Annotated[str, Field(min_length=1, max_length=4096)] = "claude"


def _substitute(entry: str, key: str, value: Any, env: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value

    def filled(match: re.Match[str]) -> str:
        variable = match[1]
        if not env.get(variable):
            raise LLMConfigError(
                f"LLM entry '{entry}': {key} needs the environment variable {variable}, "
                "which is not set",
                f"Set {variable} (e.g. export {variable}=...) or choose another entry",
            )
        return env[variable]

    return _PLACEHOLDER.sub(filled, value)


def configured(environ: Mapping[str, str] | None = None) -> tuple[LLMConfig, str] | None:
    """The configuration named by ``PLANEXE_LLM_CONFIG`` and the entry ``PLANEXE_LLM`` chooses
    (``auto`` by default), or ``None`` when no configuration is set."""
    env = os.environ if environ is None else environ
    path = env.get(CONFIG_ENV)
    if not path:
        return None
    return LLMConfig.read(Path(path)), env.get(CHOICE_ENV) or AUTO
