"""MiniMax-M2 prompts, byte-exact to the official chat template as transformers' own renderer renders it.

The official template is the reconstruction in tests/fixtures/minimax/m2_chat_template.jinja (see
src/interleaf/wire/minimax_prompt.py for its public sources). Every test renders the same
conversation through ``transformers.utils.chat_template_utils.render_jinja_template`` as OpenAI-style
messages, the way interleaf sends it (thinking back the way it arrived), and compares bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import TemplateError
from transformers.utils.chat_template_utils import render_jinja_template

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
from interleaf.wire.minimax_prompt import TEMPLATE_DEVIATION
from interleaf.wire.think import split_think_tags

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


# -------------------------------------------------------------------------- the official template


TEMPLATE = (FIXTURES / "m2_chat_template.jinja").read_text(encoding="utf-8")


def render_template(
    messages: list[dict[str, Any]], tools: list[Any], *, add_generation_prompt: bool = True
) -> str:
    """The official template rendered by transformers' own renderer."""
    # render_jinja_template returns (prompts, generation indices); its annotation says str.
    result: Any = render_jinja_template(
        conversations=[messages],
        tools=tools,
        chat_template=TEMPLATE,
        add_generation_prompt=add_generation_prompt,
    )
    return str(result[0][0])


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


def _parts(parts: tuple[Text | Image, ...]) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": p.text}
        if isinstance(p, Text)
        else {"type": "image_url", "image_url": {"url": p.url}}
        for p in parts
    ]


