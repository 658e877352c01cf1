"""The capability registry: which installed plugin provides which capability.

The registry reads entry points (``planexe.plugins``) from installed metadata and imports
nothing until a capability is loaded; then it imports only the chosen provider. Start-up cost
therefore grows with the number of installed distributions' metadata files, never with plugin
code.

When several distributions claim one capability, the choice is deterministic (best trust tier,
then highest version, then distribution name) and every loser is reported in the
``Selection``; the pipeline prints those reports.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata as metadata
import importlib.util
import os
import site
import sysconfig
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from plan_pipeline import hookspecs, installed_entry_points
from plan_pipeline.capability_names import is_valid_capability_name, validate_capability_name
from plan_pipeline.errors import (
    CapabilityNotFoundError,
    HostDistributionsError,
    PlanFileError,
    PlanPipelineError,
    PluginLoadError,
    PluginRunError,
    PluginWorkerError,
)
from plan_pipeline.plugin_worker import PluginWorker, PrestartedWorker, WorkerPlugin
from plan_pipeline.quarantine import LocalQuarantine
from plan_pipeline.sandbox import BubblewrapSandbox, Sandbox, SandboxLimits, UnsafeNoSandbox
from plan_pipeline.schema_judge import JUDGE_LIMITS, SchemaJudge
from plan_pipeline.trust import (
    BUILTIN_DISTRIBUTION,
    BUILTIN_MODULES,
    LocalTierPolicy,
    Tier,
    TierPolicy,
)

if TYPE_CHECKING:
    from plan_pipeline.answer_checks import AnswerChecks

RUN_PLUGIN_DIR = ".plugins"
"""Folder inside a run directory for plugins installed for that run only (dry-run)."""
HOST_DISTRIBUTIONS_ENV = "PLANEXE_HOST_DISTRIBUTIONS"
"""The host application's distributions whose plugins rank ``core``, comma-separated, each
as ``NAME=FOLDER``: the folder its code is imported from (the host's checkout)."""


@dataclass(frozen=True)
class Provider:
    """One installed entry point that claims a capability."""

    capability: str
    target: str
    entry_point: metadata.EntryPoint = field(repr=False, compare=False)

    @cached_property
    def dist_name(self) -> str:
        dist = self.entry_point.dist
        return dist.name if dist is not None else "<unknown>"

    @cached_property
    def version(self) -> str:
        dist = self.entry_point.dist
        return dist.version if dist is not None else "0"

    def parsed_version(self) -> Version:
        try:
            return Version(self.version)
        except InvalidVersion:
            return Version("0")

    def describe(self) -> str:
        return f"{self.dist_name} {self.version}"


@dataclass(frozen=True)
class Selection:
    """The provider chosen for a capability, and the ones that lost or were excluded."""

    capability: str
    chosen: Provider
    tier: Tier
    losers: tuple[tuple[Provider, Tier], ...] = ()

    def conflict_report(self) -> str | None:
        """One line naming the choice and every loser, or ``None`` without a conflict."""
        if not self.losers:
            return None
        lost = ", ".join(f"{p.describe()} ({t.value})" for p, t in self.losers)
        return (
            f"capability '{self.capability}' is provided by {len(self.losers) + 1} plugins: "
            f"using {self.chosen.describe()} ({self.tier.value}); ignoring {lost}"
        )


@dataclass
class LoadedCapability:
    """A capability whose provider is ready to run: imported and registered in this process,
    or (below the policy's in-process tiers) started in a sandboxed plugin worker."""

    selection: Selection
    description: dict[str, Any]
    _call: Callable[..., Any]
    worker: PluginWorker | None = None
    """The sandboxed worker that runs the provider, or ``None`` when it runs in-process."""
    judge: SchemaJudge | None = None
    """What its inputs and outputs are checked by (here when cheap, else in the sandbox)."""
    checks: AnswerChecks | None = None
    """The run-time checks of a sandboxed provider's answers against the stage contract."""

    @property
    def capability(self) -> str:
        return self.selection.capability

    @property
    def input_schema(self) -> dict[str, Any]:
        schema = self.description.get("input_schema", {"type": "object"})
        return schema if isinstance(schema, dict) else {"type": "object"}

    @property
    def output_schema(self) -> dict[str, Any]:
        schema = self.description.get("output_schema", {"type": "object"})
        return schema if isinstance(schema, dict) else {"type": "object"}

    def run(self, inputs: dict[str, Any], context: dict[str, Any]) -> Any:
        """Call the provider's ``planexe_run`` hook (exceptions propagate)."""
        return self._call(capability=self.capability, inputs=inputs, context=context)


def parse_version_spec(spec: str | None) -> SpecifierSet | None:
    """Parse a version range such as ``>=1.0,<2``; ``None`` or empty means any version."""
    if not spec:
        return None
    try:
        return SpecifierSet(spec)
    except InvalidSpecifier as exc:
        raise PlanFileError(
            f"invalid version range {spec!r}: {exc}", "Write a range such as '>=1.0,<2'"
        ) from exc


def host_distributions_from_env() -> dict[str, Path]:
    """``PLANEXE_HOST_DISTRIBUTIONS`` read: each ``NAME=FOLDER`` (``HostDistributionsError``
    for an entry without its folder: a name alone is what any package index can offer)."""
    named: dict[str, Path] = {}
    for entry in os.environ.get(HOST_DISTRIBUTIONS_ENV, "").split(","):
        if not entry.strip():
            continue
        name, sep, folder = entry.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise HostDistributionsError(
                f"{HOST_DISTRIBUTIONS_ENV} names {entry.strip()[:80]!r} without the folder its "
                "code is imported from",
                f"Write it as NAME=FOLDER, e.g. {HOST_DISTRIBUTIONS_ENV}=PlanExe=/srv/PlanExe",
            )
        named[name.strip()] = Path(folder.strip())
    return named


def _imported_from(target: str, folder: Path) -> bool:
    """Whether the top-level module of the entry point ``target`` is imported from inside
    ``folder`` (found as an import would find it; nothing of it runs). A package from an
    index lands in site-packages, not in the host's folder."""
    top = target.partition(":")[0].split(".")[0].strip()
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    found = list(spec.submodule_search_locations or []) or [spec.origin or ""]
    places = [Path(p).resolve() for p in found if p]
    installed = _install_folders()
    return bool(places) and all(
        place.is_relative_to(folder)
        and not any(place.is_relative_to(i) for i in installed)
        and not _INSTALLER_FOLDER_NAMES & set(place.parts)
        for place in places
    )


_INSTALLER_FOLDER_NAMES = frozenset({"site-packages", "dist-packages"})
"""Folders only installers write, in any environment (another virtualenv in the checkout)."""


@functools.cache
def _install_folders() -> list[Path]:
    """Where installers put packages: this environment's library folders, its base
    interpreter's and the user's site-packages. The host's checkout often holds its own
    virtualenv (``.venv``), and a package from an index lands there, inside the host's folder
    but never the host's code."""
    folders = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    with contextlib.suppress(AttributeError):
        folders |= set(site.getsitepackages())
    with contextlib.suppress(AttributeError):
        folders.add(site.getusersitepackages())
    return [Path(f).resolve() for f in folders if f]


def _in_run_folder(provider: Provider) -> bool:
    """Whether ``provider``'s distribution lies in a run's own plugin folder."""
    dist = provider.entry_point.dist
    return dist is not None and Path(str(dist.locate_file(""))).name == RUN_PLUGIN_DIR


def _description(selection: Selection, description: object) -> dict[str, Any]:
    if not isinstance(description, dict):
        raise PluginLoadError(
            f"plugin {selection.chosen.describe()} claims '{selection.capability}' in its entry "
            "points but its planexe_describe hook does not describe it",
            "Fix the plugin's planexe_describe hook or its entry point",
        )
    return description


class CapabilityRegistry:
    """Installed capabilities, seen from metadata; providers imported only on demand."""

    def __init__(
        self,
        tier_policy: TierPolicy | None = None,
        limits: SandboxLimits | None = None,
        host_distributions: Mapping[str, Path] | None = None,
        judge_limits: SandboxLimits = JUDGE_LIMITS,
        quarantine: LocalQuarantine | None = None,
    ) -> None:
        if host_distributions is None:
            host_distributions = host_distributions_from_env()
        # the host application's distributions (e.g. PlanExe's): trusted like it, ``core``,
        # where their code is imported from the host's own folder
        self._host = {
            canonicalize_name(name): Path(folder).resolve()
            for name, folder in host_distributions.items()
        }
        self._tier_policy: TierPolicy = tier_policy or LocalTierPolicy()
        self._limits = limits or SandboxLimits()
        self._sandbox: Sandbox | None = None
        self._prestarted: PrestartedWorker | None = None
        self._providers: dict[str, list[Provider]] | None = None
        self._ignored: list[str] = []
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._loaded: dict[str, LoadedCapability] = {}
        self._judge: SchemaJudge | None = None
        self._judge_limits = judge_limits
        self.quarantine = quarantine or LocalQuarantine()
        """Plugins this environment stopped running (their answers broke a contract)."""
        self._answer_checks: AnswerChecks | None = None

    # -- discovery (metadata only) ---------------------------------------------------------

    def _scan(self) -> dict[str, list[Provider]]:
        if self._providers is None:
            providers: dict[str, list[Provider]] = {}
            ignored: list[str] = []
            for ep in installed_entry_points.entry_points(hookspecs.ENTRY_POINT_GROUP):
                if not is_valid_capability_name(ep.name):
                    ignored.append(
                        f"entry point {ep.name!r} -> {ep.value}: invalid capability name"
                    )
                    continue
                providers.setdefault(ep.name, []).append(Provider(ep.name, ep.value, ep))
            self._providers = providers
            self._ignored = ignored + installed_entry_points.disowned()
        return self._providers

    def refresh(self) -> None:
        """Forget what was scanned, e.g. after a plugin was installed or removed."""
        importlib.invalidate_caches()
        self._providers = None

    @property
    def ignored(self) -> list[str]:
        """Entry points skipped because their names break the rules."""
        self._scan()
        return list(self._ignored)

    def capabilities(self) -> list[str]:
        """Every installed capability name, sorted."""
        return sorted(self._scan())

    def providers(self, capability: str) -> list[Provider]:
        """Every installed provider of ``capability`` (no import)."""
        return list(self._scan().get(validate_capability_name(capability), []))

    def has(self, capability: str) -> bool:
        return capability in self._scan()

    # -- choice ----------------------------------------------------------------------------

    def select(self, capability: str, version: str | None = None) -> Selection:
        """Choose the provider of ``capability`` (within ``version`` if given).

        Raises ``CapabilityNotFoundError`` naming every installed provider that was excluded
        (quarantined or outside the version range).
        """
        spec = parse_version_spec(version)
        eligible: list[tuple[Provider, Tier]] = []
        excluded: list[str] = []
        for provider in self.providers(capability):
            tier = self._tier_of(provider)
            if tier is Tier.QUARANTINED:
                excluded.append(f"{provider.describe()} is quarantined")
            elif spec is not None and not spec.contains(
                provider.parsed_version(), prereleases=True
            ):
                excluded.append(f"{provider.describe()} is outside {version}")
            else:
                eligible.append((provider, tier))
        if not eligible:
            raise CapabilityNotFoundError(capability, version, excluded)
        # best tier, then highest version; equal ones keep distribution-name order (stable sort)
        by_name = sorted(eligible, key=lambda item: item[0].dist_name.lower())
        ranked = sorted(
            by_name, key=lambda item: (item[1].rank, item[0].parsed_version()), reverse=True
        )
        (chosen, tier), losers = ranked[0], tuple(ranked[1:])
        return Selection(capability, chosen, tier, losers)

    def _tier_of(self, provider: Provider) -> Tier:
        """The policy's tier; but this project's built-ins and the host's distributions are
        ``core`` whatever a policy says: a distribution taking this project's name ranks
        ``generated`` for an entry point outside the built-in modules (no hub publishes that
        name, so none is asked), a host's name counts only where its code is imported from the
        host's folder and the policy has not revoked it, and a distribution that borrows a name
        in its METADATA only is never listed (``installed_entry_points``). Before all that, a
        plugin this environment quarantined is ``quarantined``."""
        if self.quarantine.holds(provider.dist_name, provider.version):
            return Tier.QUARANTINED
        if _in_run_folder(provider):
            # a run's own folder holds what a dry-run installed: never more than generated,
            # whatever name, metadata or install record a file planted there claims
            tier = self._tier_policy.tier_of(
                provider.dist_name, provider.version, provider.entry_point.dist
            )
            return tier if tier.rank <= Tier.GENERATED.rank else Tier.GENERATED
        name = canonicalize_name(provider.dist_name)
        if name == BUILTIN_DISTRIBUTION:
            return Tier.CORE if provider.target.startswith(BUILTIN_MODULES) else Tier.GENERATED
        tier = self._tier_policy.tier_of(
            provider.dist_name, provider.version, provider.entry_point.dist
        )
        if tier is Tier.QUARANTINED:  # revoked: never loaded, whatever its name
            return tier
        if name in self._host and _imported_from(provider.target, self._host[name]):
            return Tier.CORE
        return tier

    # -- loading (imports the chosen provider only) ----------------------------------------

    def load(
        self, capability: str, version: str | None = None, *, network: bool = False
    ) -> LoadedCapability:
        """Make the chosen provider of ``capability`` ready to run; cached per capability.

        A provider whose tier the policy runs in-process is imported and registered here;
        any other starts in a sandboxed worker (with the network only when ``network``), and
        nothing of it is imported into this process.
        """
        key = f"{capability}{version or ''}{' +network' if network else ''}"
        if key in self._loaded:
            cached = self._loaded[key]
            chosen = cached.selection.chosen
            if not self.quarantine.holds(chosen.dist_name, chosen.version):
                return cached
            del self._loaded[key]  # quarantined while this process ran: never again here
            if cached.worker is not None:
                cached.worker.close()
        selection = self.select(capability, version)
        if selection.tier in self._tier_policy.in_process_tiers:
            loaded = self._load_in_process(selection)
        else:
            loaded = self._load_isolated(selection, network)
        self._loaded[key] = loaded
        return loaded

    def _load_in_process(self, selection: Selection) -> LoadedCapability:
        capability = selection.capability
        plugin = self._import(selection.chosen)
        others = [p for p in self._pm.get_plugins() if p is not plugin]
        describe = self._pm.subset_hook_caller("planexe_describe", remove_plugins=others)
        run = self._pm.subset_hook_caller("planexe_run", remove_plugins=others)
        try:
            description = describe(capability=capability)
        except Exception as exc:  # plugin code: report, never crash the pipeline
            raise PluginLoadError(
                f"plugin {selection.chosen.describe()} failed to describe '{capability}': {exc}",
                "Fix or uninstall that plugin",
            ) from exc
        checked = _description(selection, description)
        return LoadedCapability(selection, checked, run, None, self.schema_judge())

    def _load_isolated(self, selection: Selection, network: bool) -> LoadedCapability:
        chosen = selection.chosen
        dist = chosen.entry_point.dist
        if dist is None:
            raise PluginLoadError(
                f"plugin {chosen.describe()} has no installed distribution to isolate",
                "Reinstall that plugin with pip or uv",
            )
        plugin = WorkerPlugin.from_distribution(dist, chosen.target)
        early, self._prestarted = self._prestarted, None
        worker: PluginWorker | None = None
        try:
            judge = self.schema_judge()
            if early is not None and early.fits(plugin, network=network):
                worker = early.hand_over(plugin)
            else:
                if early is not None:
                    early.close()
                worker = PluginWorker(plugin, self.sandbox(), self._limits, network=network)
            description = worker.describe(selection.capability)
        except BaseException as exc:
            if worker is not None:
                worker.close()
            if not isinstance(exc, PluginRunError | PluginWorkerError):
                raise
            raise PluginLoadError(
                f"cannot load plugin {chosen.describe()} ({chosen.target}) for "
                f"'{selection.capability}': {exc.problem}",
                "Fix, reinstall or uninstall that plugin",
            ) from None
        try:
            checked = _description(selection, description)
        except PluginLoadError:
            worker.close()
            raise
        return LoadedCapability(selection, checked, worker.run, worker, judge, self.answer_checks())

    def schema_judge(self) -> SchemaJudge:
        """The judge of stage data, shared by every capability (its sandboxed child starts
        only when a check needs it)."""
        if self._judge is None:
            self._judge = SchemaJudge(self.sandbox, self._judge_limits)
        return self._judge

    def sandbox(self) -> Sandbox:
        """The sandbox for plugin workers: bubblewrap, or with ``PLANEXE_UNSAFE_NO_SANDBOX=1``
        none at all (said so in the name)."""
        if self._sandbox is None:
            if os.environ.get("PLANEXE_UNSAFE_NO_SANDBOX") == "1":
                self._sandbox = UnsafeNoSandbox()
            else:
                self._sandbox = BubblewrapSandbox.detect()
        return self._sandbox

    @contextmanager
    def worker_started_early(self, *, network: bool = False) -> Iterator[None]:
        """Within the block, a sandboxed worker starts up for the next plugin loaded in one:
        for a capability about to be installed, so that Python and pluggy load while it is
        fetched. Not used by the end of the block, it is stopped. Without a sandbox (or when
        it cannot start) nothing happens here: loading says what is wrong."""
        if self._prestarted is None:
            try:
                sandbox = self.sandbox()
                if sandbox.isolated:
                    self._prestarted = PrestartedWorker(sandbox, self._limits, network=network)
            except (PlanPipelineError, OSError):
                pass
        try:
            yield
        finally:
            if self._prestarted is not None:
                self._prestarted.close()
                self._prestarted = None

    def answer_checks(self) -> AnswerChecks:
        """The run-time checks of sandboxed plugins' answers, shared by every capability
        (each contract's evaluator starts at its first check)."""
        if self._answer_checks is None:
            from plan_pipeline.answer_checks import AnswerChecks  # the contract imports this

            self._answer_checks = AnswerChecks(self.sandbox, self.schema_judge(), self.quarantine)
        return self._answer_checks

    def close(self) -> None:
        """Stop every plugin worker this registry started, the run-time checks and the
        schema judge."""
        for loaded in self._loaded.values():
            if loaded.worker is not None:
                loaded.worker.close()
        if self._answer_checks is not None:
            self._answer_checks.close()
            self._answer_checks = None
        if self._judge is not None:
            self._judge.close()
            self._judge = None

    def _import(self, provider: Provider) -> object:
        where = provider.describe()
        try:
            plugin: object = provider.entry_point.load()
        except Exception as exc:
            raise PluginLoadError(
                f"cannot import plugin {where} ({provider.target}) for "
                f"'{provider.capability}': {type(exc).__name__}: {exc}",
                "Reinstall or uninstall that plugin",
            ) from exc
        if self._pm.is_registered(plugin):
            return plugin
        try:
            self._pm.register(plugin, name=f"{provider.dist_name}:{provider.target}")
            self._pm.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            raise PluginLoadError(
                f"plugin {where} breaks the plugin contract: {exc}",
                "Implement the hooks of plan_pipeline.hookspecs with matching arguments",
            ) from exc
        hooks = {impl.plugin_name for impl in self._pm.hook.planexe_run.get_hookimpls()}
        if self._pm.get_name(plugin) not in hooks:
            self._pm.unregister(plugin)
            raise PluginLoadError(
                f"plugin {where} has no planexe_run hook", "Add a planexe_run hook implementation"
            )
        return plugin
