"""MiniMax-M2 native format: raw output read back, streams, and prompts read back into conversations.

Rendering prompts byte-exact to the official template is tests/unit/test_minimax_prompt.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from interleaf.transcript import (
    Conversation,
    Message,
    ReasoningDialect,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from interleaf.wire import minimax
from interleaf.wire.errors import WireFormatError
from interleaf.wire.events import BlockDelta, BlockEnd, BlockStart, MessageEnd, MessageStart, StreamEvent
from interleaf.wire.minimax_xml import convert_param_value
from interleaf.wire.toolcalls import ToolCallParseError, sequential_call_ids
from tests.unit.test_minimax_differential import conversations
from tests.unit.test_minimax_prompt import BASH, SAMPLE_1, SAMPLE_2, WEATHER, sample_2_conversation, user

# --------------------------------------------------------------------------------- parsing output

M2_TOOL_OUTPUT = (
    "The user wants both cities.\n</think>\n\nI'll check both.\n<minimax:tool_call>\n"
    '<invoke name="get_weather">\n<parameter name="location">San Francisco</parameter>\n'
    '<parameter name="days">2</parameter>\n</invoke>\n'
    "<invoke name='get_weather'>\n<parameter name='location'>\nNew York\n</parameter>\n"
    '<parameter name="days">2</parameter>\n</invoke>\n</minimax:tool_call>'
)


def parse(text: str, tools: tuple[ToolSpec, ...] = (WEATHER, BASH), **kwargs: Any) -> minimax.ParsedOutput:
    return minimax.parse_output(text, tools, id_factory=sequential_call_ids(), **kwargs)


def test_parse_thinking_text_and_parallel_calls() -> None:
    parsed = parse(M2_TOOL_OUTPUT)
    assert parsed.errors == ()
    assert parsed.message == Message(
        role="assistant",
        blocks=(
            Thinking(text="The user wants both cities.\n", dialect=ReasoningDialect.THINK_TAGS),
            Text(text="\n\nI'll check both.\n"),
            ToolCall(
                id="call_000000000000000000000001",
                name="get_weather",
                arguments={"location": "San Francisco", "days": 2},
            ),
            ToolCall(
                id="call_000000000000000000000002",
                name="get_weather",
                arguments={"location": "New York", "days": 2},
            ),
        ),
    )
    response = parsed.response()
    assert response.stop_reason == "tool_use"
    assert response.source == "minimax"
    assert parsed.response(stop_reason="max_tokens").stop_reason == "max_tokens"


def test_parse_plain_answer() -> None:
    parsed = parse("Short.\n</think>\n\nHello!")
    assert parsed.message.blocks == (
        Thinking(text="Short.\n", dialect=ReasoningDialect.THINK_TAGS),
        Text(text="\n\nHello!"),
    )
    assert parsed.response().stop_reason == "end_turn"


def test_parse_explicit_think_tag_from_m25() -> None:
    assert parse("<think>\nr\n</think>\n\nHi").message.blocks == parse("\nr\n</think>\n\nHi").message.blocks
    assert parse("\n<think>r</think>Hi").message.blocks[0] == Thinking(
        text="r", dialect=ReasoningDialect.THINK_TAGS
    )


def test_parse_without_think_prefill() -> None:
    assert parse("Hello", prompt_ends_in_think=False).message.blocks == (Text(text="Hello"),)
    assert parse("<think>a</think>b", prompt_ends_in_think=False).message.blocks == (
        Thinking(text="a", dialect=ReasoningDialect.THINK_TAGS),
        Text(text="b"),
    )
    # A </think> without an opening tag is then visible text.
    assert parse("a</think>b", prompt_ends_in_think=False).message.blocks == (Text(text="a</think>b"),)


def test_later_think_tags_are_visible_text() -> None:
    parsed = parse("r</think>x <think>y</think>")
    assert parsed.message.blocks[1:] == (Text(text="x <think>y</think>"),)


def test_unterminated_thinking_is_all_thinking_and_calls_inside_are_not_run() -> None:
    text = 'cut off <minimax:tool_call>\n<invoke name="bash">\n<parameter name="command">ls</parameter>\n</invoke>'
    parsed = parse(text)
    assert parsed.message.blocks == (Thinking(text=text, dialect=ReasoningDialect.THINK_TAGS),)
    assert parsed.tool_calls == ()
    assert len(parsed.errors) == 1
    assert "ended inside <think>" in parsed.errors[0].message


def test_calls_mentioned_inside_closed_thinking_are_ignored() -> None:
    text = 'Use <minimax:tool_call><invoke name="bash"></invoke></minimax:tool_call> maybe\n</think>\n\nNo.'
    parsed = parse(text)
    assert parsed.tool_calls == ()
    assert parsed.errors == ()


def test_whitespace_only_visible_text_is_not_a_block() -> None:
    parsed = parse(
        'r\n</think>\n\n<minimax:tool_call>\n<invoke name="bash">\n</invoke>\n</minimax:tool_call>\n'
    )
    assert [b.kind for b in parsed.message.blocks] == ["thinking", "tool_call"]


def test_text_after_a_tool_call_block_is_kept_after_the_calls() -> None:
    parsed = parse('r</think>A<minimax:tool_call><invoke name="bash"></invoke></minimax:tool_call> B')
    assert [b.kind for b in parsed.message.blocks] == ["thinking", "text", "tool_call", "text"]
    assert parsed.message.blocks[3] == Text(text=" B")


@pytest.mark.parametrize(
    ("value", "types", "expected"),
    [
        ("null", ("string",), None),
        ("NULL", ("integer",), None),
        (" keep ", ("string",), " keep "),
        ("42", ("integer",), 42),
        ("4.2", ("integer",), "4.2"),
        ("2.0", ("number",), 2),
        ("2.5", ("float",), 2.5),
        ("inf", ("number",), "inf"),
        ("abc", ("number",), "abc"),
        ("TRUE", ("boolean",), True),
        ("1", ("bool",), True),
        ("yes", ("boolean",), False),
        ('{"a": [1]}', ("object",), {"a": [1]}),
        ("[1, 2]", ("array",), [1, 2]),
        ("[1, 2", ("array",), "[1, 2"),
        ("NaN", ("array",), "NaN"),
        ("[1]", ("custom",), [1]),
        ("plain", ("custom",), "plain"),
        ("7", (), "7"),
        ("7", ("integer", "null"), 7),
        ("x", ("integer", "string"), "x"),
        ("true", ("boolean", "string"), True),
        ("maybe", ("boolean", "integer"), "maybe"),
    ],
)
def test_parameter_values_typed_by_schema(value: str, types: tuple[str, ...], expected: Any) -> None:
    assert convert_param_value(value, types) == expected
    assert type(convert_param_value(value, types)) is type(expected)


def test_parameters_typed_by_the_tool_schema() -> None:
    tool = ToolSpec(
        name="t",
        parameters={
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "f": {"type": "number"},
                "b": {"type": "boolean"},
                "o": {"type": "object"},
                "a": {"anyOf": [{"type": "array"}, {"type": "null"}]},
                "s": {"type": "string"},
            },
        },
    )
    text = (
        'r</think><minimax:tool_call><invoke name="t">'
        '<parameter name="n"> 3 </parameter><parameter name="f">3.50</parameter>'
        '<parameter name="b">false</parameter><parameter name="o">{"k": 1}</parameter>'
        '<parameter name="a">["x"]</parameter><parameter name="s">\n  007\n\n</parameter>'
        '<parameter name="undeclared">5</parameter>'
        "</invoke></minimax:tool_call>"
    )
    (call,) = parse(text, (tool,)).tool_calls
    assert call.arguments == {
        "n": 3,
        "f": 3.5,
        "b": False,
        "o": {"k": 1},
        "a": ["x"],
        "s": "007",
        "undeclared": "5",
    }
    assert call.raw_arguments is None
    # Without a schema every value stays text, as in the reference parser.
    (untyped,) = parse(text, ()).tool_calls
    assert untyped.arguments["n"] == "3"


@pytest.mark.parametrize(
    ("block", "calls", "message"),
    [
        (
            '<invoke name="bash">\n<parameter name="command">ls</parameter>\n',
            0,
            "'bash' was not closed with </invoke>",
        ),
        ("<invoke>\n</invoke>", 0, "has no name"),
        ('<invoke name="">\n</invoke>', 0, "has no name"),
        ('<invoke name="a">\n<invoke name="bash">\n</invoke>', 1, "'a' was not closed with </invoke>"),
        (
            '<invoke name="bash">\n<parameter name="command">ls\n</invoke>',
            1,
            "'command' of tool call 'bash' was not closed",
        ),
        (
            '<invoke name="bash">\n<parameter name=>x</parameter>\n</invoke>',
            1,
            "has no name and was left out",
        ),
        ('junk <invoke name="bash">\n</invoke>', 1, "outside any <invoke> was ignored: 'junk'"),
        ("nothing here", 0, "outside any <invoke> was ignored"),
        ("</invoke>", 0, "outside any <invoke>"),
    ],
)
def test_malformed_xml_never_crashes_and_says_what_was_skipped(block: str, calls: int, message: str) -> None:
    for closing in ("</minimax:tool_call>", ""):
        parsed = parse(f"r</think><minimax:tool_call>{block}{closing}")
        assert len(parsed.tool_calls) == calls
        assert len(parsed.errors) == 1
        assert message in parsed.errors[0].message
        if calls:
            # The call was still made (as vLLM makes it); an error about it names its id.
            assert parsed.errors[0].call_id in (None, parsed.tool_calls[0].id)


def test_cut_off_block_after_complete_invokes_is_not_an_error() -> None:
    parsed = parse('r</think><minimax:tool_call>\n<invoke name="bash"></invoke>\n')
    assert len(parsed.tool_calls) == 1
    assert parsed.errors == ()


def test_default_ids_look_like_vllm_ids() -> None:
    parsed = minimax.parse_output(M2_TOOL_OUTPUT, (WEATHER,))
    ids = [call.id for call in parsed.tool_calls]
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", i) for i in ids)
    assert len(set(ids)) == 2


# -------------------------------------------------------------------------- round trips and streams


def test_parse_then_render_gives_the_canonical_form() -> None:
    model_output = (
        'Start with ls.\n</think>\n\n<minimax:tool_call>\n<invoke name="bash">\n'
        '<parameter name="command">ls</parameter>\n</invoke>\n</minimax:tool_call>'
    )
    parsed = parse(model_output)
    result = ToolResult(call_id=parsed.tool_calls[0].id, content="README.md\nsrc")
    conversation = Conversation(
        messages=(user("List the files."), parsed.message, Message(role="tool", blocks=(result,))),
        tools=(BASH,),
    )
    prompt = minimax.render_prompt(conversation, add_generation_prompt=False)
    assert prompt.endswith(SAMPLE_2)
    # Not the model's bytes: the template writes three newlines before the block (see SAMPLE_2).
    assert "]~b]ai\n<think>\n" + model_output not in prompt


def _ai_turn(message: Message) -> str:
    prompt = minimax.render_prompt(Conversation(messages=(user("q"), message)), add_generation_prompt=False)
    return prompt.split("]~b]ai\n", 1)[1]


def test_render_of_parse_of_canonical_turn_is_the_same_turn() -> None:
    parsed = parse(M2_TOOL_OUTPUT).message
    canonical = _ai_turn(parsed)
    # Feed the canonical turn back as if the model wrote it after "<think>\n".
    body = canonical.removeprefix("<think>\n").removesuffix("[e~[\n")
    assert _ai_turn(parse(body).message) == canonical


_SAFE_VALUE = (
    st.text(st.sampled_from("abc xyz\n123é"), min_size=1, max_size=10)
    .map(str.strip)
    .filter(lambda v: v != "" and v.lower() != "null")
)


@settings(max_examples=200, deadline=None)
@given(
    reasoning=st.text(st.sampled_from("ab \n."), min_size=1, max_size=12),
    visible=st.text(st.sampled_from("xy \n!"), max_size=12),
    calls=st.lists(
        st.dictionaries(st.sampled_from(["location", "days", "other"]), _SAFE_VALUE, max_size=3), max_size=3
    ),
)
def test_render_parse_render_is_stable(reasoning: str, visible: str, calls: list[dict[str, str]]) -> None:
    blocks: list[Any] = [Thinking(text=reasoning, dialect=ReasoningDialect.THINK_TAGS)]
    if visible.strip():
        blocks.append(Text(text=visible))
    blocks.extend(ToolCall(id=f"c{i}", name="get_weather", arguments=args) for i, args in enumerate(calls))
    turn = _ai_turn(Message(role="assistant", blocks=tuple(blocks)))
    # Reasoning of only newlines renders no think block; the stripped text then reads back unstripped.
    assume(turn.startswith("<think>\n"))
    body = turn.removeprefix("<think>\n").removesuffix("[e~[\n")
    reparsed = minimax.parse_output(body, (ToolSpec(name="get_weather"),))
    assert reparsed.errors == ()
    assert _ai_turn(reparsed.message) == turn


STREAM_SAMPLES = [
    M2_TOOL_OUTPUT,
    "Short.\n</think>\n\nHello!",
    '<think>\nexplicit\n</think>\n\n<minimax:tool_call>\n<invoke name="bash">\n</invoke>\n</minimax:tool_call> tail',
    'cut <minimax:tool_call><invoke name="bash">',
    'r</think>x<minimax:tool_call>junk<invoke name="a"><invoke name="bash"><parameter name="command">ls',
    "r</think><minimax:tool_call><invoke>\n</invoke></minimax:tool_call>\n \n",
    "  \n",
    "",
    "<thin",
]


def _run_stream(chunks: list[str], **kwargs: Any) -> tuple[list[StreamEvent], minimax.ParsedOutput]:
    assembler = minimax.RawStreamAssembler((WEATHER, BASH), id_factory=sequential_call_ids(), **kwargs)
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(assembler.feed(chunk))
    events.extend(assembler.flush())
    return events, assembler.finish()


def _check_events(events: list[StreamEvent], parsed: minimax.ParsedOutput) -> None:
    assert isinstance(events[0], MessageStart)
    assert isinstance(events[-1], MessageEnd)
    assert events[-1].response.message == parsed.message
    deltas: dict[int, str] = {}
    ends: dict[int, Any] = {}
    started: list[int] = []
    for event in events[1:-1]:
        if isinstance(event, BlockStart):
            started.append(event.index)
        elif isinstance(event, BlockDelta):
            assert event.index == started[-1]
            deltas[event.index] = deltas.get(event.index, "") + event.text
        elif isinstance(event, BlockEnd):
            ends[event.index] = event.block
    assert started == list(range(len(parsed.message.blocks)))
    assert [ends[i] for i in started] == list(parsed.message.blocks)
    for index, block in enumerate(parsed.message.blocks):
        if isinstance(block, Thinking | Text):
            assert deltas.get(index, "") == block.text
        elif isinstance(block, ToolCall):
            assert deltas.get(index, "") == (block.arguments_json if block.arguments else "")


@pytest.mark.parametrize("text", STREAM_SAMPLES)
@pytest.mark.parametrize("prefill", [True, False])
def test_stream_equals_parse_at_every_split_point(text: str, prefill: bool) -> None:
    expected = parse(text, prompt_ends_in_think=prefill)
    for cut in range(len(text) + 1):
        events, parsed = _run_stream([text[:cut], text[cut:]], prompt_ends_in_think=prefill)
        assert parsed == expected, cut
        _check_events(events, parsed)
    events, parsed = _run_stream(list(text), prompt_ends_in_think=prefill)
    assert parsed == expected
    _check_events(events, parsed)


PIECES = [
    "a", "\n", " ", "<", ">", "/", "'", "null", "2", "think", "<think>", "</think>", "<minimax:tool_call>",
    "</minimax:tool_call>", '<invoke name="bash">', "<invoke>", "</invoke>", '<parameter name="command">',
    "</parameter>",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=25).map("".join),
    st.lists(st.integers(0, 400), max_size=8),
    st.booleans(),
)
def test_stream_equals_parse_for_random_text_and_chunking(text: str, cuts: list[int], prefill: bool) -> None:
    points = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    events, parsed = _run_stream(chunks, prompt_ends_in_think=prefill)
    assert parsed == parse(text, prompt_ends_in_think=prefill)
    _check_events(events, parsed)


def test_stream_metadata_and_stop_reason() -> None:
    assembler = minimax.RawStreamAssembler(response_id="r1", model="MiniMax-M2")
    first = assembler.feed("abc")
    assert first[0] == MessageStart(id="r1", model="MiniMax-M2")
    end = assembler.flush(stop_reason="max_tokens")[-1]
    assert isinstance(end, MessageEnd)
    assert (end.response.id, end.response.model, end.response.stop_reason) == (
        "r1",
        "MiniMax-M2",
        "max_tokens",
    )
    assert assembler.flush() == []
    with pytest.raises(ValueError, match="already flushed"):
        assembler.feed("more")


def test_errors_are_shared_with_textcalls() -> None:
    parsed = parse('r</think><minimax:tool_call><invoke name="bash">')
    assert isinstance(parsed.errors[0], ToolCallParseError)
    assert str(parsed.errors[0]) == parsed.errors[0].message


# ------------------------------------------------------------------------ reading a prompt back


def test_parse_prompt_of_sample_1() -> None:
    conversation = minimax.parse_prompt(SAMPLE_1, id_factory=sequential_call_ids())
    assert conversation.tools == (WEATHER,)
    system_message, *rest = conversation.messages
    assert system_message.text == "You are a helpful assistant."
    assert [m.role for m in rest] == ["user", "assistant", "user", "assistant", "tool"]
    assert rest[1].blocks == (Text(text="Hello!"),)
    assert rest[3].blocks == (
        Thinking(text="Need two calls.", dialect=ReasoningDialect.THINK_TAGS),
        Text(text="I'll check both."),
        ToolCall(
            id="call_000000000000000000000001",
            name="get_weather",
            arguments={"location": "San Francisco", "days": 2},
        ),
        ToolCall(
            id="call_000000000000000000000002",
            name="get_weather",
            arguments={"location": "New York", "days": 2},
        ),
    )
    assert rest[4].blocks == (
        ToolResult(call_id="call_000000000000000000000001", content='{"temp": 15}'),
        ToolResult(call_id="call_000000000000000000000002", content='{"temp": 5}'),
    )
    assert minimax.render_prompt(conversation) == SAMPLE_1
    assert minimax.render_prompt(conversation, add_generation_prompt=False) == SAMPLE_1.removesuffix(
        "]~b]ai\n<think>\n"
    )


def test_parse_prompt_of_sample_2_turns() -> None:
    prompt = minimax.render_prompt(sample_2_conversation(), add_generation_prompt=False)
    conversation = minimax.parse_prompt(prompt)
    assert minimax.render_prompt(conversation, add_generation_prompt=False) == prompt
    assistant = conversation.messages[2]
    assert assistant.blocks[0] == Thinking(text="Start with ls.", dialect=ReasoningDialect.THINK_TAGS)
    assert [b.kind for b in assistant.blocks] == ["thinking", "tool_call"]


@pytest.mark.parametrize(
    ("prompt", "problem"),
    [
        ("hello", "an M2 prompt starts with ]~!b[]~b]system"),
        ("]~!b[]~b]system\nS[e~[\n]~b]user\nunfinished", "a turn ends with [e~["),
        ("]~!b[]~b]system\nS[e~[\n]~b]robot\nx[e~[\n", "unknown turn 'robot'"),
        (
            "]~!b[]~b]system\nS\n\n# Tools\nYou may call one or more tools to assist with the user query.\n"
            "Here are the tools available in JSONSchema format:\n\n<tools>\n<tool>{oops}</tool>\n</tools>\n\n"
            "When making tool calls, use XML format to invoke tools and pass parameters:\n\n<minimax:tool_call>\n"
            '<invoke name="tool-name-1">\n<parameter name="param-key-1">param-value-1</parameter>\n'
            '<parameter name="param-key-2">param-value-2</parameter>\n...\n</invoke>\n</minimax:tool_call>[e~[\n',
            "the tool is not valid JSON",
        ),
    ],
)
def test_parse_prompt_rejects_what_is_not_a_prompt(prompt: str, problem: str) -> None:
    with pytest.raises(WireFormatError, match=re.escape(problem)):
        minimax.parse_prompt(prompt)


def _values_survive_a_parser(conversation: Conversation) -> bool:
    """Whether every tool-call string reads back as itself: an M2 parser strips values."""

    def ok(value: Any) -> bool:
        return not isinstance(value, str) or (value == value.strip() and value.lower() != "null")

    return all(ok(v) for m in conversation.messages for c in m.tool_calls for v in c.arguments.values())


def _as_inline(conversation: Conversation) -> Conversation:
    """The same conversation with every thinking block arrived inline (M2's own form)."""

    def inline(block: Any) -> Any:
        return (
            Thinking(text=block.text, dialect=ReasoningDialect.THINK_TAGS)
            if isinstance(block, Thinking)
            else block
        )

    messages = tuple(replace(m, blocks=tuple(inline(b) for b in m.blocks)) for m in conversation.messages)
    return replace(conversation, messages=messages)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(conversations(), st.booleans())
def test_render_of_parsed_prompt_is_the_prompt(conversation: Conversation, generation: bool) -> None:
    assume(_values_survive_a_parser(conversation))
    # Shapes a prompt cannot show: text beside tool results (it reads back as a user turn), a skipped
    # system message between tool results (two tool turns read back as one run), a result of no parts
    # (the template writes no <response> for it, and parse_prompt reads no tool turn without one), and
    # thinking sent as reasoning_content whose prompt differs from the inline form's (parse_prompt
    # reads every <think> block as inline thinking, whose newlines the template strips).
    assume(not any(m.role == "user" and m.tool_results and m.text for m in conversation.messages))
    assume(not any(m.role == "system" for m in conversation.messages[1:]))
    assume(not any(r.content == () for m in conversation.messages for r in m.tool_results))
    try:
        prompt = minimax.render_prompt(conversation, add_generation_prompt=generation)
    except WireFormatError:
        return
    assume(prompt == minimax.render_prompt(_as_inline(conversation), add_generation_prompt=generation))
    assert minimax.render_prompt(minimax.parse_prompt(prompt), add_generation_prompt=generation) == prompt
