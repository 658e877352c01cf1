"""Chat completions through the ``openai`` client, at any OpenAI-compatible base URL.

The client library does the HTTP, the timeouts and the retries: a 408, 409, 429 or 5xx answer
or a dropped connection is retried up to ``max_retries`` times with exponential backoff
(honouring ``Retry-After``). What still fails is translated here, at one boundary, into an
``LLMError`` with one line saying what happened and what to do. ``FallbackChat`` takes the
entries of ``auto`` in order and moves to the next when one fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from synthesizer.errors import LLMConfigError, LLMError
from synthesizer.llm_config import CLAUDE_CLI, LLMConfig, ProviderSettings

Message = dict[str, str]


@dataclass(frozen=True)
class Completion:
    """One answer of a model, with what it cost."""

    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str | None = None
    """Why the model stopped: ``stop``, ``length`` (cut off at ``max_tokens``), ..."""
    cost_usd: float | None = None
    """What the answer cost, where the provider says (the ``claude`` CLI does)."""


class ProviderError(LLMError):
    """One provider could not answer (after its retries); another may."""


MAX_RESPONSE_BYTES = 4 * 1024 * 1024
"""The largest answer read from a provider; a longer one is refused as it arrives."""
_MAX_NAME = 200
_MAX_TOKENS = 10**9


class ChatProvider:
    """One configured entry, reached through the ``openai`` client."""

    def __init__(self, settings: ProviderSettings) -> None:
        try:
            import openai
        except ModuleNotFoundError:
            raise LLMConfigError(
                "the LLM backend needs the openai client, which is not installed",
                "Install it: pip install 'planexe-plugin-hub[llm]'",
            ) from None
        self.settings = settings
        self._client = openai.OpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    def complete(
        self, messages: Sequence[Message], min_temperature: float | None = None
    ) -> Completion:
        """The model's answer to ``messages``; ``ProviderError`` says why there is none.

        ``min_temperature`` raises the entry's sampling temperature to at least that (a
        different answer is wanted). One answer may take ``timeout_s`` in all (a provider that
        sends it a byte at a time is cut off there), and at most ``MAX_RESPONSE_BYTES``; each
        retry gets the same again."""
        import openai

        settings = self.settings
        options: dict[str, Any] = {}
        temperature = settings.temperature
        if min_temperature is not None:
            temperature = max(temperature or 0.0, min_temperature)
        if temperature is not None:
            options["temperature"] = temperature
        if settings.max_tokens is not None:
            options["max_tokens"] = settings.max_tokens
        where = f"LLM entry '{settings.name}' ({settings.provider_class}, {settings.model})"
        started = time.perf_counter()
        try:
            with self._client.chat.completions.with_streaming_response.create(
                model=settings.model,
                messages=list(messages),  # type: ignore[arg-type]
                **options,
            ) as response:
                body = _read_bounded(response, started + settings.timeout_s, where)
        except openai.APITimeoutError:
            raise ProviderError(
                f"{where} did not answer within {settings.timeout_s:g} s "
                f"({settings.max_retries} retries)",
                "Raise its 'timeout', or choose a faster model",
            ) from None
        except openai.AuthenticationError:
            raise ProviderError(
                f"{where} refused the API key (401)", "Check the key its api_key names"
            ) from None
        except openai.NotFoundError as exc:
            raise ProviderError(
                f"{where}: the server does not know the model (404: {self._detail(exc)})",
                "Fix 'model' in that entry (the provider lists its models)",
            ) from None
        except openai.RateLimitError:
            raise ProviderError(
                f"{where} is rate-limited (429) after {settings.max_retries} retries",
                "Wait and rerun, raise 'max_retries', or add another entry and use 'auto'",
            ) from None
        except openai.APIStatusError as exc:
            raise ProviderError(
                f"{where} failed with HTTP {exc.status_code} after {settings.max_retries} "
                f"retries: {self._detail(exc)}",
                "Try again later or choose another entry",
            ) from None
        except openai.APIConnectionError:
            raise ProviderError(
                f"{where} cannot be reached at {_shown_url(settings.base_url)}",
                "Start the server or fix 'base_url'",
            ) from None
        except openai.OpenAIError as exc:
            raise ProviderError(
                f"{where} gave an unreadable answer: {self._redacted(str(exc))[:200]}",
                "Try again, or choose another entry",
            ) from None
        return self._completion(body, time.perf_counter() - started, where)

    def _completion(self, body: bytes, seconds: float, where: str) -> Completion:
        """The answer, read strictly: anything but a chat completion with text is refused."""
        from openai.types.chat import ChatCompletion
        from pydantic import ValidationError

        try:
            response = ChatCompletion.model_validate_json(body)
            content = response.choices[0].message.content
            finished = response.choices[0].finish_reason
        except (ValidationError, ValueError, IndexError, AttributeError, TypeError):
            raise ProviderError(
                f"{where} gave an answer that is not a chat completion with text",
                "Check that the entry's base_url is an OpenAI-compatible server",
            ) from None
        if not isinstance(content, str):
            raise ProviderError(f"{where} gave an answer without text", "Try again")
        usage = response.usage
        answered = response.model
        model = answered if answered.isprintable() and len(answered) <= _MAX_NAME else None
        return Completion(
            text=content,
            provider=self.settings.name,
            model=model or self.settings.model,
            prompt_tokens=_tokens(usage.prompt_tokens if usage else 0),
            completion_tokens=_tokens(usage.completion_tokens if usage else 0),
            seconds=seconds,
            finish_reason=finished if isinstance(finished, str) else None,
        )

    def _detail(self, exc: Exception) -> str:
        body = getattr(exc, "body", None)
        message: object = None
        if isinstance(body, dict):
            message = body.get("message")
            inner = body.get("error")
            if not isinstance(message, str) and isinstance(inner, dict):
                message = inner.get("message")
        text = message if isinstance(message, str) else str(exc)
        return self._redacted(" ".join(text.split()))[:200]

    def _redacted(self, text: str) -> str:
        """``text`` without the API key (a server may echo it)."""
        key = self.settings.api_key
        return text.replace(key, "***") if len(key) >= 4 else text


def _read_bounded(response: Any, deadline: float, where: str) -> bytes:
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
        raise ProviderError(
            f"{where} sent an answer of {int(length):,} bytes, more than "
            f"{MAX_RESPONSE_BYTES // 1024**2} MiB",
            "Lower max_tokens, or choose another entry",
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise ProviderError(
                f"{where} sent more than {MAX_RESPONSE_BYTES // 1024**2} MiB",
                "Lower max_tokens, or choose another entry",
            )
        if time.perf_counter() > deadline:
            raise ProviderError(
                f"{where} was still sending its answer at its timeout and was cut off",
                "Raise its 'timeout', or choose a faster provider",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _tokens(value: object) -> int:
    return min(max(value, 0), _MAX_TOKENS) if isinstance(value, int) else 0


def _shown_url(url: str | None) -> str:
    """``url`` as printed: without user info, query or fragment (which may hold secrets)."""
    if not url:
        return "the provider's default URL"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


class Provider(Protocol):
    """One configured entry that answers messages (``ChatProvider``, ``ClaudeCLIProvider``)."""

    settings: ProviderSettings

    def complete(
        self, messages: Sequence[Message], min_temperature: float | None = None
    ) -> Completion: ...


def provider_for(settings: ProviderSettings) -> Provider:
    """The provider of an entry: the ``claude`` CLI for ``ClaudeCLI``, else the HTTP client."""
    if settings.provider_class == CLAUDE_CLI:
        from synthesizer.claude_cli import ClaudeCLIProvider

        return ClaudeCLIProvider(settings)
    return ChatProvider(settings)


class FallbackChat:
    """The chosen entries in order: each message goes to the first that answers."""

    def __init__(
        self,
        config: LLMConfig,
        choice: str,
        on_event: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.names = config.chosen(choice)
        self._providers = [provider_for(config.settings(name)) for name in self.names]
        self._on_event = on_event

    def complete(
        self,
        messages: Sequence[Message],
        min_temperature: float | None = None,
        first_entry: int = 0,
    ) -> Completion:
        """The first answer of the entries in order, starting at entry ``first_entry`` (modulo
        their number, wrapping around): a caller that wants another model's answer names the
        next entry."""
        failures: list[ProviderError] = []
        start = first_entry % len(self._providers)
        order = self._providers[start:] + self._providers[:start]
        for provider in order:
            try:
                return provider.complete(messages, min_temperature)
            except ProviderError as exc:
                failures.append(exc)
                if provider is not order[-1]:
                    self._on_event(f"{exc.problem}; trying the next LLM entry")
        if len(failures) == 1:
            raise failures[0]
        raise ProviderError(
            f"no LLM entry answered: {'; '.join(f.problem for f in failures)}",
            "Fix one of them or add another entry",
        )
