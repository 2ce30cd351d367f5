"""``interleaf probe template`` on the shipped templates and on small templates written to break it."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest
from typer.testing import CliRunner

from interleaf.cli import app
from interleaf.probe.report import Overall
from interleaf.probe.template import (
    RULE_AFTER_USER,
    RULE_ALL,
    RULE_NONE,
    ChatTemplate,
    TemplateLoadError,
    canonical_messages,
    hf_environment,
    load_template,
    probe_template,
    render,
)

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"


def rules(path: Path) -> dict[str, str]:
    report = probe_template(load_template(path))
    return {field.field: field.rule for field in report.fields}


@pytest.mark.parametrize(
    ("name", "rule", "overall"),
    [
        ("m2_style.jinja", RULE_AFTER_USER, Overall.KEPT),
        ("qwen3_style.jinja", RULE_AFTER_USER, Overall.KEPT),
        ("chatml_drop_reasoning.jinja", RULE_NONE, Overall.LEAK),
        ("chatml_keep_reasoning.jinja", RULE_ALL, Overall.KEPT),
    ],
)
def test_shipped_templates(name: str, rule: str, overall: Overall) -> None:
    report = probe_template(load_template(TEMPLATES / name))

    assert {f.field: f.rule for f in report.fields} == {"reasoning_content": rule, "<think> in content": rule}
    assert report.overall is overall
    assert report.exit_code == {Overall.KEPT: 0, Overall.LEAK: 1}[overall]
    assert [(c.name, c.status) for c in report.checks] == [
        ("tool calls render", "ok"),
        ("tool results render", "ok"),
    ]


def test_per_message_survival_of_the_m2_template() -> None:
    report = probe_template(load_template(TEMPLATES / "m2_style.jinja"))

    field = report.fields[0]
    assert [(m.label, m.after_last_user, m.survives) for m in field.messages] == [
        ("assistant 1", False, False),
        ("assistant 2", True, True),
        ("assistant 3", True, True),
    ]
    assert field.keeps_loop
    assert "REASONING_MARK_TWO" in field.rendered and "REASONING_MARK_ONE" not in field.rendered


def test_the_canonical_conversation() -> None:
    messages, assistants = canonical_messages("reasoning_content")

    assert [m["role"] for m in messages] == [
        "system", "user", "assistant", "user", "assistant", "tool", "assistant", "tool",
    ]  # fmt: skip
    assert [(index, after) for index, _, _, after in assistants] == [(2, False), (4, True), (6, True)]
    assert messages[4]["tool_calls"][0]["function"]["arguments"] == {"query": "ARG_MARK_TWO"}
    inline, _ = canonical_messages("<think> in content")
    assert inline[2]["content"].startswith("<think>\nREASONING_MARK_ONE\n</think>")
    assert "reasoning_content" not in inline[2]


# --------------------------------------------------------------------------- templates that misbehave

CHATML_TAIL = """{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"""


def probe_source(source: str) -> dict[str, str]:
    return {f.field: f.rule for f in probe_template(ChatTemplate(source=source, origin="test")).fields}


def test_a_template_that_knows_nothing_of_reasoning_keeps_inline_think_in_every_turn() -> None:
    report = probe_template(ChatTemplate(source=CHATML_TAIL, origin="plain"))

    assert {f.field: f.rule for f in report.fields} == {
        "reasoning_content": RULE_NONE,
        "<think> in content": RULE_ALL,
    }
    assert report.overall is Overall.KEPT and "<think> in content" in report.summary
    assert [c.status for c in report.checks] == ["failed", "ok"], "tool calls are not rendered"
    assert "ARG_MARK_TWO" in report.checks[0].detail


def test_a_template_keeping_only_the_last_assistant_message_leaks_the_loop() -> None:
    source = (
        "{% for m in messages %}{% if m.role == 'assistant' and loop.index0 == 6 %}"
        "{{ m.reasoning_content }}{% endif %}{% endfor %}"
    )
    report = probe_template(ChatTemplate(source=source, origin="last"))

    assert report.fields[0].rule == "irregular: only assistant 3"
    assert report.fields[1].rule == RULE_NONE
    assert report.overall is Overall.LEAK


def test_a_template_that_raises_is_reported_per_field() -> None:
    source = (
        "{% for m in messages %}{% if m.reasoning_content is defined %}"
        "{{ raise_exception('reasoning_content is not supported') }}{% endif %}{{ m.content }}{% endfor %}"
    )
    report = probe_template(ChatTemplate(source=source, origin="raises"))

    rc, inline = report.fields
    assert rc.error is not None and "reasoning_content is not supported" in rc.error
    assert inline.rule == RULE_ALL and report.overall is Overall.KEPT
    assert any("reasoning_content is not supported" in note for note in report.notes)


def test_a_template_that_always_raises_cannot_be_probed() -> None:
    report = probe_template(ChatTemplate(source="{{ raise_exception('no tools here') }}", origin="x"))

    assert report.overall is Overall.UNPROBED and report.exit_code == 2
    assert "no tools here" in report.summary


def test_a_syntax_error_cannot_be_probed() -> None:
    report = probe_template(ChatTemplate(source="{% for m in messages %}", origin="broken"))

    assert report.overall is Overall.UNPROBED and "TemplateSyntaxError" in report.summary


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


def test_special_tokens_reach_the_template() -> None:
    template = ChatTemplate(source="{{ bos_token }}|{{ eos_token }}", origin="t", tokens={"bos_token": "<s>"})

    assert render(template, []) == "<s>|"


# ------------------------------------------------------------------------------------- loading


def write_config(tmp_path: Path, **config: object) -> Path:
    path = tmp_path / "tokenizer_config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_load_a_tokenizer_config(tmp_path: Path) -> None:
    source = (TEMPLATES / "qwen3_style.jinja").read_text()
    path = write_config(
        tmp_path, chat_template=source, bos_token={"content": "<s>", "lstrip": False}, eos_token="<|im_end|>"
    )

    template = load_template(path)

    assert template.source == source and template.name is None
    assert template.tokens == {"bos_token": "<s>", "eos_token": "<|im_end|>"}
    assert probe_template(template).overall is Overall.KEPT


def test_load_a_named_template_from_a_list(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        chat_template=[{"name": "tool_use", "template": "A"}, {"name": "default", "template": "B"}],
    )

    assert load_template(path).source == "B"
    assert load_template(path, name="tool_use").source == "A"
    with pytest.raises(TemplateLoadError, match="no template named 'rag'; its templates: tool_use, default"):
        load_template(path, name="rag")
    first = write_config(tmp_path, chat_template=[{"name": "tool_use", "template": "A"}])
    assert load_template(first).name == "tool_use"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"eos_token": "x"}', "has no 'chat_template'"),
        ("{not json", "is not valid JSON"),
        ('{"chat_template": 3}', "must be a string or a list"),
    ],
)
def test_bad_tokenizer_configs(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "tokenizer_config.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(TemplateLoadError, match=message):
        load_template(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateLoadError, match="cannot read"):
        load_template(tmp_path / "nope.jinja")


# ----------------------------------------------------------------------------------------- CLI


def test_cli_table_and_exit_codes() -> None:
    runner = CliRunner()

    kept = runner.invoke(app, ["probe", "template", str(TEMPLATES / "qwen3_style.jinja")])
    leak = runner.invoke(app, ["probe", "template", str(TEMPLATES / "chatml_drop_reasoning.jinja")])

    assert kept.exit_code == 0, kept.output
    assert "after the last user message" in kept.stdout and "KEPT (exit 0)" in kept.stdout
    assert leak.exit_code == 1 and "LEAK (exit 1)" in leak.stdout


def test_cli_json() -> None:
    result = CliRunner().invoke(app, ["probe", "template", str(TEMPLATES / "m2_style.jinja"), "--json"])

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["kind"] == "template" and report["overall"] == "kept" and report["exit_code"] == 0
    assert [f["rule"] for f in report["fields"]] == [RULE_AFTER_USER, RULE_AFTER_USER]
    assert report["fields"][0]["messages"][0] == {
        "index": 2,
        "label": "assistant 1",
        "after_last_user": False,
        "survives": False,
    }


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["probe", "template", str(tmp_path / "missing.jinja")])

    assert result.exit_code == 2
    assert "cannot read" in result.stderr
