"""How interleaf compresses what it keeps on disk: stored thinking turns (:mod:`interleaf.store.thinking`)
and recorded gateway traffic (:mod:`interleaf.store.traffic`).

zstd at its default level 3. Against zlib's level 6 (interleaf's codec before this one), on JSON replies of
thinking prose: a ratio within 5% of it, at half its CPU for 1 KB, a fifth for 16 KB and a tenth for
64 KB (benchmarks/bench_thinking_store.py compares the two in the same run). Compressing was most of the
CPU of the gateway's store writer.

Each frame ends with a checksum of its content (4 bytes), so a damaged value is refused rather than read
back as other bytes, as zlib's own checksum refused it before. Values written by earlier versions hold
zlib (or zstd without the checksum) and read back the same: a zstd frame starts with its magic
number ``28 b5 2f fd`` and a zlib stream with ``0x78``, so :func:`decompress` needs no flag.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence

import zstandard

ZSTD_LEVEL = 3
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MANY_CALL_BYTES = 4 * 1024 * 1024
"""Input bytes one :func:`compress_many` call takes at most: its frames are held twice (the call's
buffer, then each copied out), so a batch of long request bodies is compressed a few MiB at a time."""
_contexts = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    # One compressor per thread: its context is reused from call to call (most of zstd's lead over
    # zlib on small values), and a context must not be shared between threads (the SQLite store and
    # the traffic recorder write on threads of their own, the Redis store on the event loop's).
    try:
        compressor: zstandard.ZstdCompressor = _contexts.compressor
    except AttributeError:
        compressor = _contexts.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
    return compressor


def compress(data: bytes) -> bytes:
    """``data`` as one zstd frame (which records its size)."""
    return _compressor().compress(data)


def compress_many(values: Sequence[bytes]) -> list[bytes]:
    """``[compress(v) for v in values]``, the same frames, with the GIL released once per call of up to
    :data:`MANY_CALL_BYTES` rather than once per value.

    For a writer thread behind a busy event loop. zstd gives up the GIL around every compression, and
    a thread that gives it up has to win it back from the loop, which under load holds it nearly all
    the time: compressing reply by reply, the gateway's store writer spent most of its time waiting
    and fell thousands of replies behind (benchmarks/bench_thinking_store.py measures both ways).
    """
    frames: list[bytes] = []
    group: list[bytes] = []
    held = 0
    for value in values:
        if held + len(value) > MANY_CALL_BYTES and group:
            frames += _compress_group(group)
            group, held = [], 0
        group.append(value)
        held += len(value)
    if group:
        frames += _compress_group(group)
    return frames


def _compress_group(values: list[bytes]) -> list[bytes]:
    compressor = _compressor()
    if len(values) < 2 or not all(values):  # the batch call refuses an empty value
        return [compressor.compress(value) for value in values]
    try:
        inputs: list[bytes | bytearray | memoryview] = list(values)
        frames = compressor.multi_compress_to_buffer(inputs, threads=1)  # threads=1: in this thread
    except NotImplementedError:  # zstandard's CFFI backend (PYTHON_ZSTANDARD_IMPORT_POLICY=cffi)
        return [compressor.compress(value) for value in values]
    return [frames[i].tobytes() for i in range(len(frames))]


def decompress(data: bytes) -> bytes:
    """The inverse of :func:`compress`, or of zlib's ``compress`` (values of earlier versions).
    Raises ``ValueError`` on a damaged value."""
    if not data.startswith(ZSTD_MAGIC):
        try:
            return zlib.decompress(data)
        except zlib.error as exc:
            raise ValueError(f"a stored value does not decompress: {exc}") from None
    try:
        decompressor: zstandard.ZstdDecompressor = _contexts.decompressor
    except AttributeError:
        decompressor = _contexts.decompressor = zstandard.ZstdDecompressor()
    try:
        # The frame says its size and carries a checksum (compress writes both); a damaged one is refused.
        return decompressor.decompress(data)
    # Damaged: a ValueError like every other bad value (a damaged header may claim a size that cannot
    # be allocated).
    except (zstandard.ZstdError, MemoryError) as exc:
        raise ValueError(f"a stored value does not decompress: {exc}") from None
