"""The hub end to end on loopback: real pypiserver, real uploads, real installs, and every
refusal the trust model promises."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub_client import client as client_module
from hub_client.bundles import sha256_hex
from hub_client.client import PluginHubClient
from hub_client.errors import (
    HubConfigError,
    HubError,
    HubUnavailableError,
    PolicyError,
    VerificationError,
)
from hub_client.metadata_client import TrustedReleases
from hub_client.records import PluginRecord
from hub_index.home import init_home
from hub_index.server import RunningHub, embedded_hub
from hub_index.signing import HubKeySigner, generate_key
from plan_pipeline.trust import Tier
from synthesizer.build import build_project
from synthesizer.codegen import GeneratedLogic
from synthesizer.render import render_project
from synthesizer.rules_codegen import RulesCodeGenerator
from tests.hub_index.conftest import (
    area_spec,
    build_wheel,
    dripping_server,
    maintainer_wheel,
    publish_generated,
)
from tests.synthesizer.conftest import example_specs
from tests.synthesizer.llm_helpers import STATEFUL_FIRST_CALL_RISK

SHARED = Path(__file__).parents[1] / "data" / "sigstore-production"
"""A wheel and its keyless bundle, signed through the public Sigstore instance."""


def _sql(hub: RunningHub, statement: str, **params: object) -> None:
    engine = sa.create_engine(hub.home.settings().database_url)
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()


def _publish(client: PluginHubClient, tmp_path: Path, **kw: str) -> tuple[Path, PluginRecord]:
    return publish_generated(client, tmp_path, **kw)


def _served(hub: RunningHub) -> list[str]:
    return sorted(p.name for p in hub.home.packages.iterdir())


def _pip(hub: RunningHub, python: str, requirement: str) -> subprocess.CompletedProcess[str]:
    """Plain pip, as the README shows it: the hub's /simple/ as the only index."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "--isolated", "install",
         "--no-deps", "--index-url", hub.simple_url, requirement],
        capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null"},
    )  # fmt: skip


