"""Request bodies sent compressed (``Content-Encoding``), decoded before anything reads them.

Codex compresses large Responses API bodies with zstd (its ``enable_request_compression`` feature),
and pi does on its Codex path; other clients send gzip. A gateway that read those bytes as JSON would
answer 400 to every such request. Each coding is undone in the reverse of the order the header lists
them (RFC 9110, 8.4), and the upstream then gets plain JSON: its request headers never carry the
client's ``Content-Encoding``.

A few kilobytes of zstd can expand to gigabytes, so decoding is bounded twice: by ``--max-body``, and
by :data:`MAX_RATIO` times the compressed size once past :data:`RATIO_FLOOR`. Real apps' request bodies
compress 1.7-6.7 times (zstd level 3, every request shape in tests/fixtures/apps); 200 times is a bomb.
Without that bound a 2 KB body cost 30 ms of decoding to reach a 32 MiB limit, a thousandfold what
the same bytes cost uncompressed. Output is produced a chunk at a time and decoding stops as soon as a
bound is passed; the caller runs it off the event loop (both libraries release the GIL).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import zstandard

from interleaf.gateway.errors import GatewayError

SUPPORTED = ("gzip", "deflate", "zstd")
MAX_RATIO = 200
"""Decoded bytes allowed per compressed byte, past :data:`RATIO_FLOOR`."""
RATIO_FLOOR = 1 << 20
"""Decoded bytes always allowed (within ``--max-body``), whatever the ratio."""
_CHUNK = 1 << 20
"""Bytes of output per decoder call: one call for the whole output regrows its buffer as it goes, and
took ten times as long for 32 MiB."""


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """``body`` with every coding of ``content_encoding`` undone; 413 past ``limit`` bytes decoded or
    past :data:`MAX_RATIO`, 415 for a coding this gateway cannot decode, 400 for data that is not what
    the header says."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    sent = len(body)
    cap = min(limit, max(RATIO_FLOOR, MAX_RATIO * sent))
    for coding in reversed(codings):
        if coding == "identity":
            continue
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise GatewayError(
                415,
                f"the request body's Content-Encoding {coding!r} is not supported; send it uncompressed "
                f"or as {', '.join(SUPPORTED)}",
                code="unsupported_content_encoding",
            )
        try:
            body = decoder(body, cap)
        except (zlib.error, zstandard.ZstdError, EOFError) as exc:
            raise GatewayError(
                400,
                f"the request body is not valid {coding} data, as its Content-Encoding says ({exc})",
                code="invalid_content_encoding",
            ) from None
        if len(body) > cap:
            why = (
                f"more than this gateway's limit of {limit} bytes; shorten or compact the conversation, "
                "or raise the limit with --max-body"
                if cap == limit
                else f"more than {MAX_RATIO} times its {sent} compressed bytes, which no conversation "
                "does: refused as a decompression bomb; send it uncompressed"
            )
            raise GatewayError(
                413, f"the request body decompresses ({coding}) to {why}", code="request_too_large"
            )
    return body


def _gzip(data: bytes, cap: int) -> bytes:
    out = bytearray()
    while data and len(out) <= cap:  # a gzip body may hold several members, one after another
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = _inflate(decoder, data, out, cap)
    return bytes(out)


def _deflate(data: bytes, cap: int) -> bytes:
    # "deflate" is the zlib format (RFC 9110, 8.4.1.2); some clients send the raw stream instead.
    out = bytearray()
    try:
        _inflate(zlib.decompressobj(zlib.MAX_WBITS), data, out, cap)
    except zlib.error:
        out.clear()
        _inflate(zlib.decompressobj(-zlib.MAX_WBITS), data, out, cap)
    return bytes(out)


def _inflate(decoder: zlib._Decompress, data: bytes, out: bytearray, cap: int) -> bytes:
    """Decode one zlib stream of ``data`` into ``out`` until it ends or ``out`` passes ``cap``; returns
    what follows the stream."""
    while len(out) <= cap:
        chunk = decoder.decompress(data, _CHUNK)
        out += chunk
        data = decoder.unconsumed_tail
        if decoder.eof:
            return decoder.unused_data
        if not data and not chunk:  # (output still held inside the decoder comes with empty input)
            raise EOFError("the data ends before the stream does")
    return b""


def _zstd(data: bytes, cap: int) -> bytes:
    decompressor = zstandard.ZstdDecompressor()
    out = bytearray()
    with decompressor.stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
        while len(out) <= cap and (chunk := reader.read(_CHUNK)):
            out += chunk
    if len(out) <= cap:
        # The reader does not notice a frame cut short; with the output known to be small, one more
        # pass checks every frame ends.
        rest = data
        while rest:
            frame = decompressor.decompressobj()
            frame.decompress(rest)
            if not frame.eof:
                raise EOFError("the data ends before its last frame does")
            rest = frame.unused_data
    return bytes(out)


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "zstd": _zstd,
}
