"""What a sandboxed program can learn about its host from the processes it sees: nothing of
the host's paths (the sources of its mounts) in any process's command line, and nothing of
the host's environment (its working folder among them). What a plugin reads of its mounts is
the same in a gate and in a pipeline (``test_plugin_worker.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plan_pipeline.sandbox import BubblewrapSandbox, Mount, SandboxLimits

PROBE = (
    'for p in /proc/[0-9]*; do cat "$p/cmdline" "$p/environ" 2>/dev/null; echo; done; '
    # the descriptor bubblewrap read its arguments from must not be inherited
    "ls -l /proc/self/fd; for f in /proc/self/fd/[3-9]*; do cat $f 2>/dev/null; done; true"
)


def test_no_host_path_or_variable_is_readable_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_dir = tmp_path / "host-only-folder-7f3a"
    secret_dir.mkdir()
    (secret_dir / "module.py").write_text("x = 1\n")
    workdir = tmp_path / "host-working-folder-91bc"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("PLANEXE_HUB_TOKEN", "host-secret-5d2e")
    process = BubblewrapSandbox.detect().spawn(
        ["/bin/sh", "-c", PROBE], [Mount(secret_dir, "/opt/plugin")], {}, SandboxLimits()
    )
    try:
        assert process.popen.stdin is not None and process.popen.stdout is not None
        process.popen.stdin.close()
        seen = process.popen.stdout.read().decode("utf-8", "replace")
        assert process.popen.wait(timeout=30) == 0, process.stderr_tail()
    finally:
        process.kill()
    assert "bwrap" in seen and "--args" in seen  # the sandbox's first process was read
    for host in ("host-only-folder-7f3a", "host-working-folder-91bc", "host-secret-5d2e"):
        assert host not in seen
    assert str(tmp_path) not in seen
    assert f"PWD={os.getcwd()}" not in seen
