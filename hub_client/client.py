"""``PluginHubClient``: publish plugins to a hub and fetch them from it, verified.

Publish: a worker (publish token) sends a generated plugin's spec and sources and the sha256
of the wheel it built; the hub rebuilds and re-checks it and signs only its own build. A
maintainer (admin token and admin key) uploads a wheel to the hub's staging and states the
release in an admin-signed ``targets`` document (see ``hub_index/service.py``).

Fetch: find the candidates for a capability and version range through the API, keep those the
hub's signed metadata states (TUF, verified against the root in the local policy) with a tier
the policy allows, download the best one by content address, check its sha256 and length
against the signed metadata and its signature bundle against the policy's signers, then
install those bytes (``hub_client/wheel_install.py``; uv or pip from that same URL, pinned by
its sha256 and ``--index-url`` the hub's index, for another interpreter or an upgrade).
Downloads are cached by sha256. The client never asks another index: pip and uv run without
configuration files.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version
from pydantic import ValidationError
from securesystemslib.signer import CryptoSigner

from hub_client import wheel_install
from hub_client.bundles import sha256_hex
from hub_client.errors import (
    DuplicateVersionError,
    HubBusyError,
    HubConfigError,
    HubError,
    HubUnavailableError,
    PolicyError,
    VerificationError,
)
from hub_client.http_deadline import DeadlinePassedError, TooLargeError, get_within
from hub_client.local_home import HubHome
from hub_client.metadata_client import SignedRelease, TrustedReleases
from hub_client.policy import TrustPolicy
from hub_client.ranking import Evidence, RankedPlugin, rank_score
from hub_client.records import (
    DuplicatePair,
    PluginRecord,
    PluginStatus,
    PromotionCandidate,
    UsageRecord,
)
from hub_client.release_metadata import PluginRelease, signed_targets_change, tuf_signer
from hub_client.success_metrics import SuccessMetrics
from plan_pipeline.installed_files import wheel_files_sha256
from plan_pipeline.published_wheel import read_published
from plan_pipeline.spec import PluginSpec
from plan_pipeline.trust import Tier

if TYPE_CHECKING:
    from synthesizer.codegen import GeneratedLogic


PUBLISH_TIMEOUT_S = 900.0
"""A publish waits for the hub's whole rebuild and re-check of the plugin."""


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "planexe-plugin-hub" / "wheels"


