"""The LLM configuration file, in PlanExe's ``llm_config.json`` shape: bad files and entries
are one-line errors, and ``auto`` orders the entries by priority."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthesizer.errors import LLMConfigError
from synthesizer.llm_config import LLMConfig

PLANEXE_STYLE = {
    "openrouter-paid-gemini-2.0-flash-001": {
        "comment": "as in PlanExe's llm_config.json",
        "priority": 2,
        "luigi_workers": 4,
        "class": "OpenRouter",
        "arguments": {
            "model": "google/gemini-2.0-flash-001",
            "api_key": "${OPENROUTER_API_KEY}",
            "temperature": 0.1,
            "timeout": 60.0,
            "is_function_calling_model": False,
            "is_chat_model": True,
            "max_tokens": 8192,
            "max_retries": 5,
        },
    },
    "ollama-llama3.1": {
        "priority": 1,
        "class": "Ollama",
        "arguments": {"model": "llama3.1:latest", "temperature": 0.5, "request_timeout": 120.0},
    },
    "lmstudio-qwen": {
        "class": "LMStudio",
        "arguments": {"model_name": "qwen2.5-coder", "base_url": "http://127.0.0.1:1234/v1"},
    },
}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "llm_config.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_a_planexe_style_file_reads_and_auto_follows_priority(tmp_path: Path) -> None:
    config = LLMConfig.read(_write(tmp_path, PLANEXE_STYLE))
    assert config.chosen("auto") == [
        "ollama-llama3.1",
        "openrouter-paid-gemini-2.0-flash-001",
        "lmstudio-qwen",
    ]
    router = config.settings("openrouter-paid-gemini-2.0-flash-001", {"OPENROUTER_API_KEY": "k"})
    assert (router.base_url, router.api_key, router.max_retries) == (
        "https://openrouter.ai/api/v1",
        "k",
        5,
    )
    ollama = config.settings("ollama-llama3.1", {})
    assert (ollama.base_url, ollama.timeout_s, ollama.model) == (
        "http://127.0.0.1:11434/v1",
        120.0,
        "llama3.1:latest",
    )
    assert config.settings("lmstudio-qwen", {}).model == "qwen2.5-coder"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("{not json", "is not readable JSON"),
        ({}, "holds no entries"),
        ({"x": {"class": "Claude", "arguments": {}}}, "entry 'x': class: Input should be"),
        ({"auto": {"class": "Ollama"}}, "'auto' is reserved"),
    ],
)
def test_a_bad_file_is_one_line(tmp_path: Path, data: object, problem: str) -> None:
    with pytest.raises(LLMConfigError) as failed:
        LLMConfig.read(_write(tmp_path, data))
    assert problem in failed.value.problem
    assert "\n" not in str(failed.value)


def test_a_missing_file_and_an_unknown_entry_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match=r"does not exist\. Write one"):
        LLMConfig.read(tmp_path / "none.json")
    config = LLMConfig.read(_write(tmp_path, PLANEXE_STYLE))
    with pytest.raises(LLMConfigError, match=r"no LLM entry named 'gpt' .*Choose one of them"):
        config.chosen("gpt")
    with pytest.raises(LLMConfigError, match="needs the environment variable OPENROUTER_API_KEY"):
        config.settings("openrouter-paid-gemini-2.0-flash-001", {})
