"""The hub end to end on loopback: real pypiserver, real uploads, real installs, and every
refusal the trust model promises."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub_index.client import PluginHubClient
from hub_index.errors import HubError, PolicyError, VerificationError
from hub_index.home import init_home
from hub_index.server import RunningHub, embedded_hub
from hub_index.signing import HubKeySigner, generate_key, sha256_hex
from plan_pipeline.trust import Tier
from tests.hub_index.conftest import build_wheel

SHARED = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "sigstore-production"


def _sql(hub: RunningHub, statement: str, **params: object) -> None:
    engine = sa.create_engine(hub.home.settings().database_url)
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()


def _publish(client: PluginHubClient, tmp_path: Path, tier: Tier = Tier.GENERATED, **kw: str):  # type: ignore[no-untyped-def]
    wheel = build_wheel(tmp_path, **kw)
    return wheel, client.publish(wheel, kw.get("capability", "geometry.area"), tier=tier,
                                 owner="test")  # fmt: skip


def test_publish_records_a_signed_verified_plugin(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    wheel, record = _publish(client, tmp_path)
    assert record.dist_name == "planexe-gen-geometry-area"
    assert record.signer_identity == hub.home.signer_identity()
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
    # plain pip (this environment's, aimed at the fresh interpreter), the hub as only index
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", fresh_python, "--isolated", "install",
         "--no-deps", "--index-url", hub.simple_url, "planexe-gen-geometry-area"],
        capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null"},
    )  # fmt: skip
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
    with pytest.raises(VerificationError, match=r"does not have the sha256 of its record \(0000"):
        client.download(client.show(record.plugin_id))


def test_revoked_plugin_is_refused_and_its_version_never_reused(
    client: PluginHubClient, tmp_path: Path
) -> None:
    wheel, record = _publish(client, tmp_path)
    revoked = client.revoke(record.plugin_id, "wrong risk thresholds")
    assert revoked.trust_tier is Tier.QUARANTINED
    with pytest.raises(VerificationError, match="is revoked: wrong risk thresholds"):
        client.install(client.show(record.plugin_id))
    assert client.best("geometry.area") is None
    with pytest.raises(HubError, match="never reused"):
        client.publish(wheel, "geometry.area", tier=Tier.GENERATED, owner="test")
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


def test_upload_without_or_with_wrong_credentials(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path)
    anonymous = PluginHubClient(client.api_url, client.policy, client.policy_base,
                                upload_user="nobody", upload_password="")  # fmt: skip
    with pytest.raises(HubError, match="no upload credentials"):
        anonymous.upload(wheel)
    # the index itself answers 401 to an upload without credentials
    request = urllib.request.Request(hub.index_url + "/", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as no_auth:
        urllib.request.urlopen(request)
    assert no_auth.value.code == 401
    wrong = PluginHubClient(client.api_url, client.policy, client.policy_base,
                            upload_user=client.upload_user, upload_password="wrong")  # fmt: skip
    with pytest.raises(HubError, match=r"refused the upload .*HTTP 403"):
        wrong.upload(wheel)
    assert not list(hub.home.packages.iterdir())


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


def test_no_record_without_the_exact_artifact_and_recovery_after_a_crash(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path)
    claim = {
        "filename": wheel.name,
        "capability": "geometry.area",
        "checksum": sha256_hex(wheel.read_bytes()),
        "owner": "test",
    }
    # recording before the upload: refused, nothing recorded
    with pytest.raises(HubError, match="the index has no file"):
        client._call("POST", "/api/plugins", claim)
    assert client.records("geometry.area") == []
    # a crash after the upload, before the record: the file is there, no record points at it
    client.upload(wheel)
    assert client.records("geometry.area") == []
    # recording with a checksum that is not the uploaded file's: refused
    with pytest.raises(HubError, match="not the claimed"):
        client._call("POST", "/api/plugins", claim | {"checksum": "1" * 64})
    assert client.records("geometry.area") == []
    # publishing again recovers: same bytes already uploaded, so the hub records them
    record = client.publish(wheel, "geometry.area", tier=Tier.GENERATED, owner="test")
    assert record.checksum == claim["checksum"]
    assert [r.plugin_id for r in client.records("geometry.area")] == [record.plugin_id]


def test_publish_token_cannot_promote_revoke_or_publish_higher_tiers(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = _publish(client, tmp_path)
    pipeline = PluginHubClient.from_home(hub.home, role="publish")
    for call in (
        lambda: pipeline.promote(record.plugin_id, Tier.CORE),
        lambda: pipeline.revoke(record.plugin_id, "mine now"),
        lambda: pipeline.publish(
            build_wheel(tmp_path, version="2.0.0"), "geometry.area", tier=Tier.CORE, owner="w"
        ),
    ):
        with pytest.raises(HubError, match=r"HTTP 403.*'admin' scope"):
            call()
    assert client.show(record.plugin_id).trust_tier is Tier.GENERATED
    assert pipeline.claim("geometry.area", "worker") is True


def test_record_with_a_foreign_file_name_is_refused(
    client: PluginHubClient, hub: RunningHub, tmp_path: Path
) -> None:
    _, record = _publish(client, tmp_path)
    _sql(hub, "UPDATE plugin_hub_plugins SET filename = :f WHERE plugin_id = :p",
         f="../../../tmp/evil-1.0.0-py3-none-any.whl", p=record.plugin_id)  # fmt: skip
    with pytest.raises(VerificationError, match="is not the wheel of planexe-gen-geometry-area"):
        client.download(client.show(record.plugin_id))
