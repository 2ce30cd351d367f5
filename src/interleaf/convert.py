"""Whole-conversation conversion between wire formats (the engine behind ``interleaf convert``).

Input is a request body with its history or a response body; which one is detected from its shape.
Every conversion goes through the transcript, and whatever the target cannot carry is returned as a
list of losses instead of being dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from interleaf import transcript as tr
from interleaf.transcript import Conversation, ReasoningDialect, Response
from interleaf.wire import anthropic
from interleaf.wire.errors import Losses, WireError

FORMATS = ("transcript", "anthropic", "openai-chat", "responses", "minimax-m2")
Format = Literal["transcript", "anthropic", "openai-chat", "responses", "minimax-m2"]


class ConvertError(ValueError):
    """The input cannot be converted; the message is one line naming what is wrong."""


@dataclass(frozen=True, slots=True)
class Converted:
    """The output (a JSON value, or text for ``minimax-m2``) and what the target could not carry."""

    output: Any
    losses: tuple[str, ...]
    kind: Literal["conversation", "response"]

    def render(self, *, indent: int | None = 2) -> str:
        if isinstance(self.output, str):
            return self.output
        return json.dumps(self.output, ensure_ascii=False, indent=indent)


def read(text: str, source: Format) -> Conversation | Response:
    """Parse ``text`` in ``source`` format into a conversation (request) or a response."""
    if source == "minimax-m2":
        return _read_minimax(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConvertError(
            f"input is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ConvertError(f"input must be a JSON object, got {type(data).__name__}")
    try:
        if source == "transcript":
            if data.get("response") is True:
                return tr.response_from_json(data)
            return tr.conversation_from_json(data)
        if source == "anthropic":
            if "messages" in data:
                return anthropic.decode_request(data)
            if "content" in data or data.get("type") in ("message", "error"):
                return anthropic.decode_response(data)
            raise ConvertError("not an Anthropic request (no 'messages') or response (no 'content')")
        if source == "responses":
            return _read_responses(data)
        from interleaf.wire import openai_chat

        if "messages" in data:
            return openai_chat.decode_request(data)
        if "choices" in data or "error" in data:
            return openai_chat.decode_response(data)
        raise ConvertError("not an OpenAI Chat request (no 'messages') or response (no 'choices')")
    except (WireError, tr.TranscriptFormatError) as exc:
        raise ConvertError(str(exc)) from None


_RESPONSES_REQUEST_FIELDS = ("input", "instructions", "previous_response_id", "model")


def _read_responses(data: dict[str, Any]) -> Conversation | Response:
    from interleaf.wire import responses

    if "output" in data or data.get("object") == "response" or "error" in data:
        return responses.decode_response(data)
    if any(key in data for key in _RESPONSES_REQUEST_FIELDS):
        return responses.decode_request(data)
    raise ConvertError("not an OpenAI Responses request (no 'input') or response (no 'output')")


def _read_minimax(text: str) -> Conversation | Response:
    from interleaf.wire import minimax

    try:
        if text.startswith(minimax.BOS):
            return minimax.parse_prompt(text)
        parsed = minimax.parse_output(text)
        if parsed.errors:
            raise ConvertError("; ".join(error.message for error in parsed.errors))
        return parsed.response()
    except WireError as exc:
        raise ConvertError(str(exc)) from None


def write(
    value: Conversation | Response, target: Format, *, dialect: ReasoningDialect | None = None
) -> Converted:
    """Encode ``value`` in ``target`` format, collecting what had to be left out."""
    losses = Losses()
    kind: Literal["conversation", "response"] = "response" if isinstance(value, Response) else "conversation"
    output: Any
    if target == "transcript":
        output = tr.response_to_json(value) if isinstance(value, Response) else tr.conversation_to_json(value)
    elif target == "anthropic":
        if isinstance(value, Response):
            output = anthropic.encode_response(value, losses=losses)
        else:
            output = anthropic.encode_request(value, losses=losses)
    elif target == "openai-chat":
        from interleaf.wire import openai_chat

        if isinstance(value, Response):
            output = openai_chat.encode_response(value, dialect=dialect, losses=losses)
        else:
            output = openai_chat.encode_request(value, dialect=dialect, losses=losses)
    elif target == "responses":
        from interleaf.wire import responses

        if isinstance(value, Response):
            output = responses.encode_response(value, losses=losses)
        else:
            output = responses.encode_request(value, losses=losses)
    else:
        from interleaf.wire import minimax

        conversation = (
            Conversation(messages=(value.message,), tools=()) if isinstance(value, Response) else value
        )
        try:
            output = minimax.render_prompt(
                conversation, add_generation_prompt=isinstance(value, Conversation), losses=losses
            )
        except WireError as exc:
            raise ConvertError(str(exc)) from None
    return Converted(output=output, losses=tuple(losses), kind=kind)


def convert(
    text: str, source: Format, target: Format, *, dialect: ReasoningDialect | None = None
) -> Converted:
    return write(read(text, source), target, dialect=dialect)
