"""The content-hash manifest that decides which stages are dirty."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from planexe_skill.skill import Skill

MANIFEST_DIRNAME = ".planexe_skill"


def hash_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def hash_dir(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if "__pycache__" in p.parts or not p.is_file() or p.name == ".DS_Store":
            continue
        h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


class Manifest:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / MANIFEST_DIRNAME / "manifest.json"
        self.data: dict[str, Any] = (
            json.loads(self.path.read_text())
            if self.path.exists()
            else {"version": 1, "stages": {}}
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)

    def _inputs(self, skill: Skill, run_dir: Path) -> dict[str, str | None]:
        return {i: hash_file(run_dir / i) if (run_dir / i).exists() else None for i in skill.inputs}

    def record_completed(self, skill: Skill, run_dir: Path) -> None:
        self.data["stages"][skill.name] = {
            "skill_hash": hash_dir(skill.dir),  # hashed after the stage ran
            "inputs": self._inputs(skill, run_dir),
            "outputs": {o: hash_file(run_dir / o) for o in skill.outputs},
            "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def status(self, skill: Skill, run_dir: Path) -> tuple[bool, list[str]]:
        missing = [o for o in skill.outputs if not (run_dir / o).exists()]
        if missing:
            return True, [f"missing output {m}" for m in missing]
        entry = self.data["stages"].get(skill.name)
        if entry is None:
            return False, ["outputs exist but were not produced by this runner (adopting)"]
        reasons = []
        if entry["skill_hash"] != hash_dir(skill.dir):
            reasons.append("skill definition changed")
        for name, h in self._inputs(skill, run_dir).items():
            if entry["inputs"].get(name) != h:
                reasons.append(f"input changed: {name}")
        return bool(reasons), reasons
