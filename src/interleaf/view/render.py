"""The viewer's Jinja2 environment: templates shipped in the package, autoescaped, with the filters the
pages share (times, durations, token counts, sizes)."""

from __future__ import annotations

import math
import time
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from interleaf import __version__

THINKING_INLINE_CHARS = 20_000
"""A thinking block longer than this is rendered on demand, in chunks the browser lays out lazily."""
RESULT_HEAD_LINES = 15
RESULT_HEAD_CHARS = 2_000
"""A tool result is shown up to this many lines/characters, with "show all" for the rest."""


def when(ts: float | None) -> str:
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def clock(ts: float | None) -> str:
    if not ts:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def iso(ts: float | None) -> str:
    if not ts:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts))


def duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def number(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def money(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def size(chars: int | None) -> str:
    if chars is None:
        return ""
    if chars < 1000:
        return f"{chars} chars"
    if chars < 1_000_000:
        return f"{chars / 1000:.1f} k chars"
    return f"{chars / 1_000_000:.1f} M chars"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def line_count(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def head(text: str) -> str:
    """What a long tool result shows before "show all"."""
    lines = text.splitlines(keepends=True)[:RESULT_HEAD_LINES]
    return "".join(lines)[:RESULT_HEAD_CHARS]


def is_long(text: str) -> bool:
    return len(text) > RESULT_HEAD_CHARS or line_count(text) > RESULT_HEAD_LINES


@cache
def environment() -> Environment:
    # Undefined stays lenient: tool arguments are whatever the model sent, and a missing key is just empty.
    env = Environment(
        loader=PackageLoader("interleaf.view", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        clock=clock,
        iso=iso,
        duration=duration,
        number=number,
        money=money,
        size=size,
        percent=percent,
        lines=line_count,
        head=head,
        is_long=is_long,
    )
    env.globals.update(
        version=__version__,
        THINKING_INLINE_CHARS=THINKING_INLINE_CHARS,
    )
    return env


def warm() -> None:
    """Compile every template (Jinja caches them)."""
    env = environment()
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


@cache
def asset(name: str) -> str:
    """A shipped static file's text (the export inlines the stylesheet and the script)."""
    return (resources.files("interleaf.view") / "static" / name).read_text(encoding="utf-8")


__all__ = ["THINKING_INLINE_CHARS", "asset", "environment", "render", "warm"]
