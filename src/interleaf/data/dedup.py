"""Near-duplicate removal with MinHash LSH (datasketch), over tasks and over thinking.

Signatures are computed per row in the parallel stage (:func:`signatures`); clustering runs once over
all rows in a fixed order, so the result does not depend on how rows were split across workers.

* **Thinking**: rows are visited best first (fewest flagged rule hits, passed before unknown before
  failed, then id); a row whose thinking is at least ``thinking_threshold`` similar (estimated Jaccard
  of word 5-gram shingles) to a row already kept is dropped as its near-duplicate.
* **Tasks**: kept rows whose tasks are at least ``task_threshold`` similar, or share an eval task
  id, form one task group (``task_group`` = the id of its best row). Groups decide the
  train/validation split at export, so near-duplicate tasks never straddle it; ``max_per_task``
  caps how many rows one group keeps.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasketch import MinHash, MinHashLSH

from interleaf.data import text as tx


@dataclass(frozen=True, slots=True)
class DedupConfig:
    num_perm: int = 128
    shingle: int = 5
    task_threshold: float = 0.8
    thinking_threshold: float = 0.8
    max_per_task: int | None = 3
    seed: int = 1


SCHEME = "affine32"
"""datasketch 2's 32-bit permutation scheme: signatures are ``num_perm`` uint32 values."""


def _hash(shingle: bytes) -> int:
    # crc32 is in C and stable across processes (Python's hash() is salted per process).
    return zlib.crc32(shingle)


def signatures(texts: Sequence[str], config: DedupConfig) -> list[bytes | None]:
    """MinHash signatures (raw hash values) of ``texts``; ``None`` for a text with no words."""
    sets = [tx.shingles(text, config.shingle) for text in texts]
    present = [i for i, s in enumerate(sets) if s]
    out: list[bytes | None] = [None] * len(texts)
    if present:
        hashes = MinHash.bulk(
            [[s.encode("utf-8") for s in sets[i]] for i in present],
            num_perm=config.num_perm,
            seed=config.seed,
            hashfunc=_hash,
            scheme=SCHEME,
        )
        for index, minhash in zip(present, hashes, strict=True):
            out[index] = minhash.hashvalues.tobytes()
    return out


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> Any:
    # Building a MinHash draws its permutations (about 1 ms); rebuilding one from stored values only
    # needs them for its type, so every rebuilt MinHash shares one set.
    return MinHash(num_perm=num_perm, seed=seed, hashfunc=_hash, scheme=SCHEME).permutations


def _minhash(signature: bytes, config: DedupConfig) -> MinHash:
    return MinHash(
        num_perm=config.num_perm,
        seed=config.seed,
        hashvalues=np.frombuffer(signature, dtype=np.uint32),
        permutations=_permutations(config.num_perm, config.seed),
        hashfunc=_hash,
        scheme=SCHEME,
    )


def _index(threshold: float, config: DedupConfig) -> MinHashLSH:
    """An LSH index that finds candidates at ``threshold`` (capped at 0.9, where datasketch can still
    choose bands; every candidate is checked against the real threshold anyway)."""
    return MinHashLSH(threshold=min(threshold, 0.9), num_perm=config.num_perm)


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal hash values."""
    left, right = np.frombuffer(a, dtype=np.uint32), np.frombuffer(b, dtype=np.uint32)
    return float(np.count_nonzero(left == right)) / len(left) if len(left) == len(right) else 0.0


def near_duplicates(
    ids: Sequence[str], thinking: Sequence[bytes | None], config: DedupConfig
) -> dict[str, str]:
    """``{id: id of the kept row it duplicates}`` for rows visited in the given (best first) order."""
    index = _index(config.thinking_threshold, config)
    kept: dict[str, tuple[int, bytes]] = {}  # id -> (position among kept rows, signature)
    duplicates: dict[str, str] = {}
    for row_id, signature in zip(ids, thinking, strict=True):
        if signature is None:
            continue
        minhash = _minhash(signature, config)
        matches = [
            candidate
            for candidate in index.query(minhash)
            if similarity(signature, kept[candidate][1]) >= config.thinking_threshold
        ]
        if matches:
            duplicates[row_id] = min(matches, key=lambda candidate: kept[candidate][0])
            continue
        index.insert(row_id, minhash)
        kept[row_id] = (len(kept), signature)
    return duplicates


def task_groups(
    ids: Sequence[str],
    tasks: Sequence[bytes | None],
    task_keys: Sequence[str | None],
    config: DedupConfig,
) -> dict[str, str]:
    """``{id: task group}`` where a group is named after its first row in the given order."""
    parent = {row_id: row_id for row_id in ids}
    rank = {row_id: position for position, row_id in enumerate(ids)}

    def find(row_id: str) -> str:
        while parent[row_id] != row_id:
            parent[row_id] = parent[parent[row_id]]
            row_id = parent[row_id]
        return row_id

    def union(a: str, b: str) -> None:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            # The earlier (better) row names the group.
            if rank[root_a] < rank[root_b]:
                parent[root_b] = root_a
            else:
                parent[root_a] = root_b

    index = _index(config.task_threshold, config)
    signatures_by_id: dict[str, bytes] = {}
    first_with_key: dict[str, str] = {}
    for row_id, signature, key in zip(ids, tasks, task_keys, strict=True):
        if key is not None:
            if key in first_with_key:
                union(first_with_key[key], row_id)
            else:
                first_with_key[key] = row_id
        if signature is None:
            continue
        minhash = _minhash(signature, config)
        for candidate in index.query(minhash):
            if similarity(signature, signatures_by_id[candidate]) >= config.task_threshold:
                union(candidate, row_id)
        index.insert(row_id, minhash)
        signatures_by_id[row_id] = signature
    return {row_id: find(row_id) for row_id in ids}


def over_cap(ids: Iterable[str], groups: dict[str, str], cap: int | None) -> set[str]:
    """Rows beyond the first ``cap`` of their task group (in the given order)."""
    if cap is None:
        return set()
    seen: dict[str, int] = {}
    over = set()
    for row_id in ids:
        group = groups[row_id]
        seen[group] = seen.get(group, 0) + 1
        if seen[group] > cap:
            over.add(row_id)
    return over
