"""Restoration: put back the thinking a client dropped from its earlier assistant turns.

Pure apart from one store call. For each request:

1. :func:`candidates` picks the assistant turns whose thinking is missing or degraded *for this
   upstream* (no thinking at all; an Anthropic upstream and thinking without a signature; a
   ``reasoning_details`` upstream and thinking without its items; a blank placeholder). Turns that
   still carry their thinking need no lookup, and a request whose turns all do costs no store call
   (:func:`raw_needs_check` decides that on the wire dicts, before any decoding).
2. :func:`restore` looks the candidates up in one ``get_many`` by
   :func:`~interleaf.store.fingerprint.conversation_fingerprints` and, where the stored original has
   thinking the incoming turn lacks (:func:`~interleaf.store.fingerprint.needs_restore`), puts the
   stored thinking blocks back in their original positions (:func:`restore_turn`). Nothing else in the
   message changes and nothing is reordered; signatures come only from the store, never made up.
3. A candidate with no stored original is *missing* when this gateway served it (its served marker is
   in the store, or this process could not write it) and *foreign* when it never did (an app's own
   synthetic turn, history from before the gateway, another tenant's or model's turn). Both are forwarded
   as they are; ``--on-missing error`` refuses only missing ones.

The store is scoped by tenant *and upstream* (see :mod:`interleaf.gateway.upstream`), so thinking is
only ever replayed to the backend, model and account that produced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from interleaf.gateway.config import ClientFormat
from interleaf.store.fingerprint import (
    conversation_fingerprints,
    first_system_text,
    legacy_fingerprint,
    needs_restore,
    text_fingerprint,
)
from interleaf.store.thinking import StoreUnavailableError, ThinkingStore
from interleaf.transcript import Block, Conversation, Message, ReasoningDialect, RedactedThinking, Thinking
from interleaf.wire.openai_messages import REASONING_FIELDS, is_thinking

ANTHROPIC = ReasoningDialect.ANTHROPIC
DETAILS = ReasoningDialect.REASONING_DETAILS
TAGS = ReasoningDialect.THINK_TAGS
RESPONSES = ReasoningDialect.RESPONSES


@dataclass(frozen=True, slots=True)
class RestoreOutcome:
    """The conversation to forward and what happened to each candidate turn (decoded indices)."""

    conversation: Conversation
    restored: tuple[int, ...] = ()
    missing: tuple[int, ...] = ()
    foreign: tuple[int, ...] = ()
    store_error: str | None = None


def thinking_disabled(params: Mapping[str, Any]) -> bool:
    """The request turned thinking off: restoring would only earn a 400 (docs/architecture.md §4.1)."""
    thinking = params.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") == "disabled"


def carries_thinking(message: Message, dialect: ReasoningDialect) -> bool:
    """Whether an assistant turn still carries thinking the upstream can use as it is."""
    blocks = [b for b in message.blocks if is_thinking(b)]
    if not blocks:
        return False
    if dialect is ANTHROPIC:
        return all(
            isinstance(b, RedactedThinking) or (isinstance(b, Thinking) and bool(b.signature)) for b in blocks
        )
    if dialect is DETAILS:
        return all(not isinstance(b, Thinking | RedactedThinking) or b.item is not None for b in blocks)
    if dialect is TAGS:
        # Inline <think> is re-rendered by clients (pydantic-ai adds newlines around it), and a server
        # that parses it back compares it with what it generated: checked against the stored copy.
        return False
    if dialect is RESPONSES:  # reasoning items, whole: encrypted_content is what a stateless server reads
        return all(
            isinstance(b, Thinking | RedactedThinking) and b.dialect is RESPONSES and b.item is not None
            for b in blocks
        )
    return any(isinstance(b, Thinking) and b.text.strip() for b in blocks)


def candidates(conversation: Conversation, dialect: ReasoningDialect | None) -> list[int]:
    """Indices of the assistant turns to look up. A trailing assistant message is a prefill, not an
    earlier turn; an upstream that takes no thinking back (``dialect`` None) gets none."""
    if dialect is None or thinking_disabled(conversation.params):
        return []
    last = len(conversation.messages) - 1
    return [
        index
        for index, message in enumerate(conversation.messages)
        if message.role == "assistant" and index != last and not carries_thinking(message, dialect)
    ]


def moves_thinking(conversation: Conversation, dialect: ReasoningDialect | None) -> bool:
    """Whether encoding ``conversation`` for an upstream taking thinking back in ``dialect`` would move
    some thinking block to another place than the client put it (e.g. an app that sends vLLM's
    ``reasoning`` back as ``reasoning_content``, which vLLM ignores)."""
    if dialect is None:
        return any(m.thinking for m in conversation.messages if m.role == "assistant")
    return any(
        getattr(block, "dialect", dialect) is not dialect
        for message in conversation.messages
        if message.role == "assistant"
        for block in message.blocks
        if is_thinking(block)
    )


def raw_needs_check(fmt: ClientFormat, body: Mapping[str, Any], dialect: ReasoningDialect | None) -> bool:
    """Whether a same-format request needs decoding at all: False when every earlier assistant turn
    visibly carries thinking in the upstream's own shape (so the body can go upstream byte for byte).

    A pre-filter on the wire dicts, as strict as :func:`candidates` (the field must be the upstream's
    own, a signature must be there): a turn it passes goes upstream exactly as the client sent it.
    """
    if dialect is None or thinking_disabled(body):
        return False
    if fmt == "openai-responses":
        return not _raw_responses_carry(body.get("input"))
    if dialect is TAGS:  # every inline turn is checked against the store (see carries_thinking)
        messages = body.get("messages")
        return not isinstance(messages, list) or any(
            isinstance(m, Mapping) and m.get("role") == "assistant" for m in messages[:-1]
        )
    messages = body.get("messages")
    if not isinstance(messages, list):
        return True
    for message in messages[:-1]:
        if not isinstance(message, Mapping):
            return True
        if message.get("role") != "assistant":
            continue
        if fmt == "anthropic" and not _raw_anthropic_carries(message.get("content"), dialect):
            return True
        if fmt == "openai-chat" and not _raw_openai_carries(message, dialect):
            return True
    return False


def _raw_responses_carry(items: Any) -> bool:
    """Whether every earlier run of model-side items of a Responses ``input`` holds a reasoning item
    (a string ``input`` has none to check); the same grouping as the codec's."""
    if not isinstance(items, list):
        return True
    reasoned = True
    in_run = False
    for item in items:
        if not isinstance(item, Mapping):
            return False
        kind = item.get("type")
        own = (kind == "message" or (kind is None and "role" in item)) and item.get("role") != "assistant"
        if own or (isinstance(kind, str) and kind.endswith("_output")):
            if in_run and not reasoned:
                return False
            in_run = False
            continue
        if not in_run:
            in_run, reasoned = True, False
        reasoned |= kind == "reasoning"
    return True  # a trailing run is the reply being prefilled, not an earlier turn


