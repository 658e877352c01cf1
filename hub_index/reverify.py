"""The hub re-verifies a generated plugin before it signs anything.

A pipeline worker publishes a generated plugin by sending its spec, the source of its logic
module (the only part a code generator writes) and the sha256 of the wheel it built. The hub
trusts none of it: it renders, checks, builds and tests the plugin itself, in its own sandbox,
with the synthesizer every worker uses. Builds are reproducible, so an honest worker's wheel
and the hub's rebuild are the same bytes; the hub refuses a publish whose gates fail on the
hub or whose wheel differs, and what it serves and signs is its own build, with its own test
report. The cost is one synthesis per publish.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hub_index.errors import HubError
from hub_index.records import Sha256Hex
from hub_index.signing import sha256_hex
from plan_pipeline.errors import PlanPipelineError
from plan_pipeline.spec import PluginSpec

MAX_LOGIC_BYTES = 256 * 1024


class SynthesisCost(BaseModel):
    """What the publishing worker says its synthesis took: which generator and model wrote
    the code, in how many rounds, for how many tokens and seconds. Told, not verified: the
    hub keeps it beside its own report, marked as the publisher's."""

    model_config = ConfigDict(extra="forbid")

    generator: str = Field(min_length=1, max_length=64)
    provider: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    rounds: int = Field(default=1, ge=0, le=1000)
    prompt_tokens: int = Field(default=0, ge=0, le=10**9)
    completion_tokens: int = Field(default=0, ge=0, le=10**9)
    model_seconds: float = Field(default=0.0, ge=0, le=10**6)
    synthesis_seconds: float = Field(default=0.0, ge=0, le=10**6)


class GeneratedPublish(BaseModel):
    """What a worker sends to publish a generated plugin (publish token)."""

    model_config = ConfigDict(extra="forbid")

    spec: PluginSpec
    generator: str = Field(min_length=1, max_length=64)
    logic_source: str = Field(max_length=MAX_LOGIC_BYTES)
    wheel_sha256: Sha256Hex
    owner: str = Field(min_length=1, max_length=200)
    synthesis: SynthesisCost | None = None


class GatesFailedOnHubError(HubError):
    """The hub's own run of the gates refused the plugin."""

    exit_code = 1


@dataclass(frozen=True)
class Reverified:
    wheel: bytes
    filename: str
    report_json: str
    pass_rate: float


def reverify(publish: GeneratedPublish, work_root: Path) -> Reverified:
    """Rebuild and re-check ``publish`` in a fresh folder under ``work_root``; the hub's own
    wheel and report, or ``HubError`` saying what failed."""
    from synthesizer.codegen import GeneratedLogic
    from synthesizer.errors import GateFailedError
    from synthesizer.synthesize import SynthesisOptions, synthesize_plugin

    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="reverify-", dir=work_root))
    logic = GeneratedLogic(generator=publish.generator, source=publish.logic_source)
    try:
        try:
            result = synthesize_plugin(
                publish.spec, work / "synth", SynthesisOptions.from_env(), logic=logic
            )
        except GateFailedError as exc:
            raise GatesFailedOnHubError(
                f"the hub's own gates refused the plugin: {exc.problem}",
                "Nothing was signed or recorded; fix the plugin and publish again",
            ) from None
        except PlanPipelineError as exc:
            raise HubError(
                f"the hub could not rebuild the plugin: {exc.problem}",
                "Nothing was signed or recorded",
            ) from None
        wheel = result.wheel.read_bytes()
        if sha256_hex(wheel) != publish.wheel_sha256:
            raise HubError(
                f"the hub's rebuild of {result.wheel.name} has sha256 {sha256_hex(wheel)}, "
                f"not the published {publish.wheel_sha256}: the wheel is not what its spec "
                "and sources build",
                "Nothing was signed or recorded; publish the spec and sources the wheel "
                "was built from",
            )
        report = result.report
        data = json.loads(report.model_dump_json())
        if publish.synthesis is not None:
            data["publisher_synthesis"] = publish.synthesis.model_dump()
        return Reverified(wheel, result.wheel.name, json.dumps(data), report.pass_rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