def test_publish_records_a_signed_verified_plugin(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    wheel, record = _publish(client, tmp_path)
    assert record.dist_name == "planexe-gen-geometry-area"
    assert record.signer_identity == hub.home.signer_identity()
    signed = client.signed(record)
    assert (signed.tier, signed.admin_signed) == (Tier.GENERATED, False)
    (report,) = sa_reports(hub, record.plugin_id)
    assert signed.release.report_sha256 == sha256_hex(report.encode())
    assert json.loads(report)["generator"] == "rules"  # the hub's own run of the gates
    assert json.loads(record.signature_bundle)["mediaType"].endswith("v0.3+json")
    assert (hub.home.packages / wheel.name).read_bytes() == wheel.read_bytes()
    assert client.verify(record, wheel.read_bytes()) == record.signer_identity
    assert [r.plugin_id for r in client.records("geometry.area")] == [record.plugin_id]
    # the index links carry the sha256 and never fall back to a public index
    with urllib.request.urlopen(hub.simple_url + "planexe-gen-geometry-area/") as page:
        assert f"#sha256={record.checksum}" in page.read().decode()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(hub.simple_url + "requests/")
    assert missing.value.code == 404


def test_plain_pip_install_from_the_hub_then_discovery(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path, fresh_python: str
) -> None:
    _publish(client, tmp_path)
    proc = _pip(hub, fresh_python, "planexe-gen-geometry-area")
    assert proc.returncode == 0, proc.stderr
    listed = subprocess.run(
        [fresh_python, "-m", "plan_pipeline.cli", "capabilities"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "geometry.area: planexe-gen-geometry-area 1.0.0" in listed


def test_fetch_installs_pinned_from_the_hub(
    client: PluginHubClient, tmp_path: Path, fresh_python: str
) -> None:
    _, record = _publish(client, tmp_path)
    fetched = client.fetch("geometry.area", ">=1.0", python=fresh_python)
    assert fetched is not None and fetched.plugin_id == record.plugin_id
    assert (client.cache_dir / record.checksum / record.filename).is_file()  # type: ignore[operator]
    out = subprocess.run(
        [fresh_python, "-c", "import importlib.metadata as m; print(m.version("
         "'planexe-gen-geometry-area'))"], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == "1.0.0"


def test_wheel_changed_by_one_byte_in_the_index_is_refused(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path, fresh_python: str
) -> None:
    wheel, record = _publish(client, tmp_path)
    served = hub.home.packages / wheel.name
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 0x01
    served.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="does not have the sha256 of its record"):
        client.install(record, python=fresh_python)


def test_bundle_from_another_key_is_refused(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    wheel, record = _publish(client, tmp_path)
    other = HubKeySigner(generate_key(tmp_path / "other.pem"))
    _sql(hub, "UPDATE plugin_hub_plugins SET signature_bundle = :b WHERE plugin_id = :p",
         b=other.sign(wheel.read_bytes()), p=record.plugin_id)  # fmt: skip
    with pytest.raises(VerificationError, match="key the trust policy does not accept"):
        client.download(client.show(record.plugin_id))


def test_bundle_of_another_identity_is_refused(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = _publish(client, tmp_path)
    keyless = (SHARED / "rfc8785-0.1.2-py3-none-any.whl.sigstore.json").read_text()
    _sql(hub, "UPDATE plugin_hub_plugins SET signature_bundle = :b WHERE plugin_id = :p",
         b=keyless, p=record.plugin_id)  # fmt: skip
    with pytest.raises(VerificationError, match="keyless bundles are not accepted"):
        client.download(client.show(record.plugin_id))


def test_missing_bundle_is_refused(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = _publish(client, tmp_path)
    _sql(hub, "UPDATE plugin_hub_plugins SET signature_bundle = '' WHERE plugin_id = :p",
         p=record.plugin_id)  # fmt: skip
    with pytest.raises(VerificationError, match="no signature bundle"):
        client.download(client.show(record.plugin_id))


def test_record_checksum_differing_from_the_artifact_is_refused(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = _publish(client, tmp_path)
    _sql(hub, "UPDATE plugin_hub_plugins SET checksum = :c WHERE plugin_id = :p",
         c="0" * 64, p=record.plugin_id)  # fmt: skip
    with pytest.raises(VerificationError, match=r"says sha256 '0000.*signed metadata says"):
        client.download(client.show(record.plugin_id))


def test_revoked_plugin_is_refused_and_its_version_never_reused(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path, fresh_python: str
) -> None:
    wheel, record = _publish(client, tmp_path)
    revoked = client.revoke(record.plugin_id, "wrong risk thresholds")
    assert revoked.trust_tier is Tier.QUARANTINED
    with pytest.raises(VerificationError, match="revoked in the hub's signed metadata: wrong"):
        client.install(client.show(record.plugin_id))
    assert client.best("geometry.area") is None
    # the file left the served folder: plain pip cannot install it, not even by ===
    assert _served(hub) == []
    assert (hub.home.revoked / wheel.name).is_file()
    assert _pip(hub, fresh_python, "planexe-gen-geometry-area===1.0.0").returncode != 0
    # never reused, under any spelling PEP 440 makes equal, local versions refused
    for spelling in ("1.0.0", "1.0", "1.0.0.0"):
        with pytest.raises(HubError, match="never reused"):
            _publish(client, tmp_path / spelling, version=spelling)
    spec = area_spec().model_dump(mode="json") | {"version": "1.0.0+fix"}
    local = {"spec": spec, "generator": "rules", "logic_source": "", "wheel_sha256": "0" * 64,
             "owner": "w"}  # fmt: skip
    with pytest.raises(HubError, match=r"HTTP 400.*spec.version"):
        client._call("POST", "/api/publish", local)
    assert client.next_version("planexe-gen-geometry-area", "1.0.0") == "1.0.1"


def test_tier_the_policy_does_not_allow_is_refused(client: PluginHubClient, tmp_path: Path) -> None:
    _, record = _publish(client, tmp_path)
    client.policy = client.policy.model_copy(update={"auto_install_tiers": [Tier.CORE]})
    with pytest.raises(PolicyError, match="does not install tier 'generated'"):
        client.install(record)
    assert client.best("geometry.area") is None
    promoted = client.promote(record.plugin_id, Tier.CORE)
    assert promoted.trust_tier is Tier.CORE
    assert client.best("geometry.area") is not None


def test_a_lying_hub_cannot_raise_a_tier_unrevoke_or_move_a_capability(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    """The records behind the API say what an attacker wants; the signed metadata wins."""
    strict = client.policy.model_copy(update={"auto_install_tiers": [Tier.CORE, Tier.VERIFIED]})
    _, record = _publish(client, tmp_path)
    client.policy = strict
    _sql(hub, "UPDATE plugin_hub_plugins SET trust_tier = 'core'")
    assert client.show(record.plugin_id).trust_tier is Tier.CORE  # the lie
    assert client.best("geometry.area") is None
    with pytest.raises(PolicyError, match="does not install tier 'generated'"):
        client.install(client.show(record.plugin_id))

    _, other = _publish(client, tmp_path, capability="geometry.volume")
    client.revoke(other.plugin_id, "malicious")
    _sql(hub, "UPDATE plugin_hub_plugins SET status = 'active', trust_tier = 'core' "
              "WHERE plugin_id = :p", p=other.plugin_id)  # fmt: skip
    with pytest.raises(VerificationError, match="revoked in the hub's signed metadata"):
        client.install(client.show(other.plugin_id))

    # a record no key signed is no candidate, and blocks nothing
    _sql(hub, "INSERT INTO plugin_hub_plugins SELECT 'unsigned', capability, '9.0.0', dist_name, "
              "filename, checksum, 'core', owner, signer_identity, signature_bundle, summary, "
              "created_at, 'active', NULL FROM plugin_hub_plugins WHERE plugin_id = :p",
         p=record.plugin_id)  # fmt: skip
    client.policy = client.policy.model_copy(
        update={"auto_install_tiers": [Tier.CORE, Tier.VERIFIED, Tier.GENERATED]}
    )
    best = client.best("geometry.area")
    assert best is not None and best.plugin_id == record.plugin_id
    # many records no key signed cost one refresh of the metadata, not one each
    for i in range(20):
        _sql(hub, "INSERT INTO plugin_hub_plugins SELECT :i, capability, :v, dist_name, "
                  "filename, checksum, 'core', owner, signer_identity, signature_bundle, "
                  "summary, created_at, 'active', NULL FROM plugin_hub_plugins "
                  "WHERE plugin_id = :p", i=f"unsigned-{i}", v=f"9.1.{i}",
             p=record.plugin_id)  # fmt: skip
    refreshes = []
    real_refresh = TrustedReleases.refresh

    def counted(self: TrustedReleases, again: bool = False) -> None:
        refreshes.append(again)
        real_refresh(self, again)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TrustedReleases, "refresh", counted)
        best = client.best("geometry.area")
    assert best is not None and best.plugin_id == record.plugin_id
    assert refreshes.count(True) == 1
    _sql(hub, "UPDATE plugin_hub_plugins SET capability = 'budget.rollup' WHERE plugin_id = :p",
         p=record.plugin_id)  # fmt: skip
    assert client.best("budget.rollup") is None  # candidates come from the signed metadata
    with pytest.raises(VerificationError, match=r"says capability 'budget\.rollup'"):
        client.best("geometry.area")


def test_a_hub_withholding_the_newest_record_gets_no_older_release_installed(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    """Candidates and versions come from the signed targets: the hub drops its record of
    the newest release, and the client refuses rather than install the older one."""
    _publish(client, tmp_path)
    _, newest = _publish(client, tmp_path, version="1.0.1")
    best = client.best("geometry.area")
    assert best is not None and best.plugin_id == newest.plugin_id
    _sql(hub, "DELETE FROM plugin_hub_plugins WHERE plugin_id = :p", p=newest.plugin_id)
    with pytest.raises(VerificationError, match=r"withholds its record of .* 1\.0\.1"):
        client.best("geometry.area", fresh=True)
    with pytest.raises(VerificationError, match="withholds its record"):
        client.fetch("geometry.area", fresh=True)
    assert client.best("geometry.area", "<1.0.1") is not None  # asked for, the older one


def test_a_wheel_dripped_by_the_hub_is_given_up_at_the_deadline(
    client: PluginHubClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each byte of the head and body comes within any socket timeout; the download as a
    whole has a deadline (here 2 s)."""
    _, record = _publish(client, tmp_path)
    server, url = dripping_server()
    monkeypatch.setattr(client_module, "DOWNLOAD_DEADLINE_S", 2.0)
    monkeypatch.setattr(PluginHubClient, "file_url", lambda _self, _record: url + "x.whl")
    try:
        started = time.monotonic()
        with pytest.raises(HubUnavailableError, match=r"did not send .* within 2 s"):
            client.download(record)
        assert time.monotonic() - started < 10
    finally:
        server.shutdown()
        server.server_close()


def test_a_worker_token_gets_no_unchecked_code_signed(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    worker = PluginHubClient.from_home(hub.home, role="publish")
    worker.cache_dir = tmp_path / "worker-cache"
    spec = area_spec()
    # a malicious logic module: the hub's own gates refuse it, nothing is signed or recorded
    evil = GeneratedLogic(generator="rules", source="import os\n\ndef compute(input):\n"
                          "    os.system('id')\n    return {'area': 1}\n")  # fmt: skip
    folder = tmp_path / "evil"
    wheel = build_project(render_project(spec, evil, folder / "src"), folder / "dist").wheel
    with pytest.raises(HubError, match=r"HTTP 422.*the hub's own gates refused"):
        worker.publish_generated(spec, evil, wheel, owner="worker")
    # an honest spec and logic with another (ungated) wheel: the rebuild differs, refused
    honest = RulesCodeGenerator().generate(spec)
    other = maintainer_wheel(tmp_path, dist="planexe-gen-geometry-area")
    with pytest.raises(HubError, match="not what its spec and sources build"):
        worker.publish_generated(spec, honest, other, owner="worker")
    # no route for a worker's wheel: uploads and signed statements are admin-only
    for call in (
        lambda: worker._call("POST", "/api/uploads/" + wheel.name, raw=wheel.read_bytes()),
        lambda: worker._call("POST", "/api/metadata/targets", {"targets": "{}", "owner": "w"}),
        lambda: worker._call("POST", "/api/plugins", {"filename": wheel.name}),
    ):
        with pytest.raises(HubError, match=r"HTTP (403|404|405)"):
            call()
    assert client.records("geometry.area") == [] and _served(hub) == []
    assert set(json.loads(hub.home.credentials_file.read_text())) == {"api_token", "publish_token"}


def test_a_publish_token_holder_gets_no_plugin_that_lies_after_its_first_call_signed(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    """Right while the first input it saw was golden example 1, "1, low" otherwise: the
    hub's own gate sends a generated input first, so it refuses the plugin."""
    worker = PluginHubClient.from_home(hub.home, role="publish")
    worker.cache_dir = tmp_path / "worker-cache"
    spec = example_specs()["risk.score_matrix"]
    stateful = GeneratedLogic(generator="rules", source=STATEFUL_FIRST_CALL_RISK)
    built = build_project(render_project(spec, stateful, tmp_path / "src"), tmp_path / "dist")
    with pytest.raises(HubError, match=r"HTTP 422.*the hub's own gates refused") as refused:
        worker.publish_generated(spec, stateful, built.wheel, owner="mallory")
    assert "contract_tests" in str(refused.value)
    assert client.records("risk.score_matrix") == [] and _served(hub) == []


def test_two_capabilities_cannot_share_one_distribution(
    client: PluginHubClient, tmp_path: Path
) -> None:
    publish_generated(client, tmp_path, capability="risk.score_matrix")
    with pytest.raises(HubError, match=r"already provides 'risk\.score_matrix'"):
        publish_generated(client, tmp_path / "other", capability="risk_score.matrix")


def test_the_index_takes_no_upload_and_serves_only_recorded_files(
    tmp_path: Path, fresh_python: str
) -> None:
    wheel = build_wheel(tmp_path)
    home = init_home(tmp_path / "hub")
    body = b'--x\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n--x--\r\n'
    with embedded_hub(home) as hub:
        for auth in (None, "hub-uploader:guess"):
            request = urllib.request.Request(hub.index_url + "/", data=body, method="POST")
            request.add_header("Content-Type", "multipart/form-data; boundary=x")
            if auth:
                encoded = base64.b64encode(auth.encode()).decode()
                request.add_header("Authorization", "Basic " + encoded)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request)
            assert refused.value.code in (401, 403)
        # a wheel placed in the served folder by hand while the hub runs: never listed or
        # served, not only after a restart
        (home.packages / wheel.name).write_bytes(wheel.read_bytes())
        with urllib.request.urlopen(hub.index_url + "/simple/") as listing:
            assert b"planexe-gen-geometry-area" not in listing.read()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{hub.index_url}/packages/{wheel.name}")
        assert missing.value.code == 404
        assert _pip(hub, fresh_python, "planexe-gen-geometry-area").returncode != 0
    # a file dropped into the served folder behind the hub's back (or left by a crash)
    (home.packages / wheel.name).write_bytes(wheel.read_bytes())
    with embedded_hub(home) as restarted:
        assert _served(restarted) == []
        assert _pip(restarted, fresh_python, "planexe-gen-geometry-area").returncode != 0


@pytest.mark.parametrize(
    ("ports", "said"),
    [((18808, 18808), "are both 18808"), ((0, "taken"), "the port is in use")],
)
def test_ports_that_cannot_serve_are_one_configuration_error(
    tmp_path: Path, ports: tuple[int, int | str], said: str
) -> None:
    home = init_home(tmp_path / "hub")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api_port = taken.getsockname()[1] if ports[1] == "taken" else ports[1]
        with (
            pytest.raises(HubConfigError, match=said),
            embedded_hub(home, index_port=ports[0], api_port=int(api_port)),
        ):
            pass
    assert not home.serve_file.exists()


def test_a_served_home_is_not_served_twice(hub: RunningHub) -> None:
    """The second hub is refused before it touches anything; the first keeps serving."""
    before = hub.home.serve_file.read_text()
    with pytest.raises(HubConfigError, match="is already being served"), embedded_hub(hub.home):
        pass
    assert hub.home.serve_file.read_text() == before
    assert PluginHubClient.from_home(hub.home).search() == []


def test_maintainer_releases_are_admin_signed_and_names_are_guarded(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    wheel = maintainer_wheel(tmp_path)
    record = client.publish(wheel, "geometry.area", tier=Tier.VERIFIED, owner="maintainer")
    signed = client.signed(record)
    assert (signed.tier, signed.admin_signed) == (Tier.VERIFIED, True)
    assert _served(hub) == [wheel.name]
    refusals = {
        "planexe-plugin-hub": "the name of this project or of a PlanExe host",
        "planexe": "the name of this project or of a PlanExe host",
        "planexe-gen-geometry-area": "generated namespace",
    }
    for dist, message in refusals.items():
        with pytest.raises(HubError, match=message):
            client.publish(maintainer_wheel(tmp_path, dist=dist), "geometry.area",
                           tier=Tier.CORE, owner="m")  # fmt: skip
    with pytest.raises(HubError, match="local version label"):
        client.publish(maintainer_wheel(tmp_path, version="2.0.0+x"), "geometry.area",
                       tier=Tier.CORE, owner="m")  # fmt: skip
    with pytest.raises(HubError, match="tiers core and verified"):
        client.publish(maintainer_wheel(tmp_path, version="3.0.0"), "geometry.area",
                       tier=Tier.GENERATED, owner="m")  # fmt: skip
    other = maintainer_wheel(tmp_path, version="4.0.0")
    client._call("POST", f"/api/uploads/{other.name}", raw=other.read_bytes())
    bogus = signed.release.model_copy(
        update={"version": "4.0.0", "filename": other.name, "length": other.stat().st_size,
                "sha256": sha256_hex(other.read_bytes()), "files_sha256": "0" * 64}
    )  # fmt: skip
    with pytest.raises(HubError, match="does not state the digest of its wheel's files"):
        client._state(bogus, "m")
    no_key = PluginHubClient.from_home(hub.home)
    no_key.admin_key = None
    with pytest.raises(HubError, match="needs the hub's admin key"):
        no_key.promote(record.plugin_id, Tier.CORE)


def test_api_writes_need_a_token(client: PluginHubClient, hub: RunningHub) -> None:
    body = json.dumps({"capability": "x.y", "holder": "h"}).encode()
    request = urllib.request.Request(hub.api_url + "/api/claims", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as no_token:
        urllib.request.urlopen(request)
    assert no_token.value.code == 401
    request.add_header("Authorization", "Bearer not-the-token")
    with pytest.raises(urllib.error.HTTPError) as wrong:
        urllib.request.urlopen(request)
    assert wrong.value.code == 403
    assert client.claim("x.y", "h") is True


def test_hub_on_postgresql_publishes_and_serves(
    tmp_path: Path, pg_admin: tuple[sa.Engine, sa.URL], fresh_python: str
) -> None:
    admin, url = pg_admin
    schema = f"hub_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
    home = init_home(tmp_path / "hub", scoped.render_as_string(hide_password=False))
    assert home.settings().database_url.startswith("postgresql+psycopg://")
    with embedded_hub(home) as running:
        client = PluginHubClient.from_home(running.home)
        client.cache_dir = tmp_path / "cache"
        _, record = _publish(client, tmp_path)
        assert client.fetch("geometry.area", python=fresh_python) is not None
    with admin.connect() as conn:
        stored = conn.exec_driver_sql(
            f'SELECT checksum FROM "{schema}".plugin_hub_plugins'
        ).scalar_one()
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    assert stored == record.checksum


def test_publish_token_cannot_promote_revoke_or_publish_higher_tiers(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = _publish(client, tmp_path)
    pipeline = PluginHubClient.from_home(hub.home, role="publish")
    pipeline.admin_key = hub.home.admin_key  # even with the key, the token is refused
    pipeline.cache_dir = tmp_path / "pipeline-cache"
    for call in (
        lambda: pipeline.promote(record.plugin_id, Tier.CORE),
        lambda: pipeline.revoke(record.plugin_id, "mine now"),
        lambda: pipeline.publish(
            maintainer_wheel(tmp_path, version="2.0.0"), "geometry.area", tier=Tier.CORE, owner="w"
        ),
    ):
        with pytest.raises(HubError, match=r"HTTP 403.*'admin' scope"):
            call()
    assert client.show(record.plugin_id).trust_tier is Tier.GENERATED
    assert pipeline.claim("geometry.area", "worker") is True


def sa_reports(hub: RunningHub, plugin_id: str) -> list[str]:
    engine = sa.create_engine(hub.home.settings().database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT report_json FROM plugin_hub_test_reports WHERE plugin_id = :p"),
            {"p": plugin_id},
        ).scalars()
        found = list(rows)
    engine.dispose()
    return found


def test_record_with_a_foreign_file_name_is_refused(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = _publish(client, tmp_path)
    _sql(hub, "UPDATE plugin_hub_plugins SET filename = :f WHERE plugin_id = :p",
         f="../../../tmp/evil-1.0.0-py3-none-any.whl", p=record.plugin_id)  # fmt: skip
    with pytest.raises(VerificationError, match=r"says file '\.\./\.\./\.\./tmp/evil"):
        client.download(client.show(record.plugin_id))
