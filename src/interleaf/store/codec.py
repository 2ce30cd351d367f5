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
    """``[compress(v) for v in values]``, the same frames, with the GIL released once for all of them.

    For a writer thread behind a busy event loop. zstd gives up the GIL around every compression, and
    a thread that gives it up has to win it back from the loop: once per stored reply, that hand-over
    between two cores cost the gateway more CPU than the compressing itself, and left its writer
    waiting most of the time (benchmarks/bench_thinking_store.py measures both ways). One call for the
    whole batch hands over once.
    """
    if len(values) < 2 or not all(values):  # the batch call refuses an empty value
        return [compress(value) for value in values]
    compressor = _compressor()
    try:
        frames = compressor.multi_compress_to_buffer(list(values), threads=1)
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
