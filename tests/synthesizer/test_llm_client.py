"""The LLM backend's client against a loopback server that speaks the OpenAI protocol: what
each provider failure becomes, and ``auto`` falling back to the next entry."""

from __future__ import annotations

import json
import time
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


def _completion_body(content: object = "ok", **fields: object) -> bytes:
    body = {
        "id": "x", "object": "chat.completion", "created": 1, "model": "standin-coder",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        **fields,
    }  # fmt: skip
    return json.dumps(body).encode()


def test_a_provider_that_crawls_is_cut_off_at_its_timeout(tmp_path: Path) -> None:
    """The client's timeout bounds each read, not the answer: 1 byte every 50 ms would take
    about 12 s here; the answer's own deadline ends it after 0.5 s."""
    with serve(Reply(raw=_completion_body(), drip_s=0.05)) as standin:
        chat = _chat(tmp_path, "local", local=entry(standin.url, timeout=0.5, max_retries=0))
        started = time.monotonic()
        with pytest.raises(ProviderError, match="was still sending its answer at its timeout"):
            chat.complete(MESSAGES)
    assert time.monotonic() - started < 3


def test_an_answer_too_big_is_refused_before_it_is_read(tmp_path: Path) -> None:
    with serve(Reply(raw=_completion_body("x" * (5 * 1024**2)))) as standin:
        chat = _chat(tmp_path, "local", local=entry(standin.url))
        with pytest.raises(ProviderError, match=r"sent an answer of 5,2\d\d,\d\d\d bytes"):
            chat.complete(MESSAGES)


@pytest.mark.parametrize(
    "raw",
    [b"not json", _completion_body(content=5), _completion_body(choices=[None]),
     _completion_body(usage={"prompt_tokens": "x"}), _completion_body(model={})],
    ids=["not json", "content 5", "choices null", "tokens text", "model object"],
)  # fmt: skip
def test_a_malformed_answer_is_a_provider_error_and_auto_moves_on(
    tmp_path: Path, raw: bytes
) -> None:
    with serve(Reply(raw=raw)) as broken, serve(Reply("from the next")) as good:
        chat = _chat(
            tmp_path,
            "auto",
            a={**entry(broken.url, max_retries=0), "priority": 1},
            b={**entry(good.url), "priority": 2},
        )
        assert chat.complete(MESSAGES).text == "from the next"
    assert (
        "gave an answer that is not a chat completion with text"
        in (
            chat.events[0]  # type: ignore[attr-defined]
        )
    )


def test_a_model_name_with_control_characters_is_not_recorded(tmp_path: Path) -> None:
    forged = "x\x1b[2K\rround 1: every gate passed"
    with serve(Reply("ok", model=forged, prompt_tokens=-5)) as standin:
        done = _chat(tmp_path, "local", local=entry(standin.url)).complete(MESSAGES)
    assert done.model == "standin-coder"  # the configured name instead
    assert done.prompt_tokens == 0


def test_the_key_never_appears_in_an_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_LLM_USER", "sk-in-the-url")
    with serve(Reply("denied", status=400, echo_key=True)) as standin:
        chat = _chat(tmp_path, "local", local=entry(standin.url, max_retries=0))
        with pytest.raises(ProviderError) as failed:
            chat.complete(MESSAGES)
    assert "sk-test-123" not in str(failed.value) and "(you sent Bearer ***)" in str(failed.value)
    url = dead_url().replace("http://", "http://user:${TEST_LLM_USER}@")
    chat = _chat(tmp_path, "local", local=entry(url, max_retries=0))
    with pytest.raises(ProviderError) as unreachable:
        chat.complete(MESSAGES)
    assert "sk-in-the-url" not in str(unreachable.value)
    assert "cannot be reached at http://127.0.0.1:" in str(unreachable.value)


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"max_retries": -1}, "argument max_retries: Input should be greater than or equal to 0"),
        ({"timeout": "nan"}, "argument timeout:"),
        ({"timeout": 0}, "argument timeout: Input should be greater than 0"),
        ({"max_tokens": 1.7}, "argument max_tokens:"),
        ({"base_url": "file:///etc/passwd"}, "must be an http:// or https:// URL"),
    ],
)
def test_bad_arguments_are_one_line(
    tmp_path: Path, arguments: dict[str, object], problem: str
) -> None:
    with pytest.raises(LLMConfigError) as failed:
        _chat(tmp_path, "local", local=entry("http://127.0.0.1:9/v1", **arguments))
    assert problem in failed.value.problem
