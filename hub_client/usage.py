"""Usage rows for the hub: one per stage execution of a run pointing at the hub.

A row the hub cannot take (it is down or out of reach) is not lost: it is kept in the run
directory (``.planexe/usage-pending-<hub>.jsonl``), the run says so once on standard error, and it
is sent at the next contact with the hub: the next stage that reports, or the next run that
reports anything (the folders holding unsent rows are listed in the user's cache).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast, get_args

from pydantic import ValidationError

from hub_client.client import PluginHubClient
from hub_client.errors import HubError, HubUnavailableError
from hub_client.records import UsageRecord
from hub_client.tier_policy import HubTierPolicy
from plan_pipeline.contract import CapabilityNeed
from plan_pipeline.errors import ContractViolationError
from plan_pipeline.hub_settings import HubSettings
from plan_pipeline.usage import Resolution, StageResult

log = logging.getLogger("planexe")


def pending_file(run_dir: Path, hub_url: str) -> Path:
    """Where ``run_dir`` keeps the rows the hub at ``hub_url`` could not take: one file per
    hub, so a row is only ever sent to the hub it was made for."""
    digest = hashlib.sha256(hub_url.encode()).hexdigest()[:16]
    return run_dir / ".planexe" / f"usage-pending-{digest}.jsonl"


LOCK_WAIT_S = 2.0
"""How long a report waits for another process's hold on a pending file before it goes on
without it (a send suspended by Ctrl-Z must not hang every stage)."""
MAX_PENDING_LINE = 64 * 1024
MAX_PENDING_ROWS = 100_000
MAX_INDEX_BYTES = 4 * 1024 * 1024


class HubUsageReporter:
    def __init__(self, client: PluginHubClient) -> None:
        self.client = client
        self._tiers = HubTierPolicy(client)
        self._kept_said = False
        self._hub_down = False

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
        violation: ContractViolationError | None = None,
    ) -> None:
        try:  # usage is bookkeeping: nothing here may fail a stage
            ran = (result.dist_name, result.version) if result is not None else None
            if violation is not None:
                ran = (violation.dist_name, violation.version)
            usage = UsageRecord(
                plugin_id=self._plugin_id(ran),
                capability=stage.capability,
                run_id=run_id,
                success=error_type is None,
                latency_ms=seconds * 1000,
                error_type=error_type,
                time_to_capability_ms=time_to_capability_ms,
                resolution=_resolution(resolution),
                violation=violation.violation if violation is not None else None,
            )
            self._send(usage, run_dir)
        except Exception as exc:
            log.warning(
                "could not record usage of stage %s: %s: %s",
                stage.name, type(exc).__name__, str(exc)[:200],
            )  # fmt: skip

    def _plugin_id(self, ran: tuple[str, str] | None) -> str | None:
        """The hub's id of the plugin that ran (distribution, version), while the hub
        answers (else none)."""
        if ran is None or not ran[0] or self._hub_down:
            return None
        try:
            record = self.client.by_dist(*ran)
        except HubUnavailableError:  # the row is kept without the plugin's id
            self._hub_down = True
            return None
        return record.plugin_id if record else None

    def _send(self, usage: UsageRecord, run_dir: Path | None) -> None:
        try:
            if self._hub_down:  # said once, asked once: a hub that is down costs no more
                raise HubUnavailableError(f"the hub at {self.client.api_url} is out of reach")
            self.send_pending()
            self.client.record_usage(usage)
        except HubUnavailableError as exc:
            self._hub_down = True
            if run_dir is None:
                raise
            self._keep(run_dir, usage, exc)

    def send_pending(self) -> int:
        """Send the rows kept for this hub while it was out of reach (from every run folder
        the user's cache lists for it); the number sent. ``HubUnavailableError`` while it
        still is: what was not sent stays kept."""
        sent = 0
        for folder in _pending_folders(self.client.api_url):
            sent += _send_folder(folder, self.client)
        return sent

    def _keep(self, run_dir: Path, usage: UsageRecord, exc: HubError) -> None:
        try:
            _keep(run_dir, usage, self.client.api_url)
        except OSError as problem:
            if not self._kept_said:
                self._kept_said = True
                print(
                    f"warning: {exc.problem}; usage rows of this run cannot be kept either "
                    f"({problem.strerror or problem}), so the hub's figures will miss them",
                    file=sys.stderr,
                )
            return
        if not self._kept_said:
            self._kept_said = True
            print(
                f"warning: {exc.problem}; usage rows are kept in "
                f"{pending_file(run_dir, self.client.api_url)} and "
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
#
# The pending file is opened without following links, must be a regular file of this user's,
# and is read and rewritten through the one descriptor that holds its lock: appends from the
# run's other worker processes wait for a send to finish, and a file swapped in meanwhile is
# never written. The user's cache lists, per hub, the run folders that hold rows for it.


def _index_file() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "planexe-plugin-hub" / "usage-pending-runs.txt"


@contextlib.contextmanager
def _locked(path: Path, create: bool = False) -> Iterator[int | None]:
    """A descriptor of ``path`` under an exclusive lock, or ``None`` when it is missing (and
    not ``create``), is not a regular file of this user's, or stays locked by another
    process for ``LOCK_WAIT_S``."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | (os.O_CREAT if create else 0), 0o600)
    except OSError:
        if create:
            raise
        yield None
        return
    try:
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()):
            yield None
            return
        yield fd if _lock(fd) else None
    finally:
        os.close(fd)


