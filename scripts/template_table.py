"""Regenerate the table of what popular chat templates do in docs/probe.md, by running the probe.

    .venv/bin/python scripts/template_table.py           # rewrite the section in docs/probe.md
    .venv/bin/python scripts/template_table.py --check   # exit 1 if docs/probe.md is out of date

Without internet the probe runs over the family-style templates of tests/fixtures/templates: written
for interleaf's tests in the shape of each family's real template (its rule, its options, its
argument form), not copies of them. The section sits between ``<!-- probe:templates -->`` markers.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interleaf.probe.report import TemplateReport
from interleaf.probe.template import load_template, probe_template
from interleaf.probe.template_conversations import (
    CARRIER_CHANNEL,
    CARRIER_REASONING,
    CARRIER_REASONING_CONTENT,
    CARRIER_THINK,
    CARRIER_THINKING,
)
from interleaf.probe.template_rules import (
    RULE_AFTER_FINAL,
    RULE_AFTER_USER,
    RULE_ALL,
    RULE_NONE,
    RULE_VERBATIM,
)
from interleaf.probe.template_stacks import STACKS

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "tests" / "fixtures" / "templates"
DOC = REPO / "docs" / "probe.md"
SECTION = "probe:templates"

# (fixture, family it is written after, template options)
ROWS: Sequence[tuple[str, str, Mapping[str, Any]]] = (
    ("m2_style.jinja", "MiniMax-M2-style", {}),
    ("qwen3_style.jinja", "Qwen3-style", {}),
    ("glm47_style.jinja", "GLM-4.5/4.6/4.7-style", {}),
    ("glm47_style.jinja", "GLM-4.7-style", {"clear_thinking": False}),
    ("nemotron_style.jinja", "Nemotron-style", {}),
    ("nemotron_style.jinja", "Nemotron-style", {"truncate_history_thinking": False}),
    ("hunyuan_style.jinja", "Hunyuan-style", {}),
    ("hunyuan_style.jinja", "Hunyuan-style", {"preserved_thinking": True}),
    ("kimi_k2_thinking_style.jinja", "Kimi-K2-Thinking-style", {}),
    ("gpt_oss_style.jinja", "gpt-oss-style (harmony)", {}),
    ("deepseek_v31_style.jinja", "DeepSeek-V3.1-style", {}),
    ("deepseek_v31_style.jinja", "DeepSeek-V3.1-style", {"thinking": True}),
    ("deepseek_r1_distill_style.jinja", "DeepSeek-R1-distill-style", {}),
    ("qwen25_style.jinja", "Qwen2.5-style (no reasoning)", {}),
    ("chatml_keep_reasoning.jinja", "ChatML keeping reasoning (test template)", {}),
    ("chatml_drop_reasoning.jinja", "ChatML dropping reasoning (QwQ-like)", {}),
)

CARRIERS = (CARRIER_REASONING_CONTENT, CARRIER_REASONING, CARRIER_THINKING, CARRIER_THINK, CARRIER_CHANNEL)
SHORT = {
    CARRIER_REASONING_CONTENT: "`reasoning_content`",
    CARRIER_REASONING: "`reasoning`",
    CARRIER_THINKING: "`thinking`",
    CARRIER_THINK: "`<think>`",
    CARRIER_CHANNEL: "channel",
}
RULES = {
    RULE_ALL: "all",
    RULE_AFTER_USER: "after last user",
    RULE_AFTER_FINAL: "after last final answer",
    RULE_NONE: "none",
    RULE_VERBATIM: "verbatim",
}


def _options(options: Mapping[str, Any]) -> str:
    return ", ".join(f"`{k}={str(v).lower() if isinstance(v, bool) else v}`" for k, v in options.items())


def _generation(report: TemplateReport) -> str:
    """Whether the generation prompt leaves the model thinking."""
    prompt = (report.generation_prompt or "").rstrip()
    if prompt.endswith("</think>"):
        return "closes `<think>`"
    return "opens `<think>`" if prompt.endswith("<think>") else ""


def _rule(report: TemplateReport, carrier: str) -> str:
    result = next((f for f in report.fields if f.field == carrier), None)
    if result is None:
        return ""
    rule = RULES.get(result.rule, result.rule)
    return f"**{rule}**" if result.keeps_loop else rule


def _sends(report: TemplateReport, stack: str) -> str:
    rows = [s for s in report.stacks if s.stack == stack]
    if rows and all(s.loop == "error" for s in rows):
        return "error"
    keeping = [SHORT[s.sends] for s in rows if s.loop == "kept"]
    return ", ".join(keeping) or "—"


def tables() -> str:
    reports = []
    for fixture, family, options in ROWS:
        report = probe_template(load_template(TEMPLATES / fixture), options=options)
        reports.append((fixture, family, options, report))
    rules = [
        "| template (fixture) | options | arguments | generation prompt | "
        + " | ".join(SHORT[c] for c in CARRIERS)
        + " | exit |",
        "|---|---|---|---|" + "---|" * len(CARRIERS) + "---|",
    ]
    for fixture, family, options, report in reports:
        arguments = next((f.arguments for f in report.fields if f.arguments), "") or ""
        cells = [f"{family} (`{fixture}`)", _options(options), arguments, _generation(report)]
        cells += [_rule(report, carrier) for carrier in CARRIERS]
        cells.append(f"{report.exit_code} {report.overall.value}")
        rules.append("| " + " | ".join(cells) + " |")
    stacks = [
        "| template | options | " + " | ".join(s.name for s in STACKS) + " |",
        "|---|---|" + "---|" * len(STACKS),
    ]
    for _, family, options, report in reports:
        cells = [family, _options(options)] + [_sends(report, s.name) for s in STACKS]
        stacks.append("| " + " | ".join(cells) + " |")
    return "\n".join(
        [
            "The rule per way of carrying reasoning, **bold** where the current tool loop keeps it",
            "(what decides the exit code); `channel` is an analysis channel written into content, tried on",
            "harmony templates only:",
            "",
            *rules,
            "",
            "What a client must send for the current tool loop to keep its reasoning, per serving stack",
            "(— nothing works; error: the template raises on what that stack hands it):",
            "",
            *stacks,
        ]
    )


def section(body: str) -> str:
    command = "Generated by `.venv/bin/python scripts/template_table.py`; do not edit by hand."
    return f"<!-- {SECTION} -->\n{command}\n\n{body}\n<!-- /{SECTION} -->"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/probe.md is out of date")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(rf"<!-- {SECTION} -->.*?<!-- /{SECTION} -->", re.S)
    if not pattern.search(text):
        print(f"{DOC} has no <!-- {SECTION} --> section to fill", file=sys.stderr)
        return 2
    updated = pattern.sub(lambda _: section(tables()), text)
    if args.check:
        if updated != text:
            print(f"{DOC} is out of date: run .venv/bin/python scripts/template_table.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
