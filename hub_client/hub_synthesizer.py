"""The pipeline's ``publish`` mode: reuse from the hub, or synthesize once and publish.

On a miss the pipeline asks this synthesizer (``planexe.synthesizers`` entry point ``hub``):

1. if the hub has an allowed, verified plugin for the capability, install it (reuse);
2. else claim the capability on the hub, so that only one worker anywhere synthesizes it;
   the others wait for the record to appear and then install it;
3. the claim holder synthesizes with every gate, publishes only a plugin whose report passes
   every gate (tier ``generated``, with its test report), then installs it from the hub,
   verified like any other fetch.

A claim lives ``CLAIM_TTL_S`` (15 s); the holder heartbeats every third of that while it
works, so a holder that dies (even ``kill -9``) frees the claim within 15 s, and a waiting
worker or a resumed run takes it over and synthesizes instead.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from hub_client.client import PluginHubClient
from hub_client.errors import HubError
from hub_client.near_matches import find_near_match, near_matching
from hub_client.records import PluginRecord
from plan_pipeline.capability_names import package_slug
from plan_pipeline.command_groups import needs_extra
from plan_pipeline.quarantine import LocalQuarantine
from plan_pipeline.spec import PluginSpec
from plan_pipeline.synthesis import SynthesisOutcome, SynthesisRequest

if TYPE_CHECKING:
    from synthesizer.synthesize import SynthesisResult

CLAIM_TTL_S = 15.0
"""A claim's lifetime without a heartbeat: how long a dead holder blocks the capability."""
WAIT_TIMEOUT_S = 900.0
"""How long a worker waits for a live holder (one that keeps heartbeating) to publish."""
POLL_S = 0.25


@dataclass
class HubSynthesizer:
    """Fetch-or-synthesize-and-publish against the configured hub."""

    client: PluginHubClient | None = None

    def _client(self, request: SynthesisRequest) -> PluginHubClient:
        if self.client is None:
            environ = request.hub.environ() if request.hub is not None else None
            self.client = PluginHubClient.from_env(environ, role="publish")
        return self.client

    def synthesize(self, request: SynthesisRequest) -> SynthesisOutcome:
        client = self._client(request)
        spec = request.spec
        quarantined = LocalQuarantine().holds  # what broke a contract here is not reused
        reused = client.fetch(spec.capability, _range(request), skip=quarantined)
        if reused is not None:
            _tell(
                request, f"reused {reused.dist_name} {reused.version} from the hub (no synthesis)"
            )
            return _outcome(reused, "reused")
        # checked before a claim makes other workers wait for this one
        with needs_extra("synth", f"synthesizing '{spec.capability}' in the publish mode"):
            pass
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        waiting_said = False
        while time.monotonic() < deadline:
            if client.claim(spec.capability, holder, CLAIM_TTL_S):
                if waiting_said:
                    _tell(request, "the other worker stopped without publishing; synthesizing here")
                with _claim_kept_alive(client, spec, holder):
                    return self._synthesize_and_publish(client, request, holder)
            if not waiting_said:
                _tell(request, "another worker is synthesizing it; waiting for the hub record")
                waiting_said = True
            time.sleep(POLL_S)
            record = client.fetch(spec.capability, _range(request), fresh=True, skip=quarantined)
            if record is not None:
                _say(
                    spec,
                    f"installed {record.dist_name} {record.version} published by another worker",
                )
                return _outcome(record, "reused")
        raise HubError(
            f"waited {WAIT_TIMEOUT_S:.0f} s for another worker to publish '{spec.capability}': "
            "it still holds the hub's claim and keeps it alive",
            "Check that worker (a stopped worker's claim lapses after "
            f"{CLAIM_TTL_S:.0f} s), then run again",
        )

    def _synthesize_and_publish(
        self, client: PluginHubClient, request: SynthesisRequest, holder: str
    ) -> SynthesisOutcome:
        from synthesizer.llm_synthesis import synthesize_routed
        from synthesizer.render import PluginNames
        from synthesizer.synthesize import SynthesisOptions

        spec = request.spec
        # published meanwhile? (fresh: the claim protocol must see the last publish)
        quarantined = LocalQuarantine().holds
        record = client.fetch(spec.capability, _range(request), fresh=True, skip=quarantined)
        if record is not None:
            return _outcome(record, "reused")
        names = PluginNames.for_capability(spec.capability)
        version = client.next_version(names.dist_name, spec.version)
        try:  # the hub's answer is data, checked like any spec field
            spec = PluginSpec.model_validate({**spec.model_dump(), "version": version})
        except ValidationError:
            raise HubError(f"the hub proposed an invalid version {version[:40]!r}") from None
        out_dir = request.run_dir / ".synth" / package_slug(spec.capability)
        started = time.perf_counter()
        near = (
            find_near_match(
                client,
                spec,
                request.run_dir / ".synth" / "near-match" / package_slug(spec.capability),
                lambda line: _tell(request, line),
                skip=quarantined,
            )
            if near_matching()
            else None
        )
        record = None
        if near is not None:
            try:
                record = _publish(client, request, near.spec, near.result, started, holder)
                spec, how = near.spec, "near-match"
            except HubError as exc:  # refused by the hub's own gates, or too large for it
                _tell(request, f"the hub did not take the near match ({exc.problem[:200]}); "
                               "synthesizing instead")  # fmt: skip
                near = None
        if record is None:
            result = synthesize_routed(
                spec, out_dir, SynthesisOptions.from_env(), lambda line: _tell(request, line)
            )
            record = _publish(client, request, spec, result, started, holder)
            how = "synthesized"
        _say(
            spec,
            f"published {record.dist_name} {record.version} (rebuilt, checked and signed by "
            f"the hub: {record.signer_identity})",
        )
        client.install(record)
        if near is not None:
            _tell(request, f"'{spec.capability}' is served by {near.served_by}: no synthesis")
        return _outcome(record, how)


