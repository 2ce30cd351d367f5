"""Probe reports for people: rich tables on a console. ``report.to_json()`` is the machine form."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interleaf.probe.report import (
    Check,
    EndpointReport,
    Overall,
    ProbeReport,
    TemplateReport,
    Verdict,
    WayResult,
)

_VERDICT_STYLE = {
    Verdict.KEPT: "green",
    Verdict.DROPPED: "red",
    Verdict.INCONCLUSIVE: "yellow",
    Verdict.ERROR: "magenta",
}
_OVERALL_STYLE = {Overall.KEPT: "bold green", Overall.LEAK: "bold red", Overall.UNPROBED: "bold yellow"}
_CHECK_STYLE = {"ok": "green", "failed": "red", "error": "magenta", "skipped": "dim"}


def render_report(report: ProbeReport, console: Console) -> None:
    """Print ``report`` as tables followed by the outcome line and notes."""
    from interleaf.probe.client import ClientReport

    if isinstance(report, EndpointReport):
        _endpoint(report, console)
    elif isinstance(report, TemplateReport):
        _template(report, console)
    elif isinstance(report, ClientReport):
        _client(report, console)
    _footer(report, console)


def _client(report: ProbeReport, console: Console) -> None:
    from interleaf.probe.client import ClientReport

    assert isinstance(report, ClientReport)
    table = Table(title=f"apps seen ({report.requests} requests)", title_justify="left", show_edge=False)
    for column in (
        "app (user agent)",
        "API",
        "requests",
        "earlier turns",
        "came back",
        "restored",
        "missing",
    ):
        table.add_column(column)
    table.add_column("verdict")
    for row in report.clients:
        style = _VERDICT_STYLE[row.verdict]
        table.add_row(
            escape(row.user_agent),
            row.client_format,
            str(row.requests),
            str(row.turns),
            str(row.kept),
            str(row.restored),
            str(row.missing),
            f"[{style}]{row.verdict.value}[/]",
        )
    console.print(table)


def _footer(report: ProbeReport, console: Console) -> None:
    style = _OVERALL_STYLE[report.overall]
    console.print(
        f"[{style}]{report.overall.value.upper()}[/] (exit {report.exit_code}): {escape(report.summary)}"
    )
    for note in report.notes:
        console.print(f"  [dim]•[/] {escape(note)}")


def _checks_table(title: str, checks: tuple[Check, ...]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in checks:
        style = _CHECK_STYLE.get(check.status, "")
        table.add_row(check.name, f"[{style}]{check.status}[/]", escape(check.detail))
    return table


# ------------------------------------------------------------------------------------- endpoint


def _way_row(way: WayResult) -> tuple[str, str, str, str]:
    name = escape(way.label) + (" [bold](profile)[/]" if way.primary else "")
    if way.way == "control":
        verdict = (
            "[red]LEAKED[/]" if way.hits else ("[green]clean[/]" if way.attempted else "[magenta]error[/]")
        )
    else:
        verdict = f"[{_VERDICT_STYLE[way.verdict]}]{way.verdict.value}[/]"
    score = f"{way.hits}/{len(way.trials)}"
    if way.attempted < len(way.trials):
        score += f" ({len(way.trials) - way.attempted} failed)"
    evidence = way.errors[0] if way.errors and not way.attempted else _evidence(way)
    return name, score, verdict, escape(evidence)


def _evidence(way: WayResult) -> str:
    hit = next((t for t in way.trials if t.hit), None)
    if hit is not None:
        return f"{hit.code} found in {hit.found_in}: {hit.reply}"
    answered = next((t for t in way.trials if t.error is None), None)
    text = f"reply: {answered.reply}" if answered is not None else ""
    if way.note and way.verdict is Verdict.INCONCLUSIVE:
        text = f"{way.note}; {text}"
    return text


def _endpoint(report: EndpointReport, console: Console) -> None:
    where = report.profile + (f" at {report.url}" if report.url else "")
    where += f", model {report.model}" if report.model else ""
    mode = "signed first turn" if report.mode == "signed" else "fabricated histories"
    console.print(f"[bold]interleaf probe endpoint[/]: {escape(where)} ({mode})")
    if report.checks:
        console.print(_checks_table("parsing", report.checks))
    if report.reply_ways:
        console.print(f"replies carried reasoning as: {', '.join(report.reply_ways)}")
    if report.ways:
        table = Table(
            title="earlier thinking sent back as …", title_justify="left", show_edge=False, pad_edge=False
        )
        table.add_column("way")
        table.add_column("hits", justify="right")
        table.add_column("verdict")
        table.add_column("evidence", overflow="fold", ratio=1)
        for way in report.ways:
            table.add_row(*_way_row(way))
        for extra in (report.baseline, report.control):
            if extra is not None:
                table.add_row(*_way_row(extra), style="dim")
        console.print(table)


# ------------------------------------------------------------------------------------- template


def _template(report: TemplateReport, console: Console) -> None:
    from interleaf.probe.template_view import render_template_report

    render_template_report(report, console)
    if report.checks:
        console.print(_checks_table("tools", report.checks))
