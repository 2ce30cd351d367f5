"""Responses codec properties (hypothesis).

``encode(decode(body)) == body`` for generated request and response bodies with unknown keys
everywhere and keys in any order (reasoning items byte-exact, key order included);
``decode(encode(t)) == t`` for canonical transcripts; a generated reply streamed the way servers
stream it (deltas cut anywhere, the raw SSE bytes cut anywhere) assembles to the whole body's decode;
the encoder's stream of any reply assembles back; malformed input raises only wire errors.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import string
from collections.abc import Callable
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interleaf.transcript import (
    Block,
    Conversation,
    Image,
    Message,
    Opaque,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
    ToolSpec,
    Usage,
    parse_arguments,
)
from interleaf.wire import anthropic
from interleaf.wire.errors import Losses, WireError
from interleaf.wire.responses import (
    FORMAT,
    PART_SOURCE,
    StreamAssembler,
    StreamEncoder,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    stream_payloads,
)
from interleaf.wire.responses.common import CLIENT_CALLS, INPUT_SHAPE, MESSAGE_FIELDS, PLAIN
from tests.unit.test_responses_stream import anthropic_stream, assemble, check_events, sse_bytes, sse_payloads

JSON = dict[str, Any]
RESPONSES = ReasoningDialect.RESPONSES
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_NONE: Any = object()

# ------------------------------------------------------------------------------------ basics

KEY = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=5).map(lambda s: f"x_{s}")
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.text(max_size=6))
JSON_VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=5,
)
UNKNOWN = st.dictionaries(KEY, JSON_VALUE, max_size=2)
TEXT = st.text(max_size=12)
NAME = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8)
IDS = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)
ARGUMENTS = st.one_of(
    st.dictionaries(st.text(max_size=4), SCALAR, max_size=3).map(json.dumps),
    st.dictionaries(st.text(max_size=4), SCALAR, max_size=3).map(
        lambda d: json.dumps(d, separators=(",", ":"))
    ),
    TEXT,
)
OTHER_ITEMS = [
    "custom_tool_call",
    "web_search_call",
    "mcp_call",
    "compaction",
    "x_future_item",
    "local_shell_call",
]


def with_unknown(draw: st.DrawFn, base: JSON) -> JSON:
    """``base`` plus unknown keys, in a random key order (byte-exactness must not depend on order)."""
    pairs = list(base.items()) + list(draw(UNKNOWN).items())
    return dict(draw(st.permutations(pairs)))


def maybe(draw: st.DrawFn, out: JSON, key: str, strategy: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        out[key] = draw(strategy)


# ----------------------------------------------------------------------------- wire: parts, items


@st.composite
def input_part(draw: st.DrawFn, *, modeled: bool = False) -> JSON:
    kinds = ["text", "url", "data"] if modeled else ["text", "url", "data", "file_image", "file", "audio"]
    kind = draw(st.sampled_from(kinds))
    detail = st.sampled_from(["auto", "low", "high"])
    if kind == "text":
        return with_unknown(draw, {"type": "input_text", "text": draw(TEXT)})
    if kind == "url":
        return with_unknown(
            draw,
            {"type": "input_image", "image_url": f"https://x.test/{draw(NAME)}.png", "detail": draw(detail)},
        )
    if kind == "data":
        return {
            "type": "input_image",
            "image_url": f"data:image/{draw(NAME)};base64,{draw(IDS)}",
            "detail": draw(detail),
        }
    if kind == "file_image":
        return {"type": "input_image", "file_id": draw(IDS), "detail": draw(detail)}
    if kind == "file":
        return with_unknown(draw, {"type": "input_file", "file_id": draw(IDS), "filename": draw(NAME)})
    return {"type": "input_audio", "input_audio": {"data": draw(IDS), "format": "wav"}}


@st.composite
def simple_message(draw: st.DrawFn) -> JSON:
    message: JSON = {"role": draw(st.sampled_from(["user", "system", "developer"]))}
    message["content"] = draw(st.one_of(TEXT, st.lists(input_part(), max_size=3)))
    maybe(draw, message, "type", st.just("message"))
    maybe(draw, message, "status", st.sampled_from(["completed", "in_progress"]))
    return with_unknown(draw, message)


@st.composite
def output_text(draw: st.DrawFn) -> JSON:
    part: JSON = {"type": "output_text", "text": draw(TEXT)}
    maybe(
        draw,
        part,
        "annotations",
        st.sampled_from(
            [
                [],
                [
                    {
                        "type": "url_citation",
                        "url": "https://a.test",
                        "title": "A",
                        "start_index": 0,
                        "end_index": 1,
                    }
                ],
            ]
        ),
    )
    maybe(draw, part, "logprobs", st.just([]))
    return with_unknown(draw, part)


@st.composite
def assistant_message(draw: st.DrawFn) -> JSON:
    refusal = st.builds(lambda t: {"type": "refusal", "refusal": t}, TEXT)
    message: JSON = {"role": "assistant"}
    message["content"] = draw(
        st.one_of(TEXT, st.lists(st.one_of(output_text(), output_text(), refusal), max_size=3))
    )
    maybe(draw, message, "type", st.just("message"))
    maybe(draw, message, "id", IDS.map(lambda s: f"msg_{s}"))
    maybe(draw, message, "status", st.sampled_from(["completed", "incomplete"]))
    maybe(draw, message, "phase", st.sampled_from(["commentary", "final_answer"]))
    return with_unknown(draw, message)


@st.composite
def reasoning_item(draw: st.DrawFn) -> JSON:
    summary_part = st.builds(lambda t: {"type": "summary_text", "text": t}, TEXT)
    content_part = st.builds(lambda t: {"type": "reasoning_text", "text": t}, TEXT)
    item: JSON = {"type": "reasoning"}
    maybe(draw, item, "id", IDS.map(lambda s: f"rs_{s}"))
    shape: st.SearchStrategy[Any] = st.one_of(st.just(_NONE), st.none(), st.just([]))
    summary = draw(st.one_of(st.lists(summary_part, min_size=1, max_size=3), shape))
    if summary is not _NONE:
        item["summary"] = summary
    content = draw(st.one_of(st.lists(content_part, min_size=1, max_size=2), shape))
    if content is not _NONE:
        item["content"] = content
    maybe(draw, item, "encrypted_content", st.one_of(IDS.map(lambda s: f"gAAAAAB{s}"), st.none()))
    maybe(draw, item, "status", st.one_of(st.none(), st.just("completed")))
    return with_unknown(draw, item)


@st.composite
def function_call(draw: st.DrawFn) -> JSON:
    call: JSON = {"type": "function_call", "call_id": draw(IDS), "name": draw(NAME)}
    call["arguments"] = draw(st.one_of(ARGUMENTS, ARGUMENTS, st.just({"a": 1}), st.none()))
    maybe(draw, call, "id", IDS.map(lambda s: f"fc_{s}"))
    maybe(draw, call, "status", st.just("completed"))
    return with_unknown(draw, call)


@st.composite
def function_output(draw: st.DrawFn) -> JSON:
    out: JSON = {"type": "function_call_output", "call_id": draw(IDS)}
    out["output"] = draw(st.one_of(TEXT, st.lists(input_part(), max_size=2), st.none()))
    maybe(draw, out, "id", IDS)
    maybe(draw, out, "name", NAME)
    return with_unknown(draw, out)


@st.composite
def other_item(draw: st.DrawFn, *, outputs: bool = True) -> JSON:
    kinds = [*OTHER_ITEMS, "item_reference", "untyped_reference"]
    if outputs:
        kinds += ["custom_tool_call_output", "mcp_approval_response"]
    kind = draw(st.sampled_from(kinds))
    if kind == "untyped_reference":
        return {"id": draw(IDS)}
    item: JSON = {"type": kind, "id": draw(IDS)}
    if kind.endswith("_output") or kind == "custom_tool_call":
        item["call_id"] = draw(IDS)
    maybe(draw, item, "payload", JSON_VALUE)
    return with_unknown(draw, item)


MODEL_ITEMS = st.one_of(
    assistant_message(), reasoning_item(), reasoning_item(), function_call(), other_item(outputs=False)
)


@st.composite
def wire_request(draw: st.DrawFn) -> JSON:
    body: JSON = {}
    items = st.lists(st.one_of(simple_message(), MODEL_ITEMS, function_output(), other_item()), max_size=8)
    raw_input = draw(st.one_of(TEXT, items, items, st.just(_NONE), st.none()))
    if raw_input is not _NONE:
        body["input"] = raw_input
    maybe(draw, body, "instructions", st.one_of(TEXT, st.none()))
    for wire in (
        "model",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "metadata",
        "store",
        "include",
    ):
        maybe(draw, body, wire, JSON_VALUE)
    reasoning = st.one_of(
        st.fixed_dictionaries(
            {"effort": st.sampled_from(["low", "high"])}, optional={"summary": st.just("auto")}
        ),
        st.fixed_dictionaries({}, optional={"summary": st.just("auto"), "effort": st.none()}),
        st.none(),
    )
    maybe(draw, body, "reasoning", reasoning)
    tools = draw(st.sampled_from(["absent", "null", "empty", "items"]))
    if tools == "items":
        body["tools"] = draw(st.lists(wire_tool(), min_size=1, max_size=2))
    elif tools != "absent":
        body["tools"] = None if tools == "null" else []
    choice = st.one_of(
        st.sampled_from(["auto", "none", "required", "any", None]),
        st.builds(lambda n, u: {"type": "function", "name": n, **u}, NAME, UNKNOWN),
        st.just({"type": "allowed_tools", "mode": "auto", "tools": []}),
    )
    maybe(draw, body, "tool_choice", choice)
    maybe(draw, body, "parallel_tool_calls", st.one_of(st.booleans(), st.none()))
    return with_unknown(draw, body)


@st.composite
def wire_tool(draw: st.DrawFn) -> JSON:
    if draw(st.integers(0, 4)) == 0:
        return draw(
            st.sampled_from(
                [
                    {"type": "web_search"},
                    {"type": "custom", "name": "apply_patch", "format": {"type": "text"}},
                ]
            )
        )
    tool: JSON = {"type": "function", "name": draw(NAME)}
    maybe(draw, tool, "description", st.one_of(TEXT, st.none()))
    maybe(draw, tool, "parameters", st.one_of(st.just({"type": "object"}), st.none()))
    maybe(draw, tool, "strict", st.one_of(st.booleans(), st.none()))
    return with_unknown(draw, tool)


@st.composite
def wire_usage(draw: st.DrawFn) -> JSON:
    usage: JSON = {"input_tokens": draw(st.integers(0, 999)), "output_tokens": draw(st.integers(0, 999))}
    maybe(draw, usage, "total_tokens", st.integers(0, 2000))
    maybe(
        draw,
        usage,
        "input_tokens_details",
        st.fixed_dictionaries(
            {},
            optional={
                "cached_tokens": st.one_of(st.integers(0, 9), st.none()),
                "cache_write_tokens": st.integers(0, 9),
            },
        ),
    )
    maybe(
        draw,
        usage,
        "output_tokens_details",
        st.fixed_dictionaries({}, optional={"reasoning_tokens": st.integers(0, 9), "x_other": st.just(0)}),
    )
    return with_unknown(draw, usage)


@st.composite
def wire_response(draw: st.DrawFn) -> JSON:
    body: JSON = {"id": draw(IDS), "object": "response", "created_at": draw(st.integers(0, 2**31))}
    status = draw(
        st.sampled_from(["completed", "completed", "incomplete", "in_progress", "cancelled", _NONE])
    )
    if status is not _NONE:
        body["status"] = status
    details = st.one_of(
        st.none(),
        st.builds(
            lambda r: {"reason": r}, st.sampled_from(["max_output_tokens", "content_filter", "max_messages"])
        ),
    )
    maybe(draw, body, "incomplete_details", details)
    maybe(draw, body, "error", st.none())
    maybe(draw, body, "model", st.one_of(NAME, st.none()))
    body["output"] = draw(st.lists(st.one_of(MODEL_ITEMS, function_output()), max_size=5))
    maybe(draw, body, "usage", st.one_of(st.none(), wire_usage()))
    maybe(draw, body, "instructions", st.one_of(TEXT, st.none()))
    maybe(draw, body, "tools", st.just([]))
    return with_unknown(draw, body)


def reasoning_json(items: Any) -> list[str]:
    return (
        [json.dumps(i) for i in items if isinstance(i, dict) and i.get("type") == "reasoning"]
        if isinstance(items, list)
        else []
    )


@given(body=wire_request())
@FAST
def test_request_round_trips_exactly(body: JSON) -> None:
    out = encode_request(decode_request(copy.deepcopy(body)))
    assert out == body
    json.dumps(out)  # plain JSON throughout
    assert reasoning_json(out.get("input")) == reasoning_json(body.get("input"))


@given(body=wire_response())
@FAST
def test_response_round_trips_exactly(body: JSON) -> None:
    out = encode_response(decode_response(copy.deepcopy(body)))
    assert out == body
    assert reasoning_json(out["output"]) == reasoning_json(body["output"])


# ------------------------------------------------------------------------- canonical transcripts


def expected_reasoning(item: JSON) -> Thinking | RedactedThinking:
    """The brief's mapping of a reasoning item, written out independently of the codec."""
    for key in ("content", "summary"):
        parts = item.get(key)
        if isinstance(parts, list) and parts:
            texts = [
                p["text"] if isinstance(p, dict) and isinstance(p.get("text"), str) else "" for p in parts
            ]
            return Thinking(text="\n\n".join(texts), dialect=RESPONSES, item=item)
    if isinstance(item.get("encrypted_content"), str):
        return RedactedThinking(data=item["encrypted_content"], dialect=RESPONSES, item=item)
    return Thinking(text="", dialect=RESPONSES, item=item)


