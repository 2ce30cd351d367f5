"""The transcript: the one thing every part of interleaf moves.

A conversation is an ordered list of messages; an assistant message is an ordered tuple of blocks
(thinking, redacted thinking, text, tool calls) exactly as the model produced them. Wire formats are
views of it (``interleaf.wire``). Blocks are immutable values: nothing here knows about storage ids,
sessions or tenants.

Losslessness rules that the types encode:

* Every block carries ``extra``: vendor fields interleaf does not model, re-emitted unchanged when the
  block goes back to the format it came from.
* Opaque values (``Thinking.signature``, ``RedactedThinking.data``, a whole ``reasoning_details`` item)
  are stored as received and never rebuilt.
* ``""`` and ``None`` mean different things: ``Thinking(text="")`` is "reasoned, text withheld" (Anthropic
  ``display: omitted`` still carries a signature), while a message without a thinking block did not think.
* ``Thinking.dialect`` remembers how the block arrived, so it can be replayed the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal, TypeAlias

JSONDict: TypeAlias = dict[str, Any]

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")


class ReasoningDialect(StrEnum):
    """How a thinking block travels on the wire (docs/architecture.md, rule 6)."""

    ANTHROPIC = "anthropic"
    """``thinking`` / ``redacted_thinking`` content blocks (Anthropic Messages and compatibles)."""
    REASONING_CONTENT = "reasoning_content"
    """OpenAI Chat ``message.reasoning_content`` (DeepSeek, Kimi, GLM, SGLang, llama.cpp)."""
    REASONING = "reasoning"
    """OpenAI Chat ``message.reasoning`` (vLLM input, gpt-oss, Ollama /v1, OpenRouter)."""
    REASONING_DETAILS = "reasoning_details"
    """OpenAI Chat ``message.reasoning_details`` items (MiniMax reasoning_split, OpenRouter)."""
    THINK_TAGS = "think_tags"
    """``<think>...</think>`` inline in ``content`` (MiniMax default, append-think servers)."""
    RESPONSES = "responses"
    """OpenAI Responses API ``reasoning`` items, kept whole in ``item`` (OpenAI, Codex, vLLM, SGLang)."""


# --------------------------------------------------------------------------------------------- blocks


@dataclass(frozen=True, slots=True, kw_only=True)
class Thinking:
    """A block of model reasoning.

    ``text`` is exactly what arrived (for ``<think>`` tags: everything between the tags, newlines
    included). ``signature`` is opaque and byte-exact; ``None`` means the wire carried no signature
    key, ``""`` an empty one. ``item`` is the whole ``reasoning_details`` element this block came from,
    kept byte-exact (key order and unknown keys included) and replayed verbatim to that dialect.
    """

    text: str
    signature: str | None = None
    dialect: ReasoningDialect | None = None
    item: JSONDict | None = None
    extra: JSONDict = field(default_factory=dict)

    kind: Literal["thinking"] = "thinking"


@dataclass(frozen=True, slots=True, kw_only=True)
class RedactedThinking:
    """Encrypted reasoning: Anthropic ``redacted_thinking.data`` or a ``reasoning.encrypted`` item."""

    data: str
    dialect: ReasoningDialect | None = None
    item: JSONDict | None = None
    extra: JSONDict = field(default_factory=dict)

    kind: Literal["redacted_thinking"] = "redacted_thinking"


@dataclass(frozen=True, slots=True, kw_only=True)
class Text:
    """Visible text."""

    text: str
    extra: JSONDict = field(default_factory=dict)

    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """An image, inline (base64 ``data``) or by ``url``."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    extra: JSONDict = field(default_factory=dict)

    kind: Literal["image"] = "image"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A call the model made.

    ``arguments`` is the parsed argument object. ``raw_arguments`` is the exact JSON text when the wire
    carried arguments as a string (OpenAI Chat); it is replayed byte-exact, because re-serialising would
    change spacing and break prefix caches and fingerprints. When that text is not a JSON object,
    ``arguments`` is empty and :attr:`arguments_error` says why.
    """

    id: str
    name: str
    arguments: JSONDict = field(default_factory=dict)
    raw_arguments: str | None = None
    extra: JSONDict = field(default_factory=dict)

    kind: Literal["tool_call"] = "tool_call"

    @property
    def arguments_error(self) -> str | None:
        """Why ``raw_arguments`` could not be read as a JSON object, or ``None`` when it could."""
        if self.raw_arguments is None:
            return None
        return arguments_error(self.raw_arguments)

    @property
    def arguments_json(self) -> str:
        """The arguments as JSON text: the original text when there was one."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return dumps_compact(self.arguments)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """The answer to one tool call.

    ``content`` is a plain string, a tuple of Text/Image parts, or ``None`` when the wire carried none.
    ``is_error`` is ``None`` when the wire did not say.
    """

    call_id: str
    content: str | tuple[Text | Image, ...] | None = None
    is_error: bool | None = None
    name: str | None = None
    extra: JSONDict = field(default_factory=dict)

    kind: Literal["tool_result"] = "tool_result"

    @property
    def text(self) -> str:
        """The result's text, parts joined by newlines (images omitted)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content if isinstance(part, Text))


