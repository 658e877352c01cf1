"""Hostile plugin tests are stopped by the sandbox and reported as a failed gate, within a
bounded time, and leave the host as it was."""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from synthesizer.build import build_project
from synthesizer.contract_tests import contract_test_gate
from synthesizer.errors import SandboxUnavailableError
from synthesizer.render import render_project
from synthesizer.rules_codegen import RulesCodeGenerator
from synthesizer.sandbox import BubblewrapSandbox, SandboxLimits, UnsafeNoSandbox
from tests.synthesizer.conftest import example_specs

LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=15, max_processes=16)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = example_specs()["risk.score_matrix"]
    root = tmp_path_factory.mktemp("plugin")
    project = render_project(spec, RulesCodeGenerator().generate(spec), root / "src")
    return build_project(project, root / "dist").wheel


@pytest.fixture(scope="module")
def sandbox() -> BubblewrapSandbox:
    return BubblewrapSandbox.detect()


def _tests(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "tests"
    folder.mkdir()
    (folder / "test_hostile.py").write_text(textwrap.dedent(body))
    return folder


def _run(wheel: Path, tests: Path, sandbox: BubblewrapSandbox, tmp_path: Path):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    gate = contract_test_gate(wheel, tests, sandbox, tmp_path / "work", limits=LIMITS)
    return gate, time.monotonic() - started


def _sandboxed_processes() -> list[int]:
    """Processes of any sandboxed test run still alive on the host."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"/sandbox/tests" in cmdline:
            found.append(int(entry))
    return found


def test_well_behaved_tests_pass(wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path) -> None:
    tests = _tests(tmp_path, "def test_ok():\n    import planexe_gen_risk_score_matrix\n")
    gate, _ = _run(wheel, tests, sandbox, tmp_path)
    assert gate.passed, gate.findings
    assert gate.summary.startswith("1 tests passed in bubblewrap")


def test_no_network_even_to_loopback(
    wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path
) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
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
    tests = _tests(
        tmp_path,
        f"""
        import socket
        def test_phone_home():
            socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"secret")
    """,
    )
    try:
        gate, seconds = _run(wheel, tests, sandbox, tmp_path)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert not gate.passed
    assert "test_phone_home" in gate.findings[0].message
    assert accepted == []
    assert seconds < LIMITS.wall_seconds


def test_writes_outside_the_temp_dir_fail(
    wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path
) -> None:
    escaped = tmp_path / "escaped.txt"
    tests = _tests(
        tmp_path,
        f"""
        import pathlib, site
        def test_write_host_file():
            pathlib.Path({str(escaped)!r}).write_text("pwned")
        def test_write_into_the_plugin():
            import planexe_gen_risk_score_matrix as plugin
            pathlib.Path(plugin.__file__).write_text("pwned")
        def test_write_private_tmp_is_fine(tmp_path):
            (tmp_path / "ok.txt").write_text("fine")
    """,
    )
    gate, _ = _run(wheel, tests, sandbox, tmp_path)
    assert not gate.passed
    failed = {f.message.split(":")[0] for f in gate.findings}
    assert failed == {"test_write_host_file", "test_write_into_the_plugin"}
    assert not escaped.exists()


def test_fork_bomb_is_contained(wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path) -> None:
    tests = _tests(
        tmp_path,
        """
        import os
        def test_fork_forever():
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
    """,
    )
    gate, seconds = _run(wheel, tests, sandbox, tmp_path)
    assert not gate.passed
    assert seconds < LIMITS.wall_seconds + 10
    assert _sandboxed_processes() == []
    assert not [d for d in Path("/sys/fs/cgroup/pids").glob("planexe-sandbox-*")]


def test_allocating_4_gib_fails(wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path) -> None:
    tests = _tests(
        tmp_path,
        """
        def test_allocate():
            block = bytearray(4 * 1024**3)
            assert len(block)
    """,
    )
    gate, seconds = _run(wheel, tests, sandbox, tmp_path)
    assert not gate.passed
    assert "MemoryError" in gate.findings[0].message or "SIGKILL" in gate.findings[0].message
    assert seconds < LIMITS.wall_seconds


def test_endless_loop_is_stopped(wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path) -> None:
    tests = _tests(
        tmp_path,
        """
        def test_spin():
            while True:
                pass
    """,
    )
    gate, seconds = _run(wheel, tests, sandbox, tmp_path)
    assert not gate.passed
    assert gate.findings[-1].rule == "sandbox"
    assert "killed by" in gate.findings[-1].message or "wall-clock" in gate.findings[-1].message
    assert seconds < LIMITS.wall_seconds + 5


def test_missing_bwrap_makes_the_sandbox_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxUnavailableError, match="bwrap is not installed"):
        BubblewrapSandbox.detect()


def test_unsafe_runner_says_so(wheel: Path, tmp_path: Path) -> None:
    tests = _tests(tmp_path, "def test_ok():\n    import planexe_gen_risk_score_matrix\n")
    gate = contract_test_gate(wheel, tests, UnsafeNoSandbox(), tmp_path / "work", limits=LIMITS)
    assert gate.passed, gate.findings
    assert "unsafe-none" in gate.summary


def test_secrets_beside_the_project_are_invisible(
    wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path
) -> None:
    secret = Path(__file__).resolve().parents[2] / "run" / "sandbox-probe-secret.txt"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text("hub signing key")
    try:
        tests = _tests(
            tmp_path,
            f"""
            import os
            def test_read_project_secret():
                assert not os.path.exists({str(secret)!r})
            def test_home_is_empty():
                assert not os.path.exists("/root/.ssh") and not os.path.exists("/etc/shadow")
        """,
        )
        gate, _ = _run(wheel, tests, sandbox, tmp_path)
    finally:
        secret.unlink()
    assert gate.passed, gate.findings


def test_no_host_folder_is_writable(
    wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path
) -> None:
    tests = _tests(
        tmp_path,
        """
        import pathlib, pytest
        # (the sandbox's own root is a tmpfs in its memory: writable, but not the host's)
        @pytest.mark.parametrize("folder", ["/sandbox/site", "/sandbox/tests",
                                            "/sandbox/hypothesis", "/usr"])
        def test_cannot_write(folder):
            with pytest.raises(OSError):
                pathlib.Path(folder, "planted.txt").write_text("x")
        def test_private_tmp_is_writable(tmp_path):
            (tmp_path / "ok").write_text("fine")
    """,
    )
    gate, _ = _run(wheel, tests, sandbox, tmp_path)
    assert gate.passed, gate.findings
    assert gate.summary.startswith("5 tests passed")


def test_printed_fake_report_does_not_pass(
    wheel: Path, sandbox: BubblewrapSandbox, tmp_path: Path
) -> None:
    fake = '<testsuites><testsuite><testcase name="fine"/></testsuite></testsuites>'
    forged = f"@@planexe-junit-0000@@{fake}@@planexe-junit-end-0000@@"
    tests = _tests(
        tmp_path,
        f"""
        def test_forge():
            print({forged!r}, flush=True)
            assert False, "the real result"
    """,
    )
    gate, _ = _run(wheel, tests, sandbox, tmp_path)
    assert not gate.passed
    assert "test_forge" in gate.findings[0].message
