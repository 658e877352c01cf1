"""PlanExe2 skills backed by a capability: the adapter a skill's ``run.py`` calls, the
pre-flight of a checkout, and the scaffold of a new capability skill.

PlanExe2 (``python -m planexe_skill``) runs a plan as a DAG of folders ``skills/<name>/``: a
``SKILL.md`` whose frontmatter declares the files a stage reads and writes, and a ``run.py``
whose ``run(ctx)`` reads and writes them through ``ctx``. A capability skill is such a folder
whose work is done by a plugin::

    skills/risk_scores/
      SKILL.md       name, description, inputs, outputs, and capability, capability_version,
                     contract, plugin_inputs (NAME=FILE or NAME=FILE#PATH), plugin_values
                     (NAME=JSON), markdown_field (default: markdown)
      contract.yaml  the stage contract: schemas, rules, constraints, golden examples
      run.py         from plan_pipeline.planexe2 import run_skill as run

``run_skill(ctx)`` reads the declared input files through ``ctx`` (so PlanExe2's declared-file
checks apply), resolves the capability like PlanExe's stages do (the mode in
``PLANEXE_SYNTHESIS``, the hub in ``PLANEXE_HUB_*``), runs the plugin in the isolated runtime,
and writes the declared ``.json`` output (the plugin's answer with ``metadata.plugin``: the
plugin, version and files sha256 that wrote it) and the ``.md`` output (the plugin's markdown)
through ``ctx``. The plugin that ran is recorded in the skill folder (``plugin.lock.json``),
which PlanExe2 hashes with the rest of the folder: when ``plugin-hub planexe2 preflight``
finds another plugin serving the capability, it rewrites the lock, and PlanExe2 runs the
stage again.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.errors import (
    CapabilityNotFoundError,
    PlanPipelineError,
    StageOutputError,
    SynthesisStop,
)
from plan_pipeline.files import write_atomic
from plan_pipeline.host_stages import (
    SYNTHESIS_ENV,
    CapabilityTaskError,
    invalid,
    load_contract,
    stage_need,
)
from plan_pipeline.host_stages import synthesis_mode as synthesis_mode
from plan_pipeline.installed_files import installed_files_sha256
from plan_pipeline.registry import CapabilityRegistry, Selection
from plan_pipeline.resolver import (
    MissGuide,
    PluginResolver,
    activate_run_plugins,
    hub_ranked_registry,
)
from plan_pipeline.run_records import stage_finished
from plan_pipeline.spec import draft_spec, write_spec
from plan_pipeline.stage_runner import run_capability, select
from plan_pipeline.synthesis import SynthesisMode
from plan_pipeline.trust import BUILTIN_DISTRIBUTION
from plan_pipeline.usage import StageResult, check_hub_setup, configured_reporter

SKILL_FILE = "SKILL.md"
LOCK_FILE = "plugin.lock.json"
RUNNER = "python -m planexe_skill"
_KEY = re.compile(r"^([A-Za-z_][\w-]*):\s*(.*)$")
_INT = re.compile(r"^-?\d+$")
_SKILL_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.{}-]*$")


class PlanExe2Error(CapabilityTaskError):
    """A capability skill failed; its text is what PlanExe2's failure report shows."""


# -- the skill folder ------------------------------------------------------------------------


