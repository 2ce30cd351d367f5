"""The template probe agrees with transformers' own renderer, message by message.

For every family-style template shipped in tests/fixtures/templates (and its options), every carrier
and both probe conversations, the same messages are rendered by
``transformers.utils.chat_template_utils``: as given (its compiled template, as transformers before
5.21 rendered them) and through ``render_jinja_template`` (which from 5.21 copies reasoning fields into
each other first). The prompts must be the probe's byte for byte, and a verdict read off
transformers' prompt here — the marker is there or not; for inline tags, the prompt is the same
with the tags spelled otherwise (verbatim) or not — must be the probe's for every message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

from interleaf.probe.report import TemplateReport
from interleaf.probe.template import load_template, probe_template
from interleaf.probe.template_conversations import (
    INLINE_CARRIERS,
    LOOP,
    NUDGED,
    TOOL,
    messages,
    positions,
    restore_tags,
)
from interleaf.probe.template_results import MessageVerdict, Survival

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
CASES: list[tuple[str, dict[str, Any]]] = [(path.name, {}) for path in sorted(TEMPLATES.glob("*.jinja"))] + [
    ("glm47_style.jinja", {"clear_thinking": False}),
    ("nemotron_style.jinja", {"truncate_history_thinking": False}),
    ("hunyuan_style.jinja", {"preserved_thinking": True}),
    ("deepseek_v31_style.jinja", {"thinking": True}),
    ("qwen3_style.jinja", {"enable_thinking": False}),
]
ALIASING = "transformers ≥ 5.21"


def as_given(source: str, conversation: list[dict[str, Any]], options: dict[str, Any]) -> str:
    """transformers' compiled template, rendered as apply_chat_template renders it (no aliasing)."""
    variables = {"bos_token": "", "eos_token": "", **options}
    return str(
        _compile_jinja_template(source).render(
            messages=conversation, tools=[TOOL], documents=None, add_generation_prompt=True, **variables
        )
    )


def aliased(source: str, conversation: list[dict[str, Any]], options: dict[str, Any]) -> str:
    """transformers' render_jinja_template: reasoning fields aliased before rendering."""
    # render_jinja_template returns (prompts, generation indices); its annotation says str.
    result: Any = render_jinja_template(
        conversations=[conversation],
        tools=[TOOL],
        chat_template=source,
        add_generation_prompt=True,
        bos_token="",
        eos_token="",
        **options,
    )
    return str(result[0][0])


def verdicts(
    render: Any, source: str, carrier: str, form: str, options: dict[str, Any]
) -> dict[tuple[str, int], Survival]:
    """Survival of every assistant message read off transformers' prompts."""
    out = {}
    for conversation in (LOOP, NUDGED):
        prompt = render(source, messages(conversation, carrier, form), options)
        for position in positions(conversation):
            if position.marker not in prompt:
                survival = Survival.DROPPED
            elif carrier in INLINE_CARRIERS:
                twin = render(source, messages(conversation, carrier, form, neutral=position.number), options)
                survival = Survival.VERBATIM if restore_tags(twin, carrier) == prompt else Survival.KEPT
            else:
                survival = Survival.KEPT
            out[(conversation, position.number)] = survival
    return out


def probed(messages_: tuple[MessageVerdict, ...]) -> dict[tuple[str, int], Survival]:
    return {(m.conversation, m.number): m.survival for m in messages_}


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}{'+' + ','.join(o) if o else ''}" for n, o in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], TemplateReport]:
    name, options = request.param
    template = load_template(TEMPLATES / name)
    return template.source, options, probe_template(template, options=options)


def test_prompts_and_verdicts_agree_with_transformers_as_given(
    case: tuple[str, dict[str, Any], TemplateReport],
) -> None:
    source, options, report = case
    for result in report.fields:
        assert result.arguments is not None, f"{result.field}: {result.error}"
        assert as_given(source, messages(LOOP, result.field, result.arguments), options) == result.rendered
        assert (
            as_given(source, messages(NUDGED, result.field, result.arguments), options)
            == result.rendered_nudged
        )
        assert probed(result.messages) == verdicts(
            as_given, source, result.field, result.arguments, options
        ), result.field


def test_verdicts_agree_with_transformers_aliasing_fields(
    case: tuple[str, dict[str, Any], TemplateReport],
) -> None:
    source, options, report = case
    for row in report.stacks:
        if row.stack != ALIASING:
            continue
        assert row.arguments is not None, f"{row.sends}: {row.error}"
        assert probed(row.messages) == verdicts(aliased, source, row.sends, row.arguments, options), row.sends


def test_a_dict_that_transformers_cannot_render_is_what_the_probe_retried() -> None:
    """The `+`-joined arguments raise in transformers too: the retry is needed, not an artefact."""
    source = (TEMPLATES / "deepseek_v31_style.jinja").read_text(encoding="utf-8")

    with pytest.raises(TypeError, match="can only concatenate str"):
        as_given(source, messages(LOOP, "reasoning_content", "dict"), {})