def _raw_anthropic_carries(content: Any, dialect: ReasoningDialect) -> bool:
    if not isinstance(content, list) or dialect is not ANTHROPIC:
        return False
    found = False
    for block in content:
        if not isinstance(block, Mapping):
            return False
        kind = block.get("type")
        if kind == "thinking":
            signature = block.get("signature")
            if not (isinstance(signature, str) and signature):
                return False
            found = True
        elif kind == "redacted_thinking":
            found = True
    return found


def _raw_openai_carries(message: Mapping[str, Any], dialect: ReasoningDialect) -> bool:
    # Not for inline <think>: raw_needs_check sends every such request through the decoded path.
    field = REASONING_FIELDS.get(dialect)
    if field is None:
        return False
    value = message.get(field)
    if dialect is DETAILS:
        content = message.get("content")
        return (
            isinstance(value, list)
            and bool(value)
            and all(isinstance(item, Mapping) for item in value)
            and not (isinstance(content, str) and "think>" in content)
        )
    # reasoning_details, when present, is what decoding reads as the thinking (openai_messages precedence).
    details = message.get("reasoning_details")
    return isinstance(value, str) and bool(value.strip()) and not (isinstance(details, list) and details)


# ---------------------------------------------------------------------------------------- restoring


def restore_turn(incoming: Message, stored: Message) -> Message:
    """``incoming`` with its thinking replaced by ``stored``'s, each stored block at its original
    position among the visible blocks (before the same text or tool call it preceded)."""
    visible = [b for b in incoming.blocks if not is_thinking(b)]
    before: dict[int, list[Block]] = {}
    seen = 0
    for block in stored.blocks:
        if is_thinking(block):
            before.setdefault(min(seen, len(visible)), []).append(block)
        else:
            seen += 1
    blocks: list[Block] = []
    for position, block in enumerate(visible):
        blocks.extend(before.pop(position, ()))
        blocks.append(block)
    for rest in before.values():  # thinking after the last visible block
        blocks.extend(rest)
    # `plain` stays: an OpenAI string content stays a string, its thinking goes in a field.
    return replace(incoming, blocks=tuple(blocks))