def opens_item(previous: Block | None) -> bool:
    if isinstance(previous, Text):
        return previous.extra.get(PLAIN) is not True
    return isinstance(previous, Opaque) and previous.source == PART_SOURCE


@st.composite
def c_message_item(draw: st.DrawFn, previous: Block | None) -> list[Block]:
    """The blocks of one assistant message item: texts (the first one recording the item's fields
    when it must) and unmodeled parts after the first."""
    fields: JSON = draw(
        st.one_of(
            st.just({"type": "message", "role": "assistant"}),
            st.builds(
                lambda i: {"id": f"msg_{i}", "type": "message", "status": "completed", "role": "assistant"},
                IDS,
            ),
            st.just({"role": "assistant"}),
        )
    )
    fields.update(draw(UNKNOWN))
    if draw(st.integers(0, 5)) == 0:
        return [Text(text=draw(TEXT), extra={MESSAGE_FIELDS: fields, PLAIN: True})]
    part_extra: st.SearchStrategy[JSON] = st.fixed_dictionaries(
        {}, optional={"annotations": st.just([]), "logprobs": st.just([])}
    )
    blocks: list[Block] = [Text(text=draw(TEXT), extra=draw(part_extra))]
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            blocks.append(Text(text=draw(TEXT), extra=draw(part_extra)))
        else:
            blocks.append(Opaque(source=PART_SOURCE, data={"type": "refusal", "refusal": draw(TEXT)}))
    if fields != {"type": "message", "role": "assistant"} or opens_item(previous):
        first = blocks[0]
        assert isinstance(first, Text)
        blocks[0] = Text(text=first.text, extra={MESSAGE_FIELDS: fields, **first.extra})
    return blocks


