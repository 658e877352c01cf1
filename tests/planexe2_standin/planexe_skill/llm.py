"""The fake LLM backend: each stage's answer from ``fake_llm/<stage>.json`` in the checkout;
every call is one row of ``RUN_DIR/usage_metrics.jsonl``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planexe_skill import REPO_ROOT


@dataclass
class LLMResult:
    data: Any
    text: str
    metadata: dict[str, Any]


class FakeBackend:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def complete(self, stage: str, system: str, user: str, schema: Any, tier: str) -> LLMResult:
        with (self.run_dir / "usage_metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"stage": stage, "model": f"fake-{tier}"}) + "\n")
        data = json.loads((REPO_ROOT / "fake_llm" / f"{stage}.json").read_text(encoding="utf-8"))
        return LLMResult(data, json.dumps(data), {"model": f"fake-{tier}", "backend": "fake"})
