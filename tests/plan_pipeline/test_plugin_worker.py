"""The isolated plugin runtime: a generated plugin runs in a sandboxed worker, where hostile
code finds nothing to read, reach or signal, and every failure is a clear error.

The hostile plugins here never went through static analysis (they are installed directly,
as a consumer gets any plugin): the containment must hold on its own.
"""

from __future__ import annotations

import errno
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub_index.home import init_home
from plan_pipeline import plugin_worker
from plan_pipeline.errors import PluginLoadError, PluginRunError, PluginWorkerError
from plan_pipeline.plugin_worker import (
    PluginWorker,
    PrestartedWorker,
    WorkerPlugin,
    sweep_libraries,
)
from plan_pipeline.registry import CapabilityRegistry, LoadedCapability
from plan_pipeline.sandbox import BubblewrapSandbox, SandboxLimits
from plan_pipeline.trust import LocalTierPolicy, Tier
from tests.conftest import CliRunner
from tests.plugin_factory import PluginSource, install_plugin

SECRET = "s3cret-hub-token-4f1e"
LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=10, max_processes=16)

_HOSTILE = """
import json, os, signal, socket, sys

def attempt(inputs):
    what = inputs["what"]
    if what == "probe":
        return {"pid": os.getpid(), "pidns": os.readlink("/proc/self/ns/pid"),
                "uid": os.getuid()}
    if what == "read":
        with open(inputs["path"], "rb") as f:
            return {"stolen": f.read().decode("utf-8", "replace")}
    if what == "list":
        return {"list": sorted(os.listdir(inputs["path"]))}
    if what == "environ":
        return {"environ": dict(os.environ)}
    if what == "proc":
        seen = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for part in ("environ", "cmdline"):
                    try:
                        with open(f"/proc/{pid}/{part}", "rb") as f:
                            seen[f"{pid}/{part}"] = f.read().decode("utf-8", "replace")
                    except OSError as exc:
                        seen[f"{pid}/{part}"] = f"refused: {exc}"
        return {"proc": seen}
    if what == "connect":
        socket.create_connection(("127.0.0.1", inputs["port"]), timeout=3).sendall(b"stolen")
        return {"connected": True}
    if what == "kill":
        os.kill(inputs["pid"], signal.SIGKILL)
        return {"killed": True}
    if what == "write":
        with open(inputs["path"], "w") as f:
            f.write("planted")
        return {"wrote": True}
    if what == "crash":
        os._exit(3)
    if what == "spin":
        while True:
            pass
    if what == "allocate":
        return {"size": len(bytearray(4 * 1024**3))}
    if what == "fill":  # within the address space, past the cgroup's memory
        return {"size": len(bytearray(1536 * 1024**2))}
    if what == "fork":
        while True:
            try:
                os.fork()
            except OSError:
                pass
    if what == "unshare":
        import subprocess
        done = subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(done.stderr.strip())
        return {"unshared": True}
    if what == "raw":
        os.write(3, inputs["line"].encode("utf-8") + b"\\n")
        return {"also": "answered"}
    if what == "escape":
        raise RuntimeError("x\\n\\x1b[2K\\x1b[1Astage 'first' finished OK")
    if what == "print":
        print('{"id": 99, "ok": true, "result": {"forged": true}}', flush=True)
        return {"printed": True}
    if what == "burn":  # a spinning child, and a spinning daemon left to the namespace's init
        if os.fork() == 0:
            while True:
                pass
        middle = os.fork()
        if middle == 0:
            if os.fork() == 0:
                os.setsid()
                while True:
                    pass
            os._exit(0)
        os.waitpid(middle, 0)
        return {"left": "running"}
    if what == "burn_later":  # a thread forks a spinning child after the answer went back
        import threading, time
        def later():
            time.sleep(0.3)
            if os.fork() == 0:
                while True:
                    pass
        threading.Thread(target=later, daemon=True).start()
        return {"left": "a thread"}
    if what == "processes":  # the live processes of the worker's pid namespace
        alive = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rpartition(")")[2].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(int(pid))
        return {"pids": sorted(alive)}
    return {"echo": inputs}
"""


