"""Keys for the gateway's thinking store: which stored assistant turn a client is sending back.

A client that drops thinking still echoes the rest of an assistant turn: its tool calls (id, name,
arguments) and its visible text. :func:`fingerprint` hashes exactly that, normalised so the ways real
clients re-serialise a turn do not change the key:

* arguments are parsed and dumped as canonical JSON (sorted keys, compact separators, integral floats as
  integers), so ``{"a": 1.0}`` re-sent by a JavaScript client as ``{"a":1}`` still matches;
* tool calls are taken in id order, so a client that reorders parallel calls still matches;
* inline ``<think>...</think>`` sections are removed from the text, split exactly as the OpenAI Chat codec
  splits them (:mod:`interleaf.wire.think`), and whitespace is ignored, so a client that keeps or drops
  inline think tags, trims the text, or joins text blocks with newlines still matches.

Thinking, signatures and vendor ``extra`` are never part of a key: they are what gets restored.

**Binding to the conversation.** Tool-call ids are the one identifier every client echoes, and most
servers mint them at random (``toolu_01A09q...``, ``call_function_7p2k...``, uuids, GLM's 19 digits:
:func:`looks_random`), which makes a turn
with tool calls unique on its own: :func:`calls_fingerprint` keys such a turn on its calls alone (id,
name, canonical arguments), without its text, because apps rewrite the text around calls they keep
(Qwen Code, after compacting its history, sends its unfinished step back as "Got it. Thanks for the
additional context!" plus the original call, same id). A turn without tool calls ("Done.", "Hello! How can I help?") or with
ids a server numbers deterministically (Kimi's ``functions.bash:0``) is not: keyed on its own, it would
restore the thinking of *another* conversation of the same tenant, and that thinking may quote another
end user's data (one API key often serves a whole app). :func:`turn_fingerprint` therefore binds such
turns to a digest of the visible conversation before them (:func:`conversation_context`), and leaves
turns with distinctive ids unbound, so that clients which rewrite older history (compaction, cleared tool
results) still get the current tool loop restored. A miss costs a degraded turn; a wrong hit leaks.

**Rewritten ids.** Some paths do not echo ids verbatim: Anthropic<->OpenAI translators sanitise ids to
Anthropic's ``^[a-zA-Z0-9_-]+$`` (Kimi's ``functions.bash:0`` cannot pass), Mistral-bound clients re-mint
9-character ids. :func:`fingerprint_variants` adds an id-free key for them; it is only safe bound to a
conversation context, so the strict key stays the default and the variant is an opt-in fallback.

**Text turns of apps that rebuild their history.** Some apps send no tools and rebuild the messages
around earlier replies between requests (aider moves its file listings after the last reply and appends
a reminder to the newest user message), so a turn bound to the conversation before it never matches
again. :func:`text_fingerprint` is a second key for a turn without tool calls whose visible text is
long enough to be distinctive (:data:`TEXT_KEY_MIN` characters without whitespace): bound to the
conversation's first system text and the turn's own text, tried only when the bound key misses. A wrong
hit needs the same tenant and upstream, the same system prompt and a byte-identical long reply (canned
replies such as refusals are shorter); the gateway can turn it off (``--no-text-match``).

Keys are versioned (``f1:``, ``k1:``, ``c1:``, ``t1:``, ``x1:``): changing any normalisation means a new prefix,
never a silent change of what an old key means. Turns with distinctive ids were keyed ``f1:`` (calls and
text) before ``k1:``, and ids without both letters and digits (GLM's, one in 50 of MiniMax's) counted as
numbered before; :func:`legacy_fingerprint` gives the key earlier versions used, for their rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

try:
    import orjson
except ImportError:  # the gateway's extra brings it; without it the json module writes every key alone
    orjson = None  # type: ignore[assignment]

from interleaf.transcript import (
    Message,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    parse_arguments,
)
from interleaf.wire import think

FINGERPRINT_PREFIX = "f1:"
CALLS_PREFIX = "k1:"
NO_ID_PREFIX = "f1n:"
CONTEXT_PREFIX = "c1:"
TENANT_PREFIX = "t1:"
TEXT_PREFIX = "x1:"
TEXT_KEY_MIN = 120
"""Visible characters (whitespace removed) a turn needs for :func:`text_fingerprint`."""

_WHITESPACE = re.compile(r"\s+")
# Random ids are told from numbered ones by their maximal runs of letters and digits (found in one
# linear pass: a lookahead per start position was quadratic in the id's length, and ids come from
# clients). See looks_random for the three kinds of run that count.
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]{8,}")
_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_ID_WORDS = re.compile(r"functions?|calls?|tools?|toolu|invoke|invocation|chatcmpl", re.IGNORECASE)
LETTER_RUN_MIN = 12
"""Letters a run without digits needs to count as random (MiniMax mints 12 lowercase letters and
digits, and about 1 id in 50 has no digit: ``call_function_xydyovpivyrn_1``)."""
DIGIT_RUN_MIN = 16
"""Digits a run without letters needs to count as random (GLM mints 19: ``call_-7947991322826442284``);
a Unix time in seconds or milliseconds (10 or 13 digits) is not unique across conversations."""
DISTINCT_MIN = 5
"""Distinct characters such a run needs: a zero-padded counter (``0000000000000001``) has two."""
_MAX_SAFE_INTEGER = 2**53


# ----------------------------------------------------------------------------------------- normalising


def visible_text(text: str) -> str:
    """Text as a key sees it: :func:`interleaf.wire.think.visible_text` (inline ``<think>`` sections
    removed as the OpenAI Chat codec splits them) with all whitespace dropped."""
    return _WHITESPACE.sub("", think.visible_text(text))


def _canonical_value(value: Any) -> Any:
    # JavaScript clients turn 1.0 into 1 and -0.0 into 0 when they re-serialise arguments.
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_SAFE_INTEGER:
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_value(v) for v in value]
    return value


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# json.dumps with these options builds a new encoder per call; one shared encoder writes the same text.


# Keys are hashes of canonical JSON, and a key must never change: rows written by earlier versions are
# found by it. The json module's text above is the definition. orjson writes the same bytes in about a
# tenth of the time (keying a reply is the largest piece of the gateway's own work per request), for
# every value but three: a float (its text differs, "1.5e-7" for json's "1.5e-07"), an integer beyond 64
# bits and a lone surrogate (orjson refuses both). A float that stays a float is handed to orjson as
# json's own text (a Fragment, written as is); for the other two orjson raises and json writes the key.
# tests/unit/test_fingerprint_encoding.py checks byte equality on generated values of every kind.
def _orjson_value(value: Any) -> Any:
    """:func:`_canonical_value`, with each float that stays a float as the text json writes for it."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _MAX_SAFE_INTEGER:
            return int(value)
        return orjson.Fragment(_CANONICAL.encode(value))
    if isinstance(value, dict):
        return {str(k): _orjson_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_orjson_value(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, compact separators and UTF-8 kept: one text for one value."""
    if orjson is not None:
        try:
            return orjson.dumps(_orjson_value(value), option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # an integer beyond 64 bits or a lone surrogate: json writes it below
            pass
    return _CANONICAL.encode(_canonical_value(value))


def _canonical_utf8(payload: list[Any]) -> bytes:
    """The canonical JSON of a key's payload (strings and lists of them) as UTF-8 bytes."""
    if orjson is not None:
        try:
            return orjson.dumps(payload)
        except TypeError:  # a lone surrogate, which only surrogatepass encodes
            pass
    return _utf8(_CANONICAL.encode(payload))


def canonical_arguments(call: ToolCall) -> str:
    """The call's arguments as canonical JSON; broken argument text is kept as its stripped self."""
    if call.raw_arguments is None:
        return canonical_json(call.arguments)
    if call.arguments_error is not None:
        return "raw:" + call.raw_arguments.strip()
    return canonical_json(parse_arguments(call.raw_arguments))


def _utf8(text: str) -> bytes:
    # surrogatepass: model output can carry a lone surrogate (a "\ud83d" escape); it must hash, not raise.
    return text.encode("utf-8", "surrogatepass")


def _sha256(payload: list[Any]) -> str:
    """The digest of a key's payload: lists of strings built here (no numbers, no objects), so their
    canonical JSON is their plain compact JSON, without another walk through :func:`_canonical_value`."""
    return hashlib.sha256(_canonical_utf8(payload)).hexdigest()


def _visible(message: Message, *, with_ids: bool) -> list[Any]:
    """What a key hashes of a turn: its calls ([id, name, canonical arguments]) in order, and its text
    as a key sees it."""
    calls = [[c.id if with_ids else "", c.name, canonical_arguments(c)] for c in message.tool_calls]
    return [sorted(calls), visible_text("".join(b.text for b in message.blocks if isinstance(b, Text)))]


# ---------------------------------------------------------------------------------------------- keys


def fingerprint(message: Message, *, context: str = "") -> str:
    """The key of an assistant turn: its tool calls and visible text, never its thinking.

    ``context`` binds the key to where the turn sits (see :func:`turn_fingerprint`); ``""`` keys the turn
    on its own content.
    """
    return FINGERPRINT_PREFIX + _sha256(["f1", context, *_visible(message, with_ids=True)])


def calls_fingerprint(message: Message) -> str:
    """The key of a turn with distinctive tool-call ids (:func:`has_distinctive_ids`): its calls (id,
    name, canonical arguments, in id order) and nothing else, so an app that rewrites the text around
    the calls still finds the turn. Random ids make it unique without the conversation around it."""
    return _calls_key([c.id, c.name, canonical_arguments(c)] for c in message.tool_calls)


def distinct_fingerprint(calls: Sequence[tuple[str, str, Any]]) -> str | None:
    """:func:`calls_fingerprint` of a turn given by its tool calls (id, name, parsed arguments) when
    their ids are distinctive, else ``None`` (its key then binds the conversation:
    :func:`turn_fingerprint`). For a reply read straight off the wire, without building its message
    (``wire.anthropic.reply_visible_parts``); the same key as its decoded message gets."""
    if not calls or not all(looks_random(call_id, name) for call_id, name, _ in calls):
        return None
    return _calls_key([call_id, name, canonical_json(arguments)] for call_id, name, arguments in calls)


def _calls_key(calls: Iterable[list[str]]) -> str:
    return CALLS_PREFIX + _sha256(["k1", sorted(calls)])


def legacy_fingerprint(messages: Sequence[Message], index: int, *, system: str = "") -> str | None:
    """The key earlier versions stored the turn ``messages[index]`` with distinctive ids under, else
    ``None``: looked up when :func:`calls_fingerprint` misses, so turns stored before the upgrade (or by
    a replica not yet upgraded) are still restored while they live (a store TTL).

    That is ``f1:``, its calls *and* text, for ids random to every version; for ids only the letter-only
    and digit-only runs of :func:`looks_random` make random, the key bound to the conversation, as any
    turn without distinctive ids is (:func:`turn_fingerprint`).
    """
    message = messages[index]
    if not has_distinctive_ids(message):
        return None
    if looked_random_before(message):
        return fingerprint(message)
    return fingerprint(message, context=conversation_context(messages, index, system=system))


def fingerprint_variants(message: Message, *, context: str = "") -> tuple[str, ...]:
    """Keys to store a turn under and to try in order: the strict key, then (for turns with tool calls)
    a key without tool-call ids.

    The id-free key is for clients that rewrite ids (proxies that re-mint ``call_...`` ids, APIs that
    demand 9-character ids). It is weaker: use it only with a ``context`` binding, because names plus
    arguments alone (``read_file {"path": "README.md"}``) repeat across conversations.
    """
    strict = fingerprint(message, context=context)
    if not message.tool_calls:
        return (strict,)
    return strict, NO_ID_PREFIX + _sha256(["f1n", context, *_visible(message, with_ids=False)])


def text_fingerprint(message: Message, *, system: str = "") -> str | None:
    """The second key of a turn without tool calls: its visible text bound to ``system`` (the
    conversation's first system text), or ``None`` when the turn has tool calls or its visible text is
    shorter than :data:`TEXT_KEY_MIN`. See "Text turns" above for when it is safe."""
    if message.tool_calls:
        return None
    text = visible_text("".join(b.text for b in message.blocks if isinstance(b, Text)))
    if len(text) < TEXT_KEY_MIN:
        return None
    return TEXT_PREFIX + _sha256(["x1", visible_text(system), text])


def first_system_text(system: str, messages: Sequence[Message]) -> str:
    """What :func:`text_fingerprint` binds to: the top-level ``system`` text, else the text of the first
    system message (OpenAI Chat keeps system messages in ``messages``); later system messages (an app's
    reminders) are left out because apps move or change them."""
    if system:
        return system
    for message in messages:
        if message.role == "system":
            return "".join(b.text for b in message.blocks if isinstance(b, Text))
    return ""


def has_distinctive_ids(message: Message) -> bool:
    """True when the turn has tool calls and every id looks randomly minted (unique across conversations)."""
    calls = message.tool_calls
    return bool(calls) and all(looks_random(call.id, call.name) for call in calls)


def looks_random(call_id: str, name: str = "") -> bool:
    """Whether ``call_id`` looks randomly minted (linear time): it holds a run of letters and digits
    that is

    * 8+ characters with both kinds in it (``toolu_01A09q...``, ``call_...`` from OpenAI, uuids);
    * or :data:`LETTER_RUN_MIN`+ letters that are not the tool's ``name`` nor words ids are made of
      (OpenAI's 24 letters and digits hold no digit about once in 70 ids, MiniMax's 12 once in 50);
    * or :data:`DIGIT_RUN_MIN`+ digits (GLM's 19-digit ids);

    the last two with :data:`DISTINCT_MIN` distinct characters or more. Numbered ids (``call_0``,
    Kimi's ``functions.bash:0``, ``function-call-1718000000``) have none of these.
    """
    plain_name = _NOT_ALNUM.sub("", name.lower())
    for run in _ALNUM_RUN.findall(call_id):
        has_digit, has_letter = _DIGIT.search(run) is not None, _LETTER.search(run) is not None
        if has_digit and has_letter:
            return True
        if len(set(run)) < DISTINCT_MIN:
            continue
        if has_digit and len(run) >= DIGIT_RUN_MIN:
            return True
        if has_letter:
            rest = _ID_WORDS.sub("", run).lower()
            if len(rest) >= LETTER_RUN_MIN and (not plain_name or rest not in plain_name):
                return True
    return False


def looked_random_before(message: Message) -> bool:
    """Whether versions before the letter-only and digit-only runs of :func:`looks_random` keyed this
    turn on its calls too (every id with a run of 8+ letters and digits with both kinds in it)."""
    return all(
        any(_DIGIT.search(run) and _LETTER.search(run) for run in _ALNUM_RUN.findall(call.id))
        for call in message.tool_calls
    )


def _context_part(message: Message) -> bytes:
    if message.role == "assistant":
        part: list[Any] = ["a", *_visible(message, with_ids=True)]
    else:
        texts = "".join(b.text for b in message.blocks if isinstance(b, Text))
        part = ["u", visible_text(texts), sorted(r.call_id for r in message.tool_results)]
    return _utf8(canonical_json(part))


def _context_start(system: str) -> hashlib._Hash:
    return hashlib.sha256(_utf8(canonical_json(["c1", visible_text(system)])))


def conversation_context(messages: Sequence[Message], index: int, *, system: str = "") -> str:
    """A digest of what precedes ``messages[index]`` as clients echo it: system text, user text, tool-result
    ids, and assistant turns' visible parts (so dropped thinking does not change it).

    Tool-result content and images are left out because clients clear or re-encode old ones.
    """
    digest = _context_start(system)
    for message in messages[:index]:
        digest.update(_context_part(message))
    return CONTEXT_PREFIX + digest.hexdigest()


def turn_fingerprint(messages: Sequence[Message], index: int, *, system: str = "") -> str:
    """The key the gateway uses for the assistant turn ``messages[index]``.

    Turns with distinctive tool-call ids are keyed on their calls (:func:`calls_fingerprint`); any other
    turn is bound to :func:`conversation_context`. At capture time, append the reply to the request's messages and pass
    its index. ``system`` is the request's top-level system text (OpenAI-style system messages are part
    of ``messages``). For every turn of a request at once, use :func:`conversation_fingerprints`.
    """
    message = messages[index]
    if has_distinctive_ids(message):
        return calls_fingerprint(message)
    return fingerprint(message, context=conversation_context(messages, index, system=system))


def conversation_fingerprints(messages: Sequence[Message], *, system: str = "") -> dict[int, str]:
    """:func:`turn_fingerprint` of every assistant message, by index, in one pass over the conversation
    (then one ``get_many`` fetches them all)."""
    keys: dict[int, str] = {}
    digest = _context_start(system)
    for index, message in enumerate(messages):
        if message.role == "assistant":
            if has_distinctive_ids(message):
                keys[index] = calls_fingerprint(message)
            else:
                keys[index] = fingerprint(message, context=CONTEXT_PREFIX + digest.copy().hexdigest())
        digest.update(_context_part(message))
    return keys


def tenant_id(credential: str, secret: bytes, *, scope: str = "") -> str:
    """A keyed hash of a client credential: raw keys are never stored, and tenants never share keys.

    ``scope`` narrows the tenant further (e.g. the upstream's identity, so a signature is only replayed
    to the backend that minted it). 128 bits are plenty for a keyed hash and keep store keys short.
    """
    if not secret:
        raise ValueError("tenant_id needs a non-empty secret; stores provide one via tenant_secret()")
    mac = hmac.new(secret, _utf8(f"{scope}\0{credential}"), hashlib.sha256)
    return TENANT_PREFIX + mac.hexdigest()[:32]


# ----------------------------------------------------------------------------------------- restoring


def _thinking_view(block: Thinking | RedactedThinking) -> tuple[Any, ...]:
    # The item is compared as text so that a reordered reasoning_details item counts as degraded.
    item = None if block.item is None else json.dumps(block.item, ensure_ascii=False)
    if isinstance(block, Thinking):
        return ("thinking", block.text, block.signature, item)
    return ("redacted_thinking", block.data, item)


def needs_restore(incoming: Message, stored: Message) -> bool:
    """Whether ``incoming``'s thinking is missing or degraded compared with the ``stored`` original.

    True when the stored turn has thinking (text, signatures, redacted data, ``reasoning_details``
    items) and the incoming turn does not carry the same, in the same order: dropped blocks, text with
    its signature stripped, a placeholder ``""``, items missing or rewritten. Dialect and ``extra`` are
    ignored: a client legitimately sends thinking back in its own wire dialect.
    """
    if not stored.thinking:
        return False
    return [_thinking_view(b) for b in incoming.thinking] != [_thinking_view(b) for b in stored.thinking]
