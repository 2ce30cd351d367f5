"""MiniMax-M2 native format: prompts byte-exact to the chat template, raw output read back, streams."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jinja2.exceptions import TemplateError

from interleaf.probe.template import hf_environment
from interleaf.transcript import (
    Conversation,
    Image,
    Message,
    ReasoningDialect,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from interleaf.wire import minimax
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.events import BlockDelta, BlockEnd, BlockStart, MessageEnd, MessageStart, StreamEvent
from interleaf.wire.minimax_xml import convert_param_value
from interleaf.wire.stream import split_think_tags
from interleaf.wire.toolcalls import ToolCallParseError, new_call_id, sequential_call_ids

FIXTURES = Path(__file__).parent.parent / "fixtures" / "minimax"
SAMPLE_1 = (FIXTURES / "sample1_prompt.txt").read_text(encoding="utf-8")
SAMPLE_2 = (FIXTURES / "sample2_fragment.txt").read_text(encoding="utf-8")

WEATHER = ToolSpec(
    name="get_weather",
    description="Get weather",
    parameters={
        "type": "object",
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["location"],
    },
)
BASH = ToolSpec(
    name="bash",
    description="Run a command",
    parameters={"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
)


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),), plain=True)


def system(text: str, **extra: Any) -> Message:
    return Message(role="system", blocks=(Text(text=text),), plain=True, extra=extra)


def sample_1_conversation(*, results_in_user: bool = False, split_results: bool = False) -> Conversation:
    results = (
        ToolResult(call_id="call_sf", content='{"temp": 15}'),
        ToolResult(call_id="call_ny", content='{"temp": 5}'),
    )
    if results_in_user:
        tool_messages: tuple[Message, ...] = (Message(role="user", blocks=results),)
    elif split_results:
        tool_messages = tuple(Message(role="tool", blocks=(r,)) for r in results)
    else:
        tool_messages = (Message(role="tool", blocks=results),)
    return Conversation(
        messages=(
            system("You are a helpful assistant."),
            user("Hi"),
            Message(
                role="assistant",
                blocks=tuple(split_think_tags("<think>\nGreeting; reply briefly.\n</think>\n\nHello!")),
            ),
            user("Weather in SF and NYC for 2 days?"),
            Message(
                role="assistant",
                blocks=(
                    Thinking(text="Need two calls.", dialect=ReasoningDialect.REASONING_CONTENT),
                    Text(text="I'll check both."),
                    ToolCall(
                        id="call_sf", name="get_weather", arguments={"location": "San Francisco", "days": 2}
                    ),
                    ToolCall(id="call_ny", name="get_weather", arguments={"location": "New York", "days": 2}),
                ),
            ),
            *tool_messages,
        ),
        tools=(WEATHER,),
    )


def sample_2_conversation() -> Conversation:
    return Conversation(
        messages=(
            user("List the files."),
            Message(
                role="assistant",
                blocks=(
                    *split_think_tags("<think>\nStart with ls.\n</think>\n\n"),
                    ToolCall(id="call_ls", name="bash", arguments={"command": "ls"}),
                ),
            ),
            Message(role="tool", blocks=(ToolResult(call_id="call_ls", content="README.md\nsrc"),)),
        ),
        tools=(BASH,),
    )


# ------------------------------------------------------------------------- the reference template


# The Hugging Face-compatible environment interleaf's template probe renders with.
_ENV = hf_environment()
TEMPLATE = _ENV.from_string((FIXTURES / "m2_chat_template.jinja").read_text(encoding="utf-8"))


def render_template(messages: list[dict[str, Any]], tools: list[dict[str, Any]], **kwargs: Any) -> str:
    return TEMPLATE.render(messages=messages, tools=tools, add_generation_prompt=True, **kwargs)


def openai_tools(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        if tool.parameters is not None:
            function["parameters"] = tool.parameters
        out.append({"type": "function", "function": function})
    return out


def openai_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """The conversation as OpenAI-style dicts: thinking inline in ``content`` (M2's own form), one
    ``tool`` message per result. Covers the transcripts the differential test generates."""
    out: list[dict[str, Any]] = []
    if conversation.system is not None:
        out.append({"role": "system", "content": "".join(t.text for t in conversation.system)})
    for message in conversation.messages:
        if message.role == "tool" or (message.role == "user" and message.tool_results):
            for result in message.tool_results:
                if isinstance(result.content, tuple):
                    out.append({"role": "tool", "content": [{"type": "text", "text": result.text}]})
                else:
                    out.append({"role": "tool", "content": result.content or ""})
            continue
        if message.role in ("system", "user"):
            content: Any = message.text
            if not message.plain:
                content = [
                    {"type": "text", "text": b.text} if isinstance(b, Text) else {"type": "image_url"}
                    for b in message.blocks
                ]
            out.append({"role": message.role, "content": content, **message.extra})
            continue
        thinking = [b.text for b in message.blocks if isinstance(b, Thinking)]
        assert len(thinking) <= 1, "the generator makes at most one thinking block"
        text = message.text if not thinking else f"<think>{thinking[0]}</think>{message.text}"
        entry: dict[str, Any] = {"role": "assistant", "content": text}
        if message.tool_calls:
            entry["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ]
        out.append(entry)
    return out


# ------------------------------------------------------------------------------ samples, exactly


def test_template_reproduces_sample_1() -> None:
    assert render_template(openai_messages(sample_1_conversation()), openai_tools((WEATHER,))) == SAMPLE_1


def test_template_reproduces_sample_2() -> None:
    prompt = TEMPLATE.render(
        messages=openai_messages(sample_2_conversation()),
        tools=openai_tools((BASH,)),
        add_generation_prompt=False,
    )
    assert prompt.endswith("]~b]user\nList the files.[e~[\n" + SAMPLE_2)


@pytest.mark.parametrize(
    "conversation",
    [
        sample_1_conversation(),
        sample_1_conversation(split_results=True),
        sample_1_conversation(results_in_user=True),
    ],
    ids=["one-tool-message", "a-tool-message-per-result", "results-in-a-user-message"],
)
def test_render_sample_1_exactly(conversation: Conversation) -> None:
    assert minimax.render_prompt(conversation) == SAMPLE_1


def test_render_sample_2_exactly() -> None:
    prompt = minimax.render_prompt(sample_2_conversation(), add_generation_prompt=False)
    assert prompt.endswith("]~b]user\nList the files.[e~[\n" + SAMPLE_2)
    assert prompt.count("]~b]") == 4  # system, user, ai, tool


def test_sample_1_tool_json_uses_python_default_separators() -> None:
    tools_line = next(line for line in SAMPLE_1.splitlines() if line.startswith("<tool>"))
    assert (
        tools_line
        == "<tool>"
        + json.dumps(
            {"name": WEATHER.name, "description": WEATHER.description, "parameters": WEATHER.parameters}
        )
        + "</tool>"
    )


# ------------------------------------------------------------------------------------ the rules


def test_default_system_when_absent_and_as_a_parameter() -> None:
    conversation = Conversation(messages=(user("Hi"),))
    assert minimax.render_prompt(conversation) == (
        "]~!b[]~b]system\nYou are a helpful assistant.[e~[\n]~b]user\nHi[e~[\n]~b]ai\n<think>\n"
    )
    named = "You are a helpful assistant. Your name is MiniMax-M2.1 and is built by MiniMax."
    assert minimax.render_prompt(conversation, default_system=named).startswith(
        f"]~!b[]~b]system\n{named}[e~[\n"
    )


def test_conversation_system_is_the_system_turn() -> None:
    conversation = Conversation(
        messages=(user("Hi"),), system=(Text(text="Be brief."), Text(text=" Be kind."))
    )
    assert minimax.render_prompt(conversation, add_generation_prompt=False) == (
        "]~!b[]~b]system\nBe brief. Be kind.[e~[\n]~b]user\nHi[e~[\n"
    )


def test_empty_system_content_gets_the_default_like_the_template() -> None:
    empty_string = Conversation(messages=(system(""), user("Hi")))
    empty_part = Conversation(messages=(Message(role="system", blocks=(Text(text=""),)), user("Hi")))
    for conversation in (empty_string, empty_part):
        expected = render_template(openai_messages(conversation), [])
        assert minimax.render_prompt(conversation) == expected
    assert minimax.render_prompt(empty_string).startswith("]~!b[]~b]system\nYou are a helpful assistant.[e~[")
    # The template tests the content's truth: a list holding an empty part is not empty.
    assert minimax.render_prompt(empty_part).startswith("]~!b[]~b]system\n[e~[")


def test_current_date_and_location_lines() -> None:
    conversation = Conversation(
        messages=(system("S", current_date="2025-11-13", current_location="Paris"), user("Hi"))
    )
    prompt = minimax.render_prompt(conversation)
    assert prompt.startswith("]~!b[]~b]system\nS\nCurrent date: 2025-11-13\nCurrent location: Paris[e~[\n")
    assert prompt == render_template(openai_messages(conversation), [])


def test_later_system_messages_are_skipped_and_reported() -> None:
    losses = Losses()
    conversation = Conversation(messages=(user("Hi"), system("late"), user("Again")))
    prompt = minimax.render_prompt(conversation, losses=losses)
    assert "late" not in prompt
    assert prompt == render_template(openai_messages(conversation), [])
    assert list(losses) == ["messages[1]: a system message after the first has no place in the M2 prompt"]


def test_user_text_parts_concatenate_and_images_are_left_out() -> None:
    losses = Losses()
    message = Message(
        role="user", blocks=(Text(text="Look at "), Image(url="https://e.x/a.png"), Text(text="this."))
    )
    prompt = minimax.render_prompt(Conversation(messages=(message,)), losses=losses)
    assert "]~b]user\nLook at this.[e~[\n" in prompt
    assert list(losses) == ["messages[0].blocks[1]: the M2 prompt has no place for images"]


def test_thinking_only_after_the_last_user_message() -> None:
    first = Message(role="assistant", blocks=(Thinking(text="early"), Text(text="A")))
    second = Message(role="assistant", blocks=(Thinking(text="late"), Text(text="B")))
    prompt = minimax.render_prompt(Conversation(messages=(user("1"), first, user("2"), second)))
    assert "early" not in prompt
    assert "]~b]ai\nA[e~[\n" in prompt
    assert "]~b]ai\n<think>\nlate\n</think>\n\nB[e~[\n" in prompt


def test_tool_results_do_not_reset_thinking() -> None:
    """A tool-result message is not a user message, so every thinking block of the loop goes back."""
    call = ToolCall(id="c1", name="bash", arguments={"command": "ls"})
    messages = (
        user("go"),
        Message(role="assistant", blocks=(Thinking(text="one"), call)),
        Message(role="tool", blocks=(ToolResult(call_id="c1", content="a"),)),
        Message(role="assistant", blocks=(Thinking(text="two"), Text(text="done"))),
    )
    prompt = minimax.render_prompt(Conversation(messages=messages))
    assert "<think>\none\n</think>" in prompt
    assert "<think>\ntwo\n</think>" in prompt


def test_text_beside_tool_results_follows_as_a_user_turn_without_erasing_thinking() -> None:
    """Anthropic clients put reminders next to tool_result blocks; rule 3 keeps the loop's thinking."""
    call = ToolCall(id="c1", name="bash", arguments={"command": "ls"})
    messages = (
        user("go"),
        Message(role="assistant", blocks=(Thinking(text="plan"), call)),
        Message(role="user", blocks=(ToolResult(call_id="c1", content="a b"), Text(text="<reminder/>"))),
    )
    prompt = minimax.render_prompt(Conversation(messages=messages))
    assert prompt.endswith(
        ']~b]ai\n<think>\nplan\n</think>\n\n\n<minimax:tool_call>\n<invoke name="bash">\n'
        '<parameter name="command">ls</parameter>\n</invoke>\n</minimax:tool_call>[e~[\n'
        "]~b]tool\n<response>a b</response>[e~[\n]~b]user\n<reminder/>[e~[\n]~b]ai\n<think>\n"
    )


def test_reasoning_strips_newlines_and_several_blocks_join_with_a_blank_line() -> None:
    message = Message(
        role="assistant",
        blocks=(
            Thinking(text="\n\nfirst\n"),
            Text(text="\n\nanswer\n\n"),
            Thinking(text="\n"),
            Thinking(text="second"),
        ),
    )
    prompt = minimax.render_prompt(Conversation(messages=(user("q"), message)), add_generation_prompt=False)
    assert prompt.endswith("]~b]ai\n<think>\nfirst\n\nsecond\n</think>\n\nanswer[e~[\n")


def test_empty_thinking_renders_no_think_block_but_still_strips_the_text() -> None:
    message = Message(role="assistant", blocks=(Thinking(text="\n"), Text(text="\nhi\n")))
    prompt = minimax.render_prompt(Conversation(messages=(user("q"), message)), add_generation_prompt=False)
    assert prompt.endswith("]~b]ai\nhi[e~[\n")


def test_inline_think_tags_in_text_are_split_like_the_template() -> None:
    message = Message(role="assistant", blocks=(Text(text="<think>\nr1\n</think>\n\nvisible\n"),))
    conversation = Conversation(messages=(user("q"), message))
    prompt = minimax.render_prompt(conversation, add_generation_prompt=False)
    assert prompt.endswith("]~b]ai\n<think>\nr1\n</think>\n\nvisible[e~[\n")
    assert prompt + "]~b]ai\n<think>\n" == render_template(openai_messages(conversation), [])


def test_assistant_without_thinking_keeps_its_text_exactly() -> None:
    message = Message(role="assistant", blocks=(Text(text="\n  spaced \n"),))
    prompt = minimax.render_prompt(Conversation(messages=(user("q"), message)), add_generation_prompt=False)
    assert prompt.endswith("]~b]ai\n\n  spaced \n[e~[\n")


def test_tool_call_arguments_strings_raw_others_json() -> None:
    call = ToolCall(
        id="c",
        name="f",
        arguments={"s": "a\nb <x>", "n": 2, "f": 1.5, "b": True, "z": None, "l": ["é", 1], "o": {"k": "v"}},
    )
    message = Message(role="assistant", blocks=(call,))
    prompt = minimax.render_prompt(Conversation(messages=(user("q"), message)), add_generation_prompt=False)
    assert prompt.endswith(
        ']~b]ai\n\n<minimax:tool_call>\n<invoke name="f">\n'
        '<parameter name="s">a\nb <x></parameter>\n'
        '<parameter name="n">2</parameter>\n'
        '<parameter name="f">1.5</parameter>\n'
        '<parameter name="b">true</parameter>\n'
        '<parameter name="z">null</parameter>\n'
        '<parameter name="l">["é", 1]</parameter>\n'
        '<parameter name="o">{"k": "v"}</parameter>\n'
        "</invoke>\n</minimax:tool_call>[e~[\n"
    )


def test_list_tool_results_get_the_extra_newline() -> None:
    call = ToolCall(id="c", name="bash", arguments={})
    result = ToolResult(call_id="c", content=(Text(text="line 1"), Image(url="u"), Text(text="line 2")))
    losses = Losses()
    messages = (user("q"), Message(role="assistant", blocks=(call,)), Message(role="tool", blocks=(result,)))
    prompt = minimax.render_prompt(
        Conversation(messages=messages), losses=losses, add_generation_prompt=False
    )
    assert prompt.endswith("]~b]tool\n<response>line 1\nline 2\n</response>[e~[\n")
    assert list(losses) == ["messages[2].blocks[0]: images in a tool result have no place in the M2 prompt"]


def test_results_match_calls_by_position_and_ids_are_not_rendered() -> None:
    prompt = minimax.render_prompt(sample_1_conversation())
    assert "call_sf" not in prompt
    assert "call_ny" not in prompt


@pytest.mark.parametrize(
    "messages",
    [
        (user("q"), Message(role="tool", blocks=(ToolResult(call_id="c", content="x"),))),
        (
            user("q"),
            Message(role="assistant", blocks=(ToolCall(id="c", name="f"),)),
            Message(role="tool", blocks=(ToolResult(call_id="c", content="x"),)),
            Message(role="assistant", blocks=(Text(text="between"),)),
            Message(role="tool", blocks=(ToolResult(call_id="c", content="y"),)),
        ),
        (Message(role="user", blocks=(ToolResult(call_id="c", content="x"),)),),
    ],
    ids=["no-assistant", "plain-assistant-between", "anthropic-style-first"],
)
def test_tool_result_without_a_call_raises_the_template_error(messages: tuple[Message, ...]) -> None:
    conversation = Conversation(messages=messages)
    with pytest.raises(WireFormatError) as caught:
        minimax.render_prompt(conversation)
    assert (
        caught.value.problem
        == "Message has tool role, but there was no previous assistant message with a tool call!"
    )
    assert caught.value.path.startswith(f"messages[{len(messages) - 1}]")
    with pytest.raises(TemplateError, match="no previous assistant message with a tool call"):
        render_template(openai_messages(conversation), [])


def test_losses_for_what_m2_cannot_carry() -> None:
    losses = Losses()
    message = Message(
        role="assistant",
        blocks=(
            RedactedThinking(data="opaque"),
            Text(text="t"),
            ToolCall(id="c", name="f", raw_arguments="{broken"),
        ),
    )
    prompt = minimax.render_prompt(Conversation(messages=(user("q"), message)), losses=losses)
    assert "opaque" not in prompt
    assert '<invoke name="f">\n</invoke>' in prompt
    assert list(losses) == [
        "messages[1].blocks[0]: redacted thinking cannot be replayed in an M2 prompt",
        "messages[1].blocks[2]: tool-call arguments are not valid JSON (Expecting property name enclosed in "
        "double quotes at position 1); rendered without arguments",
    ]


def test_unknown_version_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown MiniMax format version 'm3'; known versions: m2"):
        minimax.render_prompt(Conversation(), version="m3")
    assert set(minimax.FORMATS) == {"m2"}
    assert minimax.get_format("m2").stop_sequences == ("[e~[",)


# ------------------------------------------------------------ differential test against the template

_TAGLESS = st.lists(
    st.sampled_from(["a", "Z", " ", "\n", "é", "中", "<", ">", "/", "{", '"', "\t", "x y"]), max_size=6
)
tagless_text = _TAGLESS.map("".join).filter(lambda t: "<think>" not in t and "</think>" not in t)
tagged_text = st.lists(st.sampled_from(["a", " ", "\n", "<think>", "</think>", "é", "b"]), max_size=6).map(
    "".join
)
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | tagless_text
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tagless_text, inner, max_size=3),
    max_leaves=6,
)
tool_names = st.sampled_from(["bash", "get_weather", "read_file", "f"])
tool_calls = st.builds(
    lambda name, args: ToolCall(id=new_call_id(), name=name, arguments=args),
    tool_names,
    st.dictionaries(st.sampled_from(["command", "location", "days", "x y", "é"]), json_value, max_size=3),
)
TOOL_CHOICES = (
    WEATHER,
    BASH,
    ToolSpec(name="read_file"),
    ToolSpec(name="note", description="Ünïcode — “quotes” </tool>", parameters={"type": "object"}),
)


