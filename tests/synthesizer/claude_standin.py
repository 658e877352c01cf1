"""A stand-in for the ``claude`` CLI on ``PATH``: it answers ``claude -p --output-format json``
with the JSON envelope the real CLI prints (``type``, ``subtype``, ``is_error``, ``result``,
``usage``, ``total_cost_usd``), from a script of envelopes (the n-th call gets the n-th; the
last repeats). Each call is logged: its arguments, standard input, system prompt file, working
folder and environment names. A script entry ``{"raw": "...", "exit": N}`` prints that text
instead and exits with N (a broken or logged-out CLI); ``{"hang": FILE}`` starts a child
process, writes its pid into FILE and never answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCRIPT = """#!{python}
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
log = Path({log!r})
system = ""
if "--system-prompt-file" in args:
    system = Path(args[args.index("--system-prompt-file") + 1]).read_text()
calls = log.read_text().splitlines() if log.exists() else []
entry = {{"argv": args, "stdin": sys.stdin.read(), "system": system, "cwd": os.getcwd(),
         "cwd_files": os.listdir("."), "env": sorted(os.environ)}}
with log.open("a") as f:
    f.write(json.dumps(entry) + "\\n")
script = json.loads(Path({script!r}).read_text())
answer = script[min(len(calls), len(script) - 1)]
if "hang" in answer:  # a CLI that never answers, with a child of its own
    import subprocess, time
    child = subprocess.Popen(["sleep", "300"])
    Path(answer["hang"]).write_text(str(child.pid))
    time.sleep(300)
if "raw" in answer:
    sys.stdout.write(answer["raw"])
    sys.exit(answer.get("exit", 0))
print(json.dumps(answer))
"""


def envelope(result: str, is_error: bool = False, cost: float = 0.0123) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "error_during_execution" if is_error else "success",
        "is_error": is_error,
        "result": result,
        "structured_output": None,
        "usage": {"input_tokens": 1500, "cache_read_input_tokens": 200,
                  "cache_creation_input_tokens": 0, "output_tokens": 300},
        "total_cost_usd": cost,
    }  # fmt: skip


def claude_on_path(folder: Path, answers: list[dict[str, Any]]) -> tuple[Path, Path]:
    """A ``claude`` executable in ``folder/bin`` answering ``answers``; (bin folder, log)."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script, log = folder / "claude-script.json", folder / "claude-calls.jsonl"
    script.write_text(json.dumps(answers))
    claude = bin_dir / "claude"
    claude.write_text(SCRIPT.format(python=sys.executable, log=str(log), script=str(script)))
    claude.chmod(0o755)
    return bin_dir, log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
