"""``interleaf probe template`` on the shipped family-style templates and on small templates written to
break it. Agreement with transformers' own renderer is tests/unit/test_probe_template_transformers.py;
options and the command line are tests/unit/test_probe_template_cli.py."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from interleaf.probe.report import Overall, TemplateReport
from interleaf.probe.template import (
    RULE_AFTER_FINAL,
    RULE_AFTER_USER,
    RULE_ALL,
    RULE_NONE,
    RULE_VERBATIM,
    ChatTemplate,
    hf_environment,
    load_template,
    probe_template,
)
from interleaf.probe.template_conversations import (
    ARGS_JSON,
    CARRIER_CHANNEL,
    CARRIER_REASONING,
    CARRIER_REASONING_CONTENT,
    CARRIER_THINK,
    CARRIER_THINKING,
    LOOP,
    NUDGED,
    messages,
    positions,
)
from interleaf.probe.template_prompts import PromptRenderer
from interleaf.probe.template_results import Survival

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
RC, R, TH, INLINE, CHANNEL = (
    CARRIER_REASONING_CONTENT,
    CARRIER_REASONING,
    CARRIER_THINKING,
    CARRIER_THINK,
    CARRIER_CHANNEL,
)
DROPS = {RC: RULE_NONE, R: RULE_NONE, TH: RULE_NONE}

# The rule each family-style template shows per carrier, and the outcome.
FAMILIES = [
    ("m2_style.jinja", {}, {**DROPS, RC: RULE_AFTER_USER, INLINE: RULE_AFTER_USER}, Overall.KEPT),
    ("qwen3_style.jinja", {}, {**DROPS, RC: RULE_AFTER_USER, INLINE: RULE_AFTER_USER}, Overall.KEPT),
    ("chatml_keep_reasoning.jinja", {}, {**DROPS, RC: RULE_ALL, INLINE: RULE_ALL}, Overall.KEPT),
    ("chatml_drop_reasoning.jinja", {}, {**DROPS, INLINE: RULE_NONE}, Overall.LEAK),
    ("qwen25_style.jinja", {}, {**DROPS, INLINE: RULE_VERBATIM}, Overall.LEAK),
    ("deepseek_v31_style.jinja", {}, {**DROPS, INLINE: RULE_NONE}, Overall.LEAK),
    ("deepseek_r1_distill_style.jinja", {}, {**DROPS, INLINE: RULE_NONE}, Overall.LEAK),
    ("glm47_style.jinja", {}, {**DROPS, RC: RULE_AFTER_USER, INLINE: RULE_AFTER_USER}, Overall.KEPT),
    ("glm47_style.jinja", {"clear_thinking": False}, {**DROPS, RC: RULE_ALL, INLINE: RULE_ALL}, Overall.KEPT),
    ("nemotron_style.jinja", {}, {**DROPS, RC: RULE_AFTER_USER, INLINE: RULE_AFTER_USER}, Overall.KEPT),
    (
        "nemotron_style.jinja",
        {"truncate_history_thinking": False},
        {**DROPS, RC: RULE_ALL, INLINE: RULE_ALL},
        Overall.KEPT,
    ),
    ("hunyuan_style.jinja", {}, {**DROPS, R: RULE_AFTER_USER, INLINE: RULE_VERBATIM}, Overall.KEPT),
    (
        "hunyuan_style.jinja",
        {"preserved_thinking": True},
        {**DROPS, R: RULE_ALL, INLINE: RULE_VERBATIM},
        Overall.KEPT,
    ),
    (
        "kimi_k2_thinking_style.jinja",
        {},
        {**DROPS, RC: RULE_AFTER_FINAL, INLINE: RULE_VERBATIM},
        Overall.KEPT,
    ),
    (
        "gpt_oss_style.jinja",
        {},
        {**DROPS, TH: RULE_AFTER_FINAL, INLINE: RULE_VERBATIM, CHANNEL: RULE_VERBATIM},
        Overall.KEPT,
    ),
]


def probe(name: str, **options: object) -> TemplateReport:
    return probe_template(load_template(TEMPLATES / name), options=options)


@pytest.mark.parametrize(
    ("name", "options", "rules", "overall"),
    FAMILIES,
    ids=[f"{name}{'+' + ','.join(options) if options else ''}" for name, options, _, _ in FAMILIES],
)
def test_family_style_templates(
    name: str, options: dict[str, object], rules: dict[str, str], overall: Overall
) -> None:
    report = probe(name, **options)

    assert {f.field: f.rule for f in report.fields} == rules
    assert report.overall is overall
    assert report.exit_code == {Overall.KEPT: 0, Overall.LEAK: 1}[overall]
    assert [(c.name, c.status) for c in report.checks] == [
        ("tool calls render", "ok"),
        ("tool results render", "ok"),
    ]
    # Every message of every carrier has a verdict, in both conversations.
    for result in report.fields:
        assert [(m.conversation, m.number) for m in result.messages] == [
            (conversation, number) for conversation in (LOOP, NUDGED) for number in (1, 2, 3, 4)
        ]


def test_per_message_survival_shows_the_rule() -> None:
    report = probe("m2_style.jinja")

    result = report.field(RC)
    assert [(m.conversation, m.label, m.survival) for m in result.messages] == [
        (LOOP, "assistant 1", Survival.DROPPED),
        (LOOP, "assistant 2", Survival.DROPPED),
        (LOOP, "assistant 3", Survival.KEPT),
        (LOOP, "assistant 4", Survival.KEPT),
        (NUDGED, "assistant 1", Survival.DROPPED),
        (NUDGED, "assistant 2", Survival.DROPPED),
        (NUDGED, "assistant 3", Survival.DROPPED),
        (NUDGED, "assistant 4", Survival.KEPT),
    ]
    assert result.keeps_loop
    assert "REASONING_MARK_THREE" in result.rendered and "REASONING_MARK_ONE" not in result.rendered
    assert "REASONING_MARK_THREE" not in result.rendered_nudged
    assert result.evidence == (
        "the current tool loop (assistants 3 and 4) keeps it, the earlier task (assistants 1 and 2) does not",
        "a user message after assistant 3 drops assistant 3's reasoning (nudged conversation)",
    )


def test_the_mid_loop_warning_only_where_a_user_message_drops_the_loop() -> None:
    warning = "a user message inside a tool loop drops the reasoning"

    m2, kimi, keep = (
        probe("m2_style.jinja"),
        probe("kimi_k2_thinking_style.jinja"),
        probe("chatml_keep_reasoning.jinja"),
    )

    assert any(warning in note and note.startswith(f"{RC}, {INLINE}:") for note in m2.notes)
    assert not any(warning in note for note in kimi.notes + keep.notes)
    assert any("before the last final answer is dropped by design" in note for note in kimi.notes)
    assert (
        kimi.field(RC).evidence[1]
        == "assistant 1, a tool call before the final answer (assistant 2), loses it"
    )


def test_verbatim_think_tags_do_not_count_as_kept() -> None:
    report = probe("qwen25_style.jinja")

    inline = report.field(INLINE)
    assert {m.survival for m in inline.messages} == {Survival.VERBATIM}
    assert "<think>REASONING_MARK_THREE</think>" in inline.rendered
    assert report.overall is Overall.LEAK and "only as plain text (<think> in content)" in report.summary
    # A template that parses the tags re-renders them in its own layout: kept, not verbatim.
    assert {m.survival for m in probe("m2_style.jinja").field(INLINE).messages if m.number >= 3} != {
        Survival.VERBATIM
    }


def test_channel_templates_are_probed_with_an_analysis_channel_in_content() -> None:
    gpt_oss, m2 = probe("gpt_oss_style.jinja"), probe("m2_style.jinja")

    assert [f.field for f in gpt_oss.fields] == [RC, R, TH, INLINE, CHANNEL]
    assert [f.field for f in m2.fields] == [RC, R, TH, INLINE]
    assert "<|channel|>analysis<|message|>REASONING_MARK_FOUR<|end|>" in gpt_oss.field(TH).rendered


# ------------------------------------------------------------------------ tool-call argument forms


@pytest.mark.parametrize("name", ["deepseek_v31_style.jinja", "deepseek_r1_distill_style.jinja"])
def test_plus_joined_arguments_are_retried_as_json_strings(name: str) -> None:
    report = probe(name)

    for result in report.fields:
        assert result.arguments == ARGS_JSON
        assert result.argument_errors == (
            'dict arguments: TypeError: can only concatenate str (not "dict") to str',
        )
        assert result.error is None
    assert '{"query": "ARG_MARK_THREE"}' in report.fields[0].rendered
    assert any("render only as JSON strings" in note and "vLLM and SGLang" in note for note in report.notes)
    # vLLM and SGLang hand templates dicts; llama.cpp sends strings.
    loops = {(s.stack, s.sends): s.loop for s in report.stacks}
    assert loops[("vLLM (transformers ≥ 5.21)", RC)] == "error"
    assert loops[("SGLang (transformers < 5.21)", INLINE)] == "error"
    assert loops[("llama.cpp", RC)] == "dropped"


def test_dict_only_templates_render_dicts() -> None:
    report = probe("glm47_style.jinja")

    assert {f.arguments for f in report.fields} == {"dict"}
    assert all(f.argument_errors == () for f in report.fields)


# ------------------------------------------------------------------------------ serving stacks


def stack_loops(report: TemplateReport, carrier: str) -> dict[str, str]:
    return {s.stack: s.loop for s in report.stacks if s.sends == carrier}


def test_the_verdict_depends_on_the_stack() -> None:
    m2 = probe("m2_style.jinja")

    # vLLM reads only `reasoning` (and hands it over as reasoning_content too); SGLang only reasoning_content.
    assert stack_loops(m2, RC) == {
        "transformers < 5.21": "kept",
        "transformers ≥ 5.21": "kept",
        "vLLM (transformers < 5.21)": "dropped",
        "vLLM (transformers ≥ 5.21)": "dropped",
        "SGLang (transformers < 5.21)": "kept",
        "SGLang (transformers ≥ 5.21)": "kept",
        "llama.cpp": "kept",
    }
    assert stack_loops(m2, R)["vLLM (transformers < 5.21)"] == "kept"
    assert stack_loops(m2, R)["transformers < 5.21"] == "dropped"
    assert stack_loops(m2, R)["transformers ≥ 5.21"] == "kept", "5.21 copies reasoning into reasoning_content"
    sees = {(s.stack, s.sends): s.sees for s in m2.stacks}
    assert sees[("vLLM (transformers < 5.21)", R)] == ("reasoning_content", "reasoning")
    assert sees[("vLLM (transformers < 5.21)", RC)] == ()


def test_a_template_reading_thinking_needs_a_stack_that_fills_it() -> None:
    gpt_oss = probe("gpt_oss_style.jinja")

    assert stack_loops(gpt_oss, RC) == {
        "transformers < 5.21": "dropped",
        "transformers ≥ 5.21": "kept",
        "vLLM (transformers < 5.21)": "dropped",
        "vLLM (transformers ≥ 5.21)": "dropped",
        "SGLang (transformers < 5.21)": "dropped",
        "SGLang (transformers ≥ 5.21)": "kept",
        "llama.cpp": "kept",  # copies reasoning_content into thinking for harmony templates
    }


def test_a_template_reading_reasoning_is_lost_where_only_reasoning_content_travels() -> None:
    hunyuan = probe("hunyuan_style.jinja")

    loops = stack_loops(hunyuan, RC)
    assert loops["transformers ≥ 5.21"] == "dropped", "aliasing never fills `reasoning`"
    assert loops["SGLang (transformers ≥ 5.21)"] == "dropped"
    assert stack_loops(hunyuan, R)["vLLM (transformers ≥ 5.21)"] == "kept"
    assert any(note.startswith("sent as reasoning (kept when given") for note in hunyuan.notes)


# ---------------------------------------------------------------------- templates that misbehave


def probe_source(source: str, **options: object) -> TemplateReport:
    return probe_template(ChatTemplate(source=source, origin="test"), options=options)


def test_a_template_that_raises_for_one_carrier_reports_it_per_message() -> None:
    source = (
        "{% for m in messages %}{% if m.reasoning_content is defined %}"
        "{{ raise_exception('reasoning_content is not supported') }}{% endif %}{{ m.content }}{% endfor %}"
    )
    report = probe_source(source)

    rc = report.field(RC)
    assert {m.survival for m in rc.messages} == {Survival.ERROR}
    assert all("reasoning_content is not supported" in m.detail for m in rc.messages)
    assert rc.rule == "error" and rc.error is not None
    assert report.field(INLINE).rule == RULE_VERBATIM
    assert report.overall is Overall.LEAK and report.exit_code == 1
    assert any("reasoning_content is not supported" in note for note in report.notes)


def test_a_type_error_is_a_finding_not_a_crash() -> None:
    report = probe_source("{% for m in messages %}{{ m.content + 1 }}{% endfor %}")

    assert report.overall is Overall.UNPROBED and report.exit_code == 2
    assert "TypeError" in report.summary
    assert all(m.survival is Survival.ERROR for f in report.fields for m in f.messages)


def test_a_template_raising_only_with_a_user_message_mid_loop() -> None:
    source = (
        "{% for m in messages %}{% if loop.index0 > 0 and m.role == 'user' and messages[loop.index0 - 1].role"
        " == 'tool' %}{{ raise_exception('a user turn after a tool result') }}{% endif %}"
        "{{ m.reasoning_content or '' }}{% endfor %}"
    )
    report = probe_source(source)

    rc = report.field(RC)
    assert [m.survival for m in rc.messages if m.conversation == LOOP] == [Survival.KEPT] * 4
    assert {m.survival for m in rc.messages if m.conversation == NUDGED} == {Survival.ERROR}
    assert rc.rule == "unknown: the nudged conversation raised"
    assert report.overall is Overall.KEPT


def test_a_template_that_always_raises_cannot_be_probed() -> None:
    report = probe_source("{{ raise_exception('no tools here') }}")

    assert report.overall is Overall.UNPROBED and report.exit_code == 2
    assert "no tools here" in report.summary


def test_a_syntax_error_cannot_be_probed() -> None:
    report = probe_source("{% for m in messages %}")

    assert report.overall is Overall.UNPROBED and "TemplateSyntaxError" in report.summary
    assert report.fields == ()


def test_a_template_keeping_only_the_last_assistant_message_is_irregular() -> None:
    source = (
        "{% for m in messages %}{% if m.role == 'assistant' and loop.index0 == messages | length - 2 %}"
        "{{ m.reasoning_content }}{% endif %}{% endfor %}"
    )
    report = probe_source(source)

    assert report.field(RC).rule == ("irregular: loop: kept by assistant 4; nudged: kept by assistant 4")
    assert report.overall is Overall.LEAK


def test_tool_calls_that_do_not_render_fail_the_check() -> None:
    report = probe_source("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}")

    assert [c.status for c in report.checks] == ["failed", "ok"]
    assert "ARG_MARK_ONE" in report.checks[0].detail


# ------------------------------------------------------------------------------ conversations


def test_the_two_conversations() -> None:
    loop = messages(LOOP, RC)
    nudged = messages(NUDGED, RC)

    assert [m["role"] for m in loop] == [
        "system", "user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant", "tool",
    ]  # fmt: skip
    assert [m["role"] for m in nudged] == [
        "system", "user", "assistant", "tool", "assistant", "user", "assistant", "tool", "user", "assistant",
        "tool",
    ]  # fmt: skip
    assert loop[2]["tool_calls"][0]["function"]["arguments"] == {"query": "ARG_MARK_ONE"}
    assert (
        messages(LOOP, RC, ARGS_JSON)[2]["tool_calls"][0]["function"]["arguments"]
        == '{"query": "ARG_MARK_ONE"}'
    )
    assert [(p.number, p.after_last_user, p.after_last_final) for p in positions(NUDGED)] == [
        (1, False, False),
        (2, False, False),
        (3, False, True),
        (4, True, True),
    ]
    assert messages(LOOP, INLINE)[4]["content"] == "<think>REASONING_MARK_TWO</think>TEXT_MARK_TWO"
    assert (
        messages(LOOP, INLINE, neutral=2)[4]["content"]
        == "[[think]]REASONING_MARK_TWO[[/think]]TEXT_MARK_TWO"
    )
    assert messages(LOOP, CHANNEL)[2]["content"] == "<|channel|>analysis<|message|>REASONING_MARK_ONE<|end|>"


# -------------------------------------------------------------------------------- HF environment


def test_tojson_is_transformers_tojson() -> None:
    env = hf_environment()
    value = {"b": 1, "a": "é<&>"}

    assert env.from_string("{{ v | tojson }}").render(v=value) == '{"b": 1, "a": "é<&>"}'
    assert env.from_string("{{ v | tojson(indent=2) }}").render(v={"a": 1}) == '{\n  "a": 1\n}'
    assert env.from_string("{{ v | tojson(ensure_ascii=True) }}").render(v="é") == '"\\u00e9"'


def test_environment_features_templates_rely_on() -> None:
    env = hf_environment()

    assert (
        env.from_string(
            "{% for i in [1,2,3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}"
        ).render()
        == "1"
    )
    assert env.from_string("{% generation %}kept{% endgeneration %}").render() == "kept"
    assert len(env.from_string("{{ strftime_now('%Y') }}").render()) == 4
    assert env.from_string("  {% if true %}\n  x\n{% endif %}\n").render() == "  x\n", (
        "trim and lstrip blocks"
    )
    with pytest.raises(jinja2.TemplateError, match="stop"):
        env.from_string("{{ raise_exception('stop') }}").render()
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{% set x = [] %}{{ x.append(1) }}").render()


def test_special_tokens_and_options_reach_the_template() -> None:
    template = ChatTemplate(
        source="{{ bos_token }}|{{ eos_token }}|{{ flag }}", origin="t", tokens={"bos_token": "<s>"}
    )

    assert PromptRenderer(template, {"flag": "on"}).render([]) == ("<s>||on", None)


def test_generation_prompt_is_reported() -> None:
    assert probe("m2_style.jinja").generation_prompt == "]~b]ai\n<think>\n"
    assert probe("deepseek_v31_style.jinja").generation_prompt == "<｜Assistant｜></think>"
    assert probe("deepseek_v31_style.jinja", thinking=True).generation_prompt == "<｜Assistant｜><think>"
