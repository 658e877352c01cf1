"""Running one stage: gather inputs, resolve the capability, validate, run, write the output.

An output file is written only after it validated, and always atomically, so a stage's output
file exists exactly when the stage completed. A failure never touches earlier outputs.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

from plan_pipeline.answer_checks import excerpt, is_violation
from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.errors import (
    ContractViolationError,
    PlanPipelineError,
    PluginRunError,
    PluginWorkerError,
    StageInputError,
    StageOutputError,
    one_line,
)
from plan_pipeline.files import write_atomic
from plan_pipeline.plan import InputRef, LoadedPlan, Stage, read_input_file
from plan_pipeline.registry import LoadedCapability
from plan_pipeline.resolver import MissGuide, PluginResolver
from plan_pipeline.sandboxed_judge import JudgeStopped
from plan_pipeline.schema_judge_main import problem_of
from plan_pipeline.schemas import validator
from plan_pipeline.synthesis import SynthesisMode
from plan_pipeline.usage import StageResult


def gather_inputs(plan: LoadedPlan, stage: Stage, run_dir: Path) -> dict[str, Any]:
    """The stage's inputs, read from upstream outputs, files and literals."""
    inputs: dict[str, Any] = {}
    for name, ref in stage.inputs.items():
        value = _read_source(plan, stage, name, ref, run_dir)
        if ref.select:
            value = select(value, ref.select, stage, name, _source_label(ref))
        inputs[name] = value
    return inputs


def _source_label(ref: InputRef) -> str:
    if ref.stage is not None:
        return f"stage '{ref.stage}'"
    if ref.file is not None:
        return f"file '{ref.file}'"
    return "the literal value"


def _read_source(plan: LoadedPlan, stage: Stage, name: str, ref: InputRef, run_dir: Path) -> Any:
    if ref.stage is not None:
        path = run_dir / plan.output_name(ref.stage)
    elif ref.file is not None:
        path = plan.resolve_file(ref.file)
    else:
        return ref.value
    try:
        if ref.stage is not None:
            return json.loads(path.read_text(encoding="utf-8"))
        return read_input_file(path)
    except (OSError, ValueError) as exc:
        raise StageInputError(
            f"stage '{stage.name}' input '{name}': cannot read {path.name}: {exc}",
            "Fix or delete that file and rerun",
        ) from None


def select(
    value: Any,
    path: str,
    stage: CapabilityNeed,
    name: str,
    source: str,
    fix: str = "Fix the input's 'select' path in the plan",
) -> Any:
    """The part of ``value`` at the dotted ``path`` (mapping keys and list indexes)."""
    node = value
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise StageInputError(
                f"stage '{stage.name}' input '{name}': {source} has no '{path}' "
                f"(missing at '{part}')",
                fix,
            )
    return node


def validate(instance: Any, schema: dict[str, Any]) -> str | None:
    """The most relevant schema violation as ``at PATH: message``, or ``None`` (in this
    process: for data and schemas of trusted plugins only)."""
    return problem_of(validator(schema), instance)


def miss_guide(plan: LoadedPlan, stage: Stage, run_dir: Path) -> MissGuide:
    """A YAML plan's spec file (``NNN-stage.plugin-spec.json``) and ``plugin-hub run`` hint."""

    def continue_with(mode: SynthesisMode) -> str:
        command = ["plugin-hub", "run", str(plan.path), "--run-dir", str(run_dir)]
        return shlex.join([*command, "--synthesis", mode.value])

    sources = {}
    for name, ref in stage.inputs.items():
        source = _source_label(ref)
        if ref.stage is not None:
            source += f" ({plan.output_name(ref.stage)})"
        sources[name] = source + (f", select '{ref.select}'" if ref.select else "")
    return MissGuide(
        spec_path=run_dir / plan.spec_name(stage.name),
        continue_with=continue_with,
        provenance={"plan": plan.plan.name},
        input_sources=sources,
    )


def run_stage(
    plan: LoadedPlan,
    stage: Stage,
    run_dir: Path,
    run_id: str,
    resolver: PluginResolver,
) -> StageResult:
    """Run ``stage`` end to end and write its output file(s)."""
    started = time.perf_counter()
    inputs = gather_inputs(plan, stage, run_dir)
    loaded = resolver.resolve(stage, inputs, miss_guide(plan, stage, run_dir))
    context = {"run_id": run_id, "stage": stage.name, "capability": stage.capability}
    output, text = run_capability(stage, loaded, inputs, context, stage.text_output)
    out_path = run_dir / plan.output_name(stage.name)
    if text is not None:
        write_atomic(run_dir / plan.text_output_name(stage.name), text)
    write_atomic(out_path, text=json.dumps(output, indent=2, ensure_ascii=False) + "\n")
    chosen = loaded.selection.chosen
    return StageResult(
        stage.name, out_path, time.perf_counter() - started, chosen.dist_name, chosen.version
    )


