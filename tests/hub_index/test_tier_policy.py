"""The registry's tiers from the hub: signed, and bound to the files of the wheel the tier was
signed for, never to what an installed distribution writes about itself."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import py_compile
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from uv import find_uv_bin

from hub_client.client import PluginHubClient
from hub_client.records import PluginRecord
from hub_client.tier_policy import HubTierPolicy
from hub_index.server import RunningHub
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.trust import Tier
from tests.hub_index.conftest import maintainer_wheel, publish_generated
from tests.plugin_factory import PluginSource, build_plugin_wheel, install_plugin

WORDY = "planexe-plugin-wordy"
MODULE = "planexe_plugin_wordy"


def _installed(wheel: Path, target: Path, installer: str) -> Path:
    """``wheel`` installed into ``target`` by pip or uv as from an index of its own (no
    install record is written for it: what the wheel holds stays)."""
    dist_name, version = wheel.name.split("-")[:2]
    requirement = f"{dist_name}=={version}"
    if installer == "pip":
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    else:
        command = [find_uv_bin(), "pip", "install", "--quiet", "--no-deps", "--python",
                   sys.executable]  # fmt: skip
    command += ["--no-index", "--find-links", str(wheel.parent), "--target", str(target)]
    done = subprocess.run([*command, requirement], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return target


def _with_member(wheel: Path, name: str, data: bytes, out: Path) -> Path:
    """A copy of ``wheel`` in ``out`` with one more member, listed in its RECORD."""
    out.mkdir(parents=True)
    copy = out / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(copy, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                content += f"{name},sha256={digest.decode()},{len(data)}\n".encode()
                target.writestr(name, data)
            target.writestr(info, content)
    return copy


def _forged(client: PluginHubClient, record: PluginRecord, tmp_path: Path) -> Path:
    """Another wheel of the signed name and version, built by anyone, whose install record
    names the signed wheel: its URL on the hub and its sha256."""
    source = PluginSource(dist=WORDY, module=MODULE, capabilities={"text.wordy": "{'stolen': 1}"})
    built = build_plugin_wheel(tmp_path / "forger" / "src", source, tmp_path / "forger" / "dist")
    hashes = {"sha256": record.checksum}
    direct = {"url": client.file_url(record), "archive_info": {"hashes": hashes}}
    info = f"{WORDY.replace('-', '_')}-1.0.0.dist-info/direct_url.json"
    return _with_member(built, info, json.dumps(direct).encode(), tmp_path / "forged")


@pytest.fixture
def wordy(client: PluginHubClient, hub: RunningHub, tmp_path: Path) -> tuple[Path, PluginRecord]:
    """A maintainer's release, published ``verified``, and its wheel as the hub serves it."""
    wheel = maintainer_wheel(tmp_path, dist=WORDY, capability="text.wordy")
    record = client.publish(wheel, "text.wordy", tier=Tier.VERIFIED, owner="maintainers")
    return client.download(record), record


def _tier(client: PluginHubClient, site: Path, monkeypatch: pytest.MonkeyPatch) -> Tier:
    with monkeypatch.context() as patched:
        patched.syspath_prepend(str(site))
        return CapabilityRegistry(HubTierPolicy(client)).select("text.wordy").tier


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_a_wheel_forging_the_signed_install_record_is_not_trusted(
    client: PluginHubClient,
    wordy: tuple[Path, PluginRecord],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    installer: str,
) -> None:
    """The signed wheel installed by pip or uv runs in-process as ``verified``; another wheel of
    the same name and version whose ``direct_url.json`` names the signed sha256 is
    ``generated``: it runs in a sandboxed worker, not in the pipeline's process."""
    signed, record = wordy
    genuine = _installed(signed, tmp_path / "genuine", installer)
    assert _tier(client, genuine, monkeypatch) is Tier.VERIFIED
    forged = _installed(_forged(client, record, tmp_path), tmp_path / "impostor", installer)
    info = forged / f"{WORDY.replace('-', '_')}-1.0.0.dist-info"
    assert record.checksum in (info / "direct_url.json").read_text()  # the forgery is in place
    assert _tier(client, forged, monkeypatch) is Tier.GENERATED
    with monkeypatch.context() as patched:
        patched.syspath_prepend(str(forged))
        registry = CapabilityRegistry(HubTierPolicy(client))
        loaded = registry.load("text.wordy")
        try:
            assert loaded.worker is not None  # sandboxed
            assert MODULE not in sys.modules
        finally:
            registry.close()


