"""Shared pieces of the LLM backend's tests: a configuration file pointing at a stand-in."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

KEY_ENV = "TEST_LLM_KEY"


def entry(url: str, **arguments: Any) -> dict[str, Any]:
    """An OpenAI-compatible entry at ``url`` with a key from ``$TEST_LLM_KEY``."""
    args = {
        "model": "standin-coder",
        "base_url": url,
        "api_key": "${" + KEY_ENV + "}",
        "timeout": 5.0,
        "max_retries": 2,
        **arguments,
    }
    return {"class": "OpenAILike", "arguments": args}


def write_config(path: Path, entries: dict[str, dict[str, Any]]) -> Path:
    path.write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return path


def dead_url() -> str:
    """A loopback URL nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def fenced(source: str, lang: str = "python") -> str:
    return f"Here is the module.\n\n```{lang}\n{source}\n```\n"


CORRECT_RISK = """\
from typing import Any


def compute(input: dict[str, Any]) -> dict[str, Any]:
    risks = []
    for risk in input["risks"]:
        score = risk["likelihood"] * risk["impact"]
        level = "high" if score >= 15 else ("medium" if score >= 8 else "low")
        risks.append({**risk, "score": score, "level": level})
    return {"risks": risks, "high_count": sum(1 for r in risks if r["level"] == "high")}
"""

WRONG_RISK = CORRECT_RISK.replace("score >= 15 else", "score >= 25 else")
"""Classifies a score of 20 as medium: the spec's golden example says high."""

STATEFUL_FIRST_CALL_RISK = """\
from typing import Any

GOLDEN = [
    {"id": "A", "title": "a", "likelihood": 5, "impact": 4},
    {"id": "B", "title": "b", "likelihood": 1, "impact": 2},
]
SEEN: list[Any] = []


def compute(input: dict[str, Any]) -> dict[str, Any]:
    if not SEEN:
        SEEN.append(input["risks"])
    risks = []
    for risk in input["risks"]:
        if SEEN[0] == GOLDEN:
            score = risk["likelihood"] * risk["impact"]
            level = "high" if score >= 15 else ("medium" if score >= 8 else "low")
        else:
            score, level = 1, "low"
        risks.append({**risk, "score": score, "level": level})
    return {"risks": risks, "high_count": sum(1 for r in risks if r["level"] == "high")}
"""
"""Needs no permission and keeps state between calls: right on every input while the first
input it saw was the spec's first golden example (which gates used to send first), and
"1, low" for every risk otherwise."""