def _publish(
    client: PluginHubClient,
    request: SynthesisRequest,
    spec: PluginSpec,
    result: SynthesisResult,
    started: float,
    holder: str,
) -> PluginRecord:
    """Send a plugin made here to the hub, which rebuilds, re-checks and signs it."""
    cost = result.report.cost(time.perf_counter() - started)
    _tell(request, cost_line(cost))
    assert result.logic is not None
    _tell(request, "publishing: the hub rebuilds and re-checks the plugin before it signs it")
    return client.publish_generated(
        spec, result.logic, result.wheel, owner=f"synthesizer@{holder}", synthesis=cost
    )


def cost_line(cost: dict[str, Any]) -> str:
    """``written by the llm generator (model m, 2 rounds, 400 tokens, model 1.2 s), synthesis
    3.4 s``; for the rules generator only the synthesis time."""
    what = f"written by the {cost['generator']} generator"
    if cost.get("model"):
        tokens = int(cost["prompt_tokens"]) + int(cost["completion_tokens"])
        what += (
            f" (model {cost['model']}, {cost['rounds']} round(s), {tokens} tokens, "
            f"model {float(cost['model_seconds']):.1f} s)"
        )
    return f"{what}, synthesis {float(cost['synthesis_seconds']):.1f} s"


@contextmanager
def _claim_kept_alive(client: PluginHubClient, spec: PluginSpec, holder: str) -> Iterator[None]:
    """Heartbeat ``holder``'s claim on a daemon thread for the block, then release it."""
    stop = threading.Event()
    beats = threading.Thread(
        target=_heartbeat,
        args=(client, spec, holder, stop),
        name=f"hub-claim-{spec.capability}",
        daemon=True,
    )
    beats.start()
    try:
        yield
    finally:
        stop.set()
        beats.join(timeout=1.0)  # a heartbeat in flight only extends a claim released next
        try:
            client.release(spec.capability, holder)
        except HubError as exc:
            _say(spec, f"warning: could not release the hub claim ({exc}); it lapses by itself")


def _heartbeat(
    client: PluginHubClient, spec: PluginSpec, holder: str, stop: threading.Event
) -> None:
    """Extend the claim every third of its lifetime until ``stop``; warn once if it fails."""
    ttl_s = CLAIM_TTL_S
    warned = False
    while not stop.wait(ttl_s / 3):
        try:
            held = client.heartbeat(spec.capability, holder, ttl_s)
            problem = None if held else "another worker took it over or it was released"
        except Exception as exc:  # a heartbeat must never break the synthesis it protects
            problem = " ".join(str(exc).split()) or type(exc).__name__
        if problem is not None and not warned and not stop.is_set():
            _say(spec, f"warning: could not keep the hub claim alive: {problem}")
            warned = True


def _range(request: SynthesisRequest) -> str | None:
    return request.version_range


def _outcome(record: PluginRecord, how: str) -> SynthesisOutcome:
    return SynthesisOutcome(capability=record.capability, notes=[how, record.plugin_id])


def _say(spec: PluginSpec, line: str) -> None:
    print(f"  {spec.capability}: {line}", flush=True)


def _tell(request: SynthesisRequest, line: str) -> None:
    """A progress line, printed and given to the caller (which may raise to stop the run)."""
    _say(request.spec, line)
    if request.on_event is not None:
        request.on_event(line)