@st.composite
def c_tool_call(draw: st.DrawFn) -> ToolCall:
    raw = draw(ARGUMENTS)
    extra: JSON = {}
    maybe(draw, extra, "id", IDS.map(lambda s: f"fc_{s}"))
    maybe(draw, extra, "status", st.just("completed"))
    extra.update(draw(UNKNOWN))
    return ToolCall(
        id=draw(IDS), name=draw(NAME), arguments=parse_arguments(raw), raw_arguments=raw, extra=extra
    )


@st.composite
def c_assistant_blocks(draw: st.DrawFn, *, reply: bool = False, min_units: int = 1) -> list[Block]:
    blocks: list[Block] = []
    for _ in range(draw(st.integers(min_units, 4))):
        unit = draw(st.sampled_from(["reasoning", "call", "message", "item"]))
        previous = blocks[-1] if blocks else None
        if unit == "reasoning":
            blocks.append(expected_reasoning(draw(reasoning_item())))
        elif unit == "call":
            blocks.append(draw(c_tool_call()))
        elif unit == "message":
            blocks.extend(draw(c_message_item(previous)))
        else:
            item = draw(other_item(outputs=reply))
            blocks.append(Opaque(source=FORMAT, data=item))
    return blocks


@st.composite
def c_part(draw: st.DrawFn) -> Block:
    kind = draw(st.sampled_from(["text", "url", "data", "file"]))
    if kind == "text":
        return Text(text=draw(TEXT), extra=draw(UNKNOWN))
    if kind == "file":
        return Opaque(source=PART_SOURCE, data={"type": "input_file", "file_id": draw(IDS)})
    extra = {"detail": draw(st.sampled_from(["auto", "low", "high"]))}
    if kind == "url":
        return Image(url=f"https://x.test/{draw(NAME)}", extra=extra)
    return Image(media_type=f"image/{draw(NAME)}", data=draw(IDS), extra=extra)


