"""The contract-test gate: the plugin's own tests, run in the sandbox against its wheel."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path
from xml.etree import ElementTree

from synthesizer.errors import BuildError
from synthesizer.report import Finding, GateResult
from synthesizer.sandbox import Mount, Sandbox, SandboxLimits, SandboxResult, python_mounts

SITE, TESTS, HYPOTHESIS_WARM = "/sandbox/site", "/sandbox/tests", "/sandbox/hypothesis"

# Inside the sandbox everything the tests write stays in its private /tmp (memory, counted by
# the sandbox's memory limit): nothing on the host is writable. The JUnit report comes back on
# standard output between two markers made from a nonce that only this shell knows (it is an
# unexported variable, invisible to the tests' environment).
_RUNNER = """
n=$1; py=$2; warm=$3; tests=$4
t=$(mktemp -d) || exit 70
cp -r "$warm" "$t/hypothesis" 2>/dev/null
export HYPOTHESIS_STORAGE_DIRECTORY="$t/hypothesis"
"$py" -m pytest -q -p no:cacheprovider --junitxml="$t/junit.xml" -o junit_family=xunit2 "$tests"
status=$?
echo "@@planexe-junit-$n@@"
cat "$t/junit.xml" 2>/dev/null
echo "@@planexe-junit-end-$n@@"
exit $status
"""
_WARM_HYPOTHESIS = (
    "from hypothesis.internal.charmap import charmap, intervals_from_codec; "
    "charmap(); intervals_from_codec('utf-8')"
)


@cache
def warm_hypothesis_storage() -> Path:
    """A hypothesis storage folder with its Unicode tables already computed.

    Hypothesis computes those tables on first use (about 1 s) and caches them in its storage
    folder. The sandbox starts from nothing each time, so each run gets a copy of this warm
    folder instead; computing it runs only hypothesis itself, never plugin code.
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "planexe-plugin-hub" / "hypothesis"
    if not list(folder.glob("unicode_data/*/codec-*")):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-c", _WARM_HYPOTHESIS],
            env={**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(folder)},
            check=False,
            capture_output=True,
        )
    return folder


def unpack_wheel(wheel: Path, target: Path) -> Path:
    """Unpack a pure-Python wheel (what installing it does), refusing unsafe member paths."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            dest = (root / member).resolve()
            if not dest.is_relative_to(root) or member.startswith("/"):
                raise BuildError(f"wheel {wheel.name} has an unsafe member path {member!r}")
        archive.extractall(root)
    return root


def contract_test_gate(
    wheel: Path,
    tests_dir: Path,
    sandbox: Sandbox,
    work: Path,
    *,
    limits: SandboxLimits | None = None,
    property_examples: int = 50,
) -> GateResult:
    """Run ``tests_dir`` with pytest in ``sandbox`` against ``wheel``; pass only if all pass."""
    limits = limits or SandboxLimits()
    work.mkdir(parents=True, exist_ok=True)
    site = unpack_wheel(wheel, work / "site")
    mounts = [
        *python_mounts(),
        Mount(site, SITE),
        Mount(tests_dir.resolve(), TESTS),
        Mount(warm_hypothesis_storage(), HYPOTHESIS_WARM),
    ]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "PYTHONPATH": SITE,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PLANEXE_PROPERTY_EXAMPLES": str(property_examples),
    }
    nonce = secrets.token_hex(16)
    argv = ["/bin/sh", "-c", _RUNNER, "sandbox", nonce, sys.executable, HYPOTHESIS_WARM, TESTS]
    result = sandbox.run(argv, mounts, env, limits, work)
    return _judge(result, _junit_from(result.output, nonce), limits, sandbox.name)


def _junit_from(output: str, nonce: str) -> str | None:
    """The JUnit report between the nonce markers (the last pair), if the runner got there."""
    begin, end = f"@@planexe-junit-{nonce}@@", f"@@planexe-junit-end-{nonce}@@"
    start = output.rfind(begin)
    stop = output.rfind(end)
    if start < 0 or stop < start:
        return None
    return output[start + len(begin) : stop].strip() or None


def _judge(
    result: SandboxResult, junit: str | None, limits: SandboxLimits, where: str
) -> GateResult:
    tests, findings = _read_junit(junit)
    stopped = None
    if result.timed_out:
        stopped = f"stopped after the wall-clock limit of {limits.wall_seconds:.0f} s"
    elif result.signal_name:
        stopped = (
            f"killed by {result.signal_name} (a limit was reached: CPU time "
            f"{limits.cpu_seconds} s, memory, {limits.max_processes} processes or file size)"
        )
    elif result.returncode != 0 and not findings:
        stopped = f"pytest exited with {result.returncode}"
    if stopped:
        tail = " | ".join(result.output.strip().splitlines()[-3:])
        findings.append(Finding(rule="sandbox", message=f"{stopped}: {tail}"[:500]))
    passed = result.returncode == 0 and tests > 0 and not findings
    if passed:
        summary = f"{tests} tests passed in {where} ({result.duration_s:.2f} s)"
    elif tests == 0 and not findings:
        summary = "no tests ran"
        findings.append(Finding(rule="sandbox", message="the plugin has no tests that ran"))
    else:
        summary = f"{len(findings)} problem(s), first: {findings[0].message}"
    return GateResult(
        name="contract_tests",
        passed=passed,
        summary=summary,
        findings=findings,
        duration_s=result.duration_s,
    )


def _read_junit(text: str | None) -> tuple[int, list[Finding]]:
    if text is None:
        return 0, []
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return 0, [Finding(rule="sandbox", message="the test report is not valid XML")]
    tests = 0
    findings = []
    for case in root.iter("testcase"):
        tests += 1
        for kind in ("failure", "error"):
            for problem in case.findall(kind):
                message = (problem.get("message") or problem.text or kind).strip().splitlines()
                findings.append(Finding(
                    rule=f"test-{kind}",
                    message=f"{case.get('name')}: {message[0][:300] if message else kind}",
                    path=case.get("classname"),
                ))  # fmt: skip
    return tests, findings
