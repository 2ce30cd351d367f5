"""``interleaf probe template`` from the command line: loading, template options, exit codes, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interleaf.cli import app
from interleaf.probe.template import (
    RULE_AFTER_USER,
    RULE_ALL,
    RULE_NONE,
    ChatTemplate,
    OptionError,
    TemplateLoadError,
    hf_environment,
    load_template,
    probe_template,
)
from interleaf.probe.template_options import find_options, merge_options, parse_kwarg

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "tests" / "fixtures" / "templates"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["probe", "template", *args])
    return result.exit_code, result.stdout, result.stderr


# ------------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("name", "options"),
    [
        (
            "glm47_style.jinja",
            [("clear_thinking", ("true", "false")), ("enable_thinking", ("true", "false"))],
        ),
        (
            "nemotron_style.jinja",
            [("enable_thinking", ("true", "false")), ("truncate_history_thinking", ("true", "false"))],
        ),
        ("hunyuan_style.jinja", [("preserved_thinking", ("true", "false"))]),
        ("deepseek_v31_style.jinja", [("thinking", ("true", "false"))]),
        ("qwen3_style.jinja", [("enable_thinking", ("false",))]),
        ("gpt_oss_style.jinja", [("reasoning_effort", ())]),
        ("kimi_k2_thinking_style.jinja", []),
    ],
)
def test_the_options_a_template_reads_are_found_by_parsing_it(
    name: str, options: list[tuple[str, tuple[str, ...]]]
) -> None:
    source = (TEMPLATES / name).read_text(encoding="utf-8")

    assert [(o.name, o.compared_with) for o in find_options(hf_environment(), source)] == options


def test_a_variable_the_template_sets_itself_is_not_an_option() -> None:
    source = (
        "{% set ns = namespace(x=1) %}{% for m in messages %}{% if m.role == 'a' %}{% set reasoning = 'r' %}"
        "{% endif %}{{ reasoning }}{% endfor %}{{ effort == 'high' }}"
    )

    assert [(o.name, o.compared_with) for o in find_options(hf_environment(), source)] == [
        ("effort", ('"high"',))
    ]


def test_options_change_the_rule_and_unread_ones_are_named() -> None:
    template = load_template(TEMPLATES / "glm47_style.jinja")

    default = probe_template(template)
    preserved = probe_template(template, options={"clear_thinking": False, "colour": "blue"})

    assert default.field("reasoning_content").rule == RULE_AFTER_USER
    assert preserved.field("reasoning_content").rule == RULE_ALL
    assert [o.passed for o in preserved.options] == [True, False]
    assert "option colour: the template never reads it, so it changes nothing" in preserved.notes
    assert dict(preserved.template_kwargs) == {"clear_thinking": False, "colour": "blue"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clear_thinking=false", ("clear_thinking", False)),
        ("effort=high", ("effort", "high")),
        ('effort="high"', ("effort", "high")),
        ("n=2", ("n", 2)),
        ('x={"a": [1]}', ("x", {"a": [1]})),
        ("empty=", ("empty", "")),
    ],
)
def test_kwarg_values_are_json_when_they_parse(text: str, expected: tuple[str, object]) -> None:
    assert parse_kwarg(text) == expected


@pytest.mark.parametrize(
    ("template_kwargs", "kwargs", "message"),
    [
        (None, ["novalue"], "is not NAME=VALUE"),
        (None, ["=1"], "is not NAME=VALUE"),
        ("{not json", [], "--template-kwargs is not valid JSON"),
        ("[1]", [], "must be a JSON object, got list"),
        ('{"messages": []}', [], "the probe sets messages itself"),
        (None, ["add_generation_prompt=false"], "the probe sets add_generation_prompt itself"),
    ],
)
def test_bad_options(template_kwargs: str | None, kwargs: list[str], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        merge_options(template_kwargs, kwargs)


def test_kwarg_overrides_template_kwargs() -> None:
    assert merge_options('{"a": 1, "b": 2}', ["b=3"]) == {"a": 1, "b": 3}


def test_the_library_refuses_reserved_options_too() -> None:
    with pytest.raises(OptionError, match="tools"):
        probe_template(ChatTemplate(source="x", origin="t"), options={"tools": []})


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
    assert probe_template(template).exit_code == 0


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


def test_a_missing_or_binary_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateLoadError, match="cannot read"):
        load_template(tmp_path / "nope.jinja")
    binary = tmp_path / "model.jinja"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TemplateLoadError, match="is not UTF-8 text"):
        load_template(binary)


# ----------------------------------------------------------------------------------------- CLI


def test_cli_tables_and_exit_codes() -> None:
    kept = run(str(TEMPLATES / "qwen3_style.jinja"))
    leak = run(str(TEMPLATES / "chatml_drop_reasoning.jinja"))

    assert kept[0] == 0, kept
    for heading in (
        "whose reasoning survives rendering",
        "when the client sends it as",
        "vLLM (transformers",
    ):
        assert heading in kept[1]
    assert "nudged 3 loop, user turn next" in kept[1]
    assert "after the last user" in kept[1] and "KEPT (exit 0)" in kept[1]
    assert "options the template reads: enable_thinking (false)" in kept[1]
    assert leak[0] == 1 and "LEAK (exit 1)" in leak[1]


def test_cli_passes_options() -> None:
    code, out, _ = run(
        str(TEMPLATES / "nemotron_style.jinja"),
        "--template-kwargs",
        '{"truncate_history_thinking": true}',
        "--kwarg",
        "truncate_history_thinking=false",
        "--json",
    )

    report = json.loads(out)
    assert code == 0
    assert report["template_kwargs"] == {"truncate_history_thinking": False}
    assert {f["field"]: f["rule"] for f in report["fields"]}["reasoning_content"] == RULE_ALL


def test_cli_json() -> None:
    code, out, _ = run(str(TEMPLATES / "m2_style.jinja"), "--json")

    report = json.loads(out)
    assert code == 0
    assert report["kind"] == "template" and report["overall"] == "kept" and report["exit_code"] == 0
    assert [f["rule"] for f in report["fields"]] == [RULE_AFTER_USER, RULE_NONE, RULE_NONE, RULE_AFTER_USER]
    assert report["fields"][0]["messages"][0] == {
        "conversation": "loop",
        "index": 2,
        "label": "assistant 1",
        "place": "earlier task, call",
        "after_last_user": False,
        "after_last_final": False,
        "survival": "dropped",
        "detail": "",
    }
    vllm = next(
        s
        for s in report["stacks"]
        if s["stack"] == "vLLM (transformers < 5.21)" and s["sends"] == "reasoning"
    )
    assert vllm["sees"] == ["reasoning_content", "reasoning"] and vllm["tool_loop"] == "kept"
    assert vllm["messages"]["nudged"] == ["dropped", "dropped", "dropped", "kept"]
    assert report["options"] == [{"name": "default_system", "compared_with": [], "passed": False}]
    assert report["generation_prompt"] == "]~b]ai\n<think>\n"


def test_cli_a_raising_template_exits_2_with_a_verdict_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "broken.jinja"
    path.write_text("{% for m in messages %}{{ m.content + m }}{% endfor %}", encoding="utf-8")

    code, out, err = run(str(path))

    assert code == 2
    assert "UNPROBED (exit 2): could not render the template" in out and "TypeError" in out
    assert "Traceback" not in out + err


def test_cli_plus_joined_arguments_exit_1_with_every_message_judged() -> None:
    code, out, err = run(str(TEMPLATES / "deepseek_v31_style.jinja"), "--json")

    report = json.loads(out)
    assert code == 1 and "Traceback" not in err
    assert all(len(f["messages"]) == 8 and f["arguments"] == "JSON string" for f in report["fields"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kwarg", "oops"], "is not NAME=VALUE"),
        (["--template-kwargs", "[]"], "must be a JSON object"),
        (["--kwarg", "messages=[]"], "the probe sets messages itself"),
    ],
)
def test_cli_bad_options_exit_2(args: list[str], message: str) -> None:
    code, _, err = run(str(TEMPLATES / "m2_style.jinja"), *args)

    assert code == 2 and message in err


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "missing.jinja"))

    assert code == 2 and "cannot read" in err


def test_the_docs_table_is_what_the_probe_says() -> None:
    """docs/probe.md's table of templates is produced by running the probe (scripts/template_table.py)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "template_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