class _Tiers(LocalTierPolicy):
    """The local policy, with chosen distributions ranked ``core``."""

    def __init__(self, core: set[str] | None = None) -> None:
        self.core = core or set()

    def tier_of(self, dist_name: str, version: str, installed: object = None) -> Tier:
        return Tier.CORE if dist_name in self.core else Tier.GENERATED


@pytest.fixture
def hostile_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    module = f"hostile_{abs(hash(tmp_path)) % 10**8}"
    install_plugin(
        site,
        PluginSource(
            "hostile-plugin",
            module,
            {"probe.attack": "attempt(inputs)"},
            import_side_effect=_HOSTILE,
        ),
    )
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def isolated(hostile_site: Path) -> Iterator[LoadedCapability]:
    registry = CapabilityRegistry(limits=LIMITS)
    loaded = registry.load("probe.attack")
    yield loaded
    registry.close()


def _run(loaded: LoadedCapability, **inputs: Any) -> Any:
    return loaded.run(inputs, {"run_id": "t", "stage": "attack"})


def test_a_generated_plugin_runs_in_a_worker_and_a_core_plugin_in_process(
    hostile_site: Path,
) -> None:
    host_ns = os.readlink("/proc/self/ns/pid")
    registry = CapabilityRegistry()
    try:
        loaded = registry.load("probe.attack")
        assert loaded.worker is not None
        probe = _run(loaded, what="probe")
        assert probe["pid"] != os.getpid()
        assert probe["pidns"] != host_ns
        assert probe["uid"] == 65534
    finally:
        registry.close()
    core = CapabilityRegistry(_Tiers(core={"hostile-plugin"}))
    loaded = core.load("probe.attack")
    assert loaded.worker is None
    assert _run(loaded, what="probe") == {
        "pid": os.getpid(),
        "pidns": host_ns,
        "uid": os.getuid(),
    }


def test_the_worker_stays_warm_across_calls(isolated: LoadedCapability) -> None:
    first = _run(isolated, what="probe")["pid"]
    for number in range(5):
        assert _run(isolated, what="echo", n=number) == {"echo": {"what": "echo", "n": number}}
    assert _run(isolated, what="probe")["pid"] == first
    assert isolated.worker is not None and isolated.worker.starts == 1