def test_the_signed_files_changed_or_joined_by_bytecode_or_a_module_are_not_trusted(
    client: PluginHubClient,
    wordy: tuple[Path, PluginRecord],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What Python would run is what is checked: a source edited after the install, bytecode
    planted for an unchanged source (an unchecked hash-based ``.pyc`` is never compared with
    its source by Python), and a module the signed wheel does not hold, in its RECORD."""
    signed, _ = wordy

    def installed(name: str, wheel: Path = signed) -> Path:
        return _installed(wheel, tmp_path / name, "pip")

    edited = installed("edited")
    source = edited / MODULE / "__init__.py"
    source.write_text(source.read_text() + "\nSTOLEN = 1\n")
    assert _tier(client, edited, monkeypatch) is Tier.GENERATED

    compiled = installed("compiled")  # bytecode that is the source's own is fine
    source = compiled / MODULE / "__init__.py"
    py_compile.compile(str(source), doraise=True)
    assert _tier(client, compiled, monkeypatch) is Tier.VERIFIED
    planted = tmp_path / "planted.py"
    planted.write_text("import os\nSTOLEN = os.environ.get('PLANEXE_HUB_TOKEN')\n")
    py_compile.compile(
        str(planted),
        cfile=importlib.util.cache_from_source(str(source)),
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        doraise=True,
    )
    assert _tier(client, compiled, monkeypatch) is Tier.GENERATED

    extra = _with_member(signed, f"{MODULE}/helper.py", b"STOLEN = 1\n", tmp_path / "extra")
    assert _tier(client, installed("extended", extra), monkeypatch) is Tier.GENERATED

    # files no RECORD lists, which Python imports first: a package folder beside a module,
    # or any file beside the signed ones (as another distribution would plant them)
    shadowed = installed("shadowed")
    assert _tier(client, shadowed, monkeypatch) is Tier.VERIFIED
    (shadowed / MODULE / "__init__").mkdir()
    (shadowed / MODULE / "__init__" / "__init__.py").write_text("STOLEN = 1\n")
    assert _tier(client, shadowed, monkeypatch) is Tier.GENERATED
    beside = installed("beside")
    (beside / MODULE / "logic.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    assert _tier(client, beside, monkeypatch) is Tier.GENERATED


def test_a_promoted_tier_counts_only_for_the_files_it_was_signed_for(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generated release promoted by the admin: the promotion states the digest of the files
    computed from the verified wheel. A local build of the same name and version keeps
    ``generated``; after a revocation even the signed wheel is ``quarantined``."""
    _, record = publish_generated(client, tmp_path)
    promoted = client.promote(record.plugin_id, Tier.VERIFIED)
    assert client.signed(promoted).release.files_sha256 is not None
    local = tmp_path / "local-build"
    source = PluginSource(dist="planexe-gen-geometry-area", module="planexe_gen_geometry_area",
                          capabilities={"geometry.area": "{'area': 1}"})  # fmt: skip
    install_plugin(local, source)
    genuine = _installed(client.download(record), tmp_path / "genuine", "pip")
    for site, expected in ((local, Tier.GENERATED), (genuine, Tier.VERIFIED)):
        with monkeypatch.context() as patched:
            patched.syspath_prepend(str(site))
            assert HubTierPolicy(client).tier_of("planexe-gen-geometry-area", "1.0.0") is expected
    client.revoke(record.plugin_id, "bad")
    with monkeypatch.context() as patched:
        patched.syspath_prepend(str(genuine))
        assert HubTierPolicy(client).tier_of("planexe-gen-geometry-area", "1.0.0") is (
            Tier.QUARANTINED
        )


def test_a_distribution_borrowing_a_promoted_name_gets_no_tier(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's wheel is installed, and beside it another distribution whose METADATA takes
    the same name and version: it is not listed at all; and asked about directly, the tier
    policy checks that very distribution, which does not hold the signed files."""
    _, record = publish_generated(client, tmp_path)
    client.promote(record.plugin_id, Tier.VERIFIED)
    real = _installed(client.download(record), tmp_path / "real", "pip")
    impostor = tmp_path / "impostor"
    source = PluginSource(dist="impostor", module="impostor_mod",
                          capabilities={"geometry.perimeter": "{'p': 1}"})  # fmt: skip
    install_plugin(impostor, source)
    info = impostor / "impostor-1.0.0.dist-info"
    meta = info / "METADATA"
    meta.write_text(meta.read_text().replace("Name: impostor", "Name: planexe-gen-geometry-area"))
    monkeypatch.syspath_prepend(str(impostor))
    monkeypatch.syspath_prepend(str(real))
    registry = CapabilityRegistry(HubTierPolicy(client))
    assert registry.select("geometry.area").tier is Tier.VERIFIED
    assert not registry.has("geometry.perimeter")
    assert any("impostor-1.0.0.dist-info: its METADATA names" in line for line in registry.ignored)
    borrowed = metadata.PathDistribution(info)
    tiers = HubTierPolicy(client)
    assert tiers.tier_of("planexe-gen-geometry-area", "1.0.0", borrowed) is Tier.GENERATED
    assert tiers.tier_of("planexe-gen-geometry-area", "1.0.0") is Tier.VERIFIED


def test_a_release_stated_above_generated_without_the_digest_runs_sandboxed_and_says_so(
    client: PluginHubClient,
    hub: RunningHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A promotion signed before statements carried the files' digest (an older hub took it
    without): the installed wheel cannot be bound to it, so it ranks generated, with one
    warning that names the fix."""
    from hub_client.release_metadata import signed_targets_change

    _, record = publish_generated(client, tmp_path)
    signed = client.signed(record)
    older = signed.release.model_copy(update={"tier": Tier.VERIFIED, "files_sha256": None})
    body = signed_targets_change(client.trusted.admin_targets(), [older], client._admin())
    assert hub.service is not None
    hub.service.metadata.accept_targets(body)  # as an older hub accepted it
    client.trusted.refresh(again=True)  # as a new process would see it
    genuine = _installed(client.download(record), tmp_path / "genuine", "pip")
    with monkeypatch.context() as patched:
        patched.syspath_prepend(str(genuine))
        tiers = HubTierPolicy(client)
        assert tiers.tier_of("planexe-gen-geometry-area", "1.0.0") is Tier.GENERATED
        assert tiers.tier_of("planexe-gen-geometry-area", "1.0.0") is Tier.GENERATED
    warned = capsys.readouterr().err
    assert warned.count("without the digest of its files") == 1
    assert "plugin-hub promote" in warned