@st.composite
def c_simple(draw: st.DrawFn) -> Message:
    role: Literal["system", "user"] = draw(st.sampled_from(["system", "user"]))
    extra: JSON = {"role": "developer"} if role == "system" and draw(st.booleans()) else {}
    maybe(draw, extra, "type", st.just("message"))
    extra.update(draw(UNKNOWN))
    if draw(st.booleans()):
        return Message(role=role, blocks=(Text(text=draw(TEXT)),), plain=True, extra=extra)
    return Message(role=role, blocks=tuple(draw(st.lists(c_part(), max_size=3))), extra=extra)


@st.composite
def c_tool_results(draw: st.DrawFn) -> Message:
    blocks: list[Block] = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 4)) == 0:
            blocks.append(
                Opaque(
                    source=FORMAT,
                    data={"type": "custom_tool_call_output", "call_id": draw(IDS), "output": draw(TEXT)},
                )
            )
            continue
        extra: JSON = {}
        maybe(draw, extra, "id", IDS)
        maybe(draw, extra, "status", st.just("completed"))
        extra.update(draw(UNKNOWN))
        part: st.SearchStrategy[Text | Image] = st.one_of(
            st.builds(lambda t, u: Text(text=t, extra=u), TEXT, UNKNOWN),
            st.builds(lambda n: Image(url=f"https://x.test/{n}", extra={"detail": "auto"}), NAME),
        )
        content: str | tuple[Text | Image, ...] | None = draw(
            st.one_of(TEXT, st.none(), st.lists(part, max_size=2).map(tuple))
        )
        if content is None and draw(st.booleans()):
            extra["output"] = None
        blocks.append(
            ToolResult(call_id=draw(IDS), content=content, name=draw(st.one_of(st.none(), NAME)), extra=extra)
        )
    return Message(role="tool", blocks=tuple(blocks))


