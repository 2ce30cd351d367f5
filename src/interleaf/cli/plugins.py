"""``interleaf plugins``: the installed packages that add backend profiles or agent tools, and what each adds.

Plugins register through the entry-point groups ``interleaf.profiles`` and ``interleaf.tools``
(docs/plugins.md); interleaf's own built-ins are listed first, as the same seam registers them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from interleaf.backends.registry import PluginReport

PLUGIN_FAILED = 1
"""``interleaf plugins``: at least one entry point failed to load."""

_KINDS = {"interleaf.profiles": "profiles", "interleaf.tools": "tools"}


@dataclass
class _Distribution:
    name: str
    version: str | None
    builtin: bool
    provides: dict[str, list[str]] = field(default_factory=lambda: {"profiles": [], "tools": []})
    refused: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    direct: bool = False
    """Built-ins registered without an entry point (interleaf's metadata lacks them)."""


def plugins(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON array of distributions.")
    ] = False,
) -> None:
    """List the installed plugins: the profiles and tools each provides, and any that failed to load.

    Exits with 1 when an entry point failed to load (the reason is shown).
    """
    from interleaf.backends.profiles import profile_plugins
    from interleaf.backends.registry import PLUGIN_LOGGER
    from interleaf.tools.registry import tool_plugins

    logger = logging.getLogger(PLUGIN_LOGGER)
    was_disabled, logger.disabled = logger.disabled, True  # the listing says it all, once
    try:
        reports = [*profile_plugins(), *tool_plugins()]
    finally:
        logger.disabled = was_disabled
    distributions = _by_distribution(reports)
    if json_output:
        typer.echo(json.dumps([_as_json(d) for d in distributions], indent=2, ensure_ascii=False))
    else:
        for distribution in distributions:
            _print(distribution)
    if any(d.failed for d in distributions):
        raise typer.Exit(PLUGIN_FAILED)


def _by_distribution(reports: list[PluginReport]) -> list[_Distribution]:
    """One entry per distribution: interleaf's built-ins first, then the plugins by name."""
    found: dict[tuple[str, bool], _Distribution] = {}
    for report in reports:
        key = (report.distribution, report.builtin)
        entry = found.setdefault(key, _Distribution(report.distribution, report.version, report.builtin))
        entry.provides[_KINDS.get(report.group, report.group)].extend(report.names)
        entry.refused.extend(f"{report.group}: {message}" for message in report.refused)
        entry.direct = entry.direct or (report.builtin and report.entry_point is None)
        if report.error is not None:
            where = f"{report.group}: {report.entry_point or '(built in)'}"
            entry.failed.append({"entry_point": where, "reason": report.error})
    return sorted(found.values(), key=lambda d: (not d.builtin, d.name))


def _as_json(distribution: _Distribution) -> dict[str, Any]:
    return {
        "distribution": distribution.name,
        "version": distribution.version,
        "builtin": distribution.builtin,
        "profiles": distribution.provides["profiles"],
        "tools": distribution.provides["tools"],
        "refused": distribution.refused,
        "failed": distribution.failed,
    }


def _print(distribution: _Distribution) -> None:
    title = distribution.name + (f" {distribution.version}" if distribution.version else "")
    if distribution.builtin:
        title += " (built in)"
    typer.echo(title)
    for kind, names in distribution.provides.items():
        if names:
            typer.echo(f"  {kind + ':':<10}{', '.join(names)}")
    for message in distribution.refused:
        typer.echo(f"  {'refused:':<10}{message}")
    for failure in distribution.failed:
        typer.echo(f"  {'failed:':<10}{failure['entry_point']}: {failure['reason']}")
    if distribution.direct:
        typer.echo(
            f"  {'note:':<10}registered directly: interleaf's entry points are not installed "
            "(reinstall it, e.g. pip install -e .)"
        )
