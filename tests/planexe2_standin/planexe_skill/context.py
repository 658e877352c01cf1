"""``ctx``: what a skill's ``run(ctx)`` gets. Reads only declared inputs (and its own
outputs), writes only declared outputs, and writes them into the stage's staging folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from planexe_skill.skill import Skill


class SkillContractError(Exception):
    pass


class SkillContext:
    def __init__(self, run_dir: Path, staging_dir: Path, skill: Skill, backend: Any) -> None:
        self.run_dir = run_dir
        self.staging_dir = staging_dir
        self.skill = skill
        self.skill_dir = skill.dir
        self.backend = backend
        self.llm_calls = 0
        self.log_path = run_dir / ".planexe_skill" / "logs" / f"{skill.name}.log"

    def _check_read(self, name: str) -> None:
        if name not in self.skill.inputs and not self.skill.produces(name):
            raise SkillContractError(
                f"skill '{self.skill.name}' tried to read '{name}', which is not listed in its "
                "SKILL.md inputs. Add it to `inputs:` so the DAG knows about the dependency."
            )

    def path(self, name: str) -> Path:
        self._check_read(name)
        staged = self.staging_dir / name
        return staged if staged.exists() else self.run_dir / name

    def read_text(self, name: str) -> str:
        path = self.path(name)
        if not path.exists():
            raise FileNotFoundError(
                f"skill '{self.skill.name}': input file '{name}' does not exist in {self.run_dir}"
            )
        return path.read_text(encoding="utf-8")

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_text(name))

    def write_text(self, name: str, text: str) -> None:
        if not self.skill.produces(name):
            raise SkillContractError(
                f"skill '{self.skill.name}' tried to write '{name}', which is not listed in its "
                "SKILL.md outputs."
            )
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        (self.staging_dir / name).write_text(text, encoding="utf-8")

    def write_json(self, name: str, obj: Any, indent: int = 2) -> None:
        self.write_text(name, json.dumps(obj, indent=indent, ensure_ascii=False))

    def skill_file(self, rel: str) -> str:
        return (self.skill_dir / rel).read_text(encoding="utf-8")

    def skill_json(self, rel: str) -> Any:
        return json.loads(self.skill_file(rel))

    def llm(self, system: str, user: str, schema: Any = None, tier: str | None = None) -> Any:
        self.llm_calls += 1
        return self.backend.complete(self.skill.name, system, user, schema, tier or self.skill.tier)

    def map(self, fn: Callable[[Any], Any], items: list[Any], max_workers: int = 8) -> list[Any]:
        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            return list(pool.map(fn, items))

    def log(self, msg: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
