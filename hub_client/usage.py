"""Usage rows for the hub: one per stage execution of a run pointing at the hub.

A row the hub cannot take (it is down or out of reach) is not lost: it is kept in the run
directory (``.planexe/usage-pending.jsonl``), the run says so once on standard error, and it
is sent at the next contact with the hub: the next stage that reports, or the next run that
reports anything (the folders holding unsent rows are listed in the user's cache).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast, get_args

from pydantic import ValidationError

from hub_client.client import PluginHubClient
from hub_client.errors import HubError, HubUnavailableError
from hub_client.records import UsageRecord
from hub_client.tier_policy import HubTierPolicy
from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.hub_settings import HubSettings
from plan_pipeline.usage import Resolution, StageResult

log = logging.getLogger("planexe")

PENDING_FILE = Path(".planexe") / "usage-pending.jsonl"
"""Rows the hub could not take, relative to the run directory."""
MAX_PENDING_LINE = 64 * 1024


class HubUsageReporter:
    def __init__(self, client: PluginHubClient) -> None:
        self.client = client
        self._tiers = HubTierPolicy(client)
        self._kept_said = False

    @classmethod
    def from_env(cls, hub: HubSettings | None = None) -> HubUsageReporter:
        # an unreachable hub is no reason to stop here: installed plugins keep running under
        # the signed metadata verified before (said once on standard error), and a stage that
        # needs the hub fails with the fix
        environ = hub.environ() if hub is not None else None
        return cls(PluginHubClient.from_env(environ, role="publish"))

    def check_setup(self, publish: bool) -> None:
        self.client.check_setup(publish)

    def tier_policy(self) -> HubTierPolicy:
        return self._tiers

    def report(
        self,
        stage: CapabilityNeed,
        run_id: str,
        result: StageResult | None,
        seconds: float,
        error_type: str | None,
        time_to_capability_ms: float | None,
        resolution: str | None = None,
        run_dir: Path | None = None,
    ) -> None:
        try:
            plugin_id = None
            if result is not None and result.dist_name:
                record = self.client.by_dist(result.dist_name, result.version)
                plugin_id = record.plugin_id if record else None
            usage = UsageRecord(
                plugin_id=plugin_id,
                capability=stage.capability,
                run_id=run_id,
                success=error_type is None,
                latency_ms=seconds * 1000,
                error_type=error_type,
                time_to_capability_ms=time_to_capability_ms,
                resolution=_resolution(resolution),
            )
        except HubUnavailableError:  # the plugin's id is not known without the hub
            usage = UsageRecord(
                plugin_id=None, capability=stage.capability, run_id=run_id,
                success=error_type is None, latency_ms=seconds * 1000, error_type=error_type,
                time_to_capability_ms=time_to_capability_ms, resolution=_resolution(resolution),
            )  # fmt: skip
        except HubError as exc:  # usage is bookkeeping: never fail a stage for it
            log.warning("could not record usage of stage %s: %s", stage.name, exc)
            return
        try:
            self.send_pending()
            self.client.record_usage(usage)
        except HubUnavailableError as exc:
            if run_dir is None:
                log.warning("could not record usage of stage %s: %s", stage.name, exc)
                return
            _keep(run_dir, usage)
            self._say_kept_once(run_dir, exc)
        except HubError as exc:
            log.warning("could not record usage of stage %s: %s", stage.name, exc)

    def send_pending(self) -> int:
        """Send the rows kept while the hub was out of reach (every run folder listed in the
        user's cache); the number sent. ``HubUnavailableError`` while it still is."""
        sent = 0
        for folder in _pending_folders():
            with _locked(folder / PENDING_FILE) as pending:
                if pending is None:
                    continue
                rows = _read_rows(pending)
                for index, row in enumerate(rows):
                    try:
                        self.client.record_usage(row)
                    except HubUnavailableError:
                        _rewrite(pending, rows[index:])
                        raise
                    except HubError as exc:  # refused for good: dropping it is all we can do
                        log.warning("the hub refused a kept usage row: %s", exc)
                    sent += 1
                _rewrite(pending, [])
            _forget(folder)
        return sent

    def _say_kept_once(self, run_dir: Path, exc: HubError) -> None:
        if self._kept_said:
            return
        self._kept_said = True
        print(
            f"warning: {exc.problem}; usage rows are kept in {run_dir / PENDING_FILE} and "
            "sent at the next contact with the hub",
            file=sys.stderr,
        )


def _resolution(value: str | None) -> Resolution | None:
    """``value`` as a usage row's resolution (``None``: the stage ended before it resolved
    its capability, or the client does not say)."""
    return cast(Resolution, value) if value in get_args(Resolution) else None


def from_environment(hub: HubSettings | None = None) -> HubUsageReporter:
    """The ``hub`` entry point of ``planexe.usage_reporters``: ``hub``, else the environment."""
    return HubUsageReporter.from_env(hub)


# -- the rows kept in run directories ---------------------------------------------------------


def _index_file() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "planexe-plugin-hub" / "usage-pending-runs.txt"


def _keep(run_dir: Path, usage: UsageRecord) -> None:
    path = run_dir / PENDING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:  # one short append per row: never torn
        out.write(usage.model_dump_json() + "\n")
    index = _index_file()
    index.parent.mkdir(parents=True, exist_ok=True)
    if str(run_dir.resolve()) not in _pending_folders_listed(index):
        with index.open("a", encoding="utf-8") as out:
            out.write(str(run_dir.resolve()) + "\n")


def _pending_folders_listed(index: Path) -> list[str]:
    try:
        return [line for line in index.read_text(encoding="utf-8").splitlines() if line]
    except (OSError, UnicodeDecodeError):
        return []


def _pending_folders() -> list[Path]:
    return [Path(line) for line in _pending_folders_listed(_index_file())]


def _forget(folder: Path) -> None:
    index = _index_file()
    kept = [line for line in _pending_folders_listed(index) if Path(line) != folder]
    with contextlib.suppress(OSError):
        tmp = index.with_name(f"{index.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        tmp.replace(index)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[Path | None]:
    """``path`` under an exclusive lock (other workers of the run append and send too), or
    ``None`` when it is not a regular file of this user's."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        yield None
        return
    try:
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid()):
            yield None
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)


def _read_rows(path: Path) -> list[UsageRecord]:
    rows = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if len(line) > MAX_PENDING_LINE:
                continue
            try:
                rows.append(UsageRecord.model_validate_json(line))
            except ValidationError:
                continue  # a torn or foreign line: the hub would refuse it too
    return rows


def _rewrite(path: Path, rows: list[UsageRecord]) -> None:
    path.write_text("".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8")
