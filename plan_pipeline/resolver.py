"""``PluginResolver``: find the plugin a stage needs, or handle its absence by synthesis mode.

The resolver knows no plan format. A caller (the YAML pipeline, a PlanExe task) describes the
stage's need (``CapabilityNeed``), hands over the stage's inputs and a ``MissGuide``: where the
plugin spec goes and what command continues the run. Messages name the stage, the capability,
the spec file and that command, whoever the caller is.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.errors import (
    CapabilityNotFoundError,
    PlanPipelineError,
    SandboxUnavailableError,
    StageInputError,
    SynthesisStop,
)
from plan_pipeline.hub_settings import HubSettings
from plan_pipeline.registry import RUN_PLUGIN_DIR, CapabilityRegistry, LoadedCapability
from plan_pipeline.sandboxed_judge import JudgeStopped
from plan_pipeline.spec import PluginSpec, draft_spec, write_spec
from plan_pipeline.synthesis import (
    PluginSynthesizer,
    SynthesisMode,
    SynthesisOutcome,
    SynthesisRequest,
    find_synthesizer,
)
from plan_pipeline.usage import Resolution, configured_reporter


def run_plugin_dir(run_dir: Path) -> Path:
    return run_dir / RUN_PLUGIN_DIR


def activate_run_plugins(run_dir: Path) -> None:
    """Put the run's own plugin folder on ``sys.path`` so the registry sees its plugins.

    Last, not first: a module in the run's folder never shadows one of the environment's
    (``synthesizer``, ``json``) in this process; its plugins run sandboxed anyway."""
    folder = str(run_plugin_dir(run_dir))
    if folder not in sys.path:
        sys.path.append(folder)


def hub_ranked_registry(hub: HubSettings | None = None) -> CapabilityRegistry:
    """A registry that ranks plugins by the hub's records when a hub is configured (``hub``,
    else ``PLANEXE_HUB_*``), else by what is installed locally."""
    reporter = configured_reporter(hub)
    return CapabilityRegistry(reporter.tier_policy() if reporter else None)


@dataclass(frozen=True)
class MissGuide:
    """What the caller tells its user about a missing capability."""

    spec_path: Path
    """Where the plugin spec is written."""
    continue_with: Callable[[SynthesisMode], str]
    """The command that reruns the stage in the given synthesis mode."""
    provenance: dict[str, str] = field(default_factory=dict)
    """Where the need arose (plan, pipeline, run), recorded in the spec."""
    input_sources: dict[str, str] = field(default_factory=dict)
    """Where each input comes from (``stage 'brief' (001-brief.json)``), for the message
    when inputs break the contract."""
    on_progress: Callable[[str], None] | None = None
    """Called with each progress line of the stage's recovery, the synthesizer's included: a
    host's progress and stop callback (it may raise to stop the recovery)."""