def test_a_host_file_and_the_hub_key_cannot_be_read(
    isolated: LoadedCapability, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    home = init_home(tmp_path / "hub")
    for path in (secret, home.signing_key, home.credentials_file, Path("/etc/shadow")):
        assert path.exists()
        with pytest.raises(PluginRunError, match="FileNotFoundError"):
            _run(isolated, what="read", path=str(path))


def test_no_host_environment_variable_is_visible(
    isolated: LoadedCapability, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANEXE_HUB_TOKEN", SECRET)
    isolated.worker.close()  # type: ignore[union-attr]  # restart with the secret set
    environ = _run(isolated, what="environ")["environ"]
    assert set(environ) <= {"PATH", "HOME", "LC_ALL", "PWD"}
    assert environ.get("PWD", "/tmp") == "/tmp"
    assert SECRET not in json.dumps(environ)


def test_no_process_environment_or_command_line_leaks(
    isolated: LoadedCapability, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANEXE_HUB_TOKEN", SECRET)
    isolated.worker.close()  # type: ignore[union-attr]
    seen = _run(isolated, what="proc")["proc"]
    assert "1/environ" in seen  # the sandbox's own init, which the review read
    assert len([k for k in seen if k.endswith("/cmdline")]) <= 3  # only the sandbox's processes
    assert not [k for k, text in seen.items() if SECRET in text or "PLANEXE" in text], seen


def test_no_network_even_to_loopback(isolated: LoadedCapability) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with pytest.raises(PluginRunError, match=r"OSError|ConnectionRefused|unreachable"):
            _run(isolated, what="connect", port=server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        server.close()
    assert accepted == []


def test_a_host_process_cannot_be_signalled(isolated: LoadedCapability) -> None:
    victim = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(PluginRunError, match="ProcessLookupError"):
            _run(isolated, what="kill", pid=victim.pid)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_nothing_on_the_host_is_writable(isolated: LoadedCapability, hostile_site: Path) -> None:
    for path in (hostile_site / "planted.py", Path("/usr/planted")):
        with pytest.raises(PluginRunError, match=r"OSError|Read-only|FileNotFound|Permission"):
            _run(isolated, what="write", path=str(path))
        assert not path.exists()
    assert _run(isolated, what="write", path="/tmp/private.txt") == {"wrote": True}


def test_prints_cannot_forge_an_answer(isolated: LoadedCapability) -> None:
    assert _run(isolated, what="print") == {"printed": True}
    assert _run(isolated, what="echo") == {"echo": {"what": "echo"}}


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("crash", r"stopped before it answered planexe_run \(exit code 3\)"),
        ("spin", r"did not answer planexe_run within 10 s|SIGXCPU: it used its CPU time limit of"),
        ("allocate", r"MemoryError"),
        ("fill", r"killed by SIGKILL: it used its memory limit of 1024 MiB"),
        ("fork", r"did not answer|killed by|stopped before"),
    ],
)
def test_a_crash_hang_or_limit_is_a_clear_error_and_the_next_call_works(
    isolated: LoadedCapability, what: str, expected: str
) -> None:
    with pytest.raises((PluginRunError, PluginWorkerError), match=expected) as raised:
        _run(isolated, what=what)
    assert "\n" not in str(raised.value)
    assert _run(isolated, what="echo") == {"echo": {"what": "echo"}}
    assert not _sandboxed_processes_of(isolated)


def _sandboxed_processes_of(loaded: LoadedCapability) -> list[int]:
    """Host processes still running the hostile plugin's worker, other than the current one."""
    current = loaded.worker._process.pid if loaded.worker and loaded.worker._process else None
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != current:
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"/sandbox/worker_main.py" in cmdline and b"hostile_" in cmdline:
                found.append(int(entry))
    return [pid for pid in found if not _is_descendant(pid, current)]


def _is_descendant(pid: int, ancestor: int | None) -> bool:
    while ancestor is not None and pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def test_processes_a_plugin_leaves_running_are_killed_after_its_answer(
    isolated: LoadedCapability,
) -> None:
    """A plugin answers and leaves a spinning child and a spinning daemon behind, to go on
    using the machine between calls: they are killed before the answer is passed on, and the
    worker's next call sees only the processes it had before."""
    before = _run(isolated, what="processes")["pids"]
    assert _run(isolated, what="burn") == {"left": "running"}
    assert _run(isolated, what="processes")["pids"] == before
    assert _run(isolated, what="echo") == {"echo": {"what": "echo"}}


def test_a_process_forked_while_the_worker_is_idle_is_killed_before_the_next_call(
    isolated: LoadedCapability,
) -> None:
    """The answer is back before the plugin's thread forks: the sweep after the answer finds
    nothing, the one before the next call finds the spinning child."""
    before = _run(isolated, what="processes")["pids"]
    assert _run(isolated, what="burn_later") == {"left": "a thread"}
    time.sleep(1.0)  # the thread has forked by now
    assert _run(isolated, what="processes")["pids"] == before


def _sandbox_cpu_groups_of_this_process() -> list[Path]:
    """The sandboxes' CPU cgroups (cgroups v1) whose processes descend from this process."""

    def parent(pid: int) -> int:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0
        return int(stat.rpartition(")")[2].split()[1])

    def ours(pid: int) -> bool:
        while pid > 1:
            if pid == os.getpid():
                return True
            pid = parent(pid)
        return False

    found = []
    for group in Path("/sys/fs/cgroup/cpu").glob("planexe-sandbox-*"):
        pids = (group / "cgroup.procs").read_text().split()
        if any(ours(int(pid)) for pid in pids):
            found.append(group)
    return found


def test_a_worker_and_everything_it_starts_share_one_cpu(isolated: LoadedCapability) -> None:
    """The CPU quota holds for the worker's whole cgroup, not per process as the CPU-time
    rlimit does: forked children cannot take more than one processor between them."""
    assert _run(isolated, what="echo") == {"echo": {"what": "echo"}}
    (group,) = _sandbox_cpu_groups_of_this_process()
    assert (group / "cpu.cfs_quota_us").read_text().strip() == "100000"
    assert (group / "cpu.cfs_period_us").read_text().strip() == "100000"


def test_no_nested_user_namespace(isolated: LoadedCapability) -> None:
    with pytest.raises(PluginRunError, match="OSError: unshare"):
        _run(isolated, what="unshare")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"id": 1, "ok": true, "result": {"x": 1e999}}', "not a finite number"),
        ('{"id": 1, "ok": true, "result": {"x": NaN}}', "NaN is not plain JSON"),
        ('{"id": 1, "ok": true, "result": {"x": "\\ud800"}}', "surrogates not allowed"),
        ('{"id": 7, "ok": true, "result": {}}', "an answer to another request"),
        ("[" * 100_000, "not plain JSON"),
    ],
    ids=["infinity", "nan", "lone surrogate", "forged id", "deep nesting"],
)
def test_an_answer_that_is_not_plain_json_kills_the_worker(
    isolated: LoadedCapability, line: str, expected: str
) -> None:
    isolated.worker.close()  # type: ignore[union-attr]  # the next request is number 1
    with pytest.raises(PluginWorkerError, match=expected):
        _run(isolated, what="raw", line=line)
    assert _run(isolated, what="echo") == {"echo": {"what": "echo"}}


