"""What every source yields: a conversation with its provenance, or a one-line problem with one record."""

from __future__ import annotations

from dataclasses import dataclass

from interleaf.data.errors import RowError
from interleaf.data.rows import Provenance
from interleaf.transcript import Conversation


@dataclass(frozen=True, slots=True)
class Collected:
    conversation: Conversation
    provenance: Provenance


SourceItem = Collected | RowError
"""Sources yield problems with single records instead of raising, so one bad line costs one row."""
