"""OpenAI Responses API codec (``POST /v1/responses``): requests, responses and SSE streams.

Pure functions over dicts, the same shape as :mod:`interleaf.wire.anthropic` and
:mod:`interleaf.wire.openai_chat`: ``decode_request`` / ``encode_request``, ``decode_response`` /
``encode_response``, :class:`StreamAssembler` (event payloads in, stream events out) and
:class:`StreamEncoder` (stream events in, event payloads out). Decoding keeps every field, so
``encode_*(decode_*(body)) == body``; ``reasoning`` items are thinking blocks kept whole and
byte-exact (``ReasoningDialect.RESPONSES``). The modules: :mod:`.requests`, :mod:`.messages`
(the ``input`` list), :mod:`.items`, :mod:`.content`, :mod:`.replies`, :mod:`.stream`,
:mod:`.restream`.
"""

from __future__ import annotations

from interleaf.wire.responses.common import FORMAT, PART_SOURCE
from interleaf.wire.responses.replies import decode_response, decode_usage, encode_response, encode_usage
from interleaf.wire.responses.requests import decode_request, encode_request
from interleaf.wire.responses.restream import StreamEncoder, response_events, stream_payloads
from interleaf.wire.responses.stream import StreamAssembler

__all__ = [
    "FORMAT",
    "PART_SOURCE",
    "StreamAssembler",
    "StreamEncoder",
    "decode_request",
    "decode_response",
    "decode_usage",
    "encode_request",
    "encode_response",
    "encode_usage",
    "response_events",
    "stream_payloads",
]
