"""Reading raw MiniMax-M2 output: thinking, visible text and ``<minimax:tool_call>`` blocks.

The text is what a raw completion returns after the generation prompt ``]~b]ai\\n<think>\\n``::

    {thinking}</think>{visible}<minimax:tool_call>…</minimax:tool_call>{visible}

* Thinking is split by :class:`interleaf.wire.think.ThinkSplitter` under its one-block rules. Output
  starts inside thinking, because the prompt ends with ``<think>\\n``. M2.5 and later may open the block
  again with an explicit ``<think>`` first; that tag (and whitespace before it) is dropped. With
  ``prompt_ends_in_think=False`` a thinking block exists only if the output starts with ``<think>``.
* The first ``</think>`` ends thinking; M2 has one thinking block a turn, so later ``<think>`` tags are
  visible text, as vLLM's ``minimax_m2`` reasoning parser treats them. Output that never closes its
  thinking (``max_tokens``) is all thinking: tool calls are never read inside thinking.
* Visible text keeps its bytes exactly (the ``\\n\\n`` after ``</think>`` included); a segment that is only
  whitespace (between ``</think>`` and a tool-call block, say) is not a block at all.
* Tool calls follow the reference parser (:mod:`interleaf.wire.minimax_xml`) and are typed by the tools'
  schemas; calls of any name are kept, as vLLM keeps them. Text after a tool-call block is kept as a
  Text block after the calls.

One incremental parser does all of it: :func:`parse` feeds the whole text at once, and the stream
assembler feeds chunks, so both give the same message for every chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum, auto

from interleaf.transcript import (
    Block,
    Message,
    ReasoningDialect,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolSpec,
    Usage,
)
from interleaf.wire.events import BlockDelta, BlockEnd, BlockStart, StreamEvent
from interleaf.wire.minimax_xml import (
    INVOKE_CLOSE,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    ParsedInvoke,
    junk_errors,
    take_invoke,
)
from interleaf.wire.think import Segment, ThinkRules, ThinkSplitter, partial_suffix
from interleaf.wire.toolcalls import IdFactory, ToolCallParseError, new_call_id

__all__ = ["M2OutputParser", "ParsedOutput", "parse"]

SOURCE = "minimax"
_TAIL = max(len(INVOKE_CLOSE), len(TOOL_CALL_CLOSE)) - 1


@dataclass(frozen=True, slots=True)
class ParsedOutput:
    """An assistant message read from raw model output, plus what could not be read as a tool call."""

    message: Message
    errors: tuple[ToolCallParseError, ...] = ()

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.message.tool_calls

    def response(
        self,
        *,
        stop_reason: str | None = None,
        response_id: str | None = None,
        model: str | None = None,
        usage: Usage | None = None,
    ) -> Response:
        """The reply as a :class:`Response`.

        Raw text cannot say why generation stopped, so pass the server's reason when it is known (a
        length stop is ``max_tokens``); the default is ``tool_use`` when the reply calls tools, else
        ``end_turn``.
        """
        if stop_reason is None:
            stop_reason = "tool_use" if self.message.tool_calls else "end_turn"
        return Response(
            message=self.message,
            id=response_id,
            model=model,
            stop_reason=stop_reason,
            usage=usage,
            source=SOURCE,
        )


class _Phase(Enum):
    VISIBLE = auto()
    TOOLS = auto()
    DONE = auto()


class M2OutputParser:
    """Raw M2 output text in, stream events out; :meth:`result` is the whole message.

    ``feed`` returns the events that are certain so far; ``flush`` ends the text and closes what is
    open. Neither emits MessageStart or MessageEnd: the stream assembler adds those.
    """

    def __init__(
        self,
        tools: Sequence[ToolSpec] = (),
        *,
        prompt_ends_in_think: bool = True,
        id_factory: IdFactory | None = None,
    ) -> None:
        self._tools = tuple(tools)
        self._think = ThinkSplitter(ThinkRules(starts_inside=prompt_ends_in_think, one_block=True))
        self._new_id = id_factory or new_call_id
        self._phase = _Phase.VISIBLE  # of the text after the thinking
        self._buf = ""
        self._blocks: list[Block] = []
        self._errors: list[ToolCallParseError] = []
        self._events: list[StreamEvent] = []
        self._open: list[str] | None = None  # text of the thinking or text block being streamed
        self._held = ""  # visible whitespace not yet known to start a text block
        self._pending: list[str] = []  # tool-block text not yet in the buffer (see feed)
        self._tail = ""  # the last visible characters, to find a closing tag split across chunks
        self._flushed = False

    # ---------------------------------------------------------------------------------- public

    def feed(self, text: str) -> list[StreamEvent]:
        if self._flushed:
            raise ValueError("this M2 output parser was flushed; start a new one for more text")
        self._segments(self._think.feed(text))
        return self._drain()

    def flush(self) -> list[StreamEvent]:
        if not self._flushed:
            self._flushed = True
            self._segments(self._think.flush())
            self._take_pending("")
            self._advance(final=True)
        return self._drain()

    def result(self) -> ParsedOutput:
        """The message read so far (complete once :meth:`flush` has run)."""
        return ParsedOutput(
            message=Message(role="assistant", blocks=tuple(self._blocks)), errors=tuple(self._errors)
        )

    # ------------------------------------------------------------------------------ the phases

    def _segments(self, segments: list[Segment]) -> None:
        for kind, part in segments:
            if kind == "open":
                self._begin("thinking")
            elif kind == "thinking":
                self._append(part)
            elif kind == "close":
                thinking = self._end_thinking()
                if not part and TOOL_CALL_OPEN in thinking:  # no </think>: the text ended inside
                    self._errors.append(
                        ToolCallParseError(
                            "the output ended inside <think> (no </think>), so the <minimax:tool_call> "
                            "in it was not run; close your thinking with </think> before calling tools",
                            text=thinking,
                        )
                    )
            elif kind == "text":
                self._visible_input(part)

    def _visible_input(self, text: str) -> None:
        seen = self._tail + text
        self._tail = seen[-_TAIL:]
        if self._phase is _Phase.TOOLS and INVOKE_CLOSE not in seen and TOOL_CALL_CLOSE not in seen:
            # Inside a tool-call block nothing can happen before a closing tag: keep the chunk aside
            # instead of growing and rescanning the buffer (a long argument streams token by token).
            self._pending.append(text)
            return
        self._take_pending(text)
        self._advance(final=False)

    def _take_pending(self, text: str) -> None:
        self._pending.append(text)
        self._buf += "".join(self._pending)
        self._pending = []

    def _drain(self) -> list[StreamEvent]:
        events, self._events = self._events, []
        return events

    def _advance(self, *, final: bool) -> None:
        steps = {_Phase.VISIBLE: self._visible, _Phase.TOOLS: self._tool_block}
        # Each step consumes what it can and says whether to go on; it waits (False) for more text.
        while self._phase is not _Phase.DONE and steps[self._phase](final):
            pass

    def _visible(self, final: bool) -> bool:
        pos = self._buf.find(TOOL_CALL_OPEN)
        if pos != -1:
            self._visible_text(self._buf[:pos])
            self._end_text()
            self._buf = self._buf[pos + len(TOOL_CALL_OPEN) :]
            self._phase = _Phase.TOOLS
            return True
        keep = 0 if final else partial_suffix(self._buf, TOOL_CALL_OPEN)
        self._visible_text(self._buf[: len(self._buf) - keep])
        self._buf = self._buf[len(self._buf) - keep :]
        if final:
            self._end_text()
            self._phase = _Phase.DONE
        return final

    def _tool_block(self, final: bool) -> bool:
        end = self._buf.find(TOOL_CALL_CLOSE)
        region = self._buf if end == -1 else self._buf[:end]
        step = take_invoke(region, self._tools)
        if step is not None:
            consumed, errors, invoke = step
            self._errors.extend(errors)
            if isinstance(invoke, ParsedInvoke):
                self._tool_call(invoke)
            elif invoke is not None:
                self._errors.append(invoke)
            self._buf = self._buf[consumed:]
            return True
        if end != -1:
            self._errors.extend(junk_errors(region))
            self._buf = self._buf[end + len(TOOL_CALL_CLOSE) :]
            self._phase = _Phase.VISIBLE
            return True
        if final:
            # A block cut off after its last complete invoke loses nothing, so only a partial
            # invoke (or stray text) is worth a complaint.
            self._errors.extend(junk_errors(region))
            self._buf = ""
            self._phase = _Phase.DONE
        return final

    # ------------------------------------------------------------------------------- the blocks

    def _begin(self, kind: str) -> None:
        self._open = []
        self._events.append(BlockStart(len(self._blocks), "thinking" if kind == "thinking" else "text"))

    def _append(self, text: str) -> None:
        if text and self._open is not None:
            self._open.append(text)
            self._events.append(BlockDelta(len(self._blocks), text))

    def _end_thinking(self) -> str:
        text = "".join(self._open or ())
        self._close(Thinking(text=text, dialect=ReasoningDialect.THINK_TAGS))
        return text

    def _close(self, block: Block) -> None:
        self._events.append(BlockEnd(len(self._blocks), block))
        self._blocks.append(block)
        self._open = None

    def _visible_text(self, text: str) -> None:
        if self._open is None:
            self._held += text
            if not self._held.strip():
                return
            text, self._held = self._held, ""
            self._begin("text")
        self._append(text)

    def _end_text(self) -> None:
        self._held = ""
        if self._open is not None:
            self._close(Text(text="".join(self._open)))

    def _tool_call(self, invoke: ParsedInvoke) -> None:
        call = ToolCall(id=self._new_id(), name=invoke.name, arguments=invoke.arguments)
        self._errors.extend(replace(error, call_id=call.id) for error in invoke.errors)
        index = len(self._blocks)
        self._events.append(BlockStart(index, "tool_call", id=call.id, name=call.name))
        if call.arguments:
            self._events.append(BlockDelta(index, call.arguments_json))
        self._events.append(BlockEnd(index, call))
        self._blocks.append(call)


def parse(
    text: str,
    tools: Sequence[ToolSpec] = (),
    *,
    prompt_ends_in_think: bool = True,
    id_factory: IdFactory | None = None,
) -> ParsedOutput:
    """Read a whole raw M2 output at once."""
    parser = M2OutputParser(tools, prompt_ends_in_think=prompt_ends_in_think, id_factory=id_factory)
    parser.feed(text)
    parser.flush()
    return parser.result()
