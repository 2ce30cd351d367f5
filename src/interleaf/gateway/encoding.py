"""Request bodies sent compressed (``Content-Encoding``), decoded before anything reads them.

Codex compresses large Responses API bodies with zstd (its ``enable_request_compression`` feature),
and pi does on its Codex path; other clients send gzip. A gateway that read those bytes as JSON would
answer 400 to every such request. Each coding is undone in the reverse of the order the header lists
them (RFC 9110, 8.4), and what comes out may be no larger than ``--max-body``: a few kilobytes of zstd
can expand to gigabytes, so no decoder is ever asked for more than the limit plus one byte. The body
then goes upstream uncompressed: the upstream request's headers never carry the client's
``Content-Encoding``.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import zstandard

from interleaf.gateway.errors import GatewayError

SUPPORTED = ("gzip", "deflate", "zstd")


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """``body`` with every coding of ``content_encoding`` undone; 413 past ``limit`` bytes decoded, 415
    for a coding this gateway cannot decode, 400 for data that is not what the header says."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
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
            body = decoder(body, limit)
        except (zlib.error, zstandard.ZstdError, EOFError) as exc:
            raise GatewayError(
                400,
                f"the request body is not valid {coding} data, as its Content-Encoding says ({exc})",
                code="invalid_content_encoding",
            ) from None
        if len(body) > limit:
            raise GatewayError(
                413,
                f"the request body decompresses ({coding}) to more than this gateway's limit of {limit} "
                "bytes; shorten or compact the conversation, or raise the limit with --max-body",
                code="request_too_large",
            )
    return body


def _gzip(data: bytes, limit: int) -> bytes:
    out = bytearray()
    while data:  # a gzip body may hold several members, one after another
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += decoder.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            break
        if not decoder.eof:
            raise EOFError("the data ends before its last member does")
        data = decoder.unused_data
    return bytes(out)


def _deflate(data: bytes, limit: int) -> bytes:
    # "deflate" is the zlib format (RFC 9110, 8.4.1.2); some clients send the raw stream instead.
    try:
        return _inflate(data, limit, zlib.MAX_WBITS)
    except zlib.error:
        return _inflate(data, limit, -zlib.MAX_WBITS)


def _inflate(data: bytes, limit: int, wbits: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    out = decoder.decompress(data, limit + 1)
    if len(out) <= limit and not decoder.eof:
        raise EOFError("the data ends before the stream does")
    return out


def _zstd(data: bytes, limit: int) -> bytes:
    decompressor = zstandard.ZstdDecompressor()
    # The reader stops at limit + 1 bytes whatever size a frame claims; it does not notice a frame cut
    # short, so once the output is known to be small, one more pass checks every frame ends.
    with decompressor.stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
        out = reader.read(limit + 1)
    if len(out) <= limit:
        rest = data
        while rest:
            frame = decompressor.decompressobj()
            frame.decompress(rest)
            if not frame.eof:
                raise EOFError("the data ends before its last frame does")
            rest = frame.unused_data
    return out


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "zstd": _zstd,
}
