"""A trajectory row: the columns of an interleaf dataset and how a conversation becomes one.

One row is one trajectory. ``transcript`` holds the conversation in the transcript's own lossless JSON
(:func:`interleaf.transcript.conversation_to_json`), so every thinking block stays intact, in order,
with its signature and vendor fields; the other columns are derived from it or say where it came
from. Columns that ``interleaf data clean`` fills are null in a collected dataset.

The row id is a hash of the transcript as collected, so the same trajectory collected twice (or on
Ray and in-process) gets the same id; ids never change afterwards, even when cleaning scrubs a row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from interleaf.data import text as tx
from interleaf.transcript import Conversation, conversation_from_json, conversation_to_json

Row = dict[str, Any]

RULE_HIT = pa.struct([("rule", pa.string()), ("action", pa.string()), ("detail", pa.string())])

SCHEMA = pa.schema(
    [
        # identity and provenance
        ("id", pa.string()),
        ("source", pa.string()),
        ("source_ref", pa.string()),
        ("format", pa.string()),
        ("transcript", pa.large_string()),
        ("task", pa.string()),
        ("task_id", pa.string()),
        ("model", pa.string()),
        ("profile", pa.string()),
        ("created", pa.float64()),
        # eval results, where the trajectory came from an eval run
        ("outcome", pa.string()),
        ("passed", pa.bool_()),
        ("eval_suite", pa.string()),
        ("eval_condition", pa.string()),
        ("eval_trial", pa.int32()),
        # shape
        ("n_messages", pa.int32()),
        ("n_steps", pa.int32()),
        ("n_tool_calls", pa.int32()),
        ("tools", pa.list_(pa.string())),
        ("thinking_blocks", pa.int32()),
        ("thinking_chars", pa.int64()),
        ("action_chars", pa.int64()),
        ("answer_chars", pa.int64()),
        ("tokens", pa.int64()),
        ("thinking_ratio", pa.float64()),
        # filled by `interleaf data clean`
        ("rule_hits", pa.list_(RULE_HIT)),
        ("scrubbed", pa.int32()),
        ("domain", pa.string()),
        ("domains", pa.list_(pa.string())),
        ("task_group", pa.string()),
        ("dup_of", pa.string()),
        ("judge_status", pa.string()),
        ("judge_logic", pa.int8()),
        ("judge_redundancy", pa.int8()),
        ("judge_correctness", pa.int8()),
        ("judge_format", pa.int8()),
        ("judge_difficulty", pa.int8()),
        ("judge_score", pa.float64()),
        ("judge_reason", pa.string()),
        ("judge_model", pa.string()),
        ("pass_rate", pa.float64()),
        ("difficulty", pa.float64()),
        ("difficulty_parts", pa.string()),
        ("drop_reason", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Where a trajectory came from, and what an eval run said about it."""

    source: str
    source_ref: str
    format: str
    task_id: str | None = None
    model: str | None = None
    profile: str | None = None
    created: float | None = None
    outcome: str | None = None
    passed: bool | None = None
    eval_suite: str | None = None
    eval_condition: str | None = None
    eval_trial: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def transcript_json(conversation: Conversation) -> str:
    """The stored form of a conversation: its transcript JSON, key order as written, UTF-8 kept."""
    return json.dumps(conversation_to_json(conversation), ensure_ascii=False)


def row_id(transcript: str) -> str:
    """A stable id: ``t`` and 16 hex digits of the SHA-256 of the transcript JSON."""
    return "t" + hashlib.sha256(transcript.encode("utf-8")).hexdigest()[:16]


def conversation_of(row: Row) -> Conversation:
    """The row's conversation, read back from its transcript JSON."""
    return conversation_from_json(json.loads(row["transcript"]))


def shape(conversation: Conversation) -> Row:
    """The shape columns of a conversation (steps, tools, lengths, thinking-to-action ratio)."""
    assistants = tx.assistant_messages(conversation)
    calls = tx.tool_calls(conversation)
    spans = tx.thinking_spans(conversation)
    thinking_chars = sum(len(span.text) for span in spans)
    action_chars = sum(len(tx.action_text(message)) for _, message in assistants)
    total_text = "".join(tx.iter_texts(conversation))
    return {
        "n_messages": len(conversation.messages),
        "n_steps": len(assistants),
        "n_tool_calls": len(calls),
        "tools": sorted({call.name for _, call in calls}),
        "thinking_blocks": len(spans),
        "thinking_chars": thinking_chars,
        "action_chars": action_chars,
        "answer_chars": len(tx.final_answer(conversation)),
        "tokens": tx.estimate_tokens(total_text),
        "thinking_ratio": thinking_chars / (thinking_chars + action_chars)
        if thinking_chars + action_chars
        else 0.0,
    }


def make_row(conversation: Conversation, provenance: Provenance) -> Row:
    """A complete row (clean-stage columns null) for a collected conversation."""
    transcript = transcript_json(conversation)
    row: Row = dict.fromkeys(COLUMNS)
    row.update(
        id=row_id(transcript),
        source=provenance.source,
        source_ref=provenance.source_ref,
        format=provenance.format,
        transcript=transcript,
        task=tx.task_text(conversation),
        task_id=provenance.task_id,
        model=provenance.model,
        profile=provenance.profile,
        created=provenance.created,
        outcome=provenance.outcome,
        passed=provenance.passed,
        eval_suite=provenance.eval_suite,
        eval_condition=provenance.eval_condition,
        eval_trial=provenance.eval_trial,
    )
    row.update(shape(conversation))
    return row


def with_conversation(row: Row, conversation: Conversation) -> Row:
    """``row`` holding an edited conversation (a scrub): transcript and shape updated, id kept."""
    updated = dict(row)
    updated["transcript"] = transcript_json(conversation)
    updated["task"] = tx.task_text(conversation)
    updated.update(shape(conversation))
    return updated


def to_table(rows: list[Row]) -> pa.Table:
    """Rows as a table with the dataset schema (missing columns null)."""
    return pa.Table.from_pylist([{name: row.get(name) for name in COLUMNS} for row in rows], schema=SCHEMA)


def conform(table: pa.Table) -> pa.Table:
    """``table`` with exactly the dataset's columns and types (absent columns added as nulls)."""
    arrays = []
    for column in SCHEMA:
        if column.name in table.column_names:
            arrays.append(table.column(column.name).cast(column.type))
        else:
            arrays.append(pa.nulls(table.num_rows, type=column.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)
