"""The LLM backend's client against a loopback server that speaks the OpenAI protocol: what
each provider failure becomes, and ``auto`` falling back to the next entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthesizer.errors import LLMConfigError
from synthesizer.llm_client import FallbackChat, ProviderError
from synthesizer.llm_config import LLMConfig
from tests.synthesizer.llm_helpers import KEY_ENV, dead_url, entry, write_config
from tests.synthesizer.openai_standin import Reply, serve

MESSAGES = [{"role": "user", "content": "write compute"}]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-123")


def _chat(tmp_path: Path, choice: str, **entries: dict[str, object]) -> FallbackChat:
    config = LLMConfig.read(write_config(tmp_path / "llm_config.json", entries))
    events: list[str] = []
    chat = FallbackChat(config, choice, events.append)
    chat.events = events  # type: ignore[attr-defined]
    return chat


def test_an_answer_comes_back_with_its_tokens_and_the_key_is_sent(tmp_path: Path) -> None:
    with serve(Reply("hello", prompt_tokens=11, completion_tokens=7)) as standin:
        done = _chat(tmp_path, "local", local=entry(standin.url)).complete(MESSAGES)
    assert (done.text, done.prompt_tokens, done.completion_tokens) == ("hello", 11, 7)
    assert done.model == "standin-coder" and done.provider == "local"
    assert standin.requests[0]["messages"] == MESSAGES


def test_429_then_success_is_retried_with_backoff(tmp_path: Path) -> None:
    with serve(Reply(status=429, headers={"retry-after-ms": "20"}), Reply("ok")) as standin:
        done = _chat(tmp_path, "local", local=entry(standin.url)).complete(MESSAGES)
    assert done.text == "ok"
    assert len(standin.requests) == 2


def test_500_until_the_retries_run_out_is_one_line(tmp_path: Path) -> None:
    with (
        serve(Reply("boom", status=500, headers={"retry-after-ms": "20"})) as standin,
        pytest.raises(ProviderError) as failed,
    ):
        _chat(tmp_path, "local", local=entry(standin.url)).complete(MESSAGES)
    assert len(standin.requests) == 3  # the first try and max_retries=2
    assert failed.value.problem == (
        "LLM entry 'local' (OpenAILike, standin-coder) failed with HTTP 500 after 2 retries: boom"
    )
    assert "\n" not in str(failed.value)


def test_a_timeout_is_one_line(tmp_path: Path) -> None:
    with serve(Reply("late", delay_s=3.0)) as standin:
        chat = _chat(tmp_path, "local", local=entry(standin.url, timeout=0.3, max_retries=0))
        with pytest.raises(ProviderError, match=r"did not answer within 0.3 s \(0 retries\)"):
            chat.complete(MESSAGES)


def test_an_unknown_model_is_named(tmp_path: Path) -> None:
    with (
        serve(Reply("x"), known_models={"other"}) as standin,
        pytest.raises(ProviderError) as failed,
    ):
        _chat(tmp_path, "local", local=entry(standin.url)).complete(MESSAGES)
    assert "does not know the model" in failed.value.problem
    assert "standin-coder" in failed.value.problem
    assert failed.value.fix == "Fix 'model' in that entry (the provider lists its models)"


def test_auto_falls_back_from_a_dead_provider_to_the_next(tmp_path: Path) -> None:
    with serve(Reply("from the second")) as standin:
        chat = _chat(
            tmp_path,
            "auto",
            second={**entry(standin.url), "priority": 2},
            first={**entry(dead_url(), max_retries=0), "priority": 1},
        )
        assert chat.names == ["first", "second"]
        done = chat.complete(MESSAGES)
    assert (done.text, done.provider) == ("from the second", "second")
    assert chat.events == [  # type: ignore[attr-defined]
        f"LLM entry 'first' (OpenAILike, standin-coder) cannot be reached at "
        f"{chat._providers[0].settings.base_url}; trying the next LLM entry"
    ]


def test_auto_with_every_provider_dead_names_each(tmp_path: Path) -> None:
    chat = _chat(
        tmp_path,
        "auto",
        a=entry(dead_url(), max_retries=0),
        b=entry(dead_url(), max_retries=0),
    )
    with pytest.raises(
        ProviderError, match=r"^no LLM entry answered: LLM entry 'a' .*; LLM entry 'b'"
    ):
        chat.complete(MESSAGES)


def test_a_missing_key_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(LLMConfigError) as failed:
        _chat(tmp_path, "local", local=entry("http://127.0.0.1:9/v1"))
    assert failed.value.problem == (
        f"LLM entry 'local': api_key needs the environment variable {KEY_ENV}, which is not set"
    )