@st.composite
def c_conversation(draw: st.DrawFn) -> Conversation:
    messages: list[Message] = []
    for _ in range(draw(st.integers(0, 5))):
        kinds = [c_simple()]
        last = messages[-1].role if messages else None
        if last != "assistant":
            kinds.append(
                st.builds(lambda b: Message(role="assistant", blocks=tuple(b)), c_assistant_blocks())
            )
        if last != "tool":
            kinds.append(c_tool_results())
        messages.append(draw(st.one_of(*kinds)))
    params: JSON = {}
    for name in ("model", "max_tokens", "temperature", "top_p", "stream", "metadata"):
        maybe(draw, params, name, JSON_VALUE)
    extra: JSON = dict(draw(UNKNOWN))
    if draw(st.booleans()):
        params["reasoning_effort"] = draw(st.sampled_from(["low", "medium"]))
        maybe(draw, extra, "reasoning", st.just({"summary": "auto"}))
    else:
        maybe(draw, extra, "reasoning", st.one_of(st.none(), st.just({"summary": "auto"})))
    if not messages:
        maybe(draw, extra, INPUT_SHAPE, st.sampled_from(["absent", "null"]))
    elif len(messages) == 1 and messages[0].role == "user" and messages[0].plain and not messages[0].extra:
        maybe(draw, extra, INPUT_SHAPE, st.just("text"))
    system = draw(st.one_of(st.none(), TEXT.map(lambda t: (Text(text=t),))))
    if system is None:
        maybe(draw, extra, "instructions", st.none())
    tools = tuple(draw(st.lists(c_tool(), max_size=2)))
    if not tools:
        maybe(draw, extra, "tools", st.sampled_from([None, []]))
    choice = draw(
        st.one_of(
            st.none(),
            st.builds(
                ToolChoice,
                mode=st.sampled_from(["auto", "none", "required"]),
                parallel=st.one_of(st.none(), st.booleans()),
            ),
            st.builds(
                ToolChoice,
                mode=st.just("tool"),
                name=NAME,
                parallel=st.one_of(st.none(), st.booleans()),
                extra=UNKNOWN,
            ),
        )
    )
    if choice is None:
        maybe(draw, extra, "parallel_tool_calls", st.booleans())
    return Conversation(
        messages=tuple(messages),
        system=system,
        system_plain=system is not None,
        tools=tools,
        tool_choice=choice,
        params=params,
        extra=extra,
        source=FORMAT,
    )


