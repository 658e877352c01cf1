"""The DAG runner: stages in dependency order, dirty ones run, outputs staged and moved in on
success, a failure report for a failed stage, and its dependents blocked."""

from __future__ import annotations

import graphlib
import os
import shutil
import traceback
from pathlib import Path

from planexe_skill.context import SkillContext
from planexe_skill.llm import FakeBackend
from planexe_skill.manifest import Manifest
from planexe_skill.skill import Skill


class StageFailure(Exception):
    pass


class DagError(Exception):
    pass


def order(skills: dict[str, Skill]) -> tuple[list[str], dict[str, set[str]]]:
    producer: dict[str, str] = {}
    for skill in skills.values():
        for out in skill.outputs:
            if out in producer:
                raise DagError(f"'{out}' is an output of both {producer[out]} and {skill.name}")
            producer[out] = skill.name
    deps = {s.name: {producer[i] for i in s.inputs if i in producer} for s in skills.values()}
    return list(graphlib.TopologicalSorter(deps).static_order()), deps


class Runner:
    def __init__(self, run_dir: Path, skills: dict[str, Skill]) -> None:
        self.run_dir = run_dir
        self.skills = skills
        self.manifest = Manifest(run_dir)

    def run(self, only: list[str] | None = None) -> int:
        names, deps = order(self.skills)
        for name in only or []:
            if name not in self.skills:
                raise DagError(f"unknown stage '{name}'. Run `python -m planexe_skill graph`.")
        produced = {o for s in self.skills.values() for o in s.outputs}
        for name in names:
            skill = self.skills[name]
            missing = [
                i for i in skill.inputs if i not in produced and not (self.run_dir / i).exists()
            ]
            if missing and (not only or name in only):
                lines = "\n".join(f"  - {i} (needed by '{name}')" for i in missing)
                raise StageFailure(f"cannot start, input files are missing:\n{lines}")
        ran = skipped = 0
        failed: list[str] = []
        blocked: set[str] = set()
        planned: set[str] = set()
        for name in names:
            skill = self.skills[name]
            if only and name not in only:
                continue
            if deps[name] & (set(failed) | blocked):
                blocked.add(name)
                continue
            dirty, _ = self.manifest.status(skill, self.run_dir)
            if not dirty and not deps[name] & planned:
                if self.manifest.data["stages"].get(name) is None:
                    self.manifest.record_completed(skill, self.run_dir)  # adopted
                skipped += 1
                continue
            planned.add(name)
            if self._run_stage(skill):
                ran += 1
            else:
                failed.append(name)
        self.manifest.save()
        print(
            f"\nRun finished: {ran} ran, {skipped} up to date, {len(failed)} failed, "
            f"{len(blocked)} blocked."
        )
        if failed or blocked:
            print(f"Fix the cause, then resume with: python -m planexe_skill run {self.run_dir}")
            return 1
        return 0

    def _run_stage(self, skill: Skill) -> bool:
        staging = self.run_dir / ".planexe_skill" / "staging" / skill.name
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        ctx = SkillContext(self.run_dir, staging, skill, FakeBackend(self.run_dir))
        ctx.log(f"stage {skill.name} started")
        try:
            skill.load_run()(ctx)
            missing = [o for o in skill.outputs if not (staging / o).exists()]
            if missing:
                raise StageFailure(
                    f"skill finished without writing declared outputs: {', '.join(missing)}"
                )
        except Exception as exc:
            self._report(skill, exc, ctx)
            return False
        for out in skill.outputs:
            os.replace(staging / out, self.run_dir / out)
        shutil.rmtree(staging, ignore_errors=True)
        self.manifest.record_completed(skill, self.run_dir)
        self.manifest.save()
        return True

    def _report(self, skill: Skill, exc: Exception, ctx: SkillContext) -> None:
        msg = str(exc)
        if len(msg) > 2500:
            msg = msg[:2500] + " ..."
        where = ""
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if str(skill.dir) in frame.filename or "/skills/" in frame.filename:
                where = f"  at: {frame.filename}:{frame.lineno} in {frame.name}\n"
                break
        ctx.log("\n--- FAILURE ---\n" + "".join(traceback.format_exception(exc)))
        print(
            f"\n\u2717 STAGE FAILED: {skill.name}\n"
            f"  error: {type(exc).__name__}: {msg}\n{where}"
            f"  inputs: {', '.join(skill.inputs) or '-'}\n"
            f"  log: {ctx.log_path}\n"
            f"  retry only this stage: python -m planexe_skill run {self.run_dir} "
            f"--only {skill.name}\n"
            f"  resume the whole run:  python -m planexe_skill run {self.run_dir}\n"
        )
