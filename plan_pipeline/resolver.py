"""``PluginResolver``: find the plugin a stage needs, or handle its absence by synthesis mode."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plan_pipeline.errors import CapabilityNotFoundError, SynthesisStop
from plan_pipeline.plan import LoadedPlan, Stage
from plan_pipeline.registry import CapabilityRegistry, LoadedCapability
from plan_pipeline.spec import PluginSpec, draft_spec, write_spec
from plan_pipeline.synthesis import (
    PluginSynthesizer,
    SynthesisMode,
    SynthesisOutcome,
    SynthesisRequest,
    find_synthesizer,
)

RUN_PLUGIN_DIR = ".plugins"
"""Folder inside a run directory for plugins installed for that run only (dry-run)."""


def run_plugin_dir(run_dir: Path) -> Path:
    return run_dir / RUN_PLUGIN_DIR


def activate_run_plugins(run_dir: Path) -> None:
    """Put the run's own plugin folder on ``sys.path`` so the registry sees its plugins."""
    folder = str(run_plugin_dir(run_dir))
    if folder not in sys.path:
        sys.path.insert(0, folder)


class PluginResolver:
    """Resolves a stage's capability; on a miss acts according to the run's synthesis mode."""

    def __init__(
        self,
        registry: CapabilityRegistry,
        plan: LoadedPlan,
        run_dir: Path,
        run_id: str,
        mode: SynthesisMode,
        synthesizer_factory: Callable[[SynthesisMode], PluginSynthesizer] | None = None,
        on_event: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.registry = registry
        self.plan = plan
        self.run_dir = run_dir
        self.run_id = run_id
        self.mode = mode
        self._synthesizer_factory = synthesizer_factory or (
            lambda mode: find_synthesizer(mode=mode)
        )
        self._on_event = on_event
        self.time_to_capability_ms: dict[str, float] = {}
        """Per stage: milliseconds from a miss to the capability being loadable."""

    def resolve(self, stage: Stage, inputs: dict[str, Any]) -> LoadedCapability:
        """The loaded capability for ``stage``, synthesizing it first if the mode allows."""
        try:
            return self._load(stage)
        except CapabilityNotFoundError as miss:
            miss_here = CapabilityNotFoundError(
                miss.capability, miss.version, miss.excluded, stage=stage.name
            )
            return self._handle_miss(stage, inputs, miss_here)

    def _load(self, stage: Stage) -> LoadedCapability:
        loaded = self.registry.load(stage.capability, stage.version, network=_network(stage))
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
        self, stage: Stage, inputs: dict[str, Any], miss: CapabilityNotFoundError
    ) -> LoadedCapability:
        started = time.perf_counter()
        loaded = self._recover(stage, inputs, miss)
        self.time_to_capability_ms[stage.name] = (time.perf_counter() - started) * 1000
        return loaded

    def _recover(
        self, stage: Stage, inputs: dict[str, Any], miss: CapabilityNotFoundError
    ) -> LoadedCapability:
        if self.mode is SynthesisMode.OFF:
            raise SynthesisStop(
                miss.problem,
                "Install a plugin that provides it, or rerun with --synthesis suggest to get "
                "a plugin spec",
            )
        spec = draft_spec(stage, inputs, plan_name=self.plan.plan.name, run_id=self.run_id)
        spec_path = self.run_dir / self.plan.spec_name(stage.name)
        write_spec(spec, spec_path)
        if self.mode is SynthesisMode.SUGGEST:
            raise SynthesisStop(
                f"{miss.problem}; wrote the plugin spec to {spec_path}",
                f"Continue with: {self.continue_command(SynthesisMode.DRY_RUN)} "
                "(or install a plugin that provides it and rerun without --synthesis)",
            )
        if self.mode is SynthesisMode.PUBLISH:
            self._on_event(f"looking up '{stage.capability}' on the hub (publish mode)")
        else:
            self._on_event(
                f"synthesizing '{stage.capability}' ({self.mode.value}) from {spec_path}"
            )
        # the plugin's worker starts up (Python, pluggy) while the plugin is fetched or made
        with self.registry.worker_started_early(network=_network(stage)):
            outcome = self._synthesize(spec, stage.version)
            how = "reused" if "reused" in outcome.notes else "synthesized"
            self._on_event(f"{how} '{outcome.capability}'" + _where(outcome))
            activate_run_plugins(self.run_dir)
            self.registry.refresh()
            try:
                return self._load(stage)
            except CapabilityNotFoundError as still:
                raise SynthesisStop(
                    f"the synthesizer reported success but '{stage.capability}' is still "
                    f"missing: {still.problem}",
                    "Check the synthesizer's report",
                ) from None

    def _synthesize(self, spec: PluginSpec, version_range: str | None) -> SynthesisOutcome:
        synthesizer = self._synthesizer_factory(self.mode)
        request = SynthesisRequest(
            spec=spec,
            mode=self.mode,
            run_dir=self.run_dir,
            plugin_dir=run_plugin_dir(self.run_dir),
            version_range=version_range,
        )
        return synthesizer.synthesize(request)

    def continue_command(self, mode: SynthesisMode) -> str:
        return shlex.join(
            [
                "plugin-hub",
                "run",
                str(self.plan.path),
                "--run-dir",
                str(self.run_dir),
                "--synthesis",
                mode.value,
            ]
        )


def _network(stage: Stage) -> bool:
    """Whether the stage's contract grants its plugin the network."""
    return stage.contract is not None and "network" in stage.contract.permissions


def _where(outcome: SynthesisOutcome) -> str:
    return f" -> {outcome.wheel.name}" if outcome.wheel is not None else ""