@st.composite
def c_tool(draw: st.DrawFn) -> ToolSpec:
    if draw(st.integers(0, 4)) == 0:
        return draw(
            st.sampled_from(
                [
                    ToolSpec(name="", extra={"type": "web_search"}),
                    ToolSpec(name="apply_patch", extra={"type": "custom", "name": "apply_patch"}),
                ]
            )
        )
    extra: JSON = {}
    maybe(draw, extra, "strict", st.booleans())
    extra.update(draw(UNKNOWN))
    return ToolSpec(
        name=draw(NAME),
        description=draw(st.one_of(st.none(), TEXT)),
        parameters=draw(st.one_of(st.none(), st.just({"type": "object"}))),
        extra=extra,
    )


@st.composite
def c_response(draw: st.DrawFn) -> Response:
    blocks = draw(c_assistant_blocks(reply=True, min_units=0))
    extra: JSON = {"object": "response", "created_at": draw(st.integers(0, 9)), **draw(UNKNOWN)}
    calls = any(
        isinstance(b, ToolCall) or (isinstance(b, Opaque) and b.data.get("type") in CLIENT_CALLS)
        for b in blocks
    )
    stop = draw(st.sampled_from(["completed", "max_tokens", "content_filter", "open"]))
    if stop == "completed":
        maybe(draw, extra, "incomplete_details", st.none())
        stop_reason: str | None = "tool_use" if calls else "end_turn"
    elif stop == "open":
        maybe(draw, extra, "status", st.sampled_from(["in_progress", "cancelled"]))
        stop_reason = None
    else:
        extra["incomplete_details"] = {"reason": "max_output_tokens" if stop == "max_tokens" else stop}
        stop_reason = stop
    usage = draw(
        st.one_of(
            st.none(),
            st.builds(
                Usage,
                input_tokens=st.integers(0, 99),
                output_tokens=st.integers(0, 99),
                cache_read_tokens=st.one_of(st.none(), st.integers(0, 9)),
                reasoning_tokens=st.one_of(st.none(), st.integers(0, 9)),
                extra=st.just({"total_tokens": 5}),
            ),
        )
    )
    return Response(
        message=Message(role="assistant", blocks=tuple(blocks)),
        id=draw(st.one_of(st.none(), IDS)),
        model=draw(st.one_of(st.none(), NAME)),
        stop_reason=stop_reason,
        usage=usage,
        extra=extra,
        source=FORMAT,
    )


@given(conversation=c_conversation())
@FAST
def test_canonical_conversation_round_trips(conversation: Conversation) -> None:
    assert decode_request(encode_request(conversation)) == conversation


@given(response=c_response())
@FAST
def test_canonical_response_round_trips(response: Response) -> None:
    assert decode_response(encode_response(response)) == response


# ------------------------------------------------------------------------------------- streams