@dataclass(frozen=True, slots=True, kw_only=True)
class Opaque:
    """A block interleaf does not model (an Anthropic ``document``, a server tool result, ...).

    Kept whole and replayed verbatim to the format named by ``source``; other formats report it as a
    loss instead of guessing.
    """

    source: str
    data: JSONDict

    kind: Literal["opaque"] = "opaque"


Block: TypeAlias = Thinking | RedactedThinking | Text | Image | ToolCall | ToolResult | Opaque
THINKING_BLOCKS = (Thinking, RedactedThinking)


# ------------------------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message. ``role="tool"`` holds the results answering one assistant message, in call order.

    ``plain`` records that the wire carried the content as a single string rather than a list of parts,
    so a round trip gives the same shape back. ``name`` is the optional participant name (OpenAI).
    """

    role: Role
    blocks: tuple[Block, ...] = ()
    name: str | None = None
    plain: bool = False
    extra: JSONDict = field(default_factory=dict)

    @property
    def thinking(self) -> tuple[Thinking | RedactedThinking, ...]:
        return tuple(b for b in self.blocks if isinstance(b, THINKING_BLOCKS))

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(b for b in self.blocks if isinstance(b, ToolCall))

    @property
    def tool_results(self) -> tuple[ToolResult, ...]:
        return tuple(b for b in self.blocks if isinstance(b, ToolResult))

    @property
    def text(self) -> str:
        """The visible text of the message (thinking excluded), joined without separators."""
        return "".join(b.text for b in self.blocks if isinstance(b, Text))

    def with_blocks(self, blocks: Iterable[Block]) -> Message:
        return replace(self, blocks=tuple(blocks), plain=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts as reported by the server; ``None`` where it reported nothing."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    extra: JSONDict = field(default_factory=dict)

    def __add__(self, other: Usage) -> Usage:
        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Usage(
            input_tokens=add(self.input_tokens, other.input_tokens),
            output_tokens=add(self.output_tokens, other.output_tokens),
            cache_read_tokens=add(self.cache_read_tokens, other.cache_read_tokens),
            cache_write_tokens=add(self.cache_write_tokens, other.cache_write_tokens),
            reasoning_tokens=add(self.reasoning_tokens, other.reasoning_tokens),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """A tool the model may call; ``parameters`` is its JSON Schema."""

    name: str
    description: str | None = None
    parameters: JSONDict | None = None
    extra: JSONDict = field(default_factory=dict)


ToolChoiceMode = Literal["auto", "none", "required", "tool"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolChoice:
    """``auto``, ``none``, ``required`` (Anthropic ``any``) or one named ``tool``."""

    mode: ToolChoiceMode
    name: str | None = None
    parallel: bool | None = None
    extra: JSONDict = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """A whole request: the history plus what the model may do next.

    ``system`` holds leading instructions (Anthropic's top-level ``system``; OpenAI's first system
    messages stay in ``messages`` where they were). ``params`` holds generation settings under their
    portable names (``model``, ``max_tokens``, ``temperature``, ``top_p``, ``top_k``, ``stop``,
    ``stream``, ``thinking``, ``reasoning_effort``, ``metadata``). ``extra`` holds top-level fields of
    the format named by ``source`` that have no portable meaning; codecs re-emit them only to that
    format.
    """

    messages: tuple[Message, ...] = ()
    system: tuple[Text, ...] | None = None
    system_plain: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    params: JSONDict = field(default_factory=dict)
    extra: JSONDict = field(default_factory=dict)
    source: str | None = None

    def with_messages(self, messages: Iterable[Message]) -> Conversation:
        return replace(self, messages=tuple(messages))

    @property
    def last_user_index(self) -> int:
        """Index of the last message with role ``user`` that holds no tool results, or -1."""
        for index in range(len(self.messages) - 1, -1, -1):
            message = self.messages[index]
            if message.role == "user" and not message.tool_results:
                return index
        return -1


StopReason = str
"""Portable stop reasons: ``end_turn``, ``tool_use``, ``max_tokens``, ``stop_sequence``, ``refusal``,
``pause_turn``, ``content_filter``; anything else is kept as the server sent it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """One model reply: the assistant message plus what the server said about it."""

    message: Message
    id: str | None = None
    model: str | None = None
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage | None = None
    extra: JSONDict = field(default_factory=dict)
    source: str | None = None


