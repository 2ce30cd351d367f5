"""Tool calls written as text: every format, mixtures, errors an agent can send back, never raising."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interleaf.transcript import Message, ReasoningDialect, Text, Thinking, ToolCall, ToolSpec
from interleaf.wire.textcalls import (
    TextCallResult,
    ToolCallParseError,
    apply_text_tool_calls,
    extract_tool_calls,
)
from interleaf.wire.toolcalls import sequential_call_ids

SHELL = ToolSpec(
    name="shell",
    description="Run a shell command",
    parameters={"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
)
READ_FILE = ToolSpec(
    name="read_file",
    parameters={
        "type": "object",
        "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["path"],
    },
)
TOOLS = (SHELL, READ_FILE)


def extract(text: str, tools: tuple[ToolSpec, ...] = TOOLS) -> TextCallResult:
    return extract_tool_calls(text, tools, id_factory=sequential_call_ids())


def calls(result: TextCallResult) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in result.calls]


LS = [("shell", {"command": "ls"})]


# ------------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "shell", "arguments": {"command": "ls"}}\n</tool_call>',
        '<tool_call>{"name": "shell", "arguments": "{\\"command\\": \\"ls\\"}"}</tool_call>',
        '<tool_call>\n```json\n{"name": "shell", "arguments": {"command": "ls"}}\n```\n</tool_call>',
        '<tool_call>{"name": "shell", "command": "ls"}</tool_call>',
        "<tool_call>\n<function=shell>\n<parameter=command>\nls\n</parameter>\n</function>\n</tool_call>",
        '```json\n{"name": "shell", "arguments": {"command": "ls"}}\n```',
        '```JSON\n{"name": "shell", "parameters": {"command": "ls"}}\n```',
        '```tool_call\n{"name": "shell", "arguments": {"command": "ls"}}\n```',
        '```\n{"name": "shell", "arguments": {"command": "ls"}}\n```',
        '```json {"name": "shell", "arguments": {"command": "ls"}}```',
        '```json\n[{"name": "shell", "arguments": {"command": "ls"}}]\n```',
        '{"name": "shell", "arguments": {"command": "ls"}}',
        '{"name": "shell", "parameters": {"command": "ls"}}',
        '{"type": "function", "function": {"name": "shell", "arguments": "{\\"command\\":\\"ls\\"}"}}',
        '{"tool": "shell", "command": "ls"}',
        '{"tool": "shell", "arguments": {"command": "ls"}}',
        '<function=shell>{"command": "ls"}</function>',
        '<minimax:tool_call>\n<invoke name="shell">\n<parameter name="command">ls</parameter>\n</invoke>\n'
        "</minimax:tool_call>",
    ],
    ids=[
        "hermes",
        "hermes-string-arguments",
        "hermes-fenced",
        "hermes-flat-arguments",
        "qwen3-coder",
        "json-fence",
        "json-fence-parameters",
        "tool_call-fence",
        "bare-fence",
        "inline-fence",
        "fence-list",
        "bare-object",
        "bare-parameters",
        "openai-item",
        "action",
        "action-wrapped",
        "llama-function",
        "minimax-xml",
    ],
)
def test_each_format_gives_the_call(text: str) -> None:
    result = extract(f"Let me look.\n{text}\nDone.")
    assert calls(result) == LS
    assert result.errors == ()
    assert result.text == "Let me look.\n\nDone."
    assert result.calls[0].id == "call_000000000000000000000001"
    assert result.calls[0].raw_arguments is None


def test_mixture_of_formats_in_order_with_text_between() -> None:
    text = (
        'First {"name": "shell", "arguments": {"command": "pwd"}} then\n'
        '<tool_call>{"name": "read_file", "arguments": {"path": "a.txt"}}</tool_call>\n'
        '```json\n{"tool": "shell", "command": "ls"}\n```\n'
        '<minimax:tool_call><invoke name="read_file"><parameter name="path">b</parameter>'
        '<parameter name="limit">10</parameter></invoke></minimax:tool_call>end'
    )
    result = extract(text)
    assert calls(result) == [
        ("shell", {"command": "pwd"}),
        ("read_file", {"path": "a.txt"}),
        ("shell", {"command": "ls"}),
        ("read_file", {"path": "b", "limit": 10}),
    ]
    assert [c.id[-1] for c in result.calls] == ["1", "2", "3", "4"]
    assert result.text == "First  then\n\n\nend"
    kinds = ["str" if isinstance(p, str) else "call" for p in result.parts]
    assert kinds == ["str", "call", "str", "call", "str", "call", "str", "call", "str"]


def test_several_calls_in_one_wrapper() -> None:
    text = (
        '<tool_call>\n{"name": "shell", "arguments": {"command": "ls"}}\n'
        '{"name": "shell", "arguments": {"command": "pwd"}}\n</tool_call>'
    )
    assert calls(extract(text)) == [("shell", {"command": "ls"}), ("shell", {"command": "pwd"})]


def test_values_separated_by_commas_and_trailing_remarks_in_a_fence() -> None:
    text = (
        '```json\n{"name": "shell", "arguments": {"command": "ls"}},\n'
        '{"name": "read_file", "arguments": {"path": "a"}}\n// then read it\n```'
    )
    result = extract(text)
    assert calls(result) == [("shell", {"command": "ls"}), ("read_file", {"path": "a"})]
    assert result.text == ""


def test_unclosed_function_takes_its_object_only() -> None:
    result = extract('<function=shell>{"command": "ls"} and some prose')
    assert calls(result) == LS
    assert result.text == " and some prose"


def test_qwen3_coder_values_are_typed_by_schema() -> None:
    text = "<tool_call><function=read_file><parameter=path>\nsrc/a.py\n</parameter><parameter=limit>\n5\n</parameter></function></tool_call>"
    assert calls(extract(text)) == [("read_file", {"path": "src/a.py", "limit": 5})]


def test_function_without_arguments() -> None:
    assert calls(extract("<function=shell></function>")) == [("shell", {})]


# ------------------------------------------------------------------------------- not calls, no errors


@pytest.mark.parametrize(
    "text",
    [
        "Plain prose with {braces} and a } here.",
        '```python\nprint({"name": "shell", "arguments": {"command": "ls"}})\n```',
        '```bash\n{"tool": "shell", "command": "ls"}\n```',
        '```json\n{"name": "Alice", "age": 3}\n```',
        '```json\n[{"name": "Alice"}, {"name": "Bob"}]\n```',
        '{"final_answer": "The files are README.md, setup.py, src and tests."}',
        '{"name": "Alice", "age": 3}',
        "```json\nnot json at all\n```",
        "<function=x is how you would write it",
        "```",
    ],
)
def test_text_that_is_not_a_call_stays_and_is_no_error(text: str) -> None:
    result = extract(text)
    assert result.calls == ()
    assert result.errors == ()
    assert result.text == text
    assert result.parts == (text,)


def test_calls_inside_thinking_are_ignored() -> None:
    call = '{"name": "shell", "arguments": {"command": "rm -rf /"}}'
    for text in (
        f"<think>I could run {call}</think>\nNo call.",
        f"<think>unterminated {call}",
        f"prefilled thinking {call}</think>\nNo call.",
        f"<think>a</think><think>{call} <tool_call>{call}</tool_call></think>",
    ):
        result = extract(text)
        assert result.calls == (), text
        assert result.errors == ()
        assert result.text == text
    mixed = extract(f"<think>{call}</think>" + '{"tool": "shell", "command": "ls"}')
    assert calls(mixed) == LS
    assert mixed.text == f"<think>{call}</think>"


# ------------------------------------------------------------------------------------------ errors


def test_unknown_tool_is_still_a_call_and_gets_an_answerable_error() -> None:
    result = extract('{"tool": "shel", "command": "ls"}')
    (call,) = result.calls
    assert (call.name, call.arguments) == ("shel", {"command": "ls"})
    (error,) = result.errors
    assert error.message == "unknown tool 'shel'; available tools: shell, read_file"
    assert (error.call_id, error.tool) == (call.id, "shel")
    assert error.text == '{"tool": "shel", "command": "ls"}'


def test_unknown_tool_with_no_tools_at_all() -> None:
    result = extract('<tool_call>{"name": "shell", "arguments": {}}</tool_call>', ())
    assert result.errors[0].message == "unknown tool 'shell'; no tools are available"


def test_broken_json_names_line_and_column() -> None:
    text = '<tool_call>\n{"name": "shell", "arguments": {"command": "ls" "-la"}}\n</tool_call>'
    result = extract(text)
    (call,) = result.calls
    (error,) = result.errors
    assert error.message == (
        "tool call for 'shell' has invalid JSON arguments: Expecting ',' delimiter at line 1 column 49; "
        "write the call again as valid JSON"
    )
    assert error.call_id == call.id
    # The unreadable text rides on the call, so ToolCall.arguments_error flags it as well.
    assert call.arguments == {}
    assert call.raw_arguments == '{"name": "shell", "arguments": {"command": "ls" "-la"}}'
    assert call.arguments_error is not None


def test_bare_broken_json_naming_a_tool_is_an_error_but_not_naming_one_is_text() -> None:
    result = extract('Run {"name": "shell", "arguments": {"command": "ls" "x"}} now')
    assert [e.message.split(":")[0] for e in result.errors] == [
        "tool call for 'shell' has invalid JSON arguments"
    ]
    assert result.calls[0].raw_arguments == '{"name": "shell", "arguments": {"command": "ls" '
    assert result.text == 'Run "x"}} now'
    truncated = extract('{"name": "shell", "arguments": {"command": "ls"}')
    assert truncated.errors[0].message.startswith(
        "tool call for 'shell' has invalid JSON arguments: Expecting"
    )
    assert truncated.calls[0].arguments_error is not None
    plain = extract('Data {"name": "Alice", "x": [1, 2}')
    assert plain.errors == ()
    assert plain.calls == ()


def test_invalid_string_arguments() -> None:
    result = extract('<tool_call>{"name": "shell", "arguments": "{\\"command\\": ls}"}</tool_call>')
    (error,) = result.errors
    assert error.message.startswith(
        "tool call for 'shell' has invalid JSON arguments: Expecting value at line 1"
    )
    assert result.calls[0].raw_arguments == '{"command": ls}'


def test_arguments_that_are_not_an_object() -> None:
    result = extract('{"name": "shell", "arguments": ["ls"]}')
    (error,) = result.errors
    assert error.message == (
        'the arguments of tool call \'shell\' must be a JSON object, not an array; write them as {"key": "value"}'
    )
    assert result.calls[0].arguments_error == "tool-call arguments must be a JSON object, got list"


def test_explicit_wrapper_without_a_name_keeps_the_text() -> None:
    for text in (
        "<tool_call>ls -la</tool_call>",
        '<tool_call>{"command": "ls"}</tool_call>',
        "```tool_call\n[1]\n```",
    ):
        result = extract(text)
        assert result.calls == ()
        assert result.text == text
        (error,) = result.errors
        assert error.call_id is None
        assert "write" in error.message


def test_minimax_xml_problems() -> None:
    result = extract('<minimax:tool_call><invoke name="shel"></invoke><invoke>x</invoke></minimax:tool_call>')
    assert [c.name for c in result.calls] == ["shel"]
    assert [e.message for e in result.errors] == [
        "unknown tool 'shel'; available tools: shell, read_file",
        'a tool call in <minimax:tool_call> has no name and was not run; write it as <invoke name="tool-name">',
    ]
    assert result.errors[0].call_id == result.calls[0].id
    assert result.errors[1].call_id is None
    empty = extract("<minimax:tool_call>\n</minimax:tool_call>")
    assert empty.calls == ()
    assert "held no call" in empty.errors[0].message


def test_unclosed_wrappers_take_what_they_hold() -> None:
    result = extract('<tool_call>\n{"name": "shell", "arguments": {"command": "ls"}}\nand then prose')
    assert calls(result) == LS
    assert result.text == "\nand then prose"
    fence = extract('```json\n{"name": "shell", "arguments": {"command": "ls"}}\n' + "\n" * 50)
    assert calls(fence) == LS


# ----------------------------------------------------------------- the local model (docs/architecture.md §4.5)


def test_qwen_coder_15b_json_fence() -> None:
    text = '```json\n{"name": "shell", "arguments": {"command": "ls"}}\n```'
    result = extract(text, (SHELL,))
    assert calls(result) == LS
    assert result.text == ""


def test_qwen_coder_05b_bare_json_and_runaway_fence() -> None:
    assert calls(extract('{"name": "shell", "arguments": {"command": "ls -l"}}', (SHELL,))) == [
        ("shell", {"command": "ls -l"})
    ]
    runaway = '```json\n{"name": "shell", "arguments": {"command": "ls"}}\n```' + "\n" * 200
    assert calls(extract(runaway, (SHELL,))) == LS


def test_action_format_loop() -> None:
    step_1 = extract('{"tool": "shell", "command": "ls"}', (SHELL,))
    assert calls(step_1) == LS
    answer = '{"final_answer": "The directory holds README.md, setup.py, src and tests."}'
    step_2 = extract(answer, (SHELL,))
    assert step_2.calls == ()
    assert step_2.errors == ()
    assert step_2.text == answer


def test_hallucinated_tool_response_stays_text() -> None:
    text = '```json\n{"name": "shell", "arguments": {"command": "ls"}}\n```\n<tool_response>\nREADME.md\n</tool_response>'
    result = extract(text, (SHELL,))
    assert calls(result) == LS
    assert result.text == "\n<tool_response>\nREADME.md\n</tool_response>"


# ------------------------------------------------------------------------------ rewriting a message


def test_apply_rewrites_text_blocks_and_keeps_thinking_in_place() -> None:
    thinking = Thinking(
        text='I should list. {"tool": "shell", "command": "rm"}', dialect=ReasoningDialect.THINK_TAGS
    )
    message = Message(
        role="assistant",
        blocks=(
            thinking,
            Text(
                text='Listing.\n```json\n{"name": "shell", "arguments": {"command": "ls"}}\n```\n',
                extra={"k": 1},
            ),
            Thinking(text="second"),
            Text(text="No calls here."),
        ),
        plain=True,
    )
    rewritten, errors = apply_text_tool_calls(message, TOOLS, id_factory=sequential_call_ids())
    assert errors == []
    assert rewritten.blocks == (
        thinking,
        Text(text="Listing.\n", extra={"k": 1}),
        ToolCall(id="call_000000000000000000000001", name="shell", arguments={"command": "ls"}),
        Thinking(text="second"),
        Text(text="No calls here."),
    )
    assert rewritten.plain is False


def test_apply_leaves_messages_without_calls_alone() -> None:
    message = Message(role="assistant", blocks=(Text(text="just text"),), plain=True)
    same, errors = apply_text_tool_calls(message, TOOLS)
    assert same is message
    assert errors == []
    user = Message(role="user", blocks=(Text(text='{"tool": "shell", "command": "ls"}'),))
    assert apply_text_tool_calls(user, TOOLS) == (user, [])


def test_apply_reports_errors_with_call_ids() -> None:
    message = Message(role="assistant", blocks=(Text(text='{"tool": "sh", "command": "ls"}'),))
    rewritten, errors = apply_text_tool_calls(message, TOOLS, id_factory=sequential_call_ids())
    (call,) = rewritten.tool_calls
    assert errors == [
        ToolCallParseError(
            "unknown tool 'sh'; available tools: shell, read_file",
            "sh",
            '{"tool": "sh", "command": "ls"}',
            call_id=call.id,
        )
    ]


# ----------------------------------------------------------------------------------------- fuzzing

_PIECES = [
    "{", "}", "[", "]", '"', ":", ",", " ", "\n", "`", "```", "```json\n", "```python\n", "<tool_call>",
    "</tool_call>", "<think>", "</think>", "<function=shell>", "</function>", "<minimax:tool_call>",
    "</minimax:tool_call>", '<invoke name="shell">', "</invoke>", '<parameter name="command">', "</parameter>",
    "<parameter=command>", '"name"', '"tool"', '"arguments"', '"shell"', '"sh"', "null", "1e999", "NaN", "ls",
    '{"name": "shell", "arguments": {"command": "ls"}}', '{"tool": "shell", "command": "x"}', "\\", "é",
]  # fmt: skip


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join) | st.text(max_size=200))
def test_never_raises_and_loses_no_text(text: str) -> None:
    result = extract_tool_calls(text, TOOLS, id_factory=sequential_call_ids())
    assert isinstance(result, TextCallResult)
    # Every text part is a piece of the input, in order; calls only replace what they were read from.
    position = 0
    for part in result.parts:
        if isinstance(part, str):
            found = text.find(part, position)
            assert found != -1
            position = found + len(part)
    for error in result.errors:
        assert error.message
        assert error.call_id is None or error.call_id in {c.id for c in result.calls}
    for call in result.calls:
        assert isinstance(call.arguments, dict)
    message = Message(role="assistant", blocks=(Text(text=text),))
    _, errors = apply_text_tool_calls(message, TOOLS)
    assert len(errors) == len(result.errors)


def test_deep_nesting_and_huge_numbers_do_not_raise() -> None:
    deep = '{"name": "shell", "arguments": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    assert extract(deep).errors[0].message.startswith("tool call for 'shell' has invalid JSON arguments")
    huge = '{"tool": "shell", "n": ' + "9" * 5000 + "}"
    assert extract(huge).calls[0].raw_arguments is not None
    extract("{" * 20000)