@st.composite
def assistant_messages(draw: st.DrawFn) -> Message:
    blocks: list[Any] = []
    if draw(st.booleans()):
        blocks.append(Thinking(text=draw(tagless_text), dialect=ReasoningDialect.THINK_TAGS))
        text = draw(tagless_text)
    else:
        text = draw(tagged_text)
    if text or draw(st.booleans()):
        blocks.append(Text(text=text))
    blocks.extend(draw(st.lists(tool_calls, max_size=3)))
    return Message(role="assistant", blocks=tuple(blocks))


@st.composite
def result_messages(draw: st.DrawFn) -> Message:
    content = tagless_text | st.none() | st.builds(lambda t: (Text(text=t),), tagless_text)
    results = draw(
        st.lists(st.builds(lambda c: ToolResult(call_id="c", content=c), content), min_size=1, max_size=3)
    )
    role: Literal["tool", "user"] = draw(st.sampled_from(["tool", "user"]))
    return Message(role=role, blocks=tuple(results))


@st.composite
def user_messages(draw: st.DrawFn) -> Message:
    if draw(st.booleans()):
        return Message(role="user", blocks=(Text(text=draw(tagged_text)),), plain=True)
    parts = draw(
        st.lists(st.builds(lambda t: Text(text=t), tagged_text) | st.just(Image(url="u")), max_size=3)
    )
    return Message(role="user", blocks=tuple(parts))


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    body = draw(
        st.lists(
            assistant_messages() | result_messages() | user_messages() | st.builds(system, tagless_text),
            max_size=9,
        )
    )
    tools = tuple(draw(st.lists(st.sampled_from(TOOL_CHOICES), unique_by=lambda t: t.name, max_size=3)))
    start = draw(st.sampled_from(["none", "message", "dated", "conversation"]))
    text = draw(tagless_text)
    if start == "conversation":
        return Conversation(messages=tuple(body), tools=tools, system=(Text(text=text),))
    if start == "message":
        body.insert(0, system(text))
    elif start == "dated":
        body.insert(0, system(text, current_date="2025-11-13", current_location="Shanghai"))
    return Conversation(messages=tuple(body), tools=tools)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.booleans())
