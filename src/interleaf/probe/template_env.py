"""Chat templates as Hugging Face renders them: loading a template and the Jinja environment.

``transformers`` renders a chat template in a sandboxed Jinja environment with ``trim_blocks``,
``lstrip_blocks``, loop controls, ``raise_exception``, ``strftime_now``, ``{% generation %}`` and a
``tojson`` that is ``json.dumps`` (no key sorting, no HTML escaping); :func:`hf_environment` is that
environment, so a prompt rendered here is the prompt ``apply_chat_template`` makes
(``transformers/utils/chat_template_utils.py``, tested against it in tests/unit/test_probe_template*.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["ChatTemplate", "TemplateLoadError", "hf_environment", "load_template"]


class TemplateLoadError(ValueError):
    """The file holds no usable chat template; the message says what was wrong and what to pass."""


@dataclass(frozen=True, slots=True)
class ChatTemplate:
    """A template's source plus the special tokens a tokenizer config gives it."""

    source: str
    origin: str
    name: str | None = None
    tokens: Mapping[str, str] | None = None


def load_template(path: Path | str, *, name: str | None = None) -> ChatTemplate:
    """A ``.jinja`` file, or a ``tokenizer_config.json`` whose ``chat_template`` is a string or a list
    of ``{"name", "template"}`` (``name`` picks one; default ``default``, else the first)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TemplateLoadError(
            f"{path} is not UTF-8 text; pass a .jinja file or a tokenizer_config.json"
        ) from None
    if path.suffix.lower() != ".json":
        if name is not None:
            raise TemplateLoadError(
                f"--name picks one of several templates in a tokenizer_config.json, not in {path.name}"
            )
        return ChatTemplate(source=text, origin=str(path))
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise TemplateLoadError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or "chat_template" not in config:
        raise TemplateLoadError(
            f"{path} has no 'chat_template'; pass the tokenizer_config.json of a chat model or a .jinja file"
        )
    tokens = {
        key: value
        for key in ("bos_token", "eos_token", "pad_token", "unk_token")
        if (value := _token(config.get(key)))
    }
    raw = config["chat_template"]
    if isinstance(raw, str):
        if name is not None:
            raise TemplateLoadError(f"{path} holds a single template; drop --name")
        return ChatTemplate(source=raw, origin=str(path), tokens=tokens)
    if (
        isinstance(raw, list)
        and raw
        and all(isinstance(t, dict) and isinstance(t.get("template"), str) for t in raw)
    ):
        names = [str(t.get("name")) for t in raw]
        wanted = name if name is not None else ("default" if "default" in names else names[0])
        for entry, entry_name in zip(raw, names, strict=True):
            if entry_name == wanted:
                return ChatTemplate(
                    source=entry["template"], origin=str(path), name=entry_name, tokens=tokens
                )
        raise TemplateLoadError(f"{path} has no template named {wanted!r}; its templates: {', '.join(names)}")
    raise TemplateLoadError(
        f"{path}: 'chat_template' must be a string or a list of {{name, template}} objects"
    )


def _token(value: Any) -> str | None:
    """A special token from a tokenizer config: a string or an ``AddedToken`` dict with ``content``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


class _GenerationTag(Extension):
    """Hugging Face's ``{% generation %}…{% endgeneration %}`` (assistant masks): rendered as its body."""

    tags = {"generation"}  # noqa: RUF012 - jinja2's Extension API declares it as a class attribute

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    # transformers' tojson: json.dumps without key sorting or HTML escaping (jinja2's own sorts keys
    # and escapes <, >, &, ' — which changes what the model sees).
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def hf_environment() -> ImmutableSandboxedEnvironment:
    """A Jinja environment that renders chat templates the way ``transformers`` does."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env