def _assistant(message: Message, list_content: bool) -> dict[str, Any]:
    """Thinking back the way it arrived: inline blocks in ``content``, others in ``reasoning_content``."""
    entry: dict[str, Any] = {"role": "assistant"}
    thinking = [b for b in message.blocks if isinstance(b, Thinking)]
    if thinking and all(b.dialect is ReasoningDialect.THINK_TAGS for b in thinking):
        content = "".join(
            f"<think>{b.text}</think>" if isinstance(b, Thinking) else b.text
            for b in message.blocks
            if isinstance(b, Thinking | Text)
        )
    else:
        content = message.text
        if thinking:
            entry["reasoning_content"] = "\n\n".join(b.text for b in thinking)
    entry["content"] = [{"type": "text", "text": content}] if list_content else content
    if message.tool_calls:
        entry["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return entry


def openai_messages(conversation: Conversation, *, list_content: bool = False) -> list[dict[str, Any]]:
    """The conversation as the OpenAI-style messages a server hands the template: one ``tool`` message
    per result (parts as content parts in an OpenAI Chat conversation, text-only parts joined by
    newlines from other formats), text beside results as a user message after them, assistant content
    as a string or (``list_content``) one text part. Written here, apart from the renderer, for the
    transcripts the differential test generates."""
    native = conversation.source == "openai-chat"
    out: list[dict[str, Any]] = []
    if conversation.system is not None:
        out.append({"role": "system", "content": "".join(t.text for t in conversation.system)})
    for message in conversation.messages:
        if message.role == "tool" or (message.role == "user" and message.tool_results):
            for result in message.tool_results:
                content = result.content
                if isinstance(content, tuple) and not native and all(isinstance(p, Text) for p in content):
                    content = "\n".join(p.text for p in content if isinstance(p, Text))
                out.append(
                    {
                        "role": "tool",
                        "content": _parts(content) if isinstance(content, tuple) else content or "",
                    }
                )
            if message.role == "user" and message.text:
                out.append({"role": "user", "content": message.text})
            continue
        if message.role in ("system", "user"):
            value: Any = message.text
            if not message.plain:
                value = [
                    {"type": "text", "text": b.text} if isinstance(b, Text) else {"type": "image_url"}
                    for b in message.blocks
                ]
            out.append({"role": message.role, "content": value, **message.extra})
            continue
        out.append(_assistant(message, list_content))
    return out


def assert_exact(conversation: Conversation, *, generation: bool = True) -> Losses:
    """interleaf's prompt is the official template's, byte for byte; returns the losses reported."""
    losses = Losses()
    prompt = minimax.render_prompt(conversation, add_generation_prompt=generation, losses=losses)
    expected = render_template(
        openai_messages(conversation), openai_tools(conversation.tools), add_generation_prompt=generation
    )
    assert prompt == expected
    return losses


# ------------------------------------------------------------------------------ samples, exactly


def test_template_reproduces_sample_1() -> None:
    assert render_template(openai_messages(sample_1_conversation()), openai_tools((WEATHER,))) == SAMPLE_1


def test_template_reproduces_sample_2() -> None:
    prompt = render_template(
        openai_messages(sample_2_conversation()), openai_tools((BASH,)), add_generation_prompt=False
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
    """Anthropic clients put reminders next to tool_result blocks; the loop's thinking is kept, and the
    difference from the official template (which would drop it) is reported."""
    call = ToolCall(id="c1", name="bash", arguments={"command": "ls"})
    messages = (
        user("go"),
        Message(role="assistant", blocks=(Thinking(text="plan"), call)),
        Message(role="user", blocks=(ToolResult(call_id="c1", content="a b"), Text(text="<reminder/>"))),
    )
    losses = Losses()
    conversation = Conversation(messages=messages)
    prompt = minimax.render_prompt(conversation, losses=losses)
    assert prompt.endswith(
        ']~b]ai\n<think>\nplan\n</think>\n\n\n<minimax:tool_call>\n<invoke name="bash">\n'
        '<parameter name="command">ls</parameter>\n</invoke>\n</minimax:tool_call>[e~[\n'
        "]~b]tool\n<response>a b</response>[e~[\n]~b]user\n<reminder/>[e~[\n]~b]ai\n<think>\n"
    )
    assert list(losses) == [
        f"messages[2]: {TEMPLATE_DEVIATION}: the text beside the tool results renders as a user turn, after "
        "which the template would drop the thinking of messages[1]; this prompt keeps it"
    ]
    # The official template: the same prompt without that thinking.
    assert render_template(openai_messages(conversation), []) == prompt.replace(
        "<think>\nplan\n</think>\n\n", ""
    )


def test_text_beside_results_with_no_thinking_to_lose_is_exact() -> None:
    call = ToolCall(id="c1", name="bash", arguments={"command": "ls"})
    messages = (
        user("go"),
        Message(role="assistant", blocks=(Thinking(text="plan"), call)),
        user("now a new task"),
        Message(role="assistant", blocks=(call,)),
        Message(role="user", blocks=(ToolResult(call_id="c1", content="a b"), Text(text="<reminder/>"))),
    )
    assert list(assert_exact(Conversation(messages=messages))) == []


def test_inline_thinking_strips_the_newlines_around_reasoning_and_text() -> None:
    """Thinking that arrived as <think> in content (M2's own form) goes back inline: the template
    splits it off and strips the newlines around it and around the visible text."""
    message = Message(
        role="assistant",
        blocks=(
            Thinking(text="\n\nfirst\n", dialect=ReasoningDialect.THINK_TAGS),
            Text(text="\n\nanswer\n\n"),
        ),
    )
    conversation = Conversation(messages=(user("q"), message))
    assert minimax.render_prompt(conversation, add_generation_prompt=False).endswith(
        "]~b]ai\n<think>\nfirst\n</think>\n\nanswer[e~[\n"
    )
    assert list(assert_exact(conversation)) == []


@pytest.mark.parametrize("dialect", [ReasoningDialect.REASONING_CONTENT, ReasoningDialect.ANTHROPIC, None])
def test_field_thinking_keeps_its_newlines_as_the_template_does(dialect: ReasoningDialect | None) -> None:
    """Any other thinking goes as reasoning_content, which the template renders as it is: the
    newlines around reasoning and visible text stay."""
    message = Message(
        role="assistant", blocks=(Thinking(text="\nplan\n", dialect=dialect), Text(text="\nanswer\n"))
    )
    conversation = Conversation(messages=(user("q"), message))
    assert minimax.render_prompt(conversation, add_generation_prompt=False).endswith(
        "]~b]ai\n<think>\n\nplan\n\n</think>\n\n\nanswer\n[e~[\n"
    )
    assert list(assert_exact(conversation)) == []


def test_several_field_thinking_blocks_join_with_a_blank_line_and_say_so() -> None:
    message = Message(
        role="assistant",
        blocks=(Thinking(text="first"), Text(text="answer"), Thinking(text="second", signature="sig")),
    )
    losses = assert_exact(Conversation(messages=(user("q"), message)))
    prompt = minimax.render_prompt(Conversation(messages=(user("q"), message)), add_generation_prompt=False)
    assert prompt.endswith("]~b]ai\n<think>\nfirst\n\nsecond\n</think>\n\nanswer[e~[\n")
    assert list(losses) == [
        "messages[1].blocks[2]: thinking signature dropped: the M2 prompt cannot carry it",
        "messages[1]: 2 thinking blocks joined into one reasoning_content: block boundaries lost",
    ]


def test_what_inline_content_loses_to_the_template_split_is_reported() -> None:
    """Inline, the template keeps the first <think> block and only the text after the last </think>."""
    tags = ReasoningDialect.THINK_TAGS
    message = Message(
        role="assistant",
        blocks=(Text(text="before "), Thinking(text="one", dialect=tags), Thinking(text="two", dialect=tags)),
    )
    losses = assert_exact(Conversation(messages=(user("q"), message)))
    assert list(losses) == [
        "messages[1]: inline <think> content is split by the template at its first and last </think>: part "
        "of this message's thinking or text does not reach the prompt"
    ]


def test_empty_thinking_renders_no_think_block() -> None:
    inline = Message(
        role="assistant",
        blocks=(Thinking(text="\n", dialect=ReasoningDialect.THINK_TAGS), Text(text="\nhi\n")),
    )
    field = Message(role="assistant", blocks=(Thinking(text=""), Text(text="\nhi\n")))
    for message, turn in ((inline, "]~b]ai\nhi[e~[\n"), (field, "]~b]ai\n\nhi\n[e~[\n")):
        conversation = Conversation(messages=(user("q"), message))
        assert minimax.render_prompt(conversation, add_generation_prompt=False).endswith(turn)
        assert_exact(conversation)


def test_inline_think_tags_in_text_are_split_like_the_template() -> None:
    message = Message(role="assistant", blocks=(Text(text="<think>\nr1\n</think>\n\nvisible\n"),))
    conversation = Conversation(messages=(user("q"), message))
    prompt = minimax.render_prompt(conversation, add_generation_prompt=False)
    assert prompt.endswith("]~b]ai\n<think>\nr1\n</think>\n\nvisible[e~[\n")
    losses = assert_exact(conversation)
    assert list(losses) == [
        "messages[1]: visible text holding </think> is split there by the template: what precedes it "
        "renders as reasoning"
    ]


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


def test_tool_results_in_parts_render_one_response_a_part_like_the_template() -> None:
    call = ToolCall(id="c", name="bash", arguments={})
    result = ToolResult(call_id="c", content=(Text(text="line 1"), Image(url="u"), Text(text="line 2")))
    messages = (user("q"), Message(role="assistant", blocks=(call,)), Message(role="tool", blocks=(result,)))
    conversation = Conversation(messages=messages)
    prompt = minimax.render_prompt(conversation, add_generation_prompt=False)
    assert prompt.endswith(
        "]~b]tool\n<response>line 1\n</response>\n<response>\n</response>\n<response>line 2\n</response>[e~[\n"
    )
    assert list(assert_exact(conversation)) == [
        "messages[2].blocks[0]: images in a tool result have no place in the M2 prompt: each leaves an "
        "empty <response>"
    ]


@pytest.mark.parametrize("source", ["openai-chat", "anthropic", None])
def test_parallel_calls_with_results_in_parts_and_strings(source: str | None) -> None:
    """Parts of an OpenAI Chat conversation stay parts (one <response> each, as the template writes
    them); from other formats text parts go joined, one <response> a result, as interleaf sends them."""
    calls = (
        ToolCall(id="a", name="bash", arguments={"command": "ls"}),
        ToolCall(id="b", name="bash", arguments={"command": "pwd"}),
        ToolCall(id="c", name="bash", arguments={}),
    )
    results = (
        ToolResult(call_id="a", content=(Text(text="x"), Text(text="y"))),
        ToolResult(call_id="b", content="/home"),
        ToolResult(call_id="c", content=()),
    )
    conversation = Conversation(
        messages=(
            user("q"),
            Message(
                role="assistant", blocks=(Thinking(text="both", dialect=ReasoningDialect.REASONING), *calls)
            ),
            Message(role="tool", blocks=results),
        ),
        tools=(BASH,),
        source=source,
    )
    losses = assert_exact(conversation)
    prompt = minimax.render_prompt(conversation)
    if source == "openai-chat":
        assert (
            "]~b]tool\n<response>x\n</response>\n<response>y\n</response>\n<response>/home</response>[e~[\n"
            in prompt
        )
        assert list(losses) == [
            "messages[2].blocks[2]: a tool result of no parts renders no <response>, as in the template: later "
            "results no longer line up with their calls"
        ]
    else:
        assert (
            "]~b]tool\n<response>x\ny</response>\n<response>/home</response>\n<response></response>[e~[\n"
            in prompt
        )
        assert list(losses) == []


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
