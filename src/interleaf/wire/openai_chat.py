"""OpenAI Chat Completions codec: requests, responses, streams, and every reasoning dialect.

One name for the whole codec, the same shape as :mod:`interleaf.wire.anthropic`: request and response
bodies (:mod:`interleaf.wire.openai_bodies`), messages and blocks (:mod:`interleaf.wire.openai_messages`),
streams in (:mod:`interleaf.wire.openai_stream`) and out (:mod:`interleaf.wire.openai_restream`).
Decoding keeps every field, so ``encode_*(decode_*(body)) == body`` for every valid payload.

Thinking travels in one of four dialects (:class:`~interleaf.transcript.ReasoningDialect`):
``reasoning_details`` items, the ``reasoning_content`` or ``reasoning`` string, or ``<think>`` tags
inline in string ``content``. Every block records the dialect it arrived in; ``dialect=None`` replays
each block that way, an explicit dialect puts all thinking there (what a backend profile asks for).
"""

from __future__ import annotations

from interleaf.wire.openai_bodies import (
    CONTENT_SHAPE,
    DETAILS_SOURCE,
    FORMAT,
    TOOL_CALL_SOURCE,
    decode_message,
    decode_request,
    decode_response,
    decode_usage,
    encode_message,
    encode_request,
    encode_response,
    encode_usage,
    finish_reason,
    raise_error,
    response_frame,
)
from interleaf.wire.openai_restream import StreamEncoder, stream_payloads
from interleaf.wire.openai_stream import StreamAssembler

__all__ = [
    "CONTENT_SHAPE",
    "DETAILS_SOURCE",
    "FORMAT",
    "TOOL_CALL_SOURCE",
    "StreamAssembler",
    "StreamEncoder",
    "decode_message",
    "decode_request",
    "decode_response",
    "decode_usage",
    "encode_message",
    "encode_request",
    "encode_response",
    "encode_usage",
    "finish_reason",
    "raise_error",
    "response_frame",
    "stream_payloads",
]