# ----------------------------------------------------------------------------------------- helpers


def dumps_compact(value: Any) -> str:
    """JSON text the way model servers write tool arguments: compact, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def arguments_error(raw: str) -> str | None:
    """Why ``raw`` is not a JSON object, or ``None``. Empty text counts as ``{}`` (no arguments)."""
    if raw.strip() == "":
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"tool-call arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(value, dict):
        return f"tool-call arguments must be a JSON object, got {type(value).__name__}"
    return None


def parse_arguments(raw: str) -> JSONDict:
    """Parse argument text leniently: the object, or ``{}`` when it is empty or broken."""
    if raw.strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def merge_usage(usages: Sequence[Usage | None]) -> Usage | None:
    total: Usage | None = None
    for usage in usages:
        if usage is not None:
            total = usage if total is None else total + usage
    return total


# ------------------------------------------------------------------------ the `transcript` JSON format
#
# A direct, versioned serialisation of the dataclasses above: every field, defaults omitted, so the
# format is the model and nothing is lost. `interleaf convert --from transcript` reads it.

TRANSCRIPT_FORMAT_VERSION = 1

_BLOCK_TYPES: dict[str, type[Any]] = {
    "thinking": Thinking,
    "redacted_thinking": RedactedThinking,
    "text": Text,
    "image": Image,
    "tool_call": ToolCall,
    "tool_result": ToolResult,
    "opaque": Opaque,
}


class TranscriptFormatError(ValueError):
    """The JSON is not a valid interleaf transcript; the message names the bad path."""


def _value_to_json(value: Any) -> Any:
    if isinstance(value, ReasoningDialect):
        return value.value
    if isinstance(value, tuple):
        return [_value_to_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return _dataclass_to_json(value)
    return value


_JSON_FIELDS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}


def _json_fields(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """Each field of a transcript dataclass but ``kind``, with its default (a factory's value made once:
    the gateway's store writes every reply it sends, and ``fields()`` plus a fresh default per field of
    every block was most of the encoding)."""
    found = _JSON_FIELDS.get(cls)
    if found is None:
        found = _JSON_FIELDS[cls] = tuple(
            (f.name, f.default_factory() if callable(f.default_factory) else f.default)
            for f in fields(cls)
            if f.name != "kind"
        )
    return found


def _dataclass_to_json(obj: Any) -> JSONDict:
    out: JSONDict = {}
    kind = getattr(obj, "kind", None)
    if kind is not None:
        out["type"] = kind
    for name, default in _json_fields(type(obj)):
        value = getattr(obj, name)
        if value == default:
            continue
        out[name] = _value_to_json(value)
    return out


def block_to_json(block: Block) -> JSONDict:
    return _dataclass_to_json(block)


def message_to_json(message: Message) -> JSONDict:
    return _dataclass_to_json(message)


def conversation_to_json(conversation: Conversation) -> JSONDict:
    out = {"interleaf_transcript": TRANSCRIPT_FORMAT_VERSION}
    out.update(_dataclass_to_json(conversation))
    return out


def response_to_json(response: Response) -> JSONDict:
    out = {"interleaf_transcript": TRANSCRIPT_FORMAT_VERSION, "response": True}
    out.update(_dataclass_to_json(response))
    return out


def _expect(cond: bool, path: str, what: str) -> None:
    if not cond:
        raise TranscriptFormatError(f"{path}: {what}")


def _known_fields(cls: type[Any], data: Mapping[str, Any], path: str, skip: tuple[str, ...] = ()) -> None:
    allowed = {f.name for f in fields(cls)} | {"type"} | set(skip)
    unknown = [k for k in data if k not in allowed]
    _expect(not unknown, path, f"unknown field(s) {', '.join(sorted(unknown))}")


def block_from_json(data: Any, path: str = "block") -> Block:
    _expect(isinstance(data, dict), path, "expected an object")
    kind = data.get("type")
    cls = _BLOCK_TYPES.get(kind) if isinstance(kind, str) else None
    _expect(cls is not None, path, f"unknown block type {kind!r}; expected one of {', '.join(_BLOCK_TYPES)}")
    assert cls is not None
    _known_fields(cls, data, path)
    kwargs = {k: v for k, v in data.items() if k != "type"}
    if "dialect" in kwargs and kwargs["dialect"] is not None:
        try:
            kwargs["dialect"] = ReasoningDialect(kwargs["dialect"])
        except ValueError:
            raise TranscriptFormatError(f"{path}.dialect: unknown dialect {kwargs['dialect']!r}") from None
    if cls is ToolResult and isinstance(kwargs.get("content"), list):
        parts = []
        for i, part in enumerate(kwargs["content"]):
            parsed = block_from_json(part, f"{path}.content[{i}]")
            _expect(isinstance(parsed, Text | Image), f"{path}.content[{i}]", "only text and image parts")
            parts.append(parsed)
        kwargs["content"] = tuple(parts)
    try:
        return cls(**kwargs)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise TranscriptFormatError(f"{path}: {exc}") from None


def message_from_json(data: Any, path: str = "message") -> Message:
    _expect(isinstance(data, dict), path, "expected an object")
    _known_fields(Message, data, path)
    _expect(data.get("role") in ROLES, f"{path}.role", f"must be one of {', '.join(ROLES)}")
    blocks = data.get("blocks", [])
    _expect(isinstance(blocks, list), f"{path}.blocks", "expected a list")
    return Message(
        role=data["role"],
        blocks=tuple(block_from_json(b, f"{path}.blocks[{i}]") for i, b in enumerate(blocks)),
        name=data.get("name"),
        plain=bool(data.get("plain", False)),
        extra=dict(data.get("extra", {})),
    )


def _tool_from_json(data: Any, path: str) -> ToolSpec:
    _expect(isinstance(data, dict), path, "expected an object")
    _known_fields(ToolSpec, data, path)
    _expect(isinstance(data.get("name"), str), f"{path}.name", "required string")
    return ToolSpec(**data)


def conversation_from_json(data: Any) -> Conversation:
    """Read a conversation written by :func:`conversation_to_json`."""
    _expect(isinstance(data, dict), "transcript", "expected a JSON object")
    _expect("interleaf_transcript" in data, "transcript", "missing 'interleaf_transcript' version marker")
    _known_fields(Conversation, data, "transcript", skip=("interleaf_transcript",))
    messages = data.get("messages", [])
    _expect(isinstance(messages, list), "transcript.messages", "expected a list")
    system = data.get("system")
    choice = data.get("tool_choice")
    return Conversation(
        messages=tuple(message_from_json(m, f"messages[{i}]") for i, m in enumerate(messages)),
        system=None
        if system is None
        else tuple(
            _as_text(block_from_json(b, f"system[{i}]"), f"system[{i}]") for i, b in enumerate(system)
        ),
        system_plain=bool(data.get("system_plain", False)),
        tools=tuple(_tool_from_json(t, f"tools[{i}]") for i, t in enumerate(data.get("tools", []))),
        tool_choice=None if choice is None else ToolChoice(**choice),
        params=dict(data.get("params", {})),
        extra=dict(data.get("extra", {})),
        source=data.get("source"),
    )


def _as_text(block: Block, path: str) -> Text:
    _expect(isinstance(block, Text), path, "system holds text blocks only")
    assert isinstance(block, Text)
    return block


def response_from_json(data: Any) -> Response:
    """Read a response written by :func:`response_to_json`."""
    _expect(isinstance(data, dict), "transcript", "expected a JSON object")
    _known_fields(Response, data, "transcript", skip=("interleaf_transcript", "response"))
    _expect("message" in data, "transcript", "a response needs 'message'")
    usage = data.get("usage")
    return Response(
        message=message_from_json(data["message"], "message"),
        id=data.get("id"),
        model=data.get("model"),
        stop_reason=data.get("stop_reason"),
        stop_sequence=data.get("stop_sequence"),
        usage=None if usage is None else Usage(**usage),
        extra=dict(data.get("extra", {})),
        source=data.get("source"),
    )
