"""The per-row stage of cleaning: rules (and scrubbing), domain tags and MinHash signatures.

:func:`check_rows` is what the engine runs on every batch, in a worker process or a Ray task; it
depends only on the row and its settings, so any split of the rows gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from interleaf.data import text as tx
from interleaf.data.dedup import DedupConfig, signatures
from interleaf.data.domains import tag
from interleaf.data.rows import Row, conversation_of, to_table, with_conversation
from interleaf.data.rules import RulesConfig, RuleSet
from interleaf.transcript import TranscriptFormatError

TASK_SIGNATURE = "_task_signature"
THINKING_SIGNATURE = "_thinking_signature"
UNREADABLE = "transcript-unreadable"


@dataclass(frozen=True, slots=True)
class CheckSettings:
    rules: RulesConfig = field(default_factory=RulesConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)


def check_rows(table: pa.Table, settings: CheckSettings) -> pa.Table:
    """``table`` with ``rule_hits``, ``scrubbed``, ``domain``, ``domains`` filled (and the transcript
    scrubbed where the secrets rule says so), plus two signature columns for deduplication."""
    rules = RuleSet(settings.rules)
    rows: list[Row] = []
    tasks: list[str] = []
    thinking: list[str] = []
    for row in table.to_pylist():
        try:
            conversation = conversation_of(row)
        except (TranscriptFormatError, ValueError, TypeError) as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            row["rule_hits"] = [{"rule": UNREADABLE, "action": "drop", "detail": problem}]
            row["scrubbed"] = 0
            rows.append(row)
            tasks.append("")
            thinking.append("")
            continue
        checked = rules.apply(conversation)
        if checked.scrubbed:
            row = with_conversation(row, checked.conversation)
        row["rule_hits"] = [{"rule": h.rule, "action": h.action, "detail": h.detail} for h in checked.hits]
        row["scrubbed"] = checked.scrubbed
        row["domain"], row["domains"] = tag(checked.conversation, row.get("tools") or [])
        rows.append(row)
        tasks.append("\n".join(tx.user_texts(checked.conversation)) or row.get("task") or "")
        thinking.append(tx.all_thinking(checked.conversation))
    out = to_table(rows)
    out = out.append_column(TASK_SIGNATURE, pa.array(signatures(tasks, settings.dedup), type=pa.binary()))
    return out.append_column(
        THINKING_SIGNATURE, pa.array(signatures(thinking, settings.dedup), type=pa.binary())
    )
