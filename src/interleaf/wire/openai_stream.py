"""OpenAI Chat Completions streams: chunk payloads in, stream events and a Response out; and back.

:class:`StreamAssembler` merges ``chat.completion.chunk`` payloads into the message a non-streamed
response would hold, then decodes it with :func:`openai_bodies.decode_response`, so the streamed reply
equals the non-streamed one for every chunking. Merging rules: strings concatenate (``content``,
``reasoning_content``, ``reasoning``, tool-call ``arguments``); ``tool_calls`` merge by ``index`` (id,
type and name from their first appearance); ``reasoning_details`` items merge by ``index`` and type,
their ``text``/``summary``/``data``/``signature`` concatenated (MiniMax sends incremental text, OpenRouter
may send a signature later), other keys kept from their first appearance; other fields keep their last
non-null value.

Live events assume the order every known server streams in: reasoning, then content, then tool calls.
``<think>`` in ``content`` is split live by :class:`~interleaf.wire.think.ThinkSplitter`, the splitter
the non-streamed decode uses too. A piece that arrives out of that order, or a ``</think>`` with no
opening tag (a server that prefilled ``<think>``: the text streamed so far was thinking), stops the live
events; :class:`BlockEnd` (all at the end, since a signature may come last) and :class:`MessageEnd`
always carry the authoritative blocks.

:class:`~interleaf.wire.openai_restream.StreamEncoder` goes the other way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from interleaf.transcript import (
    JSONDict,
    Response,
)
from interleaf.wire import openai_bodies as chat
from interleaf.wire.errors import StreamIncompleteError, WireFormatError
from interleaf.wire.events import (
    BlockDelta,
    BlockEnd,
    BlockKind,
    BlockStart,
    MessageEnd,
    MessageStart,
    StreamEvent,
    UsageUpdate,
)
from interleaf.wire.think import Segment, SegmentKind, ThinkSplitter

__all__ = ["StreamAssembler"]

_MISSING: Any = object()
_CONCAT_ITEM_KEYS: Final = ("text", "summary", "data", "signature")

Touch = tuple[str, int, str]
"""What a delta added: (``content`` | a reasoning field | ``detail`` | ``call``, position, text)."""


# ------------------------------------------------------------------------------------------ merging


class _Buf:
    """A string concatenated from deltas; joined when read, not on every chunk."""

    __slots__ = ("parts",)

    def __init__(self, first: str) -> None:
        self.parts = [first]

    def add(self, text: str) -> None:
        self.parts.append(text)

    def value(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0]


def materialize(value: Any) -> Any:
    """An assembled value as plain JSON (buffers joined)."""
    if isinstance(value, _Buf):
        return value.value()
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    return value


def _merge_value(old: Any, new: Any) -> Any:
    """Strings concatenate, lists extend, anything else: the last non-null value."""
    if new is None:
        return None if old is _MISSING else old
    if isinstance(new, str):
        if isinstance(old, _Buf):
            old.add(new)
            return old
        return _Buf(new)
    if isinstance(new, list):
        if isinstance(old, list):
            old.extend(new)
            return old
        return list(new)
    return new


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WireFormatError(
            path, f"expected an object, got {'null' if value is None else type(value).__name__}"
        )
    return value


def _first(target: dict[str, Any], key: str, value: Any) -> None:
    """Keep a key's first non-null value."""
    if target.get(key) is None:
        target[key] = value


