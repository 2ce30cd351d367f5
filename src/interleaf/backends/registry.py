"""Plugins through entry points: what installed packages add to interleaf, loaded once, lazily, never fatally.

A distribution adds backend profiles or agent tools by declaring an entry point in a group
(``interleaf.profiles``, ``interleaf.tools``) that names a **function taking no arguments and returning
an iterable of items** (profiles, tool factories). A function rather than a ready list, so a plugin's
work happens only when interleaf first needs the group, and so a plugin may build its items on the
built-ins (``get_profile("vllm").with_overrides(name="acme", ...)``): the built-ins are registered
before any plugin is called. The entry-point mechanism is the packaging standard
(https://packaging.python.org/en/latest/specifications/entry-points/), the seam Simon Willison's
``llm`` uses for its plugins (https://llm.datasette.io/en/stable/plugins/).

interleaf's own built-ins register through the same groups: its pyproject declares one entry point a
group, and that entry point is called like any plugin's. When interleaf runs without its entry points
installed (a source tree on ``PYTHONPATH``, an install that predates them), the same function is called
directly instead, once. The rules:

* built-ins first; a plugin item whose name is taken is refused, with a warning naming the plugin's
  distribution and the one that holds the name;
* an entry point that fails to import, is not a function, raises, or returns something that is not an
  iterable of items is left out with a warning naming it; interleaf goes on without it;
* loading happens on first use, once per process; :meth:`EntryPointRegistry.reports` says what each
  entry point gave, refused and why it failed (``interleaf plugins`` shows it).

This module is generic: ``backends/profiles.py`` holds the profile registry and ``tools/registry.py``
the tool registry, each an :class:`EntryPointRegistry` of its own item type.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["BUILTIN_DISTRIBUTION", "PLUGIN_LOGGER", "EntryPointRegistry", "PluginReport"]

T = TypeVar("T")

PLUGIN_LOGGER = "interleaf.plugins"
"""The logger plugin warnings go to (with no logging set up, Python prints warnings to stderr)."""
BUILTIN_DISTRIBUTION = "interleaf"

log = logging.getLogger(PLUGIN_LOGGER)


@dataclass(frozen=True, slots=True)
class PluginReport:
    """What one entry point (or the built-ins registered without one) gave to one group."""

    group: str
    distribution: str
    version: str | None
    entry_point: str | None
    """``name = module:function`` as declared; ``None`` for built-ins registered directly."""
    builtin: bool
    names: tuple[str, ...] = ()
    """The names registered from it, in its order."""
    refused: tuple[str, ...] = ()
    """One message per item left out (a taken name, a wrong type, a bad name)."""
    error: str | None = None
    """Why nothing was registered from it (import failed, not a function, raised), or ``None``."""

    @property
    def source(self) -> str:
        """``distribution (group: name = module:function)``, as warnings name it."""
        where = self.entry_point if self.entry_point is not None else "registered directly, no entry point"
        return f"{self.distribution} ({self.group}: {where})"


@dataclass
class _Loaded(Generic[T]):
    items: dict[str, T] = field(default_factory=dict)
    owners: dict[str, PluginReport] = field(default_factory=dict)
    reports: list[PluginReport] = field(default_factory=list)


class EntryPointRegistry(Generic[T]):
    """The items of one entry-point group: built-ins, then every installed plugin's, by name.

    ``kind`` is the item type (anything else a plugin returns is refused), ``name_of`` gives an
    item's name, and ``check`` says what is wrong with an item (a name in the wrong form, a value
    interleaf cannot use) or ``None``. ``builtins`` is interleaf's own entry-point function.
    """

    def __init__(
        self,
        group: str,
        *,
        kind: type[T],
        name_of: Callable[[T], str],
        builtins: Callable[[], Iterable[T]],
        check: Callable[[T], str | None] = lambda item: None,
        what: str = "item",
    ) -> None:
        self.group = group
        self.kind = kind
        self.what = what
        self._name_of = name_of
        self._builtins = builtins
        self._check = check
        self._lock = threading.RLock()
        self._done: _Loaded[T] | None = None
        self._loading: _Loaded[T] | None = None

    # ------------------------------------------------------------------------------------ reading

    def items(self) -> Mapping[str, T]:
        """Every registered item by name, built-ins first (loads the group on first use)."""
        return MappingProxyType(self._state().items)

    def reports(self) -> tuple[PluginReport, ...]:
        """One report per entry point of the group (and for built-ins registered without one)."""
        return tuple(self._state().reports)

    def owner(self, name: str) -> PluginReport | None:
        """The report of the entry point that registered ``name``."""
        return self._state().owners.get(name)

    def _state(self) -> _Loaded[T]:
        done = self._done
        if done is not None:
            return done
        with self._lock:
            if self._done is not None:
                return self._done
            if self._loading is not None:
                # A plugin's function asked for the group while it loads (to build on a built-in):
                # it gets what is registered so far, which always includes the built-ins.
                return self._loading
            self._loading = _Loaded()
            try:
                self._load(self._loading)
                self._done = self._loading
            finally:
                self._loading = None
            return self._done

    # ------------------------------------------------------------------------------------ loading

    def _load(self, state: _Loaded[T]) -> None:
        builtin: list[PluginReport] = []
        plugins: list[tuple[PluginReport, Callable[[], object] | str]] = []
        for entry in _entry_points(self.group):
            report = _report_for(self.group, entry)
            try:
                target = entry.load()
            except (Exception, SystemExit) as exc:
                plugins.append((report, f"failed to import: {_describe(exc)}"))
                continue
            if target is self._builtins:
                builtin.append(replace(report, builtin=True))
            elif not callable(target):
                plugins.append(
                    (
                        report,
                        f"names a {type(target).__name__}, not a function; the entry point must name a "
                        f"function that takes no arguments and returns the {self.what}s",
                    )
                )
            else:
                plugins.append((report, target))
        # Built-ins first, so their names win. Several entry points naming interleaf's own function
        # (an old name kept beside a new one) register it once.
        if builtin:
            self._register(state, builtin[0], self._builtins)
        else:
            direct = PluginReport(self.group, BUILTIN_DISTRIBUTION, _version(), None, builtin=True)
            self._register(state, direct, self._builtins)
        for report, target in sorted(
            plugins, key=lambda pair: (pair[0].distribution, pair[0].entry_point or "")
        ):
            if isinstance(target, str):
                self._fail(state, report, target)
            else:
                self._register(state, report, target)

    def _register(self, state: _Loaded[T], report: PluginReport, target: Callable[[], object]) -> None:
        try:
            produced = target()
        except (Exception, SystemExit) as exc:
            if report.builtin:
                raise  # interleaf's own bug: loud, not a warning
            self._fail(state, report, f"raised {_describe(exc)}")
            return
        if isinstance(produced, str | bytes | Mapping) or not isinstance(produced, Iterable):
            self._fail(
                state, report, f"returned a {type(produced).__name__}, not an iterable of {self.what}s"
            )
            return
        try:
            candidates = list(produced)
        except (Exception, SystemExit) as exc:
            self._fail(state, report, f"raised {_describe(exc)} while its {self.what}s were read")
            return
        names: list[str] = []
        refused: list[str] = []
        for candidate in candidates:
            try:
                accepted = self._accept(state, candidate)
            except Exception as exc:  # a name that is not a string, a check tripping over odd values
                accepted = _Refusal(_short(candidate), f"could not be checked: {_describe(exc)}")
            if isinstance(accepted, _Refusal):
                refused.append(f"{accepted.label}: {accepted.why}")
                log.warning("plugin %s: %s is left out: %s", report.source, accepted.label, accepted.why)
                continue
            name, item = accepted
            state.items[name] = item
            state.owners[name] = report
            names.append(name)
        final = replace(report, names=tuple(names), refused=tuple(refused))
        state.owners.update((name, final) for name in names)
        state.reports.append(final)

    def _accept(self, state: _Loaded[T], candidate: object) -> tuple[str, T] | _Refusal:
        """The item and its name, or why it cannot be registered."""
        if not isinstance(candidate, self.kind):
            return _Refusal(_short(candidate), f"not a {self.kind.__name__}")
        name = self._name_of(candidate)
        label = f"{self.what} {name!r}"
        problem = self._check(candidate)
        if problem is not None:
            return _Refusal(label, problem)
        holder = state.owners.get(name)
        if holder is not None:
            return _Refusal(
                label,
                f"the name is taken by {holder.distribution}" + (" (built in)" if holder.builtin else ""),
            )
        return name, candidate

    def _fail(self, state: _Loaded[T], report: PluginReport, reason: str) -> None:
        log.warning("plugin %s %s; interleaf goes on without it", report.source, reason)
        state.reports.append(replace(report, error=reason))


@dataclass(frozen=True, slots=True)
class _Refusal:
    label: str
    why: str


def _entry_points(group: str) -> list[EntryPoint]:
    """The group's entry points, one per (distribution, name, target)."""
    from importlib.metadata import entry_points

    seen: set[tuple[str, str, str]] = set()
    unique: list[EntryPoint] = []
    for entry in entry_points(group=group):
        key = (_distribution(entry), entry.name, entry.value)
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def _report_for(group: str, entry: EntryPoint) -> PluginReport:
    dist = entry.dist
    version = dist.version if dist is not None else None
    name = _distribution(entry)
    return PluginReport(group, name, version, f"{entry.name} = {entry.value}", builtin=False)


def _distribution(entry: EntryPoint) -> str:
    dist = entry.dist
    if dist is None:
        return "an unknown distribution"
    # Metadata names vary in case and separators (interleaf_acme, Interleaf.Acme): the normalized form
    # of https://packaging.python.org/en/latest/specifications/name-normalization/ is the one to show.
    return re.sub(r"[-_.]+", "-", str(dist.name)).lower()


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(BUILTIN_DISTRIBUTION)
    except PackageNotFoundError:
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
