"""The as-installed suite: the project as its users get it.

The project's wheel is built once per test run. Each part is installed from it alone, with
``uv pip install`` from the package index this machine's installers are configured with, into
a virtualenv of its own: the worker part (no extra), ``[synth]`` and ``[hub]``; PlanExe's
environments also take its pins (``constraints/``). No ``.pth`` into the development
environment, no editable install, no shared site-packages, and every command runs outside the
checkout, so nothing of the source tree is importable. The hub runs from the ``[hub]``
environment as a process of its own; pipelines reach it only through what the README tells a
user: the API's URL, the client files ``plugin-hub export-client`` writes, and a token.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from uv import find_uv_bin

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints" / "planexe-fd5cd20.txt"
PART_EXTRAS = {"worker": "", "synth": "[synth]", "hub": "[hub]"}


def clean_env(**extra: str) -> dict[str, str]:
    """The machine's environment as a user's shell has it: none of this test run's Python
    settings, no hub or run variables; the installers' index settings stay."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "RUN_ID_DIR", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PLANEXE_")}
    env["PLANEXE_PROPERTY_EXAMPLES"] = "10"  # the gates' property examples, as in every test
    return env | extra


def run(
    *command: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        capture_output=True, text=True, env=env or clean_env(), cwd=cwd, timeout=timeout,
        check=False,
    )  # fmt: skip


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


@dataclass(frozen=True)
class Installs:
    """Makes virtualenvs that hold only what installing the project's wheel gives."""

    wheel: Path
    where: Path

    def venv(self, name: str, part: str, constraints: bool = False) -> Path:
        """A new virtualenv with ``part`` (``worker``, ``synth`` or ``hub``) of the project
        installed from its wheel (and PlanExe's pins with ``constraints``); its ``bin``."""
        folder = self.where / name
        ok(run(sys.executable, "-m", "venv", folder, cwd=self.where))
        python = folder / "bin" / "python"
        command: list[str | Path] = [find_uv_bin(), "pip", "install", "--quiet", "--python", python]
        if constraints:
            command += ["-c", CONSTRAINTS]
        ok(run(*command, f"{self.wheel}{PART_EXTRAS[part]}", cwd=self.where, timeout=900))
        return folder / "bin"


@pytest.fixture(scope="session")
def installs(tmp_path_factory: pytest.TempPathFactory) -> Installs:
    """The project's wheel, built once for the run, and a place for virtualenvs."""
    dist = tmp_path_factory.mktemp("dist")
    ok(
        run(
            sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, ROOT,
            cwd=dist, timeout=300,
        )
    )  # fmt: skip
    (wheel,) = dist.glob("planexe_plugin_hub-*.whl")
    return Installs(wheel, tmp_path_factory.mktemp("venvs"))


@pytest.fixture(scope="session")
def worker_bin(installs: Installs) -> Path:
    return installs.venv("worker", "worker")


@pytest.fixture(scope="session")
def synth_bin(installs: Installs) -> Path:
    return installs.venv("synth", "synth")


@pytest.fixture(scope="session")
def hub_bin(installs: Installs) -> Path:
    return installs.venv("hub", "hub")


@dataclass
class HubProcess:
    """A hub served by ``plugin-hub serve`` from the ``[hub]`` environment."""

    home: Path
    api_url: str
    index_url: str
    process: subprocess.Popen[str]
    hub_bin: Path
    client_env: dict[str, str] = field(default_factory=dict)
    """What ``plugin-hub export-client --with-token`` told a pipeline to set."""


def serve(hub_bin: Path, where: Path, ports: tuple[int, int] = (0, 0)) -> Iterator[HubProcess]:
    """``plugin-hub serve`` the home under ``where`` (``init`` first when there is none) on
    ``ports`` (index, API; 0: free ones); stops it at the end."""
    home = where / "hub"
    if not home.exists():
        ok(run(hub_bin / "plugin-hub", "init", home, cwd=where))
    log = (where / "serve.log").open("a")
    process = subprocess.Popen(
        [hub_bin / "plugin-hub", "serve", home, "--index-port", str(ports[0]),
         "--api-port", str(ports[1])],
        stdout=log, stderr=subprocess.STDOUT, text=True, cwd=where, env=clean_env(),
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (home / "serve.json").is_file():
            assert process.poll() is None, (where / "serve.log").read_text()
            assert time.monotonic() < deadline, "the hub did not start in 60 s"
            time.sleep(0.1)
        info = json.loads((home / "serve.json").read_text())
        hub = HubProcess(home, info["api_url"], info["index_url"], process, hub_bin)
        exported = ok(
            run(hub_bin / "plugin-hub", "export-client", home, where / "client", "--with-token",
                cwd=where)
        )  # fmt: skip
        hub.client_env = exported_env(exported)
        yield hub
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def exported_env(printed: str) -> dict[str, str]:
    """The variables ``export-client``'s lines set, as bash sets them when it runs them."""
    names = ("PLANEXE_HUB_URL", "PLANEXE_HUB_POLICY", "PLANEXE_HUB_TOKEN")
    script = printed + "\n" + "".join(f'printf "%s\\0" "${{{n}-}}"\n' for n in names)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    values = done.stdout.split("\0")[: len(names)]
    return {name: value for name, value in zip(names, values, strict=True) if value}


@pytest.fixture(scope="module")
def hub_process(hub_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    yield from serve(hub_bin, tmp_path_factory.mktemp("hub"))