def test_control_characters_in_a_plugin_error_are_escaped(isolated: LoadedCapability) -> None:
    with pytest.raises(PluginRunError) as raised:
        _run(isolated, what="escape")
    message = str(raised.value)
    assert "\x1b" not in message and "\n" not in message
    assert "\\x1b[2K" in message


def test_a_distribution_named_like_this_project_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    install_plugin(
        site,
        PluginSource(
            "PlanExe_Plugin.Hub",
            f"squat_{abs(hash(tmp_path)) % 10**8}",
            {"probe.attack": "attempt(inputs)"},
            import_side_effect=_HOSTILE,
        ),
    )
    monkeypatch.syspath_prepend(str(site))
    registry = CapabilityRegistry(limits=LIMITS)
    try:
        loaded = registry.load("probe.attack")
        assert loaded.selection.tier is Tier.GENERATED
        assert loaded.worker is not None
        assert _run(loaded, what="probe")["pid"] != os.getpid()
    finally:
        registry.close()


def test_an_import_error_is_a_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    install_plugin(
        site,
        PluginSource(
            "broken-plugin",
            f"broken_{abs(hash(tmp_path)) % 10**8}",
            {"probe.broken": "{}"},
            import_side_effect="import os; os.kill(os.getpid(), 9)",
        ),
    )
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(
        PluginLoadError, match=r"broken-plugin 1.0.0 .*stopped before .*SIGKILL: not out of memory"
    ):
        CapabilityRegistry(limits=LIMITS).load("probe.broken")


def test_a_crashing_plugin_fails_its_stage_and_keeps_earlier_outputs(
    tmp_path: Path, run_cli: CliRunner, hostile_site: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: attack\n"
        "stages:\n"
        "  - {name: first, capability: probe.attack, inputs: {what: {value: probe}}}\n"
        "  - name: second\n"
        "    capability: probe.attack\n"
        "    inputs: {what: {value: crash}, after: {stage: first}}\n"
    )
    run_dir = tmp_path / "run"
    result = run_cli("run", plan, "--run-dir", run_dir, extra_path=[hostile_site])
    assert result.code == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "stage 'second'" in line and "hostile-plugin 1.0.0" in line
    assert "stopped before it answered" in line
    assert "runs in a sandboxed plugin worker" in result.stdout
    first = json.loads((run_dir / "001-first.json").read_text())
    assert first["pid"] != os.getpid() and first["uid"] == 65534
    assert not (run_dir / "002-second.json").exists()