class MessageAssembly:
    """One choice's message, assembled from its deltas (also the re-streamer's view of its client)."""

    def __init__(self) -> None:
        self.message: JSONDict = {}
        self._calls: dict[int, int] = {}
        self._details: dict[Any, int] = {}

    def merge(self, delta: Mapping[str, Any], path: str) -> list[Touch]:
        touches: list[Touch] = []
        message = self.message
        for key, value in delta.items():
            if key == "tool_calls":
                self._merge_calls(value, f"{path}.tool_calls", touches)
            elif key == "reasoning_details":
                self._merge_details(value, f"{path}.reasoning_details", touches)
            elif key in ("role", "name"):
                _first(message, key, value)
            elif key == "function_call" and isinstance(value, Mapping):  # legacy: arguments concatenate
                target = message.get(key)
                if not isinstance(target, dict):
                    target = message[key] = {}
                for fkey, fvalue in value.items():
                    if fkey == "arguments" and isinstance(fvalue, str):
                        target[fkey] = _merge_value(target.get(fkey, _MISSING), fvalue)
                    else:
                        _first(target, fkey, fvalue)
            else:
                old = message.get(key, _MISSING)
                message[key] = _merge_value(old, value)
                if isinstance(value, str) and key in ("content", "reasoning_content", "reasoning"):
                    touches.append((key, 0, value))
                elif key == "content" and isinstance(value, list):  # parts (re-streamed list content)
                    touches.append(("parts", len(old) if isinstance(old, list) else -1, ""))
        return touches

    def _merge_calls(self, value: Any, path: str, touches: list[Touch]) -> None:
        message = self.message
        if value is None:
            message.setdefault("tool_calls", None)
            return
        if not isinstance(value, list):
            raise WireFormatError(path, f"expected a list, got {type(value).__name__}")
        calls = message.get("tool_calls")
        if not isinstance(calls, list):
            calls = message["tool_calls"] = []
        for j, raw in enumerate(value):
            dpath = f"{path}[{j}]"
            delta = _object(raw, dpath)
            index = delta.get("index")
            if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
                raise WireFormatError(f"{dpath}.index", "expected an integer")
            position: int | None = None
            if index is not None:
                position = self._calls.get(index)
            elif isinstance(delta.get("id"), str) and delta["id"]:
                position = next((p for p, c in enumerate(calls) if c.get("id") == delta["id"]), None)
            elif calls:
                position = len(calls) - 1  # no index and no id: more of the last call
            if position is None:
                position = len(calls)
                calls.append({})
                if index is not None:
                    self._calls[index] = position
            call = calls[position]
            arguments = ""
            for key, item in delta.items():
                if key == "index":
                    continue
                if key != "function" or item is None:
                    _first(call, key, item)
                    continue
                function = _object(item, f"{dpath}.function")
                target = call.get("function")
                if not isinstance(target, dict):
                    target = call["function"] = {}
                for fkey, fvalue in function.items():
                    old = target.get(fkey)
                    if (
                        fkey == "arguments"
                        and isinstance(fvalue, str)
                        and (old is None or isinstance(old, _Buf))
                    ):
                        target[fkey] = _merge_value(_MISSING if old is None else old, fvalue)
                        arguments += fvalue
                    else:
                        _first(target, fkey, fvalue)
            touches.append(("call", position, arguments))

    def _merge_details(self, value: Any, path: str, touches: list[Touch]) -> None:
        message = self.message
        if value is None:
            message.setdefault("reasoning_details", None)
            return
        if not isinstance(value, list):
            raise WireFormatError(path, f"expected a list, got {type(value).__name__}")
        items = message.get("reasoning_details")
        if not isinstance(items, list):
            items = message["reasoning_details"] = []
        for j, raw in enumerate(value):
            dpath = f"{path}[{j}]"
            delta = _object(raw, dpath)
            index = delta.get("index")
            if isinstance(index, list | dict):  # items are opaque: an odd index only means no merging
                index = None
            kind = delta.get("type")
            position = self._details.get(index) if index is not None else None
            if position is not None and kind is not None and items[position].get("type") != kind:
                position = None  # a new item that reuses the index
            if position is None:
                position = len(items)
                items.append({})
                if index is not None:
                    self._details[index] = position
            item = items[position]
            text = ""
            for key, part in delta.items():
                old = item.get(key)
                if (
                    key in _CONCAT_ITEM_KEYS
                    and isinstance(part, str)
                    and (old is None or isinstance(old, _Buf))
                ):
                    item[key] = _merge_value(_MISSING if old is None else old, part)
                    if key in ("text", "summary"):
                        text += part
                else:
                    _first(item, key, part)
            touches.append(("detail", position, text))


def _merge_logprobs(old: Any, new: Any) -> Any:
    if not isinstance(new, Mapping) or not isinstance(old, dict):
        return _merge_value(old, dict(new) if isinstance(new, Mapping) else new)
    for key, value in new.items():
        old[key] = _merge_value(old.get(key, _MISSING), value)
    return old


def _thinking_source(message: Mapping[str, Any]) -> str | None:
    """The reasoning field decoding will choose (openai_chat's precedence), if any yet."""
    details = message.get("reasoning_details")
    if isinstance(details, list) and details:
        return "reasoning_details"
    for field in ("reasoning_content", "reasoning"):
        if isinstance(message.get(field), _Buf):
            return field
    return None


def _detail_kind(item: Mapping[str, Any]) -> BlockKind | None:
    kind = item.get("type")
    if kind in ("reasoning.text", "reasoning.summary"):
        return "thinking"
    if kind == "reasoning.encrypted":
        return "redacted_thinking"
    return None


# ------------------------------------------------------------------------------------ stream decode


class _Choice:
    def __init__(self) -> None:
        self.assembly = MessageAssembly()
        self.fields: JSONDict = {}


