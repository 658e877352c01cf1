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

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hub_client.bundles import sha256_hex
from hub_client.errors import HubError
from hub_client.records import Sha256Hex
from plan_pipeline.spec import PluginSpec

MAX_LOGIC_BYTES = 256 * 1024
log = logging.getLogger("planexe.hub")


def _printable(value: str | None) -> str | None:
    if value is not None and not value.isprintable():
        raise ValueError("must be printable text (no control characters)")
    return value


_Label = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]


class SynthesisCost(BaseModel):
    """What the publishing worker says its synthesis took: which generator and model wrote
    the code, in how many rounds, for how many tokens and seconds. Told, not verified: the
    hub keeps it beside its own report (never inside what it signs), as the publisher's."""

    model_config = ConfigDict(extra="forbid")

    generator: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable)]
    provider: _Label | None = None
    model: _Label | None = None
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
    """The hub's own test report (its sha256 goes into the signed metadata)."""
    pass_rate: float


REBUILD_TIMEOUT_S = 300.0
"""The longest a rebuild may take (a synthesis is about a second; its gate's budget is 120 s)."""


def reverify(
    publish: GeneratedPublish, work_root: Path, timeout_s: float | None = None
) -> Reverified:
    """Rebuild and re-check ``publish`` in a fresh folder under ``work_root``; the hub's own
    wheel and report, or ``HubError`` saying what failed.

    The rebuild runs in a child process of its own (``reverify_main.py``), killed with all it
    started after ``timeout_s``: the spec is a stranger's, and what the synthesizer does with
    it (Hypothesis' strategies from its schemas, above all) must not hold up the hub, whose
    request threads also keep the synthesizer from forking its harness here."""
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="reverify-", dir=work_root))
    try:
        answer = _rebuild_in_child(publish, work, timeout_s or REBUILD_TIMEOUT_S)
        outcome = answer.get("outcome")
        raw = str(answer.get("problem", "no wheel"))
        if outcome != "built":
            told = answer.get("detail", raw)
            log.warning("rebuild of '%s' refused: %s", publish.spec.capability, told)
        problem = without_host_facts(raw, work)
        if outcome == "gates-failed":
            raise GatesFailedOnHubError(
                f"the hub's own gates refused the plugin: {problem}",
                "Nothing was signed or recorded; fix the plugin and publish again",
            )
        name = str(answer.get("wheel", ""))
        if outcome != "built" or not name.endswith(".whl") or "/" in name or name[:1] == ".":
            raise HubError(
                f"the hub could not rebuild the plugin: {problem}",
                "Nothing was signed or recorded",
            )
        wheel = (work / "synth" / "dist" / name).read_bytes()
        if sha256_hex(wheel) != publish.wheel_sha256:
            raise HubError(
                f"the hub's rebuild of {name} has sha256 {sha256_hex(wheel)}, "
                f"not the published {publish.wheel_sha256}: the wheel is not what its spec "
                "and sources build",
                "Nothing was signed or recorded; publish the spec and sources the wheel "
                "was built from",
            )
        return Reverified(wheel, name, str(answer["report_json"]), float(answer["pass_rate"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/[^\s'\"`,;()\[\]{}<>|]*")
_ADDRESS = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\[[0-9a-fA-F:]+\]|\b(?:host|port)=\S+")


def without_host_facts(text: str, work: Path) -> str:
    """``text`` fit for the publisher: paths inside the rebuild's folder made relative to it,
    every other absolute path (the hub's home, its environment, its configuration) and every
    network address replaced, so an answer tells nothing of the hub's machine."""
    text = text.replace(f"{work}/", "").replace(str(work), ".")
    return _ADDRESS.sub("<hub address>", _ABSOLUTE_PATH.sub("<hub path>", text))


def _rebuild_in_child(publish: GeneratedPublish, work: Path, timeout_s: float) -> dict[str, Any]:
    """The child's answer (its last line of output, a JSON object)."""
    command = [sys.executable, "-m", "hub_index.reverify_main", str(work)]
    child = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed whole on a timeout
    )
    try:
        out, err = child.communicate(publish.model_dump_json(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise HubError(
            f"the hub's rebuild of '{publish.spec.capability}' took longer than "
            f"{timeout_s:g} s and was stopped",
            "Nothing was signed or recorded; simplify the spec's schemas and publish again",
        ) from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # anything it left behind
    lines = out.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        log.warning("rebuild of '%s' stopped without a result: %s", publish.spec.capability, err)
        tail = without_host_facts((err.strip().splitlines() or ["no output"])[-1], work)[:300]
        raise HubError(
            f"the hub's rebuild stopped without a result (exit {child.returncode}): {tail}",
            "Nothing was signed or recorded; see the hub's log",
        )
    return answer