def test_every_attempt_fails_its_own_stage_in_a_pipeline_run(
    tmp_path: Path, run_cli: CliRunner, hostile_site: Path
) -> None:
    home = init_home(tmp_path / "hub")
    victim = subprocess.Popen(["sleep", "30"])
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    attempts = {
        "key": {"what": "read", "path": str(home.signing_key)},
        "host_file": {"what": "read", "path": str(home.credentials_file)},
        "proc_environ": {"what": "read", "path": f"/proc/{os.getpid()}/environ"},
        "socket": {"what": "connect", "port": server.getsockname()[1]},
        "signal": {"what": "kill", "pid": victim.pid},
        "environment": {"what": "environ"},
    }
    stages = "".join(
        f"  - name: {name}\n    capability: probe.attack\n    inputs:\n"
        + "".join(f"      {key}: {{value: {json.dumps(value)}}}\n" for key, value in inputs.items())
        for name, inputs in attempts.items()
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"name: attack\nstages:\n{stages}")
    run_dir = tmp_path / "run"
    try:
        result = run_cli(
            "run", plan, "--run-dir", run_dir, extra_path=[hostile_site],
            env={"PLANEXE_HUB_TOKEN": SECRET},
        )  # fmt: skip
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
        server.close()
    assert result.code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    for name, expected in [
        ("key", "FileNotFoundError"),
        ("host_file", "FileNotFoundError"),
        ("proc_environ", "FileNotFoundError"),
        ("socket", "OSError|ConnectionRefusedError"),
        ("signal", "ProcessLookupError"),
    ]:
        (line,) = [e for e in errors if f"stage '{name}'" in e]
        assert re.search(expected, line), line
        assert not (run_dir / f"00{list(attempts).index(name) + 1}-{name}.json").exists()
    environment = json.loads((run_dir / "006-environment.json").read_text())["environ"]
    assert SECRET not in json.dumps(environment)


