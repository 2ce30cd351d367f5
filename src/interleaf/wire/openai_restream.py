"""Re-streaming a reply as OpenAI Chat chunks: stream events in, ``chat.completion.chunk`` payloads out.

:class:`StreamEncoder` serves a reply from any format (Anthropic, MiniMax native, OpenAI itself) to an
OpenAI Chat client as it arrives; :func:`stream_payloads` streams a stored reply. Thinking goes in the
dialect asked for. The encoder keeps the message its client is assembling (the same merge as
:class:`~interleaf.wire.openai_stream.StreamAssembler`) and at the end sends whatever the live deltas
did not carry, so the client ends with exactly what :func:`openai_bodies.encode_response` would give.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from interleaf.transcript import (
    Block,
    Image,
    JSONDict,
    Opaque,
    ReasoningDialect,
    RedactedThinking,
    Response,
    Text,
    Thinking,
    ToolCall,
    Usage,
)
from interleaf.wire import openai_bodies as chat
from interleaf.wire import openai_messages as msgs
from interleaf.wire.errors import Losses
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
from interleaf.wire.openai_stream import MessageAssembly, materialize
from interleaf.wire.think import THINK_CLOSE, THINK_OPEN

__all__ = ["StreamEncoder", "stream_payloads"]

_MISSING: Any = object()


class StreamEncoder:
    """Stream events in, ``chat.completion.chunk`` payloads out (to re-stream another format's reply).

    ``dialect`` is where thinking goes (``None``: ``block_dialects`` by block index, else
    ``reasoning_content``). ``reasoning_details`` items go out whole at their block's end, so they stay
    byte-exact. At :class:`MessageEnd` the encoder compares what the client has assembled with the
    reply and sends whatever is missing; what cannot be repaired is recorded in ``losses``.
    """

    def __init__(
        self,
        *,
        dialect: ReasoningDialect | None = None,
        model: str | None = None,
        id: str | None = None,
        block_dialects: Mapping[int, ReasoningDialect] | None = None,
        losses: Losses | None = None,
    ) -> None:
        msgs.resolver(dialect)  # rejects a dialect OpenAI Chat cannot carry
        self._dialect = dialect
        self._hints = dict(block_dialects or {})
        self._model = model
        self._id = id
        self._losses = losses
        self._top: JSONDict | None = None
        self._mirror = MessageAssembly()  # the message as the client assembles it
        self._plan: dict[int, ReasoningDialect] = {}
        self._kinds: dict[int, BlockKind] = {}
        self._sent: dict[int, int] = {}
        self._joined: dict[str, int] = {}
        self._open_tag: int | None = None
        self._positions: dict[int, int] = {}
        self._usage: Usage | None = None
        self._bare_open: set[int] = set()  # think-tag blocks whose content began inside thinking
        self._list_content: list[Any] | None = None  # list content: sent whole before the tool calls

    def encode(self, event: StreamEvent) -> list[JSONDict]:
        if isinstance(event, MessageStart):
            self._id = self._id or event.id
            self._model = self._model or event.model
            self._usage = event.usage
            return [self._chunk({"role": "assistant"})]
        if isinstance(event, BlockStart):
            return self._start(event)
        if isinstance(event, BlockDelta):
            return self._delta(event.index, event.text)
        if isinstance(event, BlockEnd):
            return self._end(event.index, event.block)
        if isinstance(event, UsageUpdate):
            self._usage = event.usage
            return []
        return self._finish(event.response)

    def _frame(self) -> JSONDict:
        if self._top is not None:
            return dict(self._top)
        frame: JSONDict = {}
        if self._id is not None:
            frame["id"] = self._id
        frame.update(object="chat.completion.chunk", created=0)
        if self._model is not None:
            frame["model"] = self._model
        return frame

    def _chunk(self, delta: JSONDict) -> JSONDict:
        self._mirror.merge(delta, "delta")
        return {**self._frame(), "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}

    def _target(self, index: int, block: Block | None) -> ReasoningDialect:
        if index in self._plan:
            return self._plan[index]
        target = self._dialect or self._hints.get(index)
        if target is None:
            target = msgs.arrival_dialect(block) if block is not None else msgs.RC
        self._plan[index] = target
        return target

    def _flush_parts(self) -> list[JSONDict]:
        parts, self._list_content = self._list_content, None
        return [] if parts is None else [self._chunk({"content": parts})]

    def _close_tag(self) -> list[JSONDict]:
        if self._open_tag is None:
            return []
        self._open_tag = None
        return [self._chunk({"content": THINK_CLOSE})]

    def _start(self, event: BlockStart) -> list[JSONDict]:
        index, kind = event.index, event.kind
        self._kinds[index] = kind
        self._sent[index] = 0
        if kind == "text":
            return self._close_tag()
        if kind == "tool_call":
            out = [*self._close_tag(), *self._flush_parts()]  # content is complete before the calls
            position = self._positions[index] = len(self._positions)
            call: JSONDict = {"index": position}
            if event.id is not None:
                call["id"] = event.id
            call["type"] = "function"
            function: JSONDict = {"name": event.name} if event.name is not None else {}
            call["function"] = {**function, "arguments": ""}
            return [*out, self._chunk({"tool_calls": [call]})]
        target = self._target(index, None)
        if kind == "redacted_thinking" or target is msgs.RD:
            return []
        if target is msgs.TAGS:
            if self._list_content is not None:
                return []
            out = self._close_tag()
            self._open_tag = index
            if index in self._bare_open:
                return out
            return [*out, self._chunk({"content": THINK_OPEN})]
        field = msgs.REASONING_FIELDS[target]
        joined = self._joined.get(field, 0)
        self._joined[field] = joined + 1
        return [self._chunk({field: msgs.THINKING_SEPARATOR if joined else ""})]

    def _delta(self, index: int, text: str) -> list[JSONDict]:
        kind = self._kinds.get(index)
        if not text or kind is None:
            return []
        if kind == "tool_call":
            self._sent[index] += len(text)
            call = {"index": self._positions[index], "function": {"arguments": text}}
            return [self._chunk({"tool_calls": [call]})]
        if kind == "text":
            if self._list_content is not None:
                return []
            self._sent[index] += len(text)
            return [*self._close_tag(), self._chunk({"content": text})]
        if kind != "thinking":
            return []
        target = self._plan[index]
        if target is msgs.RD or (target is msgs.TAGS and self._open_tag != index):
            return []
        self._sent[index] += len(text)
        field = "content" if target is msgs.TAGS else msgs.REASONING_FIELDS[target]
        return [self._chunk({field: text})]

    def _end(self, index: int, block: Block) -> list[JSONDict]:
        out: list[JSONDict] = []
        if index not in self._kinds and isinstance(block, Thinking | RedactedThinking | Text | ToolCall):
            self._target(index, block)
            if isinstance(block, ToolCall):
                start = BlockStart(index, "tool_call", id=block.id, name=block.name)
            else:
                start = BlockStart(index, block.kind)
            out.extend(self._start(start))
        if msgs.is_thinking(block) and self._target(index, block) is msgs.RD:
            out.append(self._chunk({"reasoning_details": [msgs.encode_detail(block)]}))
        elif isinstance(block, Thinking | Text):
            out.extend(self._delta(index, block.text[self._sent.get(index, 0) :]))
            if self._open_tag == index and block.extra.get("close_tag") is False:
                self._open_tag = None  # the content never closed this section: no </think> goes out
        elif isinstance(block, ToolCall):
            out.extend(self._delta(index, block.arguments_json[self._sent.get(index, 0) :]))
        return out

    def _finish(self, response: Response) -> list[JSONDict]:
        def resolve(index: int, block: Block) -> ReasoningDialect:
            return self._target(index, block)

        losses = self._losses
        head = self._flush_parts()
        writer = msgs.Writer(resolve, response.source == msgs.FORMAT, losses)
        target = msgs.write_assistant(response.message, "choices[0].message", writer)
        have = materialize(self._mirror.message)
        problems: list[str] = []
        delta = _reconcile(target, have, problems)
        top, first, others = chat.response_frame(response, losses)
        self._top = _chunk_frame(top)
        self._mirror.merge(delta, "delta")
        final = materialize(self._mirror.message)
        final.setdefault("content", None)
        if not problems and final != {**target, "content": target.get("content")}:
            problems.append("the client assembles a different message")
        for problem in problems:
            if losses is not None:
                losses.add("choices[0].message", f"re-streaming: {problem}")
        choices: list[JSONDict] = [{**first, "delta": delta, "finish_reason": chat.finish_reason(response)}]
        choices.extend(_as_chunk_choice(c) for c in others)
        out = [*head, {**self._top, "choices": choices}]
        usage = response.usage if response.usage is not None else self._usage
        if usage is not None:
            native = response.source in (msgs.FORMAT, None)
            out.append(
                {**self._top, "choices": [], "usage": chat.encode_usage(usage, native=native, losses=losses)}
            )
        return out


def _chunk_frame(top: Mapping[str, Any]) -> JSONDict:
    frame = dict(top)
    if frame.get("object") == "chat.completion":
        frame["object"] = "chat.completion.chunk"
    return frame


def _as_chunk_choice(choice: Any) -> Any:
    """A whole further choice of a non-streamed body, as one chunk choice."""
    if not isinstance(choice, Mapping) or not isinstance(choice.get("message"), Mapping):
        return choice
    delta = dict(choice["message"])
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        delta["tool_calls"] = [
            {"index": j, **c} if isinstance(c, Mapping) else c for j, c in enumerate(calls)
        ]
    return {**{k: v for k, v in choice.items() if k != "message"}, "delta": delta}


def _reconcile(target: Mapping[str, Any], have: Mapping[str, Any], problems: list[str]) -> JSONDict:
    """The delta that turns the assembled ``have`` into ``target``; what cannot goes to ``problems``."""
    delta: JSONDict = {}
    for key, want in target.items():
        got = have.get(key, _MISSING)
        if key == "tool_calls" and isinstance(want, list) and isinstance(got, list):
            calls = _reconcile_calls(want, got, problems)
            if calls:
                delta[key] = calls
        elif key == "tool_calls" and isinstance(want, list) and got in (_MISSING, None):
            delta[key] = [{"index": j, **call} for j, call in enumerate(want)]
        elif got is _MISSING or (got is None and want is not None):
            delta[key] = want
        elif got == want:
            continue
        elif want is None or key in ("role", "name"):
            problems.append(f"{key} was sent as {got!r}")
        elif isinstance(want, str | list) and type(want) is type(got):
            if want[: len(got)] == got:
                delta[key] = want[len(got) :]
            else:
                problems.append(f"{key} was sent differently")
        else:
            delta[key] = want
    problems.extend(f"{key} was sent but is not in the reply" for key in have if key not in target)
    return delta


def _reconcile_calls(want: Sequence[Any], have: Sequence[Any], problems: list[str]) -> list[JSONDict]:
    out: list[JSONDict] = []
    for position, call in enumerate(want):
        if position >= len(have):
            out.append({"index": position, **call})
            continue
        got = have[position]
        fix: JSONDict = {}
        for key, value in call.items():
            old = got.get(key)
            if key == "function" and isinstance(value, Mapping) and isinstance(old, Mapping):
                function: JSONDict = {}
                for fkey, fvalue in value.items():
                    fold = old.get(fkey)
                    if fkey == "arguments" and isinstance(fvalue, str) and isinstance(fold, str):
                        if fvalue.startswith(fold):
                            if fvalue != fold:
                                function[fkey] = fvalue[len(fold) :]
                        else:
                            problems.append(f"tool call {position} arguments were sent differently")
                    elif fold is None:
                        function[fkey] = fvalue
                    elif fold != fvalue:
                        problems.append(f"tool call {position} {fkey} was sent as {fold!r}")
                if function:
                    fix["function"] = function
            elif old is None:
                fix[key] = value
            elif old != value:
                problems.append(f"tool call {position} {key} was sent as {old!r}")
        if fix:
            out.append({"index": position, **fix})
    return out


def _events(response: Response, order: Sequence[int]) -> Iterator[StreamEvent]:
    """The events of a stored reply, blocks in ``order``, one delta a block (blocks that never stream
    get only BlockEnd)."""
    yield MessageStart(id=response.id, model=response.model, usage=response.usage)
    for index in order:
        block = response.message.blocks[index]
        if isinstance(block, ToolCall):
            yield BlockStart(index, "tool_call", id=block.id, name=block.name)
            if block.arguments_json:
                yield BlockDelta(index, block.arguments_json)
        elif isinstance(block, Thinking | Text):
            yield BlockStart(index, block.kind)
            if block.text:
                yield BlockDelta(index, block.text)
        elif isinstance(block, RedactedThinking):
            yield BlockStart(index, "redacted_thinking")
        elif not isinstance(block, Opaque | Image):  # pragma: no cover - tool results are not replies
            continue
        yield BlockEnd(index, block)
    yield MessageEnd(response)


def stream_payloads(
    response: Response, dialect: ReasoningDialect | None = None, *, losses: Losses | None = None
) -> list[JSONDict]:
    """The chunk payloads that stream ``response`` (``dialect=None``: each block as it arrived).

    Assembled by :class:`StreamAssembler` they give ``decode_response(encode_response(response))``.
    """
    hints = None
    if dialect is None:
        hints = {
            i: msgs.arrival_dialect(b) for i, b in enumerate(response.message.blocks) if msgs.is_thinking(b)
        }
    encoder = StreamEncoder(
        dialect=dialect, model=response.model, id=response.id, block_dialects=hints, losses=losses
    )
    top, _, _ = chat.response_frame(response)
    encoder._top = _chunk_frame(top)
    # Stream in the order the client will lay the blocks out: field thinking, content, tool calls.
    resolve = msgs.resolver(dialect, hints)
    groups: tuple[list[int], list[int], list[int]] = ([], [], [])
    for index, block in enumerate(response.message.blocks):
        if msgs.is_thinking(block) and resolve(index, block) is not msgs.TAGS:
            groups[0].append(index)
        elif isinstance(block, ToolCall) or (
            isinstance(block, Opaque) and block.source == msgs.TOOL_CALL_SOURCE
        ):
            groups[2].append(index)
        else:
            groups[1].append(index)
    shown = [i for i in groups[1] if not isinstance(response.message.blocks[i], RedactedThinking | Opaque)]
    first = response.message.blocks[shown[0]] if shown else None
    if isinstance(first, Thinking) and first.extra.get("open_tag") is False:
        encoder._bare_open.add(shown[0])
    writer = msgs.Writer(resolve, response.source == msgs.FORMAT)
    target = msgs.write_assistant(response.message, "", writer)
    if isinstance(target.get("content"), list):
        encoder._list_content = target["content"]
    order = [*groups[0], *groups[1], *groups[2]]
    return [payload for event in _events(response, order) for payload in encoder.encode(event)]