def run_capability(
    stage: CapabilityNeed,
    loaded: LoadedCapability,
    inputs: dict[str, Any],
    context: dict[str, Any],
    text_field: str | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Run ``loaded`` for ``stage`` on checked inputs; the checked output and its text field.

    Inputs and output are checked against the plugin's schemas and the stage contract's; the
    output must be plain JSON, and ``text_field`` (when given) a string field of it. A
    sandboxed plugin's output is also checked against the rest of the stage contract (its
    golden examples, constraints and rules): an answer proven wrong fails the stage with a
    ``ContractViolationError`` and quarantines the plugin in this environment.
    """
    _check_inputs(stage, loaded, inputs)
    if loaded.checks is not None and stage.contract is not None:
        loaded.checks.prepare(stage.contract)  # its evaluator starts beside the call
    provider = loaded.selection.chosen.describe()
    try:
        output = loaded.run(inputs, context)
    except (PluginRunError, PluginWorkerError) as exc:  # from a sandboxed worker
        raise type(exc)(f"stage '{stage.name}': {exc.problem}", exc.fix) from None
    except PlanPipelineError:
        raise
    except Exception as exc:
        raise PluginRunError(
            f"stage '{stage.name}': plugin {provider} failed: {type(exc).__name__}: {exc}",
            "See the log in the run directory; fix the inputs or the plugin",
        ) from exc
    text = _check_output(stage, loaded, output, provider, text_field)
    _check_contract(stage, loaded, inputs, output, provider)
    return output, text


def _check_contract(
    stage: CapabilityNeed,
    loaded: LoadedCapability,
    inputs: dict[str, Any],
    output: dict[str, Any],
    provider: str,
) -> None:
    """Check a sandboxed plugin's answer against the stage contract; on the first answer
    proven wrong, quarantine the plugin and fail. (A plugin that runs in this process is
    trusted like the pipeline.) A check that could not be done fails the stage alone."""
    if loaded.checks is None or stage.contract is None:
        return
    problems = loaded.checks.problems(stage.contract, inputs, output)
    if not problems:
        return
    proven = [p for p in problems if is_violation(p)]
    broken = proven[0] if proven else problems[0]
    if not proven:
        raise StageOutputError(
            f"stage '{stage.name}': the answer of plugin {provider} could not be checked "
            f"against the stage contract: {broken}",
            "Check the stage's inputs (an upstream output may be too large or unusual); "
            "outputs written before are kept",
        )
    chosen = loaded.selection.chosen
    quarantined = "The plugin is quarantined in this environment ('plugin-hub quarantine' lists it)"
    try:
        loaded.checks.quarantine.add(
            chosen.dist_name, chosen.version, stage.capability, f"stage '{stage.name}': {broken}"
        )
    except (PlanPipelineError, ValueError) as exc:
        quarantined = f"The plugin could not be quarantined here ({one_line(str(exc))[:200]})"
    if loaded.worker is not None:
        loaded.worker.close()  # whatever state it kept, it keeps no more
    raise ContractViolationError(
        f"stage '{stage.name}': plugin {provider} broke the stage contract on input "
        f"{excerpt(inputs)}: {broken}",
        f"{quarantined}; outputs written before are kept; run the stage again to get the "
        "capability anew",
        dist_name=chosen.dist_name,
        version=chosen.version,
        violation=broken,
    )


def _schema_problem(
    stage: CapabilityNeed, loaded: LoadedCapability, instance: Any, kind: str
) -> str | None:
    """The first violation of the ``kind`` (input/output) schemas that bind ``loaded``.

    A trusted (in-process) plugin's data is checked against its own schema and the stage
    contract's. A sandboxed plugin's own schema came from its worker, so it binds nothing:
    its data is checked against the stage contract's schema (its own only where the stage
    states no contract). The data may be hostile either way (a stage's inputs are upstream
    outputs), so every check goes through the schema judge, which checks in this process
    only what is cheap and the rest in the sandbox under a deadline.
    """
    schemas: list[tuple[str, dict[str, Any]]] = []
    if stage.contract is not None:
        contract = stage.contract.input_schema if kind == "input" else stage.contract.output_schema
        schemas.append((f"the stage contract's {kind} schema", contract))
    if loaded.worker is None or not schemas:
        plugin_schema = loaded.input_schema if kind == "input" else loaded.output_schema
        schemas.insert(0, (f"the plugin's {kind} schema", plugin_schema))
    for label, schema in schemas:
        if loaded.judge is None:  # a capability loaded without a registry (tests, tools)
            problem = validate(instance, schema)
        else:
            try:
                problem = loaded.judge.problem(instance, schema)
            except JudgeStopped as exc:
                return f"{label} (its check was ended: {exc})"
        if problem:
            return f"{label} {problem}"
    return None


def _check_inputs(stage: CapabilityNeed, loaded: LoadedCapability, inputs: dict[str, Any]) -> None:
    problem = _schema_problem(stage, loaded, inputs, "input")
    if problem:
        raise StageInputError(
            f"stage '{stage.name}': inputs violate {problem}",
            "Fix the upstream output or the stage's inputs in the plan",
        )


def _check_output(
    stage: CapabilityNeed,
    loaded: LoadedCapability,
    output: Any,
    provider: str,
    text_field: str | None,
) -> str | None:
    if not isinstance(output, dict):
        raise StageOutputError(
            f"stage '{stage.name}': plugin {provider} returned {type(output).__name__}, "
            "not a JSON object",
            "A plugin's planexe_run must return a mapping",
        )
    try:
        json.dumps(output, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeError) as exc:
        raise StageOutputError(
            f"stage '{stage.name}': output of plugin {provider} is not plain JSON: {exc}",
            "Return only dicts, lists, strings, finite numbers, booleans and None",
        ) from None
    problem = _schema_problem(stage, loaded, output, "output")
    if problem:
        raise StageOutputError(
            f"stage '{stage.name}': output of plugin {provider} violates {problem}",
            "Fix the plugin or the contract; earlier stage outputs are kept",
        )
    if text_field is None:
        return None
    text = output.get(text_field)
    if not isinstance(text, str):
        raise StageOutputError(
            f"stage '{stage.name}': text field '{text_field}' is not a string in the output of "
            f"plugin {provider}",
            "Name a string field of the output (a plan's text_output), or fix the contract",
        )
    return text
