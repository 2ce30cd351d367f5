"""Replies of the scripted model in each dialect, whole or streamed, as raw wire payloads.

Anthropic and Chat replies reuse tests/support/payloads.py; the OpenAI Responses shapes (output items
and the named SSE events that stream them) are built here, after the API reference
(platform.openai.com/docs/api-reference/responses-streaming).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from tests.compat.dialects import Dialect
from tests.support.payloads import (
    anthropic_events,
    anthropic_message,
    openai_chunks,
    openai_completion,
    reasoning_detail,
    text,
    thinking,
    tool_call,
    tool_use,
)
from tests.support.scripted_server import Step

JSON = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """A tool call the model makes: ``id`` is the call id the app must echo."""

    id: str
    name: str
    arguments: JSON
    item_id: str = ""
    """Responses only: the ``fc_…`` id of the function_call item."""


@dataclass(frozen=True)
class Turn:
    """One task turn: thinking, then either a tool call or text (the final answer, or a text app's
    edit)."""

    number: int
    thinking: str
    token: str
    """The opaque value issued with the thinking: an Anthropic signature, a Responses
    ``encrypted_content``; unused by the Chat dialects."""
    reasoning_id: str
    call: Call | None
    text: str = ""
    anchor: str = ""
    """A text turn that a later request must carry back (a text app's edit): the string of its text
    by which that copy is found, as a tool-call turn is found by its call id."""


def think_section(turn: Turn) -> str:
    """The inline form of a turn's thinking (what an append-think server puts in ``content``)."""
    return f"<think>\n{turn.thinking}\n</think>\n\n"


def reply(dialect: Dialect, turn: Turn, *, model: str, stream: bool) -> Step:
    """The model's answer for ``turn`` in ``dialect``."""
    if dialect.api == "anthropic":
        blocks = [thinking(turn.thinking, turn.token)]
        if turn.call is not None:
            blocks.append(tool_use(turn.call.id, turn.call.name, turn.call.arguments))
        else:
            blocks.append(text(turn.text))
        message = anthropic_message(blocks, id=f"msg_{turn.reasoning_id}", model=model)
        return Step.sse(anthropic_events(message)) if stream else Step.json(message)
    if dialect.api == "openai-responses":
        return responses_step(
            responses_output(turn), model=model, stream=stream, id=f"resp_{turn.reasoning_id}"
        )
    calls = [tool_call(turn.call.id, turn.call.name, turn.call.arguments)] if turn.call else []
    content = turn.text or None
    fields: JSON = {}
    if dialect.name == "think_tags":
        content = think_section(turn) + turn.text
    elif dialect.name == "reasoning_details":
        fields["reasoning_details"] = [reasoning_detail(turn.thinking)]
    else:
        fields["reasoning"] = turn.thinking
        fields["reasoning_field"] = dialect.field
    completion = openai_completion(
        content=content, tool_calls=calls, id=f"chatcmpl-{turn.reasoning_id}", model=model, **fields
    )
    return Step.sse(openai_chunks(completion)) if stream else Step.json(completion)


def plain_reply(api: str, value: str, *, model: str, stream: bool) -> Step:
    """A text answer without thinking (side requests: titles, summaries, quota probes)."""
    if api == "anthropic":
        message = anthropic_message([text(value)], id="msg_side", model=model)
        return Step.sse(anthropic_events(message)) if stream else Step.json(message)
    if api == "openai-responses":
        item = _message_item("msg_side", value)
        return responses_step([item], model=model, stream=stream, id="resp_side")
    completion = openai_completion(content=value, id="chatcmpl-side", model=model)
    return Step.sse(openai_chunks(completion)) if stream else Step.json(completion)


# ------------------------------------------------------------------------------------- Responses


def _message_item(item_id: str, value: str) -> JSON:
    return {
        "type": "message",
        "id": item_id,
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": value, "annotations": []}],
    }


def responses_output(turn: Turn) -> list[JSON]:
    """The ``output`` items of a turn: a reasoning item (summary text + encrypted_content) first."""
    items: list[JSON] = [
        {
            "type": "reasoning",
            "id": turn.reasoning_id,
            "summary": [{"type": "summary_text", "text": turn.thinking}],
            "encrypted_content": turn.token,
        }
    ]
    if turn.call is not None:
        items.append(
            {
                "type": "function_call",
                "id": turn.call.item_id,
                "call_id": turn.call.id,
                "name": turn.call.name,
                "arguments": json.dumps(turn.call.arguments, separators=(",", ":")),
                "status": "completed",
            }
        )
    else:
        items.append(_message_item(f"msg_{turn.reasoning_id}", turn.text))
    return items


def _response(id: str, model: str, status: str, output: list[JSON]) -> JSON:
    return {
        "id": id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": False,
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 20,
            "output_tokens_details": {"reasoning_tokens": 10},
            "total_tokens": 30,
        }
        if status == "completed"
        else None,
    }


def responses_step(output: list[JSON], *, model: str, stream: bool, id: str) -> Step:
    """A Responses reply: the whole ``response`` object, or the events that stream it."""
    if not stream:
        return Step.json(_response(id, model, "completed", output))
    return Step.sse(responses_events(output, model=model, id=id))


def responses_events(output: list[JSON], *, model: str, id: str) -> list[JSON]:
    """The named SSE events of a streamed response (each payload's ``type`` is its event name)."""
    events: list[JSON] = [
        {"type": "response.created", "response": _response(id, model, "in_progress", [])},
        {"type": "response.in_progress", "response": _response(id, model, "in_progress", [])},
    ]
    for index, item in enumerate(output):
        events.extend(_item_events(index, item))
    events.append({"type": "response.completed", "response": _response(id, model, "completed", output)})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


def _item_events(index: int, item: JSON) -> list[JSON]:
    kind, item_id = item["type"], item["id"]
    where = {"item_id": item_id, "output_index": index}
    events: list[JSON] = []
    if kind == "reasoning":
        events.append(
            {"type": "response.output_item.added", "output_index": index, "item": {**item, "summary": []}}
        )
        for number, part in enumerate(item["summary"]):
            at = {**where, "summary_index": number}
            events.append(
                {
                    "type": "response.reasoning_summary_part.added",
                    **at,
                    "part": {"type": "summary_text", "text": ""},
                }
            )
            events.append({"type": "response.reasoning_summary_text.delta", **at, "delta": part["text"]})
            events.append({"type": "response.reasoning_summary_text.done", **at, "text": part["text"]})
            events.append({"type": "response.reasoning_summary_part.done", **at, "part": dict(part)})
    elif kind == "function_call":
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "arguments": "", "status": "in_progress"},
            }
        )
        events.append({"type": "response.function_call_arguments.delta", **where, "delta": item["arguments"]})
        events.append(
            {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]}
        )
    else:
        value = item["content"][0]["text"]
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "content": [], "status": "in_progress"},
            }
        )
        at = {**where, "content_index": 0}
        empty = {"type": "output_text", "text": "", "annotations": []}
        events.append({"type": "response.content_part.added", **at, "part": empty})
        events.append({"type": "response.output_text.delta", **at, "delta": value, "logprobs": []})
        events.append({"type": "response.output_text.done", **at, "text": value, "logprobs": []})
        events.append({"type": "response.content_part.done", **at, "part": dict(item["content"][0])})
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events
