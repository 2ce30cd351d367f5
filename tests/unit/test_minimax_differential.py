"""``interleaf convert --to minimax-m2`` against the official template over generated conversations.

Conversations of every shape (thinking inline or in fields, several blocks, newlines around it; tool
results as strings, parts, images, nothing; parallel calls; text beside results; late system
messages; list content) are rendered by interleaf and, as OpenAI-style messages, by the official
template through transformers' own renderer (tests/unit/test_minimax_prompt.py). Every difference
is zero or reported as one, and every reported difference is real.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.exceptions import TemplateError

from interleaf.transcript import (
    Conversation,
    Image,
    Message,
    ReasoningDialect,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from interleaf.wire import minimax
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.minimax_prompt import TEMPLATE_DEVIATION
from interleaf.wire.toolcalls import new_call_id
from tests.unit.test_minimax_prompt import (
    BASH,
    WEATHER,
    openai_messages,
    openai_tools,
    render_template,
    system,
)

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


DIALECTS = st.sampled_from(
    [
        ReasoningDialect.THINK_TAGS,
        ReasoningDialect.THINK_TAGS,
        ReasoningDialect.REASONING_CONTENT,
        ReasoningDialect.REASONING,
        ReasoningDialect.ANTHROPIC,
        None,
    ]
)


@st.composite
def assistant_messages(draw: st.DrawFn) -> Message:
    """Thinking of any arrival (inline or a field, several blocks, mixed), before or after the text,
    newlines around both; or text that holds tags itself; and parallel calls."""
    dialect = draw(DIALECTS)
    mixed = draw(st.booleans())
    thinking = [
        Thinking(text=draw(tagless_text | tagged_text), dialect=draw(DIALECTS) if mixed else dialect)
        for _ in range(draw(st.integers(0, 2)))
    ]
    text = draw(tagless_text) if thinking else draw(tagged_text)
    visible = [Text(text=text)] if text or draw(st.booleans()) else []
    blocks: list[Any] = [*visible, *thinking] if draw(st.booleans()) else [*thinking, *visible]
    blocks.extend(draw(st.lists(tool_calls, max_size=3)))
    return Message(role="assistant", blocks=tuple(blocks))


part_blocks = st.builds(lambda t: Text(text=t), tagless_text) | st.just(Image(url="u"))


@st.composite
def result_messages(draw: st.DrawFn) -> Message:
    """Results as strings, none, or parts (text and images, none at all); in a tool message or, with
    text beside them, in a user message."""
    content = tagless_text | st.none() | st.lists(part_blocks, max_size=3).map(tuple)
    results = draw(
        st.lists(st.builds(lambda c: ToolResult(call_id="c", content=c), content), min_size=1, max_size=3)
    )
    role: Literal["tool", "user"] = draw(st.sampled_from(["tool", "user"]))
    beside: list[Any] = [Text(text=draw(tagless_text))] if role == "user" and draw(st.booleans()) else []
    return Message(role=role, blocks=(*results, *beside))


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
    """Episodes in any order: user turns, tool steps (an assistant call and its results), answers, late
    system messages, and now and then results with no call before them (the template raises)."""
    body: list[Message] = []
    episodes = ["user", "step", "step", "step", "answer", "system", "stray"]
    for episode in draw(st.lists(st.sampled_from(episodes), max_size=6)):
        if episode == "user":
            body.append(draw(user_messages()))
        elif episode == "step":
            assistant = draw(assistant_messages())
            if not assistant.tool_calls:
                assistant = assistant.with_blocks((*assistant.blocks, draw(tool_calls)))
            body += [assistant, draw(result_messages())]
        elif episode == "answer":
            body.append(draw(assistant_messages()))
        elif episode == "system":
            body.append(system(draw(tagless_text)))
        else:
            body.append(draw(result_messages()))
    tools = tuple(draw(st.lists(st.sampled_from(TOOL_CHOICES), unique_by=lambda t: t.name, max_size=3)))
    source = draw(st.sampled_from([None, "openai-chat", "anthropic"]))
    start = draw(st.sampled_from(["none", "message", "dated", "conversation"]))
    text = draw(tagless_text)
    if start == "conversation":
        return Conversation(messages=tuple(body), tools=tools, system=(Text(text=text),), source=source)
    if start == "message":
        body.insert(0, system(text))
    elif start == "dated":
        body.insert(0, system(text, current_date="2025-11-13", current_location="Shanghai"))
    return Conversation(messages=tuple(body), tools=tools, source=source)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.booleans(), st.booleans())
def test_render_prompt_equals_the_official_template(
    conversation: Conversation, generation: bool, list_content: bool
) -> None:
    """Every difference from the official template is either zero or reported, and every reported
    difference is real."""
    messages, tools = (
        openai_messages(conversation, list_content=list_content),
        openai_tools(conversation.tools),
    )
    try:
        expected: str | None = render_template(messages, tools, add_generation_prompt=generation)
    except TemplateError:
        expected = None
    if expected is None:
        with pytest.raises(WireFormatError, match="no previous assistant message with a tool call"):
            minimax.render_prompt(conversation, add_generation_prompt=generation)
        return
    losses = Losses()
    prompt = minimax.render_prompt(conversation, add_generation_prompt=generation, losses=losses)
    if any(TEMPLATE_DEVIATION in loss for loss in losses):
        assert prompt != expected
    else:
        assert prompt == expected