class PluginResolver:
    """Resolves a stage's capability; on a miss acts according to the run's synthesis mode."""

    def __init__(
        self,
        registry: CapabilityRegistry,
        run_dir: Path,
        mode: SynthesisMode,
        *,
        run_id: str | None = None,
        hub: HubSettings | None = None,
        synthesizer_factory: Callable[[SynthesisMode], PluginSynthesizer] | None = None,
        on_event: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.registry = registry
        self.run_dir = run_dir
        self.run_id = run_id or run_dir.name
        self.mode = mode
        self.hub = hub
        self._synthesizer_factory = synthesizer_factory or (
            lambda mode: find_synthesizer(mode=mode)
        )
        self._on_event = on_event
        self.time_to_capability_ms: dict[str, float] = {}
        """Per stage: milliseconds from a miss to the capability being loadable."""
        self.resolution: dict[str, Resolution] = {}
        """How each stage that missed its capability got it: ``synthesized``, ``reused`` (the
        hub had it) or ``missed``; a stage not here found it installed."""

    @classmethod
    def for_run(
        cls,
        run_dir: Path,
        mode: SynthesisMode,
        *,
        hub: HubSettings | None = None,
        on_event: Callable[[str], None] = lambda _msg: None,
    ) -> PluginResolver:
        """A resolver with its own registry, ranking plugins by the hub's records when a hub
        is configured (``hub``, else ``PLANEXE_HUB_*``), with the run's own plugins visible."""
        activate_run_plugins(run_dir)
        return cls(hub_ranked_registry(hub), run_dir, mode, hub=hub, on_event=on_event)

    def resolve(
        self, stage: CapabilityNeed, inputs: dict[str, Any], guide: MissGuide
    ) -> LoadedCapability:
        """The loaded capability for ``stage``, synthesizing it first if the mode allows."""
        try:
            return self._load(stage)
        except CapabilityNotFoundError as miss:
            miss_here = CapabilityNotFoundError(
                miss.capability, miss.version, miss.excluded, stage=stage.name
            )
            return self._handle_miss(stage, inputs, miss_here, guide)

    def _load(self, stage: CapabilityNeed) -> LoadedCapability:
        loaded = self.registry.load(stage.capability, stage.version, network=stage.network)
        if loaded.worker is not None:
            self._on_event(
                f"stage '{stage.name}': {loaded.selection.chosen.describe()} "
                f"({loaded.selection.tier.value}) runs in a sandboxed plugin worker"
            )
        report = loaded.selection.conflict_report()
        if report:
            self._on_event(f"warning: {report}")
        return loaded

    def _handle_miss(
        self,
        stage: CapabilityNeed,
        inputs: dict[str, Any],
        miss: CapabilityNotFoundError,
        guide: MissGuide,
    ) -> LoadedCapability:
        started = time.perf_counter()
        try:
            loaded = self._recover(stage, inputs, miss, guide)
        except PlanPipelineError:
            self.resolution[stage.name] = "missed"
            raise
        self.time_to_capability_ms[stage.name] = (time.perf_counter() - started) * 1000
        return loaded

    def _recover(
        self,
        stage: CapabilityNeed,
        inputs: dict[str, Any],
        miss: CapabilityNotFoundError,
        guide: MissGuide,
    ) -> LoadedCapability:
        if self.mode is SynthesisMode.OFF:
            raise SynthesisStop(
                miss.problem,
                "Install a plugin that provides it, or get a plugin spec with: "
                f"{guide.continue_with(SynthesisMode.SUGGEST)}",
            )
        self._check_inputs(stage, inputs, guide)
        provenance = {"run_id": self.run_id, **guide.provenance}
        spec = draft_spec(stage, inputs, provenance=provenance)
        spec_path = guide.spec_path
        write_spec(spec, spec_path)
        if self.mode is SynthesisMode.SUGGEST:
            raise SynthesisStop(
                f"{miss.problem}; wrote the plugin spec to {spec_path}",
                f"Continue with: {guide.continue_with(SynthesisMode.DRY_RUN)} "
                "(or install a plugin that provides it and rerun)",
            )
        if self.mode is SynthesisMode.PUBLISH:
            self._tell(guide, f"looking up '{stage.capability}' on the hub (publish mode)")
        else:
            self._tell(
                guide, f"synthesizing '{stage.capability}' ({self.mode.value}) from {spec_path}"
            )
        # the plugin's worker starts up (Python, pluggy) while the plugin is fetched or made
        with self.registry.worker_started_early(network=stage.network):
            try:
                outcome = self._synthesize(spec, stage.version, guide)
            except PlanPipelineError as exc:
                # the same error (type, exit code, cause) in this stage's terms
                raise exc.in_context(
                    f"stage '{stage.name}': no plugin for '{stage.capability}' from the spec "
                    f"{spec_path}",
                    f"then continue with: {guide.continue_with(self.mode)}",
                ) from exc.__cause__
            how = _resolution(outcome)
            self.resolution[stage.name] = how
            self._tell(guide, f"{how} '{outcome.capability}'" + _where(outcome))
            activate_run_plugins(self.run_dir)
            self.registry.refresh()
            try:
                return self._load(stage)
            except CapabilityNotFoundError as still:
                raise SynthesisStop(
                    f"stage '{stage.name}': the synthesizer reported success but "
                    f"'{stage.capability}' is still missing: {still.problem}",
                    f"Check the synthesizer's report; the spec is {spec_path}",
                ) from None

    def _tell(self, guide: MissGuide, line: str) -> None:
        self._on_event(line)
        if guide.on_progress is not None:
            guide.on_progress(line)

    def _check_inputs(
        self, stage: CapabilityNeed, inputs: dict[str, Any], guide: MissGuide
    ) -> None:
        """Inputs that break the contract's input schema stop the stage here, before a spec is
        written or anything synthesized: no plugin can be made for them, so the fix is in
        the wiring, named by the input and where it comes from."""
        if stage.contract is None:
            return
        try:
            problem = self.registry.schema_judge().problem(inputs, stage.contract.input_schema)
        except (JudgeStopped, SandboxUnavailableError) as exc:
            # not a verdict on the inputs: the stage goes on, and the plugin's own run checks
            # them again in its worker
            self._on_event(
                f"stage '{stage.name}': its inputs could not be checked before synthesis "
                f"({str(exc)[:160]}); going on"
            )
            return
        if not problem:
            return
        name = _input_named(problem, inputs)
        source = guide.input_sources.get(name, "") if name else ""
        what = "its inputs break"
        if name:
            what = f"input '{name}'" + (f" (from {source})" if source else "") + " breaks"
        raise StageInputError(
            f"stage '{stage.name}': {what} the contract's input schema {problem}",
            "Wire the stage to data of the shape its contract describes"
            + (f" ({source} has another shape)" if source else "")
            + "; no plugin can be made for these inputs, so synthesizing would not help",
        )

    def _synthesize(
        self, spec: PluginSpec, version_range: str | None, guide: MissGuide
    ) -> SynthesisOutcome:
        synthesizer = self._synthesizer_factory(self.mode)
        request = SynthesisRequest(
            spec=spec,
            mode=self.mode,
            run_dir=self.run_dir,
            plugin_dir=run_plugin_dir(self.run_dir),
            version_range=version_range,
            hub=self.hub,
            on_event=guide.on_progress,
        )
        return synthesizer.synthesize(request)


def _input_named(problem: str, inputs: dict[str, Any]) -> str | None:
    """The input a violation ``at $.name...`` (or ``at $['na me']...``) is in, if any."""
    path = problem.removeprefix("at ").split(":", 1)[0]
    for name in sorted(inputs, key=len, reverse=True):
        if path.startswith((f"$.{name}", f"$['{name}']")):
            return name
    return None


def _resolution(outcome: SynthesisOutcome) -> Resolution:
    """How the synthesizer served the miss, as its notes say."""
    if "reused" in outcome.notes:
        return "reused"
    if "near-match" in outcome.notes:
        return "near-match"
    return "synthesized"


def _where(outcome: SynthesisOutcome) -> str:
    return f" -> {outcome.wheel.name}" if outcome.wheel is not None else ""