class Held(Protocol):
    """Turns this process captured and holds in memory (:class:`~interleaf.gateway.capture.CaptureQueue`)."""

    def recent(self, tenant: str, keys: Iterable[str]) -> Mapping[str, Message]:
        """Captured but not yet written: the ones among ``keys``."""
        ...

    def lost(self, tenant: str, keys: Iterable[str]) -> set[str]:
        """Captured but never written (dropped while the store failed): the ones among ``keys``."""
        ...


async def restore(
    conversation: Conversation,
    indices: Sequence[int],
    store: ThinkingStore,
    tenant: str | None,
    held: Held | None = None,
    *,
    dialect: ReasoningDialect | None = None,
    text_keys: bool = True,
) -> RestoreOutcome:
    """Look ``indices`` up under ``tenant`` and restore what ``held`` or the store has (by each turn's
    key, then by its second key where it has one: :func:`_second_keys`).

    ``tenant`` None means the tenant could not be derived (the store is down): every candidate is
    missing. A store failure is reported in ``store_error`` and counts every candidate missing too; the
    request is still served.
    """
    if not indices:
        return RestoreOutcome(conversation)
    if tenant is None:
        return RestoreOutcome(conversation, missing=tuple(indices), store_error="no tenant secret")
    system = _system(conversation)
    keys = conversation_fingerprints(conversation.messages, system=system)
    wanted = {index: keys[index] for index in indices}
    try:
        found, served = await _look_up(store, tenant, held, wanted.values())
        unmatched = [index for index, key in wanted.items() if key not in found]
        if unmatched and (second := _second_keys(conversation, system, unmatched, text_keys=text_keys)):
            found_second, served_second = await _look_up(store, tenant, held, second.values())
            for index, second_key in second.items():
                if second_key in found_second:
                    found[wanted[index]] = found_second[second_key]
                elif second_key in served_second:
                    served.add(wanted[index])
    except StoreUnavailableError as exc:
        return RestoreOutcome(conversation, missing=tuple(indices), store_error=str(exc))
    messages = list(conversation.messages)
    restored: list[int] = []
    missing: list[int] = []
    foreign: list[int] = []
    for index, key in wanted.items():
        stored = found.get(key)
        if stored is None and dialect is TAGS and _has_thinking_text(messages[index]):
            continue  # inline thinking checked against the store and not found: forwarded as it came
        if stored is None:
            (missing if key in served else foreign).append(index)
        elif needs_restore(messages[index], stored):
            messages[index] = restore_turn(messages[index], stored)
            restored.append(index)
    if restored:
        conversation = conversation.with_messages(messages)
    return RestoreOutcome(conversation, tuple(restored), tuple(missing), tuple(foreign))


def _second_keys(
    conversation: Conversation, system: str, indices: Iterable[int], *, text_keys: bool
) -> dict[int, str]:
    """The key to try for each turn its main key missed, where it has one (both looked up in one call):

    * a turn with distinctive ids, by the key earlier versions stored it under
      (:func:`~interleaf.store.fingerprint.legacy_fingerprint`): rows written before ``k1:`` keys, or
      before ids without digits or letters counted as distinctive, or by a replica not yet upgraded;
    * with ``text_keys``, a long text-only turn by its text key: an app that rebuilt the conversation
      around it (store/fingerprint.py, "Text turns").
    """
    first_system = first_system_text(system, conversation.messages) if text_keys else ""
    keys: dict[int, str] = {}
    for index in indices:
        message = conversation.messages[index]
        key = legacy_fingerprint(conversation.messages, index, system=system)
        if key is None and text_keys:
            key = text_fingerprint(message, system=first_system)
        if key is not None:
            keys[index] = key
    return keys


async def _look_up(
    store: ThinkingStore, tenant: str, held: Held | None, keys: Iterable[str]
) -> tuple[dict[str, Message], set[str]]:
    """The turns among ``keys`` that ``held`` or the store has, and the served markers of the rest."""
    keys = list(keys)
    found = dict(held.recent(tenant, keys)) if held is not None else {}
    remaining = [key for key in keys if key not in found]
    served: set[str] = set()
    if remaining:
        found.update(await store.get_many(tenant, remaining))
        unknown = [key for key in remaining if key not in found]
        if unknown:
            served = await store.served(tenant, unknown)
            if held is not None:
                served |= held.lost(tenant, unknown)
    return found, served


def _has_thinking_text(message: Message) -> bool:
    return any(isinstance(b, Thinking) and b.text.strip() for b in message.blocks)


def _system(conversation: Conversation) -> str:
    return "".join(t.text for t in conversation.system) if conversation.system else ""
