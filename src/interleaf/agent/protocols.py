"""Tool protocols as model wrappers: the loop sees native tool calls whatever the model wrote.

:class:`TextCalls` serves servers without a tool-call parser: calls written in the reply's text
(Hermes ``<tool_call>``, fences, bare JSON, MiniMax XML; see :mod:`interleaf.wire.textcalls`) become
ToolCall blocks of the reply before the loop sees it. Thinking blocks are never touched, so the reply
is still replayed exactly as it arrived. The JSON action protocol of small local models builds on it
(:class:`interleaf.agent.actions.JsonActions`).

A reply holding a call that names a tool but cannot be run as written is a :class:`FormatError`: the
reply is recorded, each of its calls is answered with an error result (the parse error for the
unreadable one, which says how to write it), nothing runs, and the model tries again. A conversation
that offers no tools (a compaction summary) passes through untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from interleaf.agent.flow import FlowInterrupt, FormatError
from interleaf.agent.seams import Model, reply_of
from interleaf.transcript import Conversation, Message, Response, ToolCall, ToolResult
from interleaf.wire.events import MessageEnd, StreamEvent
from interleaf.wire.textcalls import apply_text_tool_calls

Notify = Callable[[str], None]

NOT_RUN = "not run: another call in this reply could not be read; make this call again"


def _ignore(message: str) -> None:
    pass


class TextCalls:
    """``model`` with the tool calls it writes as text read into ToolCall blocks."""

    def __init__(self, model: Model, *, notice: Notify | None = None) -> None:
        self.model = model
        self.notice = notice or _ignore
        """Told what could not be read (shown to the user; the model learns it from the results)."""

    def request(self, conversation: Conversation) -> Conversation:
        """The request as the server gets it: here unchanged (the tools are still offered)."""
        return conversation

    def passes(self, event: StreamEvent) -> bool:
        """Whether a stream event goes on to the loop and its observers."""
        return True

    def read(self, message: Message, conversation: Conversation) -> tuple[Message, FlowInterrupt | None]:
        """The reply with its written calls as ToolCall blocks, and what ends the step early, if anything."""
        rewritten, errors = apply_text_tool_calls(message, conversation.tools)
        unreadable = {e.call_id: e.message for e in errors if e.call_id is not None}
        for error in errors:
            what = "a tool call" if error.tool is None else f"a call of {error.tool}"
            self.notice(f"the reply holds {what} that could not be read: {error.message}")
        if not unreadable:
            return rewritten, None
        # These calls exist only because interleaf read them out of text: their unreadable argument text
        # stays in the error result, and the structured call carries none, so servers that parse the
        # replayed history (llama.cpp does) are not handed invalid JSON.
        rewritten = rewritten.with_blocks(
            replace(b, raw_arguments=None) if isinstance(b, ToolCall) and b.id in unreadable else b
            for b in rewritten.blocks
        )
        results = tuple(
            ToolResult(call_id=c.id, content=unreadable.get(c.id, NOT_RUN), is_error=True, name=c.name)
            for c in rewritten.tool_calls
        )
        return rewritten, FormatError(rewritten, Message(role="tool", blocks=results))

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        """The inner stream, with the final message read for calls. A :class:`FlowInterrupt` is raised
        after the MessageEnd event, so the reply's usage is counted before the step ends."""
        if not conversation.tools:
            async for event in self.model.stream(conversation):
                yield event
            return
        async for event in self.model.stream(self.request(conversation)):
            if isinstance(event, MessageEnd):
                message, interrupt = self.read(event.response.message, conversation)
                yield MessageEnd(replace(event.response, message=message))
                if interrupt is not None:
                    raise interrupt
                return
            if self.passes(event):
                yield event

    async def complete(self, conversation: Conversation, *, stream: bool = False) -> Response:
        return await reply_of(self.stream(conversation))
