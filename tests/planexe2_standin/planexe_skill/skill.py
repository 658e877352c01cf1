"""Skill folders: the ``SKILL.md`` frontmatter subset and ``run.py``."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KEY = re.compile(r"^([A-Za-z_][\w-]*):\s*(.*)$")


def parse_frontmatter(text: str) -> tuple[dict[str, Any], str]:
    """Parse a tiny YAML subset: `key: scalar`, `key: [a, b]`, and block lists of scalars."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError("SKILL.md must start with a '---' frontmatter block")
    data: dict[str, Any] = {}
    current: str | None = None
    for lineno, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if line == "---":
            return data, "\n".join(lines[lineno:])
        if not line or line.startswith("#"):
            continue
        if line.startswith("- ") and current is not None:
            data[current].append(_scalar(line[2:].strip()))
            continue
        match = _KEY.match(line)
        if not match:
            raise ValueError(f"SKILL.md frontmatter line {lineno} not understood: {raw!r}")
        key, value = match.group(1), match.group(2).strip()
        current = None
        if not value:
            data[key], current = [], key
        elif value.startswith("[") and value.endswith("]"):
            inner = value[1:-1].strip()
            data[key] = [_scalar(v.strip()) for v in inner.split(",")] if inner else []
        else:
            data[key] = _scalar(value)
    raise ValueError("SKILL.md frontmatter is not closed with '---'")


def _scalar(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


@dataclass
class Skill:
    name: str
    description: str
    inputs: list[str]
    outputs: list[str]
    tier: str
    dir: Path
    body: str
    meta: dict[str, Any] = field(default_factory=dict)
    _module: Any = None

    def produces(self, name: str) -> bool:
        return name in self.outputs

    def load_run(self) -> Any:
        if self._module is None:
            path = self.dir / "run.py"
            if not path.exists():
                raise FileNotFoundError(f"{path} does not exist")
            spec = importlib.util.spec_from_file_location(f"planexe_skills.{self.name}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if not hasattr(module, "run"):
                raise AttributeError(f"{path} must define run(ctx)")
            self._module = module
        return self._module.run


def load_skill(folder: Path) -> Skill:
    meta, body = parse_frontmatter((folder / "SKILL.md").read_text(encoding="utf-8"))
    name = meta.get("name", folder.name)
    if name != folder.name:
        raise ValueError(f"name '{name}' must match folder name '{folder.name}'")
    return Skill(
        name=name,
        description=str(meta.get("description", "")),
        inputs=[str(i) for i in meta.get("inputs", [])],
        outputs=[str(o) for o in meta.get("outputs", [])],
        tier=str(meta.get("tier", "low")),
        dir=folder,
        body=body,
        meta=meta,
    )


def load_skills(root: Path) -> dict[str, Skill]:
    return {p.name: load_skill(p) for p in sorted(root.iterdir()) if (p / "SKILL.md").is_file()}