def test_render_prompt_equals_the_reference_template(conversation: Conversation, generation: bool) -> None:
    messages, tools = openai_messages(conversation), openai_tools(conversation.tools)
    try:
        expected: str | None = TEMPLATE.render(
            messages=messages, tools=tools, add_generation_prompt=generation
        )
    except TemplateError:
        expected = None
    if expected is None:
        with pytest.raises(WireFormatError, match="no previous assistant message with a tool call"):
            minimax.render_prompt(conversation, add_generation_prompt=generation)
    else:
        assert minimax.render_prompt(conversation, add_generation_prompt=generation) == expected


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
    # Not the model's bytes: the template writes three newlines before the block (reference §3.4).
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


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(conversations(), st.booleans())
def test_render_of_parsed_prompt_is_the_prompt(conversation: Conversation, generation: bool) -> None:
    assume(_values_survive_a_parser(conversation))
    # Two shapes a prompt cannot show: text beside tool results (it reads back as a user turn) and a
    # skipped system message between tool results (two tool turns read back as one run).
    assume(not any(m.role == "user" and m.tool_results and m.text for m in conversation.messages))
    assume(not any(m.role == "system" for m in conversation.messages[1:]))
    try:
        prompt = minimax.render_prompt(conversation, add_generation_prompt=generation)
    except WireFormatError:
        return
    assert minimax.render_prompt(minimax.parse_prompt(prompt), add_generation_prompt=generation) == prompt
