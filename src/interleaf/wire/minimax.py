"""MiniMax native text format: prompts for raw completions, and raw output read back into the transcript.

For self-hosted MiniMax models served as raw completions (``/v1/completions``), data export, and
checking what a chat template makes of a conversation. Pure functions, no I/O.

The format is versioned. ``m2`` covers MiniMax-M2 through M2.7 (one chat template, one tool-call
syntax). A later generation with other tags will be one more :class:`NativeFormat` registered in
:data:`FORMATS`, and every function here takes ``version=`` to pick it.

* :func:`render_prompt` — a conversation as prompt text, byte-exact to the official chat template.
* :func:`parse_output` — raw output after the generation prompt as an assistant message, with tool
  calls typed by the tools' schemas and a list of calls that could not be read.
* :class:`RawStreamAssembler` — the same for streamed output, as stream events.
* :func:`parse_prompt` — a prompt read back into the conversation it shows (for conversion).

A re-render of a parsed reply is the template's canonical form, not the model's bytes: the template
strips the newlines around thinking and visible text and writes ``\\n<minimax:tool_call>`` after them
(docs/architecture.md §4.4). A gateway that needs the model's exact bytes for a prefix cache passes raw text
through; everything else round-trips through the transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from interleaf.transcript import Conversation, ToolSpec, Usage
from interleaf.wire.errors import Losses
from interleaf.wire.events import MessageEnd, MessageStart, StreamEvent
from interleaf.wire.minimax_output import M2OutputParser, ParsedOutput
from interleaf.wire.minimax_output import parse as _parse_m2
from interleaf.wire.minimax_prompt import BOS, DEFAULT_SYSTEM, EOS, GENERATION_PROMPT
from interleaf.wire.minimax_prompt import render as _render_m2
from interleaf.wire.minimax_prompt_parse import parse_prompt as _parse_m2_prompt
from interleaf.wire.toolcalls import IdFactory, ToolCallParseError

__all__ = [
    "BOS",
    "DEFAULT_SYSTEM",
    "EOS",
    "FORMATS",
    "GENERATION_PROMPT",
    "M2Format",
    "NativeFormat",
    "OutputParser",
    "ParsedOutput",
    "RawStreamAssembler",
    "ToolCallParseError",
    "get_format",
    "parse_output",
    "parse_prompt",
    "render_prompt",
]


class OutputParser(Protocol):
    """Incremental reader of one raw reply: events as text arrives, the message at the end."""

    def feed(self, text: str) -> list[StreamEvent]: ...

    def flush(self) -> list[StreamEvent]: ...

    def result(self) -> ParsedOutput: ...


class NativeFormat(Protocol):
    """One version of the MiniMax native text format."""

    @property
    def version(self) -> str: ...

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        """Text that ends a reply, for servers that need it spelled out."""
        ...

    def render_prompt(
        self,
        conversation: Conversation,
        *,
        add_generation_prompt: bool = True,
        default_system: str = DEFAULT_SYSTEM,
        losses: Losses | None = None,
    ) -> str: ...

    def output_parser(
        self,
        tools: Sequence[ToolSpec] = (),
        *,
        prompt_ends_in_think: bool = True,
        id_factory: IdFactory | None = None,
    ) -> OutputParser: ...

    def parse_output(
        self,
        text: str,
        tools: Sequence[ToolSpec] = (),
        *,
        prompt_ends_in_think: bool = True,
        id_factory: IdFactory | None = None,
    ) -> ParsedOutput: ...

    def parse_prompt(self, text: str, *, id_factory: IdFactory | None = None) -> Conversation: ...


class M2Format:
    """MiniMax-M2, M2.1, M2.5 and M2.7: one chat template and one tool-call syntax."""

    @property
    def version(self) -> str:
        return "m2"

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return (EOS,)

    def render_prompt(
        self,
        conversation: Conversation,
        *,
        add_generation_prompt: bool = True,
        default_system: str = DEFAULT_SYSTEM,
        losses: Losses | None = None,
    ) -> str:
        return _render_m2(
            conversation,
            add_generation_prompt=add_generation_prompt,
            default_system=default_system,
            losses=losses,
        )

    def output_parser(
        self,
        tools: Sequence[ToolSpec] = (),
        *,
        prompt_ends_in_think: bool = True,
        id_factory: IdFactory | None = None,
    ) -> OutputParser:
        return M2OutputParser(tools, prompt_ends_in_think=prompt_ends_in_think, id_factory=id_factory)

    def parse_output(
        self,
        text: str,
        tools: Sequence[ToolSpec] = (),
        *,
        prompt_ends_in_think: bool = True,
        id_factory: IdFactory | None = None,
    ) -> ParsedOutput:
        return _parse_m2(text, tools, prompt_ends_in_think=prompt_ends_in_think, id_factory=id_factory)

    def parse_prompt(self, text: str, *, id_factory: IdFactory | None = None) -> Conversation:
        return _parse_m2_prompt(text, id_factory=id_factory)


FORMATS: dict[str, NativeFormat] = {"m2": M2Format()}
"""Registered versions of the format, by name."""


def get_format(version: str) -> NativeFormat:
    """The format registered as ``version``; a ValueError names the known ones."""
    try:
        return FORMATS[version]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ValueError(f"unknown MiniMax format version {version!r}; known versions: {known}") from None


def render_prompt(
    conversation: Conversation,
    *,
    version: str = "m2",
    add_generation_prompt: bool = True,
    default_system: str = DEFAULT_SYSTEM,
    losses: Losses | None = None,
) -> str:
    """The prompt text the official chat template makes of ``conversation``.

    ``default_system`` is the system text used when the conversation has none (MiniMax's copies of the
    template disagree; M2.1 and later name the model in it). What the format cannot carry (images,
    redacted thinking, later system messages) is left out and recorded in ``losses``. Thinking of
    assistant messages before the last user message is left out by design: the template does that.

    Raises WireFormatError for a tool result without an assistant tool call before it.
    """
    return get_format(version).render_prompt(
        conversation,
        add_generation_prompt=add_generation_prompt,
        default_system=default_system,
        losses=losses,
    )


def parse_output(
    text: str,
    tools: Sequence[ToolSpec] = (),
    *,
    version: str = "m2",
    prompt_ends_in_think: bool = True,
    id_factory: IdFactory | None = None,
) -> ParsedOutput:
    """Raw model output (what follows the generation prompt) as an assistant message.

    ``tools`` type the call arguments by their schemas. ``prompt_ends_in_think`` says the prompt ended
    with ``<think>\\n``, as the M2 template's does, so the output starts inside thinking. ``id_factory``
    makes the call ids (default ``call_`` + 24 random hex digits). Never raises on odd text: calls that
    cannot be read are reported in ``errors``.
    """
    return get_format(version).parse_output(
        text, tools, prompt_ends_in_think=prompt_ends_in_think, id_factory=id_factory
    )


def parse_prompt(text: str, *, version: str = "m2", id_factory: IdFactory | None = None) -> Conversation:
    """The conversation a whole prompt shows, such that rendering it gives the prompt back.

    What the prompt does not show stays unknown: thinking the template dropped, call ids (new ones
    are made; results take their call's id by position). Raises WireFormatError for text that is not
    a prompt in this format.
    """
    return get_format(version).parse_prompt(text, id_factory=id_factory)


class RawStreamAssembler:
    """Streamed raw completion text in, stream events out; :meth:`finish` gives the whole reply.

    The reply equals :func:`parse_output` of the concatenated text for every chunking. Thinking and
    visible text stream as deltas; a tool call is emitted whole once its ``</invoke>`` arrives, because
    its arguments are typed only when complete.
    """

    def __init__(
        self,
        tools: Sequence[ToolSpec] = (),
        *,
        version: str = "m2",
        prompt_ends_in_think: bool = True,
        id_factory: IdFactory | None = None,
        response_id: str | None = None,
        model: str | None = None,
    ) -> None:
        self._parser = get_format(version).output_parser(
            tools, prompt_ends_in_think=prompt_ends_in_think, id_factory=id_factory
        )
        self._id = response_id
        self._model = model
        self._started = False
        self._flushed = False

    def _start(self) -> list[StreamEvent]:
        if self._started:
            return []
        self._started = True
        return [MessageStart(id=self._id, model=self._model)]

    def feed(self, text: str) -> list[StreamEvent]:
        """More output text; returns the events it completes."""
        if self._flushed:
            raise ValueError("the stream was already flushed; start a new RawStreamAssembler")
        return self._start() + self._parser.feed(text)

    def flush(self, *, stop_reason: str | None = None, usage: Usage | None = None) -> list[StreamEvent]:
        """The text has ended: close open blocks and end the message.

        ``stop_reason`` is the server's (``max_tokens`` for a length stop); by default it is inferred as
        in :meth:`ParsedOutput.response`.
        """
        if self._flushed:
            return []
        self._flushed = True
        events = self._start() + self._parser.flush()
        response = self._parser.result().response(
            stop_reason=stop_reason, response_id=self._id, model=self._model, usage=usage
        )
        return [*events, MessageEnd(response)]

    def finish(self) -> ParsedOutput:
        """The whole reply (flushes first if needed)."""
        self.flush()
        return self._parser.result()

    @property
    def errors(self) -> tuple[ToolCallParseError, ...]:
        """Tool calls that could not be read so far."""
        return self._parser.result().errors