def _lock(fd: int) -> bool:
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _keep(run_dir: Path, usage: UsageRecord, hub_url: str) -> None:
    path = pending_file(run_dir, hub_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path, create=True) as fd:
        if fd is None:
            raise OSError(f"{path} is not a regular file of this user's, or stays locked")
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, (usage.model_dump_json() + "\n").encode())
        _list(run_dir.resolve(), hub_url)  # under the file's lock: a send cannot forget it


def _send_folder(folder: Path, client: PluginHubClient) -> int:
    with _locked(pending_file(folder, client.api_url)) as fd:
        if fd is None:
            return 0
        rows = _read_rows(fd)
        sent = 0
        try:
            for row in rows:
                try:
                    client.record_usage(row)
                except HubUnavailableError:
                    raise
                except HubError as exc:  # refused for good: dropping it is all there is to do
                    log.warning("the hub refused a kept usage row: %s", exc)
                sent += 1
        finally:  # also on an interrupt: what was sent is never sent again
            _rewrite(fd, rows[sent:])
        _forget(folder, client.api_url)  # under the file's lock: a keep waits, then lists
        return sent


def _read_rows(fd: int) -> list[UsageRecord]:
    os.lseek(fd, 0, os.SEEK_SET)
    rows: list[UsageRecord] = []
    with os.fdopen(os.dup(fd), "rb") as stream:
        while len(rows) < MAX_PENDING_ROWS:
            line = stream.readline(MAX_PENDING_LINE + 1)
            if not line:
                break
            if len(line) > MAX_PENDING_LINE:  # not a row of ours: skip the rest of it
                while line and not line.endswith(b"\n"):
                    line = stream.readline(MAX_PENDING_LINE + 1)
                continue
            try:
                rows.append(UsageRecord.model_validate_json(line))
            except ValidationError:
                continue  # a torn or foreign line: the hub would refuse it too
    return rows


def _rewrite(fd: int, rows: list[UsageRecord]) -> None:
    _replace_contents(fd, "".join(r.model_dump_json() + "\n" for r in rows).encode())


def _replace_contents(fd: int, data: bytes) -> None:
    """Write ``data`` over the file from its start, then cut what is left after it: an
    interruption in between leaves rows twice at worst, never none."""
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def _listed(index: int) -> list[tuple[str, Path]]:
    os.lseek(index, 0, os.SEEK_SET)
    with os.fdopen(os.dup(index), "rb") as stream:
        text = stream.read(MAX_INDEX_BYTES).decode("utf-8", "replace")
    entries = []
    for line in text.splitlines():
        hub, _, folder = line.partition("\t")
        if hub and folder:
            entries.append((hub, Path(folder)))
    return entries


def _list(folder: Path, hub_url: str) -> None:
    if any(c in str(folder) for c in "\t\n\r") or "\t" in hub_url:
        raise OSError(f"{folder!r} cannot be listed (a tab or line break in its name)")
    index = _index_file()
    index.parent.mkdir(parents=True, exist_ok=True)
    with _locked(index, create=True) as fd:
        if fd is not None and (hub_url, folder) not in _listed(fd):
            os.lseek(fd, 0, os.SEEK_END)
            os.write(fd, f"{hub_url}\t{folder}\n".encode())


def _pending_folders(hub_url: str) -> list[Path]:
    with _locked(_index_file()) as fd:
        return [folder for hub, folder in _listed(fd) if hub == hub_url] if fd is not None else []


def _forget(folder: Path, hub_url: str) -> None:
    with _locked(_index_file()) as fd:
        if fd is None:
            return
        kept = [(hub, f) for hub, f in _listed(fd) if (hub, f) != (hub_url, folder)]
        _replace_contents(fd, "".join(f"{hub}\t{f}\n" for hub, f in kept).encode())