class StreamAssembler:
    """``chat.completion.chunk`` payloads in, stream events out; :meth:`finish` gives the response.

    Feed each ``data:`` payload (parsed JSON) to :meth:`feed`, call :meth:`done` at ``data: [DONE]`` (or
    at the end of a stream that has none) for the final :class:`BlockEnd` events and
    :class:`MessageEnd`. Events describe ``choices[0]``; other choices are assembled into the response.
    """

    def __init__(self) -> None:
        self._top: JSONDict = {}
        self._choices: dict[int, _Choice] = {}
        self._started = False
        self._finished = False
        self._ended = False
        # live events of choice 0: indexes in the final message are
        # [thinking from fields] + [content blocks] + [tool calls]
        self._live = True
        self._group = 0  # 1 once a content block started, 2 once a tool call did
        self._source: str | None = None
        self._fields: list[BlockKind | None] = []  # thinking-from-fields blocks (None: not streamable)
        self._announced: set[int] = set()
        self._splitter = ThinkSplitter()
        self._contents = 0
        self._content_kind: BlockKind | None = None
        self._calls_base: int | None = None
        self._calls: dict[int, bool] = {}  # position -> announced (False: not a function call)

    def feed(self, payload: Any) -> list[StreamEvent]:
        """One chunk. Raises StreamServerError on an error chunk, WireFormatError on a malformed one."""
        payload = _object(payload, "chunk")
        chat.raise_error(payload)
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(MessageStart(id=_str(payload.get("id")), model=_str(payload.get("model"))))
        for key, value in payload.items():
            if key == "choices":
                if value is None:
                    continue
                if not isinstance(value, list):
                    raise WireFormatError("chunk.choices", f"expected a list, got {type(value).__name__}")
                for i, choice in enumerate(value):
                    events.extend(self._feed_choice(choice, f"chunk.choices[{i}]"))
            elif key == "usage" and isinstance(value, Mapping):
                self._top[key] = value
                events.append(UsageUpdate(chat.decode_usage(value, "chunk.usage")))
            elif key == "object" and value == "chat.completion.chunk":
                self._top[key] = "chat.completion"
            elif value is not None or key not in self._top:
                self._top[key] = value
        return events

    def _feed_choice(self, raw: Any, path: str) -> list[StreamEvent]:
        data = _object(raw, path)
        index = data.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool):
            raise WireFormatError(f"{path}.index", "expected an integer")
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _Choice()
        touches: list[Touch] = []
        for key, value in data.items():
            if key == "delta":
                if value is not None:
                    touches = choice.assembly.merge(_object(value, f"{path}.delta"), f"{path}.delta")
            elif key == "message":
                continue  # a full message in a chunk (non-standard); the deltas are the reply
            elif key == "finish_reason" and value is not None:
                choice.fields[key] = value
                self._finished = True
            elif key == "logprobs":
                choice.fields[key] = _merge_logprobs(choice.fields.get(key, _MISSING), value)
            elif value is not None or key not in choice.fields:
                choice.fields[key] = value
        if index != 0 or not self._live or not touches:
            return []
        return self._live_events(choice.assembly.message, touches)

    # -------------------------------------------------------------------------------- live events

    def _live_events(self, message: JSONDict, touches: list[Touch]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for what, position, text in touches:
            if what == "content":
                self._on_content(text, events)
            elif what == "parts":
                self._on_parts(message["content"], position, events)
            elif what == "call":
                self._on_call(message, position, text, events)
            else:
                self._on_thinking(message, what, position, text, events)
            if not self._live:
                break
        return events

    def _stop(self) -> None:
        self._live = False

    def _on_thinking(
        self, message: JSONDict, what: str, position: int, text: str, events: list[StreamEvent]
    ) -> None:
        source = _thinking_source(message)
        field = "reasoning_details" if what == "detail" else what
        if field != source:
            return  # a lower-precedence duplicate (OpenRouter's `reasoning` next to its details)
        if self._source != source:
            if self._announced or self._group:
                return self._stop()
            self._source, self._fields = source, []
        if what == "detail":
            if position == len(self._fields):
                if self._group:
                    return self._stop()
                kind = _detail_kind(message["reasoning_details"][position])
                self._fields.append(kind)
                if kind is not None:
                    self._announced.add(position)
                    events.append(BlockStart(position, kind))
            if self._fields[position] == "thinking" and text:
                events.append(BlockDelta(position, text))
            return None
        if not self._fields:
            if self._group:
                return self._stop()
            self._fields.append("thinking")
        if text:
            if 0 not in self._announced:
                self._announced.add(0)
                events.append(BlockStart(0, "thinking"))
            events.append(BlockDelta(0, text))
        return None

    def _on_content(self, text: str, events: list[StreamEvent]) -> None:
        if not text:
            return
        if self._calls_base is not None:
            return self._stop()  # content after the tool calls started
        self._on_segments(self._splitter.feed(text), events)
        return None

    def _flush_content(self, events: list[StreamEvent]) -> None:
        """The content is complete: release text held back for a tag that can no longer complete."""
        self._on_segments(self._splitter.flush(), events)

    def _on_segments(self, segments: list[Segment], events: list[StreamEvent]) -> None:
        if any(kind == "prefilled" for kind, _ in segments):
            # The text streamed so far was thinking (the server prefilled <think>): live events could
            # only take back what they said, so they stop; the final BlockEnd events are right.
            return self._stop()
        for kind, part in segments:
            self._on_segment(kind, part, events)
        return None

    def _on_parts(self, parts: list[Any], start: int, events: list[StreamEvent]) -> None:
        if start < 0:  # the content was a string (or nothing) until now
            if self._contents:
                return self._stop()
            start = 0
        for part in parts[start:]:
            if self._group > 1:
                return self._stop()
            self._group, self._content_kind = 1, None
            self._contents += 1
            text = part.get("text") if isinstance(part, Mapping) and part.get("type") == "text" else None
            if isinstance(text, str):
                events.append(BlockStart(self._content_index(), "text"))
                if text:
                    events.append(BlockDelta(self._content_index(), text))
        return None

    def _on_segment(self, kind: SegmentKind, part: str, events: list[StreamEvent]) -> None:
        if not self._live:
            return
        if kind == "close":
            self._content_kind = None
            return
        if kind == "open" or (kind == "text" and self._content_kind != "text"):
            if self._group > 1:
                return self._stop()
            self._group = 1
            self._content_kind = "thinking" if kind == "open" else "text"
            self._contents += 1
            events.append(BlockStart(self._content_index(), self._content_kind))
        if part and kind != "open":  # an open segment's text is its tag
            events.append(BlockDelta(self._content_index(), part))

    def _content_index(self) -> int:
        return len(self._fields) + self._contents - 1

    def _on_call(self, message: JSONDict, position: int, text: str, events: list[StreamEvent]) -> None:
        if self._calls_base is None:
            self._flush_content(events)  # tool calls come after the content: it is complete
            self._calls_base = len(self._fields) + self._contents
            self._group = 2
        index = self._calls_base + position
        announced = self._calls.get(position)
        if announced is None:
            call = message["tool_calls"][position]
            if call.get("type", "function") not in ("function", None):
                self._calls[position] = False
                return
            function = call.get("function")
            name = function.get("name") if isinstance(function, dict) else None
            if not isinstance(name, str):
                return  # announced once its name is known
            self._calls[position] = True
            events.append(BlockStart(index, "tool_call", id=_str(call.get("id")), name=name))
            arguments = function.get("arguments") if isinstance(function, dict) else None
            text = arguments.value() if isinstance(arguments, _Buf) else ""
        elif not announced:
            return
        if text:
            events.append(BlockDelta(index, text))

    # ------------------------------------------------------------------------------------- the end

    def done(self) -> list[StreamEvent]:
        """``data: [DONE]``: the final BlockEnd events and MessageEnd. Raises StreamIncompleteError
        when no ``finish_reason`` ever came."""
        if self._ended:
            return []
        response = self.finish()
        events: list[StreamEvent] = []
        self._flush_content(events)
        events.extend(BlockEnd(i, block) for i, block in enumerate(response.message.blocks))
        events.append(MessageEnd(response))
        self._ended = True
        return events

    def body(self) -> JSONDict:
        """The non-streamed response body the chunks so far add up to."""
        body = dict(self._top)
        choices = []
        for index in sorted(self._choices):
            choice = self._choices[index]
            message = materialize(choice.assembly.message)
            if message.get("role") is None:
                message["role"] = "assistant"
            message.setdefault("content", None)
            choices.append({**materialize(choice.fields), "message": message})
        body["choices"] = choices
        return body

    def response(self) -> Response:
        """The response so far; raises StreamIncompleteError until a ``finish_reason`` has arrived."""
        if not self._finished:
            raise StreamIncompleteError(
                "the OpenAI Chat stream ended before any finish_reason; the reply is incomplete "
                "and was not recorded"
            )
        return chat.decode_response(self.body())

    def finish(self) -> Response:
        """The whole response (for a stream that ended without ``[DONE]`` too); raises
        StreamIncompleteError when no ``finish_reason`` came."""
        return self.response()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