def test_the_network_is_shared_only_when_granted(hostile_site: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    registry = CapabilityRegistry(limits=LIMITS)
    try:
        granted = registry.load("probe.attack", network=True)
        assert _run(granted, what="connect", port=server.getsockname()[1]) == {"connected": True}
        assert server.accept()[0].recv(16) == b"stolen"
        with pytest.raises(PluginRunError, match=r"OSError|unreachable|refused"):
            _run(registry.load("probe.attack"), what="connect", port=server.getsockname()[1])
    finally:
        registry.close()
        server.close()


def test_sigterm_of_the_host_leaves_no_worker(hostile_site: Path, tmp_path: Path) -> None:
    probe = (
        "from plan_pipeline.registry import CapabilityRegistry\n"
        "loaded = CapabilityRegistry().load('probe.attack')\n"
        "print(loaded.worker._process.pid, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(hostile_site)}
    host = subprocess.Popen(
        [os.sys.executable, "-c", probe], stdout=subprocess.PIPE, text=True, env=env
    )
    assert host.stdout is not None
    worker_pid = int(host.stdout.readline())
    host.send_signal(signal.SIGKILL)
    host.wait()
    for _ in range(100):
        if not Path(f"/proc/{worker_pid}").exists():
            break
        threading.Event().wait(0.05)
    assert not Path(f"/proc/{worker_pid}").exists()


# -- workers started before their plugin is installed (the reuse path) -----------------------


@pytest.fixture(autouse=True)
def _private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Early workers' folders go to this test's own temporary folder."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))


def _early_libraries() -> set[Path]:
    """The workers' library folders (not this process's runtime folder, made once)."""
    runtime = set(plugin_worker._RUNTIME)
    return set(Path(tempfile.gettempdir()).glob("planexe-worker-*")) - runtime


def _hostile(hostile_site: Path) -> WorkerPlugin:
    (dist,) = [
        d for d in importlib.metadata.distributions(path=[str(hostile_site)])
        if d.metadata["Name"] == "hostile-plugin"
    ]  # fmt: skip
    (entry,) = dist.entry_points
    return WorkerPlugin.from_distribution(dist, entry.value)


def test_a_worker_started_early_sees_only_its_plugin_and_pluggy(hostile_site: Path) -> None:
    plugin = _hostile(hostile_site)
    early = PrestartedWorker(BubblewrapSandbox.detect(), LIMITS)
    assert early.fits(plugin, network=False)
    assert list(early.library.iterdir()) == []
    worker = early.hand_over(plugin)
    context = {"run_id": "t", "stage": "attack"}
    try:

        def attack(**inputs: Any) -> Any:
            return worker.run("probe.attack", inputs, context)

        assert attack(what="list", path="/sandbox/lib") == {"list": [plugin.own[0].name]}
        runtime = {"list": ["hookspecs.py", "pluggy", "worker_main.py"]}
        assert attack(what="list", path="/sandbox/runtime") == runtime
        other = Path(importlib.metadata.distribution("jsonschema").locate_file("jsonschema"))
        with pytest.raises(PluginRunError, match="FileNotFoundError"):
            attack(what="read", path=str(other / "__init__.py"))
        with pytest.raises(PluginRunError, match=r"Read-only|OSError|Permission"):
            attack(what="write", path=f"/sandbox/lib/{plugin.own[0].name}")
        assert worker.starts == 1
    finally:
        worker.close()
    assert not early.library.exists()


def test_a_symbolic_link_in_a_plugin_is_not_followed_into_the_early_worker(
    tmp_path: Path, hostile_site: Path
) -> None:
    """The plugin's files are linked or copied into the worker's folder on the host: a link
    there to a host secret must stay a link (dangling inside), never become the secret."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    package = tmp_path / "pkg" / "linky_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_HOSTILE + "\n" + _hook_module())
    (package / "leak").symlink_to(secret)
    (package / "leak_dir").symlink_to(tmp_path)
    hostile = _hostile(hostile_site)
    runtime = tuple(p for p in hostile.packages if p not in hostile.own)
    plugin = WorkerPlugin("linky-plugin 1.0", "linky_plugin", (package, *runtime), (package,))
    early = PrestartedWorker(BubblewrapSandbox.detect(), LIMITS)
    worker = early.hand_over(plugin)
    try:
        for name in ("leak", "leak_dir/secret.txt"):
            with pytest.raises(PluginRunError, match="FileNotFoundError"):
                worker.run(
                    "probe.attack",
                    {"what": "read", "path": f"/sandbox/lib/linky_plugin/{name}"},
                    {},
                )
        assert (early.library / "linky_plugin" / "leak").is_symlink()
    finally:
        worker.close()


def _hook_module() -> str:
    return (
        "import pluggy\n"
        "hookimpl = pluggy.HookimplMarker('planexe')\n"
        "@hookimpl\n"
        "def planexe_describe(capability):\n"
        "    return {'summary': 's', 'input_schema': {}, 'output_schema': {}}\n"
        "@hookimpl\n"
        "def planexe_run(capability, inputs, context):\n"
        "    return attempt(inputs)\n"
    )


def test_an_early_worker_fits_only_a_plugin_that_needs_nothing_more(
    hostile_site: Path,
) -> None:
    plugin = _hostile(hostile_site)
    early = PrestartedWorker(BubblewrapSandbox.detect(), LIMITS)
    try:
        assert not early.fits(plugin, network=True)  # the network grant is fixed at the start
        extra = Path(importlib.metadata.distribution("jsonschema").locate_file("jsonschema"))
        needs_more = WorkerPlugin(
            plugin.label, plugin.target, (*plugin.packages, extra), plugin.own
        )
        assert not early.fits(needs_more, network=False)
        # a plugin that does not require pluggy would not run in a worker of its own
        alone = WorkerPlugin(plugin.label, plugin.target, plugin.own, plugin.own)
        assert not early.fits(alone, network=False)
        shadow = hostile_site / "pluggy"
        shadow.mkdir()
        shadowing = WorkerPlugin(plugin.label, "pluggy", (*plugin.packages, shadow), (shadow,))
        assert not early.fits(shadowing, network=False)
        assert early.fits(plugin, network=False)
    finally:
        early.close()
    assert not early.library.exists()


def test_a_plugin_needing_more_gets_its_own_worker_and_the_early_one_stops(
    hostile_site: Path,
) -> None:
    metadata_file = next(hostile_site.glob("hostile_plugin-*.dist-info")) / "METADATA"
    metadata_file.write_text(metadata_file.read_text() + "Requires-Dist: jsonschema\n")
    before = _early_libraries()
    registry = CapabilityRegistry(limits=LIMITS)
    try:
        with registry.worker_started_early():
            assert len(_early_libraries() - before) == 1
            early_folders = _early_libraries() - before
            loaded = registry.load("probe.attack")
            assert _run(loaded, what="probe")["uid"] != 0
            # the early worker stopped, its folder gone; the plugin's own worker has one
            assert not early_folders & _early_libraries()
            assert len(_early_libraries() - before) == 1
            other = Path(importlib.metadata.distribution("jsonschema").locate_file("jsonschema"))
            assert (
                "__init__.py"
                in _run(loaded, what="list", path=f"/sandbox/lib/{other.name}")["list"]
            )
    finally:
        registry.close()


def test_an_unused_early_worker_stops_with_its_block(hostile_site: Path) -> None:
    before = _early_libraries()
    registry = CapabilityRegistry(limits=LIMITS)
    with pytest.raises(RuntimeError), registry.worker_started_early():
        assert len(_early_libraries() - before) == 1
        raise RuntimeError("the synthesis failed")
    assert _early_libraries() == before


def test_a_plugin_that_cannot_be_staged_is_a_load_error_and_leaves_nothing(
    hostile_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(source: str, target: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", target)

    monkeypatch.setattr("plan_pipeline.plugin_worker._link_or_copy", disk_full)
    registry = CapabilityRegistry(limits=LIMITS)
    with registry.worker_started_early():
        with pytest.raises(PluginLoadError, match="cannot stage plugin hostile-plugin"):
            registry.load("probe.attack")
        assert _early_libraries() == set()


def test_why_an_early_worker_stopped_is_told_even_if_it_stopped_before_its_plugin_came(
    hostile_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "hookspecs.py"
    broken.write_text("raise ImportError('the contract is broken here')\n")
    monkeypatch.setattr("plan_pipeline.plugin_worker.HOOKSPECS", broken)
    monkeypatch.setattr(plugin_worker, "_RUNTIME", [])  # a runtime folder with it
    early = PrestartedWorker(BubblewrapSandbox.detect(), LIMITS)
    assert early._process is not None
    early._process.popen.wait(timeout=10)  # gone before the host says which plugin to load
    worker = early.hand_over(_hostile(hostile_site))
    with pytest.raises(PluginWorkerError, match="the contract is broken here"):
        worker.describe("probe.attack")
    assert not early.library.exists()


def test_folders_of_early_workers_whose_process_is_gone_are_swept() -> None:
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    tmp = Path(tempfile.gettempdir())
    stale = tmp / f"planexe-worker-{dead_pid.pid}-abc"
    live = tmp / f"planexe-worker-{os.getpid()}-def"
    other = tmp / "planexe-worker-notapid-x"
    huge = tmp / f"planexe-worker-{10**30}-x"
    for folder in (stale, live, other, huge):
        folder.mkdir()
        (folder / "plugin.py").write_text("x = 1\n")
    sweep_libraries()
    assert not stale.exists()
    assert live.exists() and other.exists() and huge.exists()


def test_an_absolute_path_in_a_record_mounts_nothing_of_the_host(hostile_site: Path) -> None:
    record = next(hostile_site.glob("hostile_plugin-*.dist-info")) / "RECORD"
    record.write_text(record.read_text() + "/etc/passwd,,\n/root/.ssh/id_rsa,,\n")
    plugin = _hostile(hostile_site)
    assert all(p.parent != Path("/") and p != Path("/") for p in plugin.packages)
    registry = CapabilityRegistry(limits=LIMITS)
    try:
        loaded = registry.load("probe.attack")
        assert _run(loaded, what="list", path="/sandbox/lib") == {
            "list": sorted(p.name for p in plugin.packages if p.name != "pluggy")
        }
        assert "pluggy" in _run(loaded, what="list", path="/sandbox/runtime")["list"]
    finally:
        registry.close()


def test_a_linked_folder_in_a_record_mounts_nothing_of_the_host(
    hostile_site: Path, tmp_path: Path
) -> None:
    """A RECORD that lists ``leak/secret.txt`` beside a link ``leak -> /some/host/folder``
    would bind that host folder into the sandbox; linked top levels are left out."""
    host_folder = tmp_path / "host-secrets"
    host_folder.mkdir()
    (host_folder / "secret.txt").write_text("hunter2")
    (hostile_site / "leak").symlink_to(host_folder)
    (hostile_site / "etc").symlink_to("/etc")
    record = next(hostile_site.glob("hostile_plugin-*.dist-info")) / "RECORD"
    record.write_text(record.read_text() + "leak/secret.txt,,\netc/shadow,,\n")
    plugin = _hostile(hostile_site)
    assert {p.name for p in plugin.packages}.isdisjoint({"leak", "etc"})
    registry = CapabilityRegistry(limits=LIMITS)
    try:
        loaded = registry.load("probe.attack")
        assert _run(loaded, what="list", path="/sandbox/lib") == {
            "list": sorted(p.name for p in plugin.packages if p.name != "pluggy")
        }
        assert "pluggy" in _run(loaded, what="list", path="/sandbox/runtime")["list"]
    finally:
        registry.close()


def _mounts(worker: PluginWorker) -> list[tuple[str, str]]:
    """What the plugin reads of its mounts: each mount's root and mount point, with the name
    of a worker's folder (``planexe-worker-<pid>-<random>``) as one token."""
    seen = worker.run("probe.attack", {"what": "read", "path": "/proc/self/mountinfo"}, {})
    pairs = []
    for line in seen["stolen"].splitlines():
        fields = line.split()
        pairs.append((fields[3], fields[4]))
    return [tuple(re.sub(r"planexe-worker-\d+-\w+", "WORKER", f) for f in p) for p in pairs]  # type: ignore[misc]


def test_a_gate_s_worker_and_a_pipeline_s_look_the_same_from_inside(
    hostile_site: Path, tmp_path: Path
) -> None:
    """The same plugin from two places (a gate's unpacked wheel, an environment's
    site-packages), in a worker started early and in one of its own: the plugin reads the same
    mounts in each, and none names the folder it was installed in."""
    gate_site = tmp_path / "gate-work" / "site"
    shutil.copytree(hostile_site, gate_site, symlinks=True)
    production = _hostile(hostile_site)
    gated = _hostile(gate_site)
    sandbox = BubblewrapSandbox.detect()
    early = PrestartedWorker(sandbox, LIMITS)
    layouts = []
    for worker in (
        early.hand_over(gated),
        PluginWorker(gated, sandbox, LIMITS),
        PluginWorker(production, sandbox, LIMITS),
    ):
        try:
            layouts.append(_mounts(worker))
        finally:
            worker.close()
    assert layouts[0] == layouts[1] == layouts[2]
    shown = repr(layouts)
    for host in (str(hostile_site), str(gate_site), "site-packages"):
        assert host not in shown
    staged = {point: root for root, point in layouts[0] if point.startswith("/sandbox")}
    assert set(staged) == {"/sandbox/runtime", "/sandbox/lib"}
    assert staged["/sandbox/lib"] == f"{tempfile.gettempdir()}/WORKER"
    assert staged["/sandbox/runtime"].endswith("/WORKER")  # made once, by this process