def cut(text: str, rnd: random.Random) -> list[str]:
    """``text`` in random pieces (at least one; empty pieces allowed, as servers send them)."""
    if not text:
        return [""]
    cuts = sorted(rnd.randint(0, len(text)) for _ in range(rnd.randint(0, 4)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def stream_body(body: JSON, rnd: random.Random) -> list[JSON]:
    """The events a server streams for ``body`` (an independent model of the Responses stream)."""
    out: list[JSON] = []

    def event(kind: str, **fields: Any) -> None:
        extra = {"obfuscation": "xY3"} if kind.endswith(".delta") and rnd.random() < 0.5 else {}
        out.append({"type": kind, **fields, **extra, "sequence_number": len(out)})

    frame = {**body, "status": "in_progress", "output": [], "usage": None}
    event("response.created", response=frame)
    event("response.in_progress", response=frame)
    for index, item in enumerate(body["output"]):
        at = {"item_id": item.get("id", ""), "output_index": index}
        kind = item.get("type")
        if kind == "reasoning":
            added = {k: v for k, v in item.items() if k not in ("summary", "content", "encrypted_content")}
            blob = item.get("encrypted_content")
            if isinstance(blob, str) and rnd.random() < 0.5:
                added["encrypted_content"] = blob[: len(blob) // 2]  # may be incomplete until done
            event("response.output_item.added", output_index=index, item={**added, "summary": []})
            for key, part_event, delta_event, number in (
                ("content", "response.content_part.added", "response.reasoning_text.delta", "content_index"),
                (
                    "summary",
                    "response.reasoning_summary_part.added",
                    "response.reasoning_summary_text.delta",
                    "summary_index",
                ),
            ):
                parts = item.get(key)
                for j, part in enumerate(parts if isinstance(parts, list) else []):
                    text = (
                        part["text"] if isinstance(part, dict) and isinstance(part.get("text"), str) else ""
                    )
                    event(
                        part_event,
                        **at,
                        **{number: j},
                        part={"type": part.get("type") if isinstance(part, dict) else None, "text": ""},
                    )
                    for piece in cut(text, rnd):
                        event(delta_event, **at, **{number: j}, delta=piece)
        elif kind == "message" or (kind is None and item.get("role") == "assistant"):
            event("response.output_item.added", output_index=index, item={**item, "content": []})
            content = item.get("content")
            for j, part in enumerate(content if isinstance(content, list) else []):
                key = "text" if part.get("type") == "output_text" else "refusal"
                event("response.content_part.added", **at, content_index=j, part={**part, key: ""})
                delta = "response.output_text.delta" if key == "text" else "response.refusal.delta"
                for piece in cut(str(part.get(key, "")), rnd):
                    event(delta, **at, content_index=j, delta=piece)
                event("response.content_part.done", **at, content_index=j, part=part)
        elif kind == "function_call" and isinstance(item.get("arguments"), str):
            event("response.output_item.added", output_index=index, item={**item, "arguments": ""})
            for piece in cut(item["arguments"], rnd):
                event("response.function_call_arguments.delta", **at, delta=piece)
            event("response.function_call_arguments.done", **at, arguments=item["arguments"])
        else:
            event("response.output_item.added", output_index=index, item=item)
        event("response.output_item.done", output_index=index, item=item)
    final = body if rnd.random() < 0.7 else {**body, "output": None}
    event(
        "response.incomplete" if body.get("status") == "incomplete" else "response.completed", response=final
    )
    return out


@given(body=wire_response(), rnd=st.randoms(use_true_random=False))
@FAST
def test_stream_assembles_to_the_whole_body(body: JSON, rnd: random.Random) -> None:
    payloads = stream_body(body, rnd)
    response, events = assemble(copy.deepcopy(payloads))
    assert response == decode_response(copy.deepcopy(body))
    check_events(events, response)
    raw = sse_bytes(payloads)
    cuts = sorted(rnd.randint(0, len(raw)) for _ in range(rnd.randint(1, 8)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert assemble(sse_payloads(raw, pieces))[0] == response


@given(body=wire_response())
@FAST
def test_the_encoders_stream_gives_the_body_back(body: JSON) -> None:
    losses = Losses()
    payloads = stream_payloads(decode_response(copy.deepcopy(body)), losses=losses)
    assert payloads[-1]["response"] == body
    assert [p["item"] for p in payloads if p["type"] == "response.output_item.done"] == body["output"]
    response, events = assemble(sse_payloads(sse_bytes(payloads)))
    assert response == decode_response(copy.deepcopy(body))
    check_events(events, response)
    assert not losses


@given(data=st.data())
@FAST
def test_anthropic_replies_restream_live_and_whole(data: st.DataObject) -> None:
    blocks: list[JSON] = []
    for _ in range(data.draw(st.integers(0, 4))):
        kind = data.draw(st.sampled_from(["thinking", "redacted_thinking", "text", "tool_use"]))
        if kind == "thinking":
            blocks.append({"type": "thinking", "thinking": data.draw(TEXT), "signature": data.draw(IDS)})
        elif kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": data.draw(IDS)})
        elif kind == "text":
            blocks.append({"type": "text", "text": data.draw(TEXT)})
        else:
            arguments = data.draw(st.dictionaries(st.text(max_size=3), SCALAR, max_size=2))
            blocks.append(
                {"type": "tool_use", "id": data.draw(IDS), "name": data.draw(NAME), "input": arguments}
            )
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": blocks,
        "stop_reason": data.draw(st.sampled_from(["end_turn", "tool_use", "max_tokens"])),
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 7},
    }
    reply = anthropic.decode_response(body)
    expected = encode_response(reply)
    whole = stream_payloads(reply)
    assert whole[-1]["response"] == expected
    assert assemble(whole)[0] == decode_response(expected)
    # live: Anthropic events -> assembler -> encoder, arguments in Anthropic's own JSON text
    source = anthropic.StreamAssembler()
    encoder = StreamEncoder()
    live: list[JSON] = []
    for payload in anthropic_stream(body):
        for event in source.feed(payload):
            live.extend(encoder.encode(event))
    for item in expected["output"]:
        if item["type"] == "function_call":
            item["arguments"] = json.dumps(json.loads(item["arguments"]))
    assert live[-1]["response"] == expected
    response, events = assemble(live)
    assert response == decode_response(expected)
    check_events(events, response)


# ------------------------------------------------------------------------------ malformed input

JUNK_KEYS = st.sampled_from(
    [
        "input", "role", "content", "type", "text", "id", "call_id", "name", "arguments", "output",
        "summary", "encrypted_content", "status", "incomplete_details", "error", "usage", "tools",
        "tool_choice", "reasoning", "effort", "instructions", "item", "output_index", "content_index",
        "summary_index", "delta", "part", "response", "image_url", "input_tokens_details", "x_junk",
    ]
)  # fmt: skip
JUNK_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from(
        [
            "", "message", "assistant", "user", "developer", "reasoning", "function_call", "function_call_output",
            "output_text", "input_text", "input_image", "refusal", "completed", "incomplete", "failed",
            "response.completed", "response.output_item.added", "response.output_item.done",
            "response.output_text.delta", "response.content_part.added", "response.reasoning_text.delta",
            "error", "auto", "function", "{}",
        ]
    ),
)  # fmt: skip
JUNK = st.recursive(
    JUNK_LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(JUNK_KEYS, inner, max_size=4)),
    max_leaves=25,
)


def mutate(value: Any, rnd: random.Random, junk: Callable[[], Any]) -> Any:
    """``value`` with one nested value replaced by junk or one key removed."""
    value = copy.deepcopy(value)
    containers: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict | list) and node:
            containers.append(node)
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(value)
    if not containers:
        return junk()
    target = rnd.choice(containers)
    key = rnd.choice(list(target)) if isinstance(target, dict) else rnd.randrange(len(target))
    if isinstance(target, dict) and rnd.random() < 0.3:
        del target[key]
    else:
        target[key] = junk()
    return value


