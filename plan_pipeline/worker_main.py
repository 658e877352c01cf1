"""The plugin worker's program: runs inside the sandbox and serves one plugin's hooks.

Started as ``python -I -S -B worker_main.py HOOKSPECS PATH...`` by ``plugin_worker.py``. It
imports nothing of this project but the contract (``HOOKSPECS``, the file
``plan_pipeline/hookspecs.py``): only the standard library, ``pluggy`` and the plugin, from the
folders named on the command line.

Protocol: one JSON object per line. The worker first says ``{"id": -1, "up": true}``, before
any plugin code can have run (the host takes the processes it sees then as the worker's own;
any other is killed after each answer). It imports pluggy and the contract, then reads
``{"id": 0, "load": "module:attribute"}`` (the entry point's target; its files may arrive in
PATH only after the start) and answers ``{"id": 0, "ok": true}`` once the plugin is imported
(or ``ok: false`` with the error). Then, for every request
``{"id": N, "hook": "planexe_run" | "planexe_describe", "kwargs": {...}}`` it answers
``{"id": N, "ok": true, "result": ...}`` or ``{"id": N, "ok": false, "error": "..."}``.

Nothing here is trusted by the pipeline: the plugin shares this process and could write any
answer. The host checks every answer itself (identifier, size, JSON, schemas); what the
plugin prints goes to standard error, so stray output cannot break the framing by accident.
"""

import importlib
import importlib.util
import json
import os
import sys
from typing import Any, TextIO


def _answer(stream: TextIO, message: dict[str, Any]) -> None:
    try:
        line = json.dumps(message, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        line = json.dumps(
            {"id": message["id"], "ok": False, "error": f"the answer is not plain JSON: {exc}"}
        )
    stream.write(line + "\n")
    stream.flush()


def _contract(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("planexe_hookspecs", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the plugin contract from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plugin_line(exc: BaseException, paths: list[str]) -> str:
    """Where in the plugin's own files ``exc`` was raised: the innermost frame under one of
    ``paths``, as "file.py line N" (empty when none is)."""
    import traceback

    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if any(frame.filename.startswith(path.rstrip("/") + "/") for path in paths):
            return f"{os.path.basename(frame.filename)} line {frame.lineno}"
    return ""


def main() -> int:
    hookspecs_path, paths = sys.argv[1], sys.argv[2:]
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the plugin's prints go to standard error
    sys.stdout = sys.stderr
    _answer(answers, {"id": -1, "up": True})
    sys.path[:0] = paths
    try:
        import pluggy

        hookspecs = _contract(hookspecs_path)
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        target = json.loads(sys.stdin.readline() or "null")["load"]
        importlib.invalidate_caches()  # the plugin's files may be newer than the first lookups
        module_name, _, attribute = target.partition(":")
        plugin = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            plugin = getattr(plugin, part)
        manager.register(plugin)
        manager.check_pending()
    except BaseException as exc:  # report anything, even SystemExit, as a failed start
        what = f"{type(exc).__name__}: {exc}"
        if type(exc).__name__ == "PluginValidationError":
            what = f"it breaks the plugin contract: {exc}"
        _answer(answers, {"id": 0, "ok": False, "error": " ".join(what.split())})
        return 1
    _answer(answers, {"id": 0, "ok": True})
    for line in sys.stdin:
        request = json.loads(line)
        ident = request["id"]
        try:
            hook = getattr(manager.hook, request["hook"])
            answer = {"id": ident, "ok": True, "result": hook(**request["kwargs"])}
        except Exception as exc:
            where = _plugin_line(exc, paths)
            error = f"{type(exc).__name__}: {exc}" + (f" ({where})" if where else "")
            answer = {"id": ident, "ok": False, "error": error}
        _answer(answers, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
