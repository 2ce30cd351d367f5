"""``interleaf probe client``: does an app send earlier thinking back?

A gateway runs in front of the upstream (``interleaf serve`` with a throwaway store); you point the app
at it and use it normally. For each request the gateway reports the app's earlier assistant turns:
thinking *came back* (the app kept it), was *restored* (the app dropped it and the gateway put it back)
or is *missing* (dropped, and not produced through this probe, so nothing to put back). Per app (user
agent and API), the verdict is ``kept`` when every turn came back and ``dropped`` when any did not.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from interleaf.gateway import Gateway, ServeOptions, create_app
from interleaf.gateway.app import RequestReport
from interleaf.gateway.server import InProcessServer
from interleaf.probe.report import Overall, ProbeReport, Verdict


@dataclass(frozen=True, slots=True)
class ClientRow:
    """Everything one app (user agent and API) sent back over the probe."""

    user_agent: str
    client_format: str
    requests: int
    turns: int
    kept: int
    restored: int
    missing: int

    @property
    def verdict(self) -> Verdict:
        if self.restored or self.missing:
            return Verdict.DROPPED
        if self.kept:
            return Verdict.KEPT
        return Verdict.INCONCLUSIVE

    def to_json(self) -> dict[str, Any]:
        return {
            "user_agent": self.user_agent,
            "client_format": self.client_format,
            "requests": self.requests,
            "turns": self.turns,
            "came_back": self.kept,
            "restored": self.restored,
            "missing": self.missing,
            "verdict": self.verdict.value,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientReport(ProbeReport):
    kind: ClassVar[str] = "client"
    clients: tuple[ClientRow, ...] = ()
    requests: int = 0

    def to_json(self) -> dict[str, Any]:
        out = ProbeReport.to_json(self)
        out["requests"] = self.requests
        out["clients"] = [row.to_json() for row in self.clients]
        return out


def conclude_client(reports: list[RequestReport]) -> ClientReport:
    """Fold the per-request reports into one row per app and an overall outcome."""
    rows: dict[tuple[str, str], ClientRow] = {}
    for report in reports:
        key = (report.user_agent or "(no user agent)", report.client_format)
        row = rows.get(key) or ClientRow(key[0], key[1], 0, 0, 0, 0, 0)
        rows[key] = replace(
            row,
            requests=row.requests + 1,
            turns=row.turns + report.turns,
            kept=row.kept + report.kept,
            restored=row.restored + report.restored,
            missing=row.missing + report.missing,
        )
    clients = tuple(rows.values())
    dropping = [row for row in clients if row.verdict is Verdict.DROPPED]
    notes: list[str] = []
    if any(row.missing for row in clients):
        notes.append(
            "missing turns had no stored original: they were produced before the probe started, or not "
            "through it; start a fresh conversation through the probe to see what the app sends back"
        )
    if dropping:
        names = ", ".join(row.user_agent for row in dropping)
        summary = f"{names} did not send earlier thinking back; `interleaf serve` restores it for such apps"
        return ClientReport(
            overall=Overall.LEAK, summary=summary, notes=tuple(notes), clients=clients, requests=len(reports)
        )
    if any(row.verdict is Verdict.KEPT for row in clients):
        return ClientReport(
            overall=Overall.KEPT,
            summary="every earlier thinking block came back",
            clients=clients,
            requests=len(reports),
        )
    summary = (
        "no request carried an earlier assistant turn yet: use the app for at least two turns of a task"
        if reports
        else "no requests reached the probe: point the app's base URL at it"
    )
    return ClientReport(overall=Overall.UNPROBED, summary=summary, clients=clients, requests=len(reports))


def describe(report: RequestReport, number: int) -> str:
    """One line for a request, shown as it happens."""
    kind = "stream" if report.stream else "whole"
    head = f"#{number} {report.user_agent or '(no user agent)'} ({report.client_format}, {kind}): "
    if not report.turns:
        return head + "no earlier assistant turns"
    parts = [f"{report.kept} came back"]
    if report.restored:
        parts.append(f"{report.restored} restored")
    if report.missing:
        parts.append(f"{report.missing} missing")
    return (
        head + f"{report.turns} earlier assistant turn{'s' if report.turns != 1 else ''}: " + ", ".join(parts)
    )


class ClientProbe:
    """The observing gateway, run in this process. ``async with ClientProbe(options) as probe:`` then
    point the app at ``probe.base_url``; ``probe.reports`` fills as requests arrive."""

    def __init__(
        self, options: ServeOptions, *, on_request: Callable[[RequestReport], None] | None = None
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if options.store_url is None:
            # A throwaway store: the probe must not mix its captures into a real gateway's store.
            self._tmp = tempfile.TemporaryDirectory(prefix="interleaf-probe-")
            options = replace(options, store_url=f"sqlite:///{Path(self._tmp.name) / 'probe.db'}")
        self.options = options
        self.reports: list[RequestReport] = []
        self._on_request = on_request
        self._server: InProcessServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the probe is not started"
        return self._server.base_url

    def _record(self, report: RequestReport) -> None:
        self.reports.append(report)
        if self._on_request is not None:
            self._on_request(report)

    async def __aenter__(self) -> ClientProbe:
        gateway = Gateway(self.options)
        gateway.observers.append(self._record)
        server = InProcessServer(
            create_app(self.options, gateway=gateway), self.options.host, self.options.port
        )
        self._server = await server.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._server is not None:
                await self._server.__aexit__(*exc_info)
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()

    def report(self) -> ClientReport:
        return conclude_client(self.reports)