def parse_frontmatter(text: str, where: str) -> tuple[dict[str, Any], str]:
    """The frontmatter of a ``SKILL.md`` and its body, read as PlanExe2 reads them: a tiny
    YAML subset (``key: scalar``, ``key: [a, b]``, block lists of scalars), so a file both
    accept means the same to both."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise CapabilityTaskError(
            f"{where} does not start with a '---' frontmatter block", "Start it with '---'"
        )
    data: dict[str, Any] = {}
    listing: str | None = None
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if line == "---":
            return data, "\n".join(lines[number:]).strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("- ") and listing is not None:
            data[listing].append(_scalar(line[2:].strip()))
            continue
        match = _KEY.match(line)
        if match is None:
            raise CapabilityTaskError(
                f"{where} frontmatter line {number} is not understood: {line[:80]!r}",
                "Write 'key: value', 'key: [a, b]' or a block list of '- item' lines",
            )
        key, value = match.group(1), match.group(2).strip()
        listing = None
        if not value:
            data[key], listing = [], key
        elif value.startswith("[") and value.endswith("]"):
            inner = value[1:-1].strip()
            data[key] = [_scalar(part.strip()) for part in inner.split(",")] if inner else []
        else:
            data[key] = _scalar(value)
    raise CapabilityTaskError(f"{where}: the frontmatter is not closed with '---'", "Close it")


def _scalar(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if _INT.match(text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


class CapabilitySkill(BaseModel):
    """A skill folder whose ``SKILL.md`` names a capability (other keys are PlanExe2's own)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")
    description: str = ""
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(min_length=1)
    capability: str
    capability_version: str | None = None
    contract: str = "contract.yaml"
    plugin_inputs: list[str] = Field(default_factory=list)
    """``NAME=FILE`` (the file's JSON, or its text) or ``NAME=FILE#PATH`` (a dotted part)."""
    plugin_values: list[str] = Field(default_factory=list)
    """``NAME=JSON``: a fixed input value."""
    markdown_field: str = "markdown"
    folder: Path
    body: str = ""

    @field_validator("inputs", "outputs", "plugin_inputs", "plugin_values", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [str(item) for item in value] if isinstance(value, list) else value

    @field_validator("capability_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("contract")
    @classmethod
    def _contract_file(cls, value: str) -> str:
        if not _FILE_NAME.match(value):
            raise ValueError(f"{value!r} is not a file name inside the skill folder")
        return value

    @classmethod
    def read(cls, folder: Path) -> CapabilitySkill | None:
        """The capability skill in ``folder``; ``None`` for a skill that names no capability."""
        path = folder / SKILL_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CapabilityTaskError(f"cannot read {path}: {exc}", "Check the file") from None
        data, body = parse_frontmatter(text, str(path))
        if "capability" not in data:
            return None
        try:
            return cls.model_validate(
                {"name": folder.name, **data, "folder": folder.resolve(), "body": body}
            )
        except ValidationError as exc:
            fix = "Fix the frontmatter; see examples/planexe2/"
            raise invalid(exc, str(path), fix, "frontmatter") from None

    # -- what the skill declares ------------------------------------------------------------

    @property
    def json_output(self) -> str:
        found = [name for name in self.outputs if name.endswith(".json")]
        if len(found) != 1 or len(self.outputs) > 1 + len(self.markdown_outputs):
            raise CapabilityTaskError(
                f"skill '{self.name}' declares outputs {self.outputs}: a capability skill "
                "writes one .json file and at most one .md file",
                "Declare them in SKILL.md 'outputs'",
            )
        return found[0]

    @property
    def markdown_outputs(self) -> list[str]:
        return [name for name in self.outputs if name.endswith(".md")][:1]

    def need(self) -> CapabilityNeed:
        """The stage's need; a contract without words of its own takes the skill's."""
        contract = load_contract(self.folder / self.contract)
        words = "\n\n".join(part for part in (self.description, self.body) if part.strip())
        fix = f"Fix {self.folder / SKILL_FILE}"
        return stage_need(self.name, self.capability, self.capability_version, contract, words, fix)

    def sources(self) -> Iterator[tuple[str, str, str | None]]:
        """Each file input as (plugin input, declared file, dotted path or ``None``)."""
        for entry in self.plugin_inputs:
            name, _, where = entry.partition("=")
            file, _, path = where.partition("#")
            if not name or not file:
                raise CapabilityTaskError(
                    f"skill '{self.name}': plugin_inputs entry {entry!r} is not NAME=FILE",
                    "Write NAME=FILE or NAME=FILE#PATH",
                )
            if file not in self.inputs:
                raise CapabilityTaskError(
                    f"skill '{self.name}': plugin input '{name}' reads {file}, which SKILL.md "
                    "does not list in 'inputs'",
                    f"Add {file} to 'inputs' (PlanExe2 reads declared files only)",
                )
            yield name.strip(), file, path or None

    def values(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for entry in self.plugin_values:
            name, _, text = entry.partition("=")
            try:
                found[name.strip()] = json.loads(text)
            except (ValueError, RecursionError):
                raise CapabilityTaskError(
                    f"skill '{self.name}': plugin_values entry {entry!r} is not NAME=JSON",
                    'Write the value as JSON: day_rate=650, currency="EUR"',
                ) from None
        return found

    def spec_path(self, run_dir: Path) -> Path:
        return run_dir / f"{self.name}.plugin-spec.json"

    def guide(self, run_dir: Path) -> MissGuide:
        """PlanExe2's own commands as the way to continue: this stage, or the whole run."""

        def continue_with(mode: SynthesisMode) -> str:
            run = f"{SYNTHESIS_ENV}={mode.value} {RUNNER} run {shlex.quote(str(run_dir))}"
            return f"{run} --only {self.name} (or the whole run: {run})"

        return MissGuide(
            spec_path=self.spec_path(run_dir),
            continue_with=continue_with,
            provenance={"pipeline": "planexe_skill", "skill": self.name},
            input_sources={name: f"input file '{file}'" for name, file, _ in self.sources()},
        )


# -- the adapter -----------------------------------------------------------------------------


class SkillContext(Protocol):
    """What ``run_skill`` uses of PlanExe2's ``ctx`` (``planexe_skill.context.SkillContext``)."""

    run_dir: Path
    skill_dir: Path

    def read_text(self, name: str) -> str: ...

    def read_json(self, name: str) -> Any: ...

    def write_text(self, name: str, text: str) -> None: ...

    def write_json(self, name: str, obj: Any, indent: int = 2) -> None: ...

    def log(self, msg: str) -> None: ...


def run_skill(ctx: SkillContext) -> None:
    """A capability skill's ``run(ctx)``: inputs from the declared files, the plugin's answer
    to the declared outputs, every failure one ``PlanExe2Error`` naming the stage, the
    capability, the spec file and the command that continues."""
    started = time.perf_counter()
    skill = CapabilitySkill.read(Path(ctx.skill_dir))
    if skill is None:
        raise PlanExe2Error(
            f"{Path(ctx.skill_dir) / SKILL_FILE} names no capability",
            "Add 'capability: area.name' (and contract) to its frontmatter",
        )
    run_dir = Path(ctx.run_dir).resolve()
    need = skill.need()

    def event(line: str) -> None:  # PlanExe2's stage log, and the user's terminal
        ctx.log(line)
        print(f"  {skill.name}: {line}", file=sys.stderr, flush=True)

    resolver = PluginResolver.for_run(run_dir, synthesis_mode(run_dir=run_dir), on_event=event)
    reporter = configured_reporter()
    try:
        inputs = _read_inputs(ctx, skill, need)
        loaded = resolver.resolve(need, inputs, skill.guide(run_dir))
        context = {"run_id": run_dir.name, "stage": skill.name, "capability": skill.capability}
        text_field = skill.markdown_field if skill.markdown_outputs else None
        output, text = run_capability(need, loaded, inputs, context, text_field)
        chosen = loaded.selection.chosen
        plugin = _plugin_record(loaded.selection)
        _write_outputs(ctx, skill, output, text, plugin)
        _write_lock(skill, plugin)
    except PlanPipelineError as exc:
        ctx.log(str(exc))
        stage_finished(run_dir, need, resolver, None, time.perf_counter() - started, exc, reporter)
        problem = exc.problem
        if f"stage '{skill.name}'" not in problem or skill.capability not in problem:
            problem = f"stage '{skill.name}' (capability '{skill.capability}'): {problem}"
        raise PlanExe2Error(problem, exc.fix) from None
    seconds = time.perf_counter() - started
    result = StageResult(
        skill.name, run_dir / skill.json_output, seconds, chosen.dist_name, chosen.version
    )
    ctx.log(f"{skill.capability} ran {result.provider}")
    stage_finished(run_dir, need, resolver, result, seconds, None, reporter)


def _read_inputs(ctx: SkillContext, skill: CapabilitySkill, need: CapabilityNeed) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for name, file, path in skill.sources():
        try:
            value: Any = ctx.read_json(file) if file.endswith(".json") else ctx.read_text(file)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise PlanExe2Error(
                f"stage '{skill.name}' input '{name}': cannot read {file}: {exc}",
                f"Fix that file, or rerun the stage that writes it: {RUNNER} run "
                f"{shlex.quote(str(ctx.run_dir))}",
            ) from None
        if path is not None:
            value = select(
                value, path, need, name, file, fix=f"Fix plugin_inputs in {skill.name}/SKILL.md"
            )
        inputs[name] = value
    return inputs | skill.values()


def _plugin_record(selection: Selection) -> dict[str, Any]:
    """Which plugin wrote an output: capability, distribution, version, tier and the digest of
    its installed files (what the hub signs as ``files_sha256``)."""
    chosen = selection.chosen
    dist = chosen.entry_point.dist
    return {
        "capability": selection.capability,
        "dist_name": chosen.dist_name,
        "version": chosen.version,
        "tier": selection.tier.value,
        "files_sha256": installed_files_sha256(dist) if dist is not None else None,
    }


def _write_outputs(
    ctx: SkillContext,
    skill: CapabilitySkill,
    output: dict[str, Any],
    text: str | None,
    plugin: dict[str, Any],
) -> None:
    if "metadata" in output:
        raise StageOutputError(
            f"the plugin's answer has a 'metadata' field, where PlanExe2's raw files record "
            f"their generator ({skill.json_output})",
            "Rename that field in the contract's output schema",
        )
    record = {"plugin": plugin, "generator": {"name": BUILTIN_DISTRIBUTION, "version": _own()}}
    ctx.write_json(skill.json_output, {**output, "metadata": record})
    for name in skill.markdown_outputs:
        ctx.write_text(name, text or "")


def _write_lock(skill: CapabilitySkill, plugin: dict[str, Any]) -> bool:
    """Record the plugin behind the skill in its folder; whether the record changed."""
    path = skill.folder / LOCK_FILE
    text = json.dumps({key: plugin[key] for key in sorted(plugin)}, indent=2) + "\n"
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise StageOutputError(
            f"cannot write {path}: {exc.strerror or exc}", "Make the skill folder writable"
        ) from None
    return True


def _own() -> str:
    try:
        return metadata.version(BUILTIN_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0"


# -- pre-flight ------------------------------------------------------------------------------


class MissingCapabilitiesError(SynthesisStop):
    """The pre-flight found capability skills whose capability no installed plugin provides
    (one line each)."""

    listing = True


@dataclass(frozen=True)
class SkillCheck:
    """One capability skill as the pre-flight found it."""

    skill: CapabilitySkill
    plugin: dict[str, Any] | None
    """The plugin that would run it; ``None``: missing."""
    problem: str | None = None
    lock_changed: bool = False


def capability_skills(skills_dir: Path) -> list[CapabilitySkill]:
    """Every capability skill under ``skills_dir`` (PlanExe2's ``skills/``), by name."""
    if not skills_dir.is_dir():
        raise CapabilityTaskError(
            f"{skills_dir} is not a folder of skills", "Point at the checkout's skills/ folder"
        )
    found = []
    for folder in sorted(p for p in skills_dir.iterdir() if (p / SKILL_FILE).is_file()):
        skill = CapabilitySkill.read(folder)
        if skill is not None:
            found.append(skill)
    return found


def preflight(
    skills_dir: Path,
    run_dir: Path | None = None,
    mode: SynthesisMode | None = None,
    registry: CapabilityRegistry | None = None,
) -> list[SkillCheck]:
    """Check every capability skill of a PlanExe2 checkout before any stage runs (and spends
    LLM money): the hub's set-up first, then each capability, from installed metadata (and the
    run's own plugins, with ``run_dir``). A capability found is locked in its skill folder
    (a changed lock makes PlanExe2 run the stage again). In ``off`` and ``suggest`` a gap stops
    here with one line per gap; ``suggest`` first writes each spec into ``run_dir``."""
    mode = mode or synthesis_mode(run_dir=run_dir.resolve() if run_dir is not None else None)
    check_hub_setup(mode is SynthesisMode.PUBLISH)
    if run_dir is not None:
        activate_run_plugins(run_dir.resolve())
    registry = registry or hub_ranked_registry()
    checks = []
    for skill in capability_skills(skills_dir):
        need = skill.need()
        try:
            selection = registry.select(need.capability, need.version)
        except CapabilityNotFoundError as miss:
            found = CapabilityNotFoundError(
                miss.capability, miss.version, miss.excluded, stage=need.name
            )
            checks.append(SkillCheck(skill, None, found.problem))
            continue
        plugin = _plugin_record(selection)
        checks.append(SkillCheck(skill, plugin, lock_changed=_write_lock(skill, plugin)))
    gaps = [check for check in checks if check.plugin is None]
    if gaps and mode in (SynthesisMode.OFF, SynthesisMode.SUGGEST):
        _stop(gaps, run_dir, mode)
    return checks


def _stop(gaps: list[SkillCheck], run_dir: Path | None, mode: SynthesisMode) -> None:
    lines = [f"  - {gap.problem}" for gap in gaps]
    if mode is SynthesisMode.SUGGEST and run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for gap in gaps:
            need = gap.skill.need()
            spec = draft_spec(need, {}, provenance={"skill": need.name, "check": "preflight"})
            path = gap.skill.spec_path(run_dir.resolve())
            write_spec(spec, path)
            lines.append(f"  - {gap.problem} (spec: {path})")
    where = shlex.quote(str(run_dir.resolve())) if run_dir is not None else "RUN_DIR"
    following = SynthesisMode.DRY_RUN if mode is SynthesisMode.SUGGEST else SynthesisMode.SUGGEST
    count = len(gaps)
    raise MissingCapabilitiesError(
        f"{count} missing capabilit{'y' if count == 1 else 'ies'} found before any stage ran:\n"
        + "\n".join(lines),
        f"Install plugins that provide them, or continue with: "
        f"{SYNTHESIS_ENV}={following.value} {RUNNER} run {where}",
    )


# -- scaffold --------------------------------------------------------------------------------

RUN_PY = '''"""Stage {name}, done by the plugin for its capability (see SKILL.md).

planexe-plugin-hub resolves {capability},
runs its plugin in the isolated runtime and writes the outputs.
"""

from plan_pipeline.planexe2 import run_skill as run  # noqa: F401
'''


def scaffold(
    contract_file: Path,
    skills_dir: Path,
    name: str,
    capability: str,
    version: str,
    inputs: list[str],
    outputs: list[str],
    description: str = "",
    values: list[str] | None = None,
) -> Path:
    """A new capability skill folder ``skills_dir/name`` from a contract: ``SKILL.md``, the
    contract (copied as ``contract.yaml``) and the one-line ``run.py``. ``inputs`` are
    ``NAME=FILE[#PATH]`` entries (their files become the skill's declared inputs), ``values``
    ``NAME=JSON`` entries."""
    contract = load_contract(contract_file)  # a contract that does not load is refused here
    if not _SKILL_NAME.match(name):
        raise CapabilityTaskError(
            f"{name[:80]!r} is not a skill name", "Use lower case letters, digits and '_'"
        )
    if not version.isprintable() or '"' in version:  # written in quotes: commas may stay
        raise CapabilityTaskError(
            f"{version[:80]!r} cannot be written into SKILL.md's frontmatter",
            "Write a version range such as >=1.0,<2",
        )
    for given in [capability, *inputs, *outputs, *(values or [])]:
        if not given.isprintable() or any(c in given for c in ",[]"):
            raise CapabilityTaskError(
                f"{given[:80]!r} cannot be written into SKILL.md's frontmatter",
                "Leave out control characters, commas and brackets",
            )
    folder = skills_dir / name
    if folder.exists() or folder.is_symlink():
        raise CapabilityTaskError(
            f"{folder} exists already", "Choose another name, or remove the folder first"
        )
    files = list(dict.fromkeys(entry.partition("=")[2].partition("#")[0] for entry in inputs))
    words = description or contract.summary or f"Capability {capability}."
    lines = [
        "---",
        f"name: {name}",
        f"description: {_one_line(words)}",
        f"inputs: [{', '.join(files)}]",
        f"outputs: [{', '.join(outputs)}]",
        "tier: low",
        "est_llm_calls: 0",
        f"capability: {capability}",
        f'capability_version: "{version}"',
        "contract: contract.yaml",
        "plugin_inputs:",
        *[f"  - {entry}" for entry in inputs],
        *(["plugin_values:", *[f"  - {entry}" for entry in values]] if values else []),
        "---",
        "",
        f"{_one_line(words)}",
        "",
        "This stage runs the plugin that provides the capability, in the isolated runtime of",
        "planexe-plugin-hub. `PLANEXE_SYNTHESIS` says what a missing capability does (off,",
        "suggest, dry-run, publish).",
        "",
    ]
    text = "\n".join(lines)
    data, body = parse_frontmatter(text, f"{folder / SKILL_FILE}")
    try:
        skill = CapabilitySkill.model_validate({**data, "folder": folder, "body": body})
    except ValidationError as exc:
        fix = "Fix the name, capability, version or files given"
        raise invalid(exc, "the skill cannot be written", fix) from None
    _ = skill.json_output  # the checks a run makes, before anything is written
    list(skill.sources())
    skill.values()
    try:  # written beside, then moved into place whole: a failure leaves nothing behind
        skills_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=skills_dir) as tmp:
            staged = Path(tmp) / name
            staged.mkdir()
            (staged / SKILL_FILE).write_text(text, encoding="utf-8")
            (staged / "contract.yaml").write_bytes(contract_file.read_bytes())
            (staged / "run.py").write_text(RUN_PY.format(name=name, capability=capability))
            staged.rename(folder)
    except OSError as exc:
        raise CapabilityTaskError(
            f"cannot write the skill into {skills_dir}: {exc.strerror or exc}",
            "Point --skills at the checkout's skills/ folder",
        ) from None
    return folder


def _one_line(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
