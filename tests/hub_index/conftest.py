from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub_client.client import PluginHubClient
from hub_client.local_home import HubHome
from hub_client.records import PluginRecord
from hub_index.home import init_home
from hub_index.server import RunningHub, embedded_hub
from plan_pipeline.spec import PluginSpec
from synthesizer.build import build_project
from synthesizer.render import render_project
from synthesizer.rules_codegen import RulesCodeGenerator
from tests.plugin_factory import PluginSource, build_plugin_wheel
from tests.venvs import overlay_venv

PG_URL = os.environ.get(
    "PLANEXE_HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _create_database(server: sa.Engine, name: str) -> str | None:
    """Create database ``name``; the reason if the server cannot be reached."""
    try:
        with server.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        return " ".join(str(exc.orig).split())
    return None


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[tuple[sa.Engine, sa.URL]]:
    """An AUTOCOMMIT engine on a new, empty database for this session, dropped at the end."""
    server = sa.create_engine(
        PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"planexe_hub_{uuid.uuid4().hex[:12]}"
    problem = _create_database(server, name)
    if problem is not None:
        server.dispose()
        pytest.fail(
            f"PostgreSQL at {PG_URL} is unreachable ({problem}). Start the server or point "
            "PLANEXE_HUB_TEST_PG_URL at one; the PostgreSQL backend cannot be tested without it",
            pytrace=False,
        )
    url = sa.make_url(PG_URL).set(database=name)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        yield admin, url
    finally:
        admin.dispose()
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningHub]:
    """A fresh hub home served on loopback for one test (its re-verification runs 10
    property examples per plugin, as the test pipelines do)."""
    monkeypatch.setenv("PLANEXE_PROPERTY_EXAMPLES", "10")
    home = init_home(tmp_path / "hub")
    with embedded_hub(home) as running:
        yield running


@pytest.fixture
def client(hub: RunningHub, tmp_path: Path) -> PluginHubClient:
    c = PluginHubClient.from_home(hub.home)
    c.cache_dir = tmp_path / "wheel-cache"
    return c


def area_spec(capability: str = "geometry.area", version: str = "1.0.0") -> PluginSpec:
    return PluginSpec(
        capability=capability,
        stage_name="area",
        version=version,
        summary="Area of a rectangle.",
        input_schema={
            "type": "object",
            "required": ["w", "h"],
            "properties": {
                "w": {"type": "number", "minimum": 0, "maximum": 1000},
                "h": {"type": "number", "minimum": 0, "maximum": 1000},
            },
        },
        output_schema={
            "type": "object",
            "required": ["area"],
            "properties": {"area": {"type": "number", "minimum": 0}},
        },
        rules=[{"set": "area", "expr": "input.w * input.h"}],  # type: ignore[list-item]
    )


def build_wheel(tmp_path: Path, capability: str = "geometry.area", version: str = "1.0.0") -> Path:
    """A real plugin wheel (rendered from the template, built with hatchling)."""
    spec = area_spec(capability, version)
    folder = tmp_path / f"build-{capability}-{version}"
    project = render_project(spec, RulesCodeGenerator().generate(spec), folder / "src")
    return build_project(project, folder / "dist").wheel


def publish_generated(
    client: PluginHubClient,
    tmp_path: Path,
    capability: str = "geometry.area",
    version: str = "1.0.0",
) -> tuple[Path, PluginRecord]:
    """Build a generated plugin as a pipeline worker does and publish its spec and sources."""
    spec = area_spec(capability, version)
    logic = RulesCodeGenerator().generate(spec)
    folder = tmp_path / f"gen-{capability}-{version}"
    wheel = build_project(render_project(spec, logic, folder / "src"), folder / "dist").wheel
    return wheel, client.publish_generated(spec, logic, wheel, owner="test")


def maintainer_wheel(
    tmp_path: Path,
    dist: str = "planexe-plugin-geometry-area",
    version: str = "1.0.0",
    capability: str = "geometry.area",
) -> Path:
    """A hand-made plugin wheel (hatchling project, built with pypa/build)."""
    module = dist.replace("-", "_")
    source = PluginSource(dist=dist, module=module, capabilities={capability: "{'ok': True}"},
                          version=version)  # fmt: skip
    folder = tmp_path / f"hand-{dist}-{version}"
    return build_plugin_wheel(folder / "src", source, folder / "dist")


@pytest.fixture
def fresh_python(tmp_path: Path) -> str:
    """A new overlay virtualenv's python, without pip (see ``tests/venvs.py``)."""
    return overlay_venv(tmp_path / "venv")


def hub_env(home: HubHome) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")}
    env["PLANEXE_HUB_HOME"] = str(home.root)
    return env


def run_in_publish_mode(python: str, plan: Path, run_dir: Path, hub: RunningHub) -> None:
    """One pipeline run of ``plan`` in publish mode against ``hub``, in ``python``'s venv."""
    subprocess.run(
        [python, "-m", "plan_pipeline.cli", "run", str(plan), "--run-dir", str(run_dir),
         "--synthesis", "publish"],
        capture_output=True, text=True, check=False, timeout=300,
        env=hub_env(hub.home) | {"PLANEXE_PROPERTY_EXAMPLES": "10"},
    )  # fmt: skip


def known_runs(hub: RunningHub, tmp_path: Path, area_plan: str, ruleless_plan: str) -> None:
    """The known sequence the figures are tested on: a miss that synthesizes and publishes,
    a miss the hub's plugin answers, a run that finds it installed, a miss that no generator
    can write and the hub's plugin serves as a near match (the same contract under another
    name), and a miss that nothing can serve (an output no plugin gives, no rules)."""
    area, ruleless = tmp_path / "area.yaml", tmp_path / "ruleless.yaml"
    unserved = tmp_path / "unserved.yaml"
    area.write_text(area_plan)
    ruleless.write_text(ruleless_plan)
    unserved.write_text(
        ruleless_plan.replace("geometry.rect_area", "geometry.rect_label")
        .replace("required: [area], properties: {area: {type: number}}",
                 "required: [label], properties: {label: {type: string}}")
        .replace("output: {area: 6}", "output: {label: '2 by 3'}")
    )  # fmt: skip
    assert "geometry.rect_label" in unserved.read_text() and "label: '2" in unserved.read_text()
    first, second = overlay_venv(tmp_path / "a"), overlay_venv(tmp_path / "b")
    run_in_publish_mode(first, area, tmp_path / "run-1", hub)
    run_in_publish_mode(second, area, tmp_path / "run-2", hub)
    run_in_publish_mode(second, area, tmp_path / "run-3", hub)
    run_in_publish_mode(first, ruleless, tmp_path / "run-4", hub)
    run_in_publish_mode(first, unserved, tmp_path / "run-5", hub)


def dripping_server() -> tuple[ThreadingHTTPServer, str]:
    """Answers every request one byte every half second, head first."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100:
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.5)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/metadata/"
