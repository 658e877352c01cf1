"""``PluginHubClient``: publish plugins to a hub and fetch them from it, verified.

Publish: upload the wheel to the hub's index (twine's API, the standard upload protocol, with
the upload credentials), then ask the hub to record it; the hub checks the uploaded file and
signs it (see ``hub_index/service.py``), so a record never points at a missing or different
artifact.

Fetch: find the best record for a capability and version range that the trust policy allows,
download the wheel from the hub (the index's file, by content address), check its sha256
against the record and its signature against the policy's signers, then install it with uv (or
pip) from that same URL, ``--index-url`` the hub's index for anything else, pinned by that
hash. Downloads are cached by sha256. The client never asks another index: pip
and uv run without configuration files and with ``--index-url`` set to the hub.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from hub_index.errors import (
    DuplicateVersionError,
    HubConfigError,
    HubError,
    HubUnavailableError,
    VerificationError,
)
from hub_index.home import HubHome
from hub_index.policy import TrustPolicy
from hub_index.records import PluginRecord, PluginStatus, UsageRecord
from hub_index.signing import sha256_hex
from plan_pipeline.trust import Tier


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "planexe-plugin-hub" / "wheels"


@dataclass
class PluginHubClient:
    api_url: str
    policy: TrustPolicy
    policy_base: Path
    token: str | None = None
    upload_user: str | None = None
    upload_password: str | None = None
    cache_dir: Path | None = None

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_home(
        cls, home: HubHome, api_url: str | None = None, role: str = "admin"
    ) -> PluginHubClient:
        """A client with the credentials of a hub home: the admin token (maintainers), or
        the publish token (``role="publish"``: pipelines)."""
        creds = home.credentials()
        return cls(
            api_url=api_url or home.serve_info().api_url,
            policy=home.policy(),
            policy_base=home.root,
            token=creds.api_token if role == "admin" else creds.publish_token,
            upload_user=creds.upload_user,
            upload_password=creds.upload_password,
        )

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, role: str = "admin"
    ) -> PluginHubClient:
        """``PLANEXE_HUB_HOME`` (same machine), else ``PLANEXE_HUB_URL`` with
        ``PLANEXE_HUB_POLICY`` (a local policy file), ``PLANEXE_HUB_TOKEN`` and
        ``PLANEXE_HUB_UPLOAD`` (``user:password``) for writes."""
        env = dict(os.environ if environ is None else environ)
        if env.get("PLANEXE_HUB_HOME"):
            home = HubHome(Path(env["PLANEXE_HUB_HOME"]))
            return cls.from_home(home, env.get("PLANEXE_HUB_URL"), role)
        if not env.get("PLANEXE_HUB_URL") or not env.get("PLANEXE_HUB_POLICY"):
            raise HubConfigError(
                "no hub is configured",
                "Set PLANEXE_HUB_HOME, or PLANEXE_HUB_URL and PLANEXE_HUB_POLICY",
            )
        policy_file = Path(env["PLANEXE_HUB_POLICY"])
        user, _, password = env.get("PLANEXE_HUB_UPLOAD", "").partition(":")
        return cls(
            api_url=env["PLANEXE_HUB_URL"],
            policy=TrustPolicy.load(policy_file),
            policy_base=policy_file.parent,
            token=env.get("PLANEXE_HUB_TOKEN"),
            upload_user=user or None,
            upload_password=password or None,
        )

    # -- HTTP --------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token and method == "POST":
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            raise HubError(
                f"the hub refused {method} {path} (HTTP {exc.code}): {message}"
            ) from None
        except OSError as exc:
            raise HubUnavailableError(
                f"cannot reach the hub at {self.api_url}: {exc}",
                "Start it with 'plugin-hub serve' or check PLANEXE_HUB_URL",
            ) from None

    @cached_property
    def simple_url(self) -> str:
        """The hub's package index (asked once; also proves the hub answers)."""
        info = self._call("GET", "/api/info")
        return str(info["index_url"])

    @property
    def index_root(self) -> str:
        return self.simple_url.removesuffix("simple/").rstrip("/")

    # -- reading -----------------------------------------------------------------------------

    def records(self, capability: str, include_revoked: bool = False) -> list[PluginRecord]:
        query = {"capability": capability} | ({"include_revoked": "1"} if include_revoked else {})
        found = self._call("GET", _path("api", "plugins", query=query))
        return [PluginRecord.model_validate(r) for r in found]

    def show(self, plugin_id: str) -> PluginRecord:
        return PluginRecord.model_validate(self._call("GET", _path("api", "plugins", plugin_id)))

    def by_dist(self, dist_name: str, version: str) -> PluginRecord | None:
        query = {"dist_name": dist_name, "version": version}
        try:
            found = self._call("GET", _path("api", "plugins", query=query))
        except HubError as exc:
            if "HTTP 404" in exc.problem:
                return None
            raise
        return PluginRecord.model_validate(found[0]) if found else None

    def next_version(self, dist_name: str, wanted: str) -> str:
        query = {"dist_name": dist_name, "wanted": wanted}
        answer = self._call("GET", _path("api", "next-version", query=query))
        return str(answer["version"])

    def best(self, capability: str, version: str | None = None) -> PluginRecord | None:
        """The record the policy would install for ``capability``: best tier, then version."""
        spec = SpecifierSet(version or "")
        allowed = [
            r
            for r in self.records(capability)
            if r.status is PluginStatus.ACTIVE
            and r.trust_tier in self.policy.auto_install_tiers
            and spec.contains(Version(r.version), prereleases=True)
        ]
        if not allowed:
            return None
        return max(allowed, key=lambda r: (r.trust_tier.rank, Version(r.version)))

    # -- verification and install ------------------------------------------------------------

    def check_record(self, record: PluginRecord) -> None:
        """Refuse a record the policy does not allow, or whose file name is not its wheel's."""
        stem = re.escape(record.dist_name.replace("-", "_"))
        wheel = (
            rf"{stem}-{re.escape(record.version)}-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl"
        )
        if not re.fullmatch(wheel, record.filename):
            raise VerificationError(
                f"the record's file name {record.filename!r} is not the wheel of "
                f"{record.dist_name} {record.version}"
            )
        if record.status is not PluginStatus.ACTIVE:
            raise VerificationError(
                f"{record.dist_name} {record.version} is revoked: {record.revoked_reason}"
            )
        self.policy.check_capability(record.capability)
        self.policy.check_tier(record.trust_tier)

    def verify(self, record: PluginRecord, artifact: bytes) -> str:
        """Check ``artifact`` against ``record``: sha256, then signature; the signer identity."""
        actual = sha256_hex(artifact)
        if actual != record.checksum:
            raise VerificationError(
                f"{record.filename} has sha256 {actual}, but the hub record says "
                f"{record.checksum}: refusing it",
                "The file in the index was changed; revoke and republish the plugin",
            )
        identity = self.policy.verifier(self.policy_base).verify(artifact, record.signature_bundle)
        if identity != record.signer_identity:
            raise VerificationError(
                f"{record.filename} is signed by {identity}, but the record names "
                f"{record.signer_identity}"
            )
        return identity

    def file_url(self, record: PluginRecord) -> str:
        """The record's wheel on the hub, by content address (see ``hub_index/api.py``)."""
        return self.api_url + _path("files", record.checksum, record.filename)

    def download(self, record: PluginRecord) -> Path:
        """The verified wheel of ``record``, from the cache or the hub's index."""
        self.check_record(record)
        cache = (self.cache_dir or _cache_dir()) / record.checksum
        path = cache / record.filename
        if path.is_file():
            self.verify(record, path.read_bytes())
            return path
        try:
            with urllib.request.urlopen(self.file_url(record), timeout=60) as response:
                data: bytes = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 409:
                raise VerificationError(
                    f"{record.filename} on the hub does not have the sha256 of its record "
                    f"({record.checksum}): refusing it",
                    "The file or the record was changed; revoke and republish the plugin",
                ) from None
            raise HubUnavailableError(f"cannot download {record.filename}: {exc}") from None
        except OSError as exc:
            raise HubUnavailableError(f"cannot download {record.filename}: {exc}") from None
        self.verify(record, data)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    def install(self, record: PluginRecord, python: str | None = None) -> None:
        """Verify, then install ``record`` from the hub's index only, pinned by its sha256."""
        self.download(record)
        python = python or sys.executable
        with tempfile.TemporaryDirectory(prefix="planexe-install-") as tmp:
            requirements = Path(tmp) / "requirements.txt"
            # the file's own address on the hub: the installer reads no project page, so
            # the install costs the same however many files the index holds
            requirements.write_text(
                f"{record.dist_name} @ {self.file_url(record)} --hash=sha256:{record.checksum}\n"
            )
            command, env = _installer(python, self.simple_url, requirements)
            proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise HubError(
                f"installing {record.dist_name} {record.version} from the hub failed: "
                f"{' | '.join(tail)}"
            )

    def fetch(
        self, capability: str, version: str | None = None, python: str | None = None
    ) -> PluginRecord | None:
        """Install the best allowed plugin for ``capability``; ``None`` if the hub has none."""
        record = self.best(capability, version)
        if record is not None:
            self.install(record, python)
        return record

    # -- writing -----------------------------------------------------------------------------

    def upload(self, wheel: Path) -> None:
        from requests.exceptions import HTTPError
        from twine.commands.upload import upload
        from twine.exceptions import TwineException
        from twine.settings import Settings

        if not (self.upload_user and self.upload_password):
            raise HubConfigError(
                "no upload credentials", "Set PLANEXE_HUB_UPLOAD=user:password or use the hub home"
            )
        settings = Settings(
            repository_url=self.index_root + "/",
            username=self.upload_user,
            password=self.upload_password,
            non_interactive=True,
            disable_progress_bar=True,
        )
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # twine's own progress lines
                upload(settings, [str(wheel)])
        except HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise HubError(
                f"the index refused the upload of {wheel.name} (HTTP {status})",
                "Check the upload credentials" if status in (401, 403) else None,
            ) from None
        except TwineException as exc:
            raise HubError(f"uploading {wheel.name} failed: {exc}") from None

    def publish(
        self,
        wheel: Path,
        capability: str,
        *,
        tier: Tier,
        owner: str,
        summary: str = "",
        report_json: str | None = None,
        pass_rate: float | None = None,
        signature_bundle: str | None = None,
    ) -> PluginRecord:
        """Upload ``wheel`` and record it; the hub verifies and signs before recording.

        A name and version the hub has seen is refused before anything is uploaded. If an
        earlier attempt uploaded the same bytes but crashed before recording, the upload is
        skipped and the record made now.
        """
        checksum = sha256_hex(wheel.read_bytes())
        dist_name, version = wheel.name.split("-")[:2]
        if self.next_version(dist_name, version) != version:
            raise DuplicateVersionError(
                f"{dist_name} {version} is already on the hub (or was revoked); a name and "
                "version is never reused",
                "Build a new version",
            )
        try:
            self.upload(wheel)
        except HubError:
            if self._served_checksum(wheel.name) != checksum:
                raise
        body = {
            "filename": wheel.name,
            "capability": capability,
            "checksum": checksum,
            "owner": owner,
            "tier": tier.value,
            "summary": summary,
            "signature_bundle": signature_bundle,
            "report_json": report_json,
            "pass_rate": pass_rate,
        }
        return PluginRecord.model_validate(self._call("POST", "/api/plugins", body))

    def _served_checksum(self, filename: str) -> str | None:
        try:
            with urllib.request.urlopen(self.index_root + _path("packages", filename)) as response:
                return sha256_hex(response.read())
        except OSError:
            return None

    def promote(self, plugin_id: str, tier: Tier) -> PluginRecord:
        path = _path("api", "plugins", plugin_id, "promote")
        answer = self._call("POST", path, {"tier": tier.value})
        return PluginRecord.model_validate(answer)

    def revoke(self, plugin_id: str, reason: str, by: str = "cli") -> PluginRecord:
        body = {"reason": reason, "by": by}
        return PluginRecord.model_validate(
            self._call("POST", _path("api", "plugins", plugin_id, "revoke"), body)
        )

    def record_usage(self, usage: UsageRecord) -> None:
        self._call("POST", "/api/usage", usage.model_dump(mode="json"))

    def claim(self, capability: str, holder: str, ttl_s: float = 60.0) -> bool:
        """Become the only holder of ``capability`` for ``ttl_s`` seconds (the hub allows at
        most 60; ``heartbeat`` to keep it longer); False while another holder has it."""
        body = {"capability": capability, "holder": holder, "ttl_s": ttl_s}
        return bool(self._call("POST", "/api/claims", body)["granted"])

    def heartbeat(self, capability: str, holder: str, ttl_s: float) -> bool:
        """Keep ``holder``'s claim alive ``ttl_s`` seconds from now; False once it was
        released or taken over (the hub never creates a claim on a heartbeat)."""
        body = {"capability": capability, "holder": holder, "ttl_s": ttl_s}
        return bool(self._call("POST", "/api/claims/heartbeat", body)["held"])

    def release(self, capability: str, holder: str) -> None:
        self._call("POST", "/api/claims/release", {"capability": capability, "holder": holder})


def _path(*segments: str, query: Mapping[str, str] | None = None) -> str:
    """``/seg/ments?query`` with every segment and query value percent-encoded."""
    path = "".join("/" + quote(segment, safe="") for segment in segments)
    return f"{path}?{urlencode(query)}" if query else path


def _installer(python: str, index: str, requirements: Path) -> tuple[list[str], dict[str, str]]:
    """uv (or pip) installing exactly ``requirements`` from ``index``, no config files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    try:
        from uv import find_uv_bin

        uv = find_uv_bin()
        command = [
            uv, "pip", "install", "--quiet", "--no-config", "--python", python,
            "--index-url", index, "--no-deps", "--require-hashes", "-r", str(requirements),
        ]  # fmt: skip
        return command, env
    except (ImportError, FileNotFoundError):
        env["PIP_CONFIG_FILE"] = os.devnull
        command = [
            python, "-m", "pip", "install", "--quiet", "--isolated", "--disable-pip-version-check",
            "--index-url", index, "--no-deps", "--require-hashes", "-r", str(requirements),
        ]  # fmt: skip
        return command, env