MALFORMED = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(body=wire_request(), rnd=st.randoms(use_true_random=False), data=st.data())
@MALFORMED
def test_malformed_requests_raise_only_wire_errors(
    body: JSON, rnd: random.Random, data: st.DataObject
) -> None:
    broken = mutate(body, rnd, lambda: data.draw(JUNK))
    try:
        conversation = decode_request(broken)
    except WireError:
        return
    encode_request(conversation)
    anthropic.encode_request(conversation)


@given(body=wire_response(), rnd=st.randoms(use_true_random=False), data=st.data())
@MALFORMED
def test_malformed_responses_raise_only_wire_errors(
    body: JSON, rnd: random.Random, data: st.DataObject
) -> None:
    broken = mutate(body, rnd, lambda: data.draw(JUNK))
    try:
        response = decode_response(broken)
    except WireError:
        return
    encode_response(response)
    stream_payloads(response)


@given(body=wire_response(), rnd=st.randoms(use_true_random=False), data=st.data())
@MALFORMED
def test_malformed_events_raise_only_wire_errors(body: JSON, rnd: random.Random, data: st.DataObject) -> None:
    payloads = mutate(stream_body(body, rnd), rnd, lambda: data.draw(JUNK))
    with contextlib.suppress(WireError):
        response, _ = assemble(payloads)
        encode_response(response)


@given(junk=JUNK)
@settings(max_examples=100, deadline=None)
def test_junk_raises_only_wire_errors(junk: Any) -> None:
    for decode in (decode_request, decode_response):
        with contextlib.suppress(WireError):
            decode(junk)
    with contextlib.suppress(WireError):
        StreamAssembler().feed(junk)
