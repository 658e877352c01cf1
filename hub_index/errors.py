"""The server's own errors. Their root is the hub's ``HubError`` (``hub_client/errors.py``),
which the server shares with the worker's side of the hub."""

from __future__ import annotations

from hub_client.errors import HubError


class RecordNotFoundError(HubError):
    """No plugin record matches."""

    exit_code = 2


class SigningError(HubError):
    """Signing failed: the identity token was refused or a signing service failed."""
