"""The error root of the hub's two sides: ``HubError``.

Raised by the worker's side (``hub_client``) and the server (``hub_index``, whose own errors
derive from it too). ``HubError`` derives from the pipeline's ``PlanPipelineError`` so that a
run using the hub reports hub failures like any other: one line, the problem and the fix.
"""

from __future__ import annotations

from plan_pipeline.errors import PlanPipelineError


class HubError(PlanPipelineError):
    """Root of every hub error."""

    exit_code = 1


class HubConfigError(HubError):
    """The hub home, its policy or its settings are missing or invalid."""

    exit_code = 2


class DuplicateVersionError(HubError):
    """A plugin name and version that exists, or existed and was revoked, cannot be reused."""

    exit_code = 2


class VerificationError(HubError):
    """An artifact failed its checksum or signature check against the hub record."""


class WheelInstallError(HubError):
    """A verified wheel could not be installed; nothing of it was left behind."""


class PolicyError(HubError):
    """The trust policy does not allow this plugin, tier, signer or capability."""


class HubUnavailableError(HubError):
    """The hub's index or API cannot be reached or refused the request."""


class HubBusyError(HubUnavailableError):
    """The hub is at a limit (connections, or rebuilds of published plugins): retry later."""


class BadWindowError(HubError):
    """A time window (``--since``, ``--until``, ``--days``) that is not one."""

    exit_code = 2
