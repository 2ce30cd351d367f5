"""Errors and loss reports shared by every codec."""

from __future__ import annotations

from dataclasses import dataclass, field


class WireError(ValueError):
    """Base class: a wire payload could not be read or written."""


class WireFormatError(WireError):
    """A payload does not have the shape its format requires.

    ``path`` points at the offending value in JSONPath-like form (``messages[1].content[0].type``), so
    the message reads "messages[1].content[0].type: unknown block type 'foo'".
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class StreamIncompleteError(WireError):
    """A stream ended before the server said it was done; nothing from it should be stored as complete."""


class StreamServerError(WireError):
    """The server sent an error inside the stream (Anthropic ``event: error``, an OpenAI error chunk)."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        self.message = message
        super().__init__(f"server error in stream ({error_type}): {message}")


@dataclass
class Losses:
    """What an encoder had to leave out because the target format cannot carry it.

    Codecs never drop silently: each omission is recorded with the path of what was dropped, and
    ``interleaf convert`` prints them on stderr.
    """

    items: list[str] = field(default_factory=list)

    def add(self, path: str, what: str) -> None:
        self.items.append(f"{path}: {what}" if path else what)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
