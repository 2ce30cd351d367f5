"""``interleaf probe template`` for people: the report as rich tables (``--json`` is the machine form)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interleaf.probe.report import TemplateReport
from interleaf.probe.template_results import MessageVerdict
from interleaf.probe.template_rules import RULE_AFTER_FINAL, RULE_AFTER_USER, RULE_VERBATIM

__all__ = ["render_template_report"]

_SHORT = {
    RULE_AFTER_USER: "after last user",
    RULE_AFTER_FINAL: "after last final",
    RULE_VERBATIM: "verbatim",
}
_STYLE = {"kept": "green", "dropped": "red", "verbatim": "yellow", "error": "magenta", "partial": "yellow"}


def _cell(word: str) -> str:
    style = _STYLE.get(word)
    return f"[{style}]{escape(word)}[/]" if style else escape(word)


def _header(report: TemplateReport, console: Console) -> None:
    name = f" ({report.name})" if report.name else ""
    passed = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in report.template_kwargs)
    given = f" with {passed}" if passed else ""
    console.print(f"[bold]interleaf probe template[/]: {escape(report.source + name + given)}")
    if report.options:
        listed = ", ".join(
            o.name + (f" ({', '.join(o.compared_with)})" if o.compared_with else "") for o in report.options
        )
        console.print(f"options the template reads: {escape(listed)}")
    if report.generation_prompt is not None:
        console.print(f"generation prompt: {escape(repr(report.generation_prompt))}")
    forms = dict.fromkeys(f.arguments for f in report.fields if f.arguments is not None)
    if forms:
        console.print(f"tool-call arguments rendered as: {escape(', '.join(str(f) for f in forms))}")


def _messages_table(report: TemplateReport) -> Table:
    table = Table(
        title="assistant messages whose reasoning survives rendering, carried as …",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("message", no_wrap=True)
    for result in report.fields:
        # A one-word carrier name is not cut; "<think> in content" may wrap.
        table.add_column(
            escape(result.field),
            min_width=len(result.field) if " " not in result.field else None,
            overflow="fold",
        )
    rows: list[MessageVerdict] = list(next((r.messages for r in report.fields if r.messages), ()))
    for position, message in enumerate(rows):
        cells = [f"{message.conversation} {message.number} [dim]{escape(message.place)}[/]"]
        cells += [_cell(r.messages[position].survival.value) for r in report.fields]
        table.add_row(*cells)
    table.add_section()
    table.add_row("[bold]rule[/] [dim](below in full)[/]", *(escape(_short(r.rule)) for r in report.fields))
    return table


def _short(rule: str) -> str:
    """A rule in a few words, for a table cell."""
    return _SHORT.get(rule, rule.split(":")[0] or "error")


def _stacks_table(report: TemplateReport) -> Table:
    carriers = list(dict.fromkeys(s.sends for s in report.stacks))
    table = Table(
        title="the current tool loop's reasoning when the client sends it as … through",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("stack")
    for carrier in carriers:
        table.add_column(escape(carrier))
    for stack in dict.fromkeys(s.stack for s in report.stacks):
        row = {s.sends: s for s in report.stacks if s.stack == stack}
        table.add_row(escape(stack), *(_cell(row[c].loop) for c in carriers))
    return table


def render_template_report(report: TemplateReport, console: Console) -> None:
    """The header, the per-message table with each carrier's rule, the stacks table and the checks."""
    _header(report, console)
    if report.fields:
        console.print(_messages_table(report))
        for result in report.fields:
            facts = "; ".join(result.evidence)
            line = f"  {escape(result.field)}: [bold]{escape(result.rule)}[/]"
            console.print(line + (f" — {escape(facts)}" if facts else ""))
    if report.stacks:
        console.print(_stacks_table(report))
