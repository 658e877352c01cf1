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
from typing import Any

from synthesizer.errors import LLMError
from synthesizer.llm_config import LLMConfig, ProviderSettings

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


class ProviderError(LLMError):
    """One provider could not answer (after its retries); another may."""


class ChatProvider:
    """One configured entry, reached through the ``openai`` client."""

    def __init__(self, settings: ProviderSettings) -> None:
        import openai

        self.settings = settings
        self._client = openai.OpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    def complete(self, messages: Sequence[Message]) -> Completion:
        """The model's answer to ``messages``; ``ProviderError`` says why there is none."""
        import openai

        settings = self.settings
        options: dict[str, Any] = {}
        if settings.temperature is not None:
            options["temperature"] = settings.temperature
        if settings.max_tokens is not None:
            options["max_tokens"] = settings.max_tokens
        where = f"LLM entry '{settings.name}' ({settings.provider_class}, {settings.model})"
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=settings.model,
                messages=list(messages),  # type: ignore[arg-type]
                **options,
            )
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
                f"{where}: the server does not know the model (404: {_detail(exc)})",
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
                f"retries: {_detail(exc)}",
                "Try again later or choose another entry",
            ) from None
        except openai.APIConnectionError:
            target = settings.base_url or "the provider's default URL"
            raise ProviderError(
                f"{where} cannot be reached at {target}",
                "Start the server or fix 'base_url'",
            ) from None
        except openai.OpenAIError as exc:  # an answer the client could not read
            raise ProviderError(f"{where} gave an unreadable answer: {exc}", "Try again") from None
        seconds = time.perf_counter() - started
        choices = getattr(response, "choices", None) or []
        text = choices[0].message.content if choices and choices[0].message else None
        usage = getattr(response, "usage", None)
        return Completion(
            text=text or "",
            provider=settings.name,
            model=getattr(response, "model", None) or settings.model,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            seconds=seconds,
        )


def _detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return " ".join(str(message).split())[:200]
    return " ".join(str(exc).split())[:200]


class FallbackChat:
    """The chosen entries in order: each message goes to the first that answers."""

    def __init__(
        self,
        config: LLMConfig,
        choice: str,
        on_event: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.names = config.chosen(choice)
        self._providers = [ChatProvider(config.settings(name)) for name in self.names]
        self._on_event = on_event

    def complete(self, messages: Sequence[Message]) -> Completion:
        failures: list[ProviderError] = []
        for provider in self._providers:
            try:
                return provider.complete(messages)
            except ProviderError as exc:
                failures.append(exc)
                if provider is not self._providers[-1]:
                    self._on_event(f"{exc.problem}; trying the next LLM entry")
        if len(failures) == 1:
            raise failures[0]
        raise ProviderError(
            f"no LLM entry answered: {'; '.join(f.problem for f in failures)}",
            "Fix one of them or add another entry",
        )