@dataclass
class PluginHubClient:
    api_url: str
    policy: TrustPolicy
    policy_base: Path
    token: str | None = None
    admin_key: Path | None = None
    """The admin key (maintainers only): promotions, revocations, core/verified releases."""
    cache_dir: Path | None = None
    offline: bool = False
    """Answer from the signed metadata verified here before, never asking the hub."""
    busy_wait_s: float = 600.0
    """How long a publish keeps asking a busy hub (HTTP 503) before it gives up."""

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_home(
        cls, home: HubHome, api_url: str | None = None, role: str = "admin", offline: bool = False
    ) -> PluginHubClient:
        """A client with the credentials of a hub home: the admin token (maintainers), or
        the publish token (``role="publish"``: pipelines)."""
        creds = home.credentials()
        if api_url is None and not home.serve_file.is_file() and offline:
            api_url = ""  # offline: a hub that is not running is never asked
        return cls(
            api_url=api_url if api_url is not None else home.serve_info().api_url,
            policy=home.policy(),
            policy_base=home.root,
            token=creds.api_token if role == "admin" else creds.publish_token,
            admin_key=home.admin_key if role == "admin" else None,
            offline=offline,
        )

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, role: str = "admin", offline: bool = False
    ) -> PluginHubClient:
        """``PLANEXE_HUB_HOME`` (same machine), else ``PLANEXE_HUB_URL`` with
        ``PLANEXE_HUB_POLICY`` (a local policy file), ``PLANEXE_HUB_TOKEN`` for writes and
        ``PLANEXE_HUB_ADMIN_KEY`` (a key file) for a maintainer's signed statements."""
        env = dict(os.environ if environ is None else environ)
        if env.get("PLANEXE_HUB_HOME"):
            home = HubHome(Path(env["PLANEXE_HUB_HOME"]))
            return cls.from_home(home, env.get("PLANEXE_HUB_URL"), role, offline)
        if not env.get("PLANEXE_HUB_URL") or not env.get("PLANEXE_HUB_POLICY"):
            missing = "PLANEXE_HUB_URL" if not env.get("PLANEXE_HUB_URL") else "PLANEXE_HUB_POLICY"
            raise HubConfigError(
                f"no hub is configured ({missing} is not set)",
                "Set PLANEXE_HUB_HOME (a hub on this machine), or PLANEXE_HUB_URL and "
                f"PLANEXE_HUB_POLICY: {EXPORT_HINT}",
            )
        policy_file = Path(env["PLANEXE_HUB_POLICY"])
        admin_key = env.get("PLANEXE_HUB_ADMIN_KEY")
        return cls(
            api_url=api_url(env["PLANEXE_HUB_URL"]),
            policy=TrustPolicy.load(policy_file),
            policy_base=policy_file.parent,
            token=_token(env.get("PLANEXE_HUB_TOKEN"), admin=admin_key is not None),
            admin_key=Path(admin_key) if admin_key else None,
            offline=offline,
        )

    # -- HTTP --------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        timeout: float = 60,
        fresh: bool = False,
    ) -> Any:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method)
        kind = "application/octet-stream" if raw is not None else "application/json"
        request.add_header("Content-Type", kind)
        if fresh:  # not from what an API process remembers (``HubService.find``)
            request.add_header("Cache-Control", "no-cache")
        if self.token and method == "POST":
            request.add_header("Authorization", f"Bearer {self.token}")
        deadline = time.monotonic() + timeout
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                answer = _read_within(response, deadline, MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:
            try:
                message = str(json.loads(exc.read(64 * 1024)).get("error", exc.reason))[:300]
            except (ValueError, AttributeError, OSError):
                message = exc.reason
            if 300 <= exc.code < 400 and exc.code != 304:
                raise HubConfigError(
                    f"the hub at {self.api_url} answered {method} {path} with a redirect "
                    f"(HTTP {exc.code}): a client follows none",
                    "Set PLANEXE_HUB_URL to the API's own address, the one 'plugin-hub serve' "
                    "prints",
                ) from None
            if exc.code in (401, 403):
                raise HubConfigError(
                    f"the hub refused {method} {path} (HTTP {exc.code}): {message}",
                    _TOKEN_FIX[self.admin_key is not None],
                ) from None
            if exc.code == 503:
                raise HubBusyError(
                    f"the hub cannot take {method} {path} now (HTTP 503): {message}",
                    "Try again in a little while",
                ) from None
            raise HubError(
                f"the hub refused {method} {path} (HTTP {exc.code}): {message}"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise HubUnavailableError(
                f"cannot reach the hub at {self.api_url}: {type(exc).__name__}: {str(exc)[:200]}",
                "Start it with 'plugin-hub serve' or check PLANEXE_HUB_URL",
            ) from None
        except ValueError as exc:
            raise HubConfigError(
                f"cannot ask the hub at {self.api_url}: {str(exc)[:200]}",
                "Check PLANEXE_HUB_URL",
            ) from None
        try:
            return json.loads(answer or b"null")
        except (ValueError, RecursionError):
            raise HubError(
                f"the answer of {self.api_url} to {method} {path} is not JSON: it does not "
                "speak as a plugin hub's API",
                "Set PLANEXE_HUB_URL to the API's address that 'plugin-hub serve' prints",
            ) from None

    def check_setup(self, publish: bool) -> None:
        """Check everything this client needs before a run starts: the policy's metadata root
        and signer keys, the hub's API at ``api_url`` (not its package index), and for
        ``publish`` a token the hub accepts. Each problem is a ``HubError`` naming the variable
        or file and the command that makes it; an unreachable hub is one only for ``publish``
        (other runs go on with the signed metadata verified here before)."""
        self.policy.root_bytes(self.policy_base)
        self.policy.verifier(self.policy_base)
        if publish and not self.token:
            raise HubConfigError(
                "publish mode writes to the hub, and PLANEXE_HUB_TOKEN is not set",
                _TOKEN_FIX[False],
            )
        if self.offline:
            return
        try:
            info = self._call("GET", "/api/info", timeout=10)
        except HubConfigError:
            raise
        except HubUnavailableError as exc:
            if publish:  # the run cannot do what it was asked: a set-up problem (exit 2)
                raise HubConfigError(
                    f"the publish mode needs the hub, and {exc.problem}",
                    "Start it with 'plugin-hub serve', or set PLANEXE_HUB_URL to its API's address",
                ) from None
            return
        except HubError as exc:
            raise self._not_the_api(exc) from None
        if not (isinstance(info, dict) and isinstance(info.get("index_url"), str)):
            raise self._not_the_api(HubError("its /api/info is not a hub's"))
        if publish:  # a no-op write (releasing a claim nobody holds) proves the token
            self.release("planexe.setup_check", "setup-check")

    def _not_the_api(self, exc: HubError) -> HubConfigError:
        try:
            with _OPENER.open(f"{self.api_url}/simple/", timeout=10) as answer:
                page = _read_within(answer, time.monotonic() + 10, 1 << 20)
                index = answer.status == 200 and b"<html" in page.lower()
        except (OSError, ValueError, http.client.HTTPException, HubError):
            index = False
        if index:
            return HubConfigError(
                f"{self.api_url} is the hub's package index, not its API",
                "Set PLANEXE_HUB_URL to the API's address ('plugin-hub serve' prints it as "
                f"'api http://...'; {EXPORT_HINT})",
            )
        return HubConfigError(
            f"{self.api_url} does not answer as a plugin hub's API ({exc.problem})",
            "Set PLANEXE_HUB_URL to the API's address that 'plugin-hub serve' prints",
        )

    @cached_property
    def simple_url(self) -> str:
        """The hub's package index (asked once; also proves the hub answers)."""
        info = self._call("GET", "/api/info")
        return str(info["index_url"])

    # -- reading -----------------------------------------------------------------------------

    def records(
        self, capability: str, include_revoked: bool = False, fresh: bool = False
    ) -> list[PluginRecord]:
        """The hub's records of ``capability``; ``fresh``: as the database holds them now (an
        API process may otherwise answer from what it read up to a second ago)."""
        query = {"capability": capability} | ({"include_revoked": "1"} if include_revoked else {})
        found = self._call("GET", _path("api", "plugins", query=query), fresh=fresh)
        return [PluginRecord.model_validate(r) for r in found]

    def search(self, text: str = "", include_revoked: bool = False) -> list[PluginRecord]:
        """The hub's records whose capability contains ``text`` (every record for ``""``):
        hints for people to read, never acted on without the signed metadata."""
        query = {"search": text} | ({"include_revoked": "1"} if include_revoked else {})
        found = self._call("GET", _path("api", "plugins", query=query))
        return [PluginRecord.model_validate(r) for r in found]

    def show(self, plugin_id: str) -> PluginRecord:
        return PluginRecord.model_validate(self._call("GET", _path("api", "plugins", plugin_id)))

    def metrics(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        token: str | None = None,
    ) -> SuccessMetrics:
        """The success metrics over the window, as the hub computes them from its usage rows
        (of every token, or of the token named ``token``)."""
        query = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v}
        if token is not None:
            query["token"] = token
        return SuccessMetrics.model_validate(
            self._call("GET", _path("api", "metrics", query=query))
        )

    def report(self, plugin_id: str) -> dict[str, Any]:
        """The plugin's latest test report as the hub keeps it (unsigned: for reading)."""
        found = self._call("GET", _path("api", "plugins", plugin_id, "report"))
        return found if isinstance(found, dict) else {}

    def ranking(self, capability: str) -> list[RankedPlugin]:
        """The hub's ranking of ``capability``'s plugins and its evidence (unsigned: it only
        orders releases the signed metadata and the policy allow)."""
        found = self._call("GET", _path("api", "ranking", query={"capability": capability}))
        return [RankedPlugin.model_validate(r) for r in found]

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

    @cached_property
    def trusted(self) -> TrustedReleases:
        """The hub's signed metadata, verified against the root in the local policy."""
        root = self.policy.root_bytes(self.policy_base)
        cache = (self.cache_dir or _cache_dir()).parent / "metadata"
        return TrustedReleases(
            self.api_url + "/metadata/",
            root,
            cache,
            offline=self.offline,
            fall_back_offline=True,
        )

    def signed(self, record: PluginRecord) -> SignedRelease:
        """What the signed metadata states about ``record``'s release; ``VerificationError``
        if it states nothing, or states another capability, file or sha256."""
        signed = self.trusted.release(record.dist_name, record.version)
        if signed is None:
            raise VerificationError(
                f"{record.dist_name} {record.version} is not in the hub's signed metadata: "
                "refusing a record no key of the local policy signed"
            )
        return _matched(record, signed)

    def check_file(self, filename: str, data: bytes) -> SignedRelease:
        """Check a wheel against the signed metadata alone (no record, no bundle: works
        offline): its release must be stated with this file name, sha256 and length, not
        revoked, for a capability and tier the local policy allows."""
        name, version = wheel_release(filename)
        signed = self.trusted.release(name, version)
        if signed is None:
            raise VerificationError(
                f"{name} {version} is not in the hub's signed metadata: no key of the local "
                "policy vouches for it"
            )
        release = signed.release
        actual = sha256_hex(data)
        if (filename, actual, len(data)) != (release.filename, release.sha256, release.length):
            raise VerificationError(
                f"{filename} has sha256 {actual}, but the hub's signed metadata states "
                f"{release.filename} with sha256 {release.sha256}: refusing it"
            )
        if signed.tier is Tier.QUARANTINED:
            raise VerificationError(
                f"{name} {version} is revoked in the hub's signed metadata: "
                f"{release.revoked_reason or 'no reason given'}"
            )
        self.policy.check_capability(release.capability)
        self.policy.check_tier(signed.tier)
        return signed

    def best(
        self,
        capability: str,
        version: str | None = None,
        fresh: bool = False,
        skip: Callable[[str, str], bool] | None = None,
    ) -> PluginRecord | None:
        """The record the policy would install for ``capability``: best signed tier, then
        version, among the releases the newest verified metadata states (``fresh`` is kept for
        callers: the metadata is always refreshed). The hub's records only carry what the
        install needs (the signature bundle); the chosen release's record must exist and agree
        with the signed metadata, else ``VerificationError``: a hub that withholds the newest
        record never gets an older release installed. ``skip(dist_name, version)``: releases
        this client will not take (those its environment quarantined)."""
        spec = SpecifierSet(version or "")
        allowed: list[SignedRelease] = []
        for signed in self.trusted.releases():
            release = signed.release
            if release.capability != capability or signed.tier is Tier.QUARANTINED:
                continue
            if not spec.contains(Version(release.version), prereleases=True):
                continue
            if skip is not None and skip(release.dist_name, release.version):
                continue
            if signed.tier in self.policy.auto_install_tiers:
                allowed.append(signed)
        if not allowed:
            return None
        best = self._ranked_best(capability, allowed)
        chosen = best.release
        record = self.by_dist(chosen.dist_name, chosen.version)
        if record is None:
            raise VerificationError(
                f"the hub withholds its record of {chosen.dist_name} {chosen.version}, the "
                f"newest signed release of '{capability}': refusing to fall back to another",
                "Ask the hub's operator",
            )
        _matched(record, best)
        return record

    def _ranked_best(self, capability: str, allowed: list[SignedRelease]) -> SignedRelease:
        """The newest release of the best plugin: the best signed tier first, then the best
        ``RankScore`` within that tier (the hub's evidence; ``hub_client/ranking.py``), then
        the newer version. With one plugin allowed, no evidence is asked for."""
        newest: dict[str, SignedRelease] = {}
        for signed in allowed:
            known = newest.get(signed.release.dist_name)
            if known is None or (signed.tier.rank, Version(signed.release.version)) > (
                known.tier.rank,
                Version(known.release.version),
            ):
                newest[signed.release.dist_name] = signed
        evidence: dict[str, Evidence] = {}
        if len(newest) > 1:
            try:
                evidence = {r.dist_name: r.evidence for r in self.ranking(capability)}
            except (HubError, ValidationError, TypeError):
                evidence = {}  # no evidence: every plugin scores as unused
        return max(
            newest.values(),
            key=lambda s: (
                s.tier.rank,
                rank_score(evidence.get(s.release.dist_name), s.tier).score,
                Version(s.release.version),
            ),
        )

    # -- verification and install ------------------------------------------------------------

    def check_record(self, record: PluginRecord) -> SignedRelease:
        """Refuse a record the signed metadata or the policy does not allow."""
        signed = self.signed(record)
        if signed.tier is Tier.QUARANTINED:
            raise VerificationError(
                f"{record.dist_name} {record.version} is revoked in the hub's signed metadata: "
                f"{signed.release.revoked_reason or 'no reason given'}"
            )
        self.policy.check_capability(signed.release.capability)
        self.policy.check_tier(signed.tier)
        return signed

    def verify(
        self, record: PluginRecord, artifact: bytes, signed: SignedRelease | None = None
    ) -> str:
        """Check ``artifact`` against the signed release (looked up unless given) and
        ``record``'s signature bundle; the signer identity."""
        signed = signed or self.signed(record)
        actual = sha256_hex(artifact)
        if actual != signed.release.sha256 or len(artifact) != signed.release.length:
            raise VerificationError(
                f"{record.filename} has sha256 {actual}, but the hub's signed metadata says "
                f"{signed.release.sha256}: refusing it",
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
        return self._verified(record)[0]

    def _verified(
        self, record: PluginRecord, signed: SignedRelease | None = None
    ) -> tuple[Path, bytes]:
        """``record``'s wheel in the cache and its bytes, checked against the signed
        metadata (downloaded from its content address on the hub when not cached). Unless
        ``signed`` is given, the release must also be one the policy installs."""
        signed = signed or self.check_record(record)
        cache = (self.cache_dir or _cache_dir()) / record.checksum
        path = cache / record.filename
        if path.is_file():
            data = path.read_bytes()
            self.verify(record, data, signed)
            return path, data
        deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
        try:  # a lying hub may not stop, or may drip: bounded in size and in time
            answer = get_within(self.file_url(record), deadline, signed.release.length)
        except DeadlinePassedError:
            raise HubUnavailableError(
                f"the hub did not send {record.filename} within {DOWNLOAD_DEADLINE_S:g} s",
                "Check the hub and the network, then run again",
            ) from None
        except TooLargeError:
            raise VerificationError(
                f"the hub sent more than the {signed.release.length} bytes of {record.filename} "
                "its signed metadata states: refusing it"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise HubUnavailableError(f"cannot download {record.filename}: {exc}") from None
        if answer.status == 409:
            raise VerificationError(
                f"{record.filename} on the hub does not have the sha256 of its record "
                f"({record.checksum}): refusing it",
                "The file or the record was changed; revoke and republish the plugin",
            )
        if answer.status != 200:
            raise HubUnavailableError(
                f"cannot download {record.filename}: the hub answered HTTP {answer.status}"
            )
        data = answer.body
        self.verify(record, data, signed)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path, data

    def install(self, record: PluginRecord, python: str | None = None) -> None:
        """Verify ``record``'s wheel, then install exactly those bytes: in this process when
        the target is this virtualenv and holds no other copy of the plugin (see
        ``hub_client/wheel_install.py``), else with uv (or pip) from the hub's index only,
        pinned by its sha256."""
        _, data = self._verified(record)
        wheel_install.check_startup_code(data, record.filename)
        if wheel_install.installs_here(python) and wheel_install.install_here(
            data,
            record.filename,
            self.file_url(record),
            record.checksum,
            record.dist_name,
            record.version,
        ):
            return
        self._install_with_installer(record, python or sys.executable)

    def _install_with_installer(self, record: PluginRecord, python: str) -> None:
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
        self,
        capability: str,
        version: str | None = None,
        python: str | None = None,
        fresh: bool = False,
        skip: Callable[[str, str], bool] | None = None,
    ) -> PluginRecord | None:
        """Install the best allowed plugin for ``capability`` (``skip``: as for ``best``);
        ``None`` if the hub has none."""
        record = self.best(capability, version, fresh=fresh, skip=skip)
        if record is not None:
            self.install(record, python)
        return record

    # -- writing -----------------------------------------------------------------------------

    def publish_generated(
        self,
        spec: PluginSpec,
        logic: GeneratedLogic,
        wheel: Path,
        owner: str,
        synthesis: dict[str, Any] | None = None,
    ) -> PluginRecord:
        """Publish a generated plugin: its spec and sources, and the sha256 of the wheel they
        built here. The hub rebuilds and re-checks it and serves its own build. ``synthesis``:
        what the synthesis cost (generator, model, rounds, tokens, seconds), for the record."""
        body: dict[str, Any] = {
            "spec": spec.model_dump(mode="json"),
            "generator": logic.generator,
            "logic_source": logic.source,
            "wheel_sha256": sha256_hex(wheel.read_bytes()),
            "owner": owner,
        }
        if synthesis is not None:
            body["synthesis"] = synthesis
        deadline = time.monotonic() + self.busy_wait_s
        delay = 1.0
        while True:  # a busy hub (503) is asked again, less and less often, until the deadline
            try:
                answer = self._call("POST", "/api/publish", body, timeout=PUBLISH_TIMEOUT_S)
                return PluginRecord.model_validate(answer)
            except HubBusyError:
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

    def publish(
        self,
        wheel: Path,
        capability: str,
        *,
        tier: Tier,
        owner: str,
        summary: str = "",
        signature_bundle: str | None = None,
    ) -> PluginRecord:
        """A maintainer's release: upload ``wheel`` to the hub's staging, then state it with
        the admin key; the hub checks the statement against the upload and records it."""
        data = wheel.read_bytes()
        dist_name, version = wheel_release(wheel.name)
        if self.next_version(dist_name, version) != Version(version).public:
            raise DuplicateVersionError(
                f"{dist_name} {version} is already on the hub (or was revoked); a name and "
                "version is never reused",
                "Build a new version",
            )
        release = PluginRelease(
            dist_name=dist_name,
            version=version,
            capability=capability,
            filename=wheel.name,
            sha256=sha256_hex(data),
            length=len(data),
            tier=tier,
            files_sha256=_files_sha256(data, wheel.name),
        )
        self._call("POST", _path("api", "uploads", wheel.name), raw=data)
        return self._state(release, owner, summary, signature_bundle)[0]

    def promote(self, plugin_id: str, tier: Tier) -> PluginRecord:
        """Change a release's tier: a statement signed with the admin key. The digest of the
        files it installs is computed here from its verified wheel, never copied from what the
        online key said."""
        record = self.show(plugin_id)
        signed = self.signed(record)
        files = _files_sha256(self._verified(record, signed)[1], record.filename)
        release = signed.release.model_copy(update={"tier": tier, "files_sha256": files})
        return self._state(release, "admin")[0]

    def revoke(self, plugin_id: str, reason: str, by: str = "cli") -> PluginRecord:
        """Revoke a release for good: a statement signed with the admin key. The near
        matches' adapters that carry its logic are revoked in the same statement: each one the
        hub lists is checked here first (its verified wheel's spec names this release, and
        its module begins with this release's logic), so a hub cannot get others revoked."""
        record = self.show(plugin_id)
        signed = self.signed(record)
        update = {"status": PluginStatus.REVOKED, "revoked_reason": reason}
        statements = [signed.release.model_copy(update=update)]
        for adapter in self._adapters_carrying(record):
            because = f"it carries the logic of {record.dist_name} {record.version}, revoked"
            statements.append(
                self.signed(adapter).release.model_copy(
                    update={"status": PluginStatus.REVOKED, "revoked_reason": because}
                )
            )
        return self._state(statements, by)[0]

    def _adapters_carrying(self, record: PluginRecord) -> list[PluginRecord]:
        """The active adapters the hub lists for ``record`` whose lineage holds here."""
        found = self._call("GET", _path("api", "plugins", record.plugin_id, "adapters"))
        listed = [PluginRecord.model_validate(r) for r in found]
        if not listed:
            return []
        original = read_published(self._verified(record)[1], record.dist_name, record.version)
        if original is None:
            return []
        carrying = []
        for adapter in listed:
            if adapter.status is not PluginStatus.ACTIVE:
                continue
            try:
                data = self._verified(adapter, self.signed(adapter))[1]
            except HubError:
                continue
            read = read_published(data, adapter.dist_name, adapter.version)
            if (
                read is not None
                and read.spec.provenance.get("near_match_of")
                == f"{record.dist_name}=={record.version}"
                and read.logic.startswith(original.logic.rstrip())
            ):
                carrying.append(adapter)
        return carrying

    def retire(self, plugin_id: str, behind_id: str, by: str = "cli") -> PluginRecord:
        """Retire a plugin behind its duplicate: a revocation signed with the admin key that
        names the plugin serving its capability instead (``alias_of``). The hub must have
        recorded the two as duplicates (``plugin-hub find-duplicates``)."""
        record, behind = self.show(plugin_id), self.show(behind_id)
        pairs = {(p.first.plugin_id, p.second.plugin_id) for p in self.duplicates()}
        if (plugin_id, behind_id) not in pairs and (behind_id, plugin_id) not in pairs:
            raise PolicyError(
                f"{record.dist_name} {record.version} and {behind.dist_name} {behind.version} "
                "are not recorded as duplicates",
                "Run plugin-hub find-duplicates HOME on the hub, then retire one of a pair it "
                "lists",
            )
        signed = self.signed(record)
        self.check_record(behind)  # the plugin kept must be one the policy installs
        update = {
            "status": PluginStatus.REVOKED,
            "revoked_reason": f"retired behind {behind.dist_name} {behind.version}: a duplicate",
            "alias_of": f"{behind.dist_name}=={behind.version}",
        }
        return self._state(signed.release.model_copy(update=update), by)[0]

    def duplicates(self) -> list[DuplicatePair]:
        """The pairs of plugins the hub found to pass each other's contract."""
        found = self._call("GET", _path("api", "duplicates"))
        return [DuplicatePair.model_validate(p) for p in found]

    def promotion_candidates(
        self, min_runs: int | None = None, min_tokens: int | None = None
    ) -> list[PromotionCandidate]:
        """The generated plugins that earned an admin's review, by the hub's usage rows."""
        query = {k: str(v) for k, v in (("min_runs", min_runs), ("min_tokens", min_tokens)) if v}
        found = self._call("GET", _path("api", "promotion-candidates", query=query))
        return [PromotionCandidate.model_validate(c) for c in found]

    def _state(
        self,
        release: PluginRelease | list[PluginRelease],
        owner: str,
        summary: str = "",
        signature_bundle: str | None = None,
    ) -> list[PluginRecord]:
        """Sign the statement of ``release`` (or several, in one document) with the admin key
        and send it; the records the hub changed."""
        stated = [
            PluginRelease.model_validate(r.model_dump())
            for r in (release if isinstance(release, list) else [release])
        ]
        body = signed_targets_change(self.trusted.admin_targets(), stated, self._admin())
        change = {
            "targets": body.decode(),
            "owner": owner,
            "summary": summary,
            "signature_bundle": signature_bundle,
        }
        answer = self._call("POST", "/api/metadata/targets", change)
        self.trusted.refresh(again=True)  # this client sees its own statement from now on
        return [PluginRecord.model_validate(r) for r in answer]

    def _admin(self) -> CryptoSigner:
        if self.admin_key is None:
            raise HubConfigError(
                "this needs the hub's admin key (it signs releases, promotions and revocations)",
                "Set PLANEXE_HUB_ADMIN_KEY to the admin key file, or run on the hub's machine",
            )
        try:
            key = serialization.load_pem_private_key(self.admin_key.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise HubConfigError(f"cannot read the admin key {self.admin_key}: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise HubConfigError(f"{self.admin_key} is not an ECDSA private key")
        return tuf_signer(key)

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


EXPORT_HINT = "'plugin-hub export-client HOME FOLDER' on the hub's machine writes both"
_TOKEN_FIX = {
    False: "Set PLANEXE_HUB_TOKEN to the hub's publish token: 'publish_token' in the hub "
    "home's credentials.json, or the file 'plugin-hub export-client --with-token' writes",
    True: "Set PLANEXE_HUB_TOKEN to the hub's admin token: 'api_token' in the hub home's "
    "credentials.json",
}


MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The largest API answer a client reads (a search of a thousand records is a few MiB)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """The hub's API answers where it is asked: a redirect (which would carry the token to
    another address) is an error, never followed."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)
"""No proxy from the environment (it would see the token) and no redirect."""


DOWNLOAD_DEADLINE_S = 60.0
"""The longest the download of one wheel may take, from connecting to its last byte."""


def _read_within(response: Any, deadline: float, cap: int) -> bytes:
    """The answer's body, read in chunks: ``HubUnavailableError`` past ``deadline`` (a hub
    that drips its answer) and ``HubError`` past ``cap`` bytes."""
    chunks, size = [], 0
    while chunk := response.read1(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise HubError(f"the hub's answer is larger than {cap // (1024 * 1024)} MiB")
        if time.monotonic() > deadline:
            raise HubUnavailableError("the hub did not finish its answer in time")
        chunks.append(chunk)
    return b"".join(chunks)


def _token(token: str | None, admin: bool) -> str | None:
    """``PLANEXE_HUB_TOKEN`` without surrounding white space (a file read with ``$(cat)``
    may keep a carriage return); ``HubConfigError``, never echoing it, when it holds what
    no token has."""
    token = (token or "").strip()
    if not token:
        return None
    if not all("!" <= c <= "~" for c in token):
        raise HubConfigError(
            "PLANEXE_HUB_TOKEN holds characters no token has (spaces, control characters or "
            "non-ASCII letters)",
            _TOKEN_FIX[admin],
        )
    return token


def api_url(url: str) -> str:
    """``url`` (``PLANEXE_HUB_URL``) without a trailing slash; ``HubConfigError`` when it is
    not an http(s) address of a host and port, or holds credentials."""
    url = url.strip()
    if not url.isprintable() or any(c.isspace() for c in url):
        raise HubConfigError(
            "PLANEXE_HUB_URL holds spaces or control characters",
            "Write it as http://HOST:PORT, the API's address 'plugin-hub serve' prints",
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise HubConfigError(
            f"PLANEXE_HUB_URL {url[:120]!r} is not a URL",
            "Write it as http://HOST:PORT, the API's address 'plugin-hub serve' prints",
        ) from None
    if parts.username is not None or parts.password is not None:
        raise HubConfigError(
            "PLANEXE_HUB_URL holds credentials: the hub takes none there",
            "Give it as http://HOST:PORT and the token in PLANEXE_HUB_TOKEN",
        )
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number in range)
    except ValueError:
        raise HubConfigError(
            f"PLANEXE_HUB_URL {url[:120]!r} has no valid port",
            "Write it as http://HOST:PORT, the API's address 'plugin-hub serve' prints",
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HubConfigError(
            f"PLANEXE_HUB_URL {url[:120]!r} is not an http(s) address",
            f"Write it with its scheme, e.g. http://{url.strip()[:80]}"
            if "://" not in url
            else "Write it as http://HOST:PORT, the API's address 'plugin-hub serve' prints",
        )
    return url.rstrip("/")


def _files_sha256(data: bytes, filename: str) -> str:
    try:
        return wheel_files_sha256(data)
    except zipfile.BadZipFile as exc:
        raise VerificationError(f"{filename} is not a wheel: {exc}") from None


def wheel_release(filename: str) -> tuple[str, str]:
    """The distribution name and version a wheel's file name states; ``HubError`` if it is
    not a wheel file name."""
    try:
        name, version, *_ = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise HubError(
            f"{filename[:120]!r} is not a wheel file name: {exc}",
            "Give the wheel under the name its build gave it",
        ) from None
    return str(name), str(version)


def _matched(record: PluginRecord, signed: SignedRelease) -> SignedRelease:
    """``signed`` if the record says what it states, else ``VerificationError``."""
    release = signed.release
    for what, said, stated in (
        ("capability", record.capability, release.capability),
        ("file", record.filename, release.filename),
        ("sha256", record.checksum, release.sha256),
    ):
        if said != stated:
            raise VerificationError(
                f"the hub's record of {record.dist_name} {record.version} says {what} "
                f"{said[:80]!r}, but its signed metadata says {stated[:80]!r}: refusing it"
            )
    return signed


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
