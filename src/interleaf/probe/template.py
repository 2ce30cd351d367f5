"""``interleaf probe template``: which earlier reasoning a chat template renders back into the prompt.

The template is rendered the way Hugging Face ``apply_chat_template`` does (:func:`hf_environment`)
over one canonical tool conversation::

    system, user 1, assistant 1 (reasoning R1 + text), user 2,
    assistant 2 (R2 + tool call), tool result, assistant 3 (R3 + tool call), tool result, [generation]

twice: once with the reasoning in ``reasoning_content``, once inline as ``<think>R</think>`` in
``content``. Every piece carries a unique marker, so the rendered prompt says which reasoning survived,
and the pattern names the template's rule: all turns, after the last user message (MiniMax-M2, Qwen3,
GLM), or none. Assistants 2 and 3 are the current tool loop — the interleaved thinking that must
survive; assistant 1 precedes the last user message, which many templates drop by design.
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

from interleaf.probe.report import Check, FieldResult, MessageSurvival, Overall, TemplateReport

FIELDS = ("reasoning_content", "<think> in content")

RULE_ALL = "all turns"
RULE_AFTER_USER = "after the last user message"
RULE_NONE = "none"


class TemplateLoadError(ValueError):
    """The file holds no usable chat template; the message says what was wrong and what to pass."""


# ------------------------------------------------------------------------------------ loading


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


# ------------------------------------------------------------------------------ environment


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


# ----------------------------------------------------------------------- canonical conversation

_TOOL = {
    "type": "function",
    "function": {
        "name": "probe_lookup",
        "description": "Look something up.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}
_ASSISTANTS = (  # (label, reasoning marker, text marker, call) for assistants 1-3
    ("assistant 1", "REASONING_MARK_ONE", "TEXT_MARK_ONE", None),
    ("assistant 2", "REASONING_MARK_TWO", "", ("call_probe_2", "ARG_MARK_TWO", "RESULT_MARK_TWO")),
    ("assistant 3", "REASONING_MARK_THREE", "", ("call_probe_3", "ARG_MARK_THREE", "RESULT_MARK_THREE")),
)


def canonical_messages(field: str) -> tuple[list[dict[str, Any]], list[tuple[int, str, str, bool]]]:
    """The conversation as Hugging Face messages, reasoning carried as ``field``; and per assistant
    message ``(index, label, reasoning marker, after the last user message)``."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant. SYSTEM_MARK"},
        {"role": "user", "content": "First question. USER_MARK_ONE"},
    ]
    assistants = []
    for label, reasoning, text, call in _ASSISTANTS:
        if label == "assistant 2":
            messages.append({"role": "user", "content": "Second question, needs the tool. USER_MARK_TWO"})
        message: dict[str, Any] = {"role": "assistant"}
        if field == "reasoning_content":
            message["content"] = text
            message["reasoning_content"] = reasoning
        else:
            message["content"] = f"<think>\n{reasoning}\n</think>\n\n{text}"
        if call is not None:
            call_id, argument, _ = call
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "probe_lookup", "arguments": {"query": argument}},
                }
            ]
        assistants.append((len(messages), label, reasoning, label != "assistant 1"))
        messages.append(message)
        if call is not None:
            call_id, _, result = call
            messages.append(
                {"role": "tool", "tool_call_id": call_id, "name": "probe_lookup", "content": result}
            )
    return messages, assistants


def render(template: ChatTemplate, messages: list[dict[str, Any]]) -> str:
    """The template rendered over ``messages`` with the lookup tool and a generation prompt."""
    compiled = hf_environment().from_string(template.source)
    variables: dict[str, Any] = {"bos_token": "", "eos_token": "", **(template.tokens or {})}
    variables.update(messages=messages, tools=[_TOOL], add_generation_prompt=True)
    return compiled.render(**variables)


# ----------------------------------------------------------------------------------- analysis


def rule_of(messages: tuple[MessageSurvival, ...]) -> str:
    """Name the pattern of surviving reasoning."""
    survived = [m.survives for m in messages]
    if all(survived):
        return RULE_ALL
    if not any(survived):
        return RULE_NONE
    if all(m.survives == m.after_last_user for m in messages):
        return RULE_AFTER_USER
    kept = ", ".join(m.label for m in messages if m.survives)
    return f"irregular: only {kept}"


def _field(template: ChatTemplate, field: str) -> tuple[FieldResult, str | None]:
    messages, assistants = canonical_messages(field)
    try:
        prompt = render(template, messages)
    except jinja2.TemplateError as exc:
        kind = type(exc).__name__
        return FieldResult(field=field, error=f"the template raised {kind}: {exc}"), None
    survival = tuple(
        MessageSurvival(index=index, label=label, after_last_user=after, survives=marker in prompt)
        for index, label, marker, after in assistants
    )
    return FieldResult(field=field, messages=survival, rule=rule_of(survival), rendered=prompt), prompt


def _render_checks(prompt: str) -> list[Check]:
    """Tool calls render when their arguments do (the tool's name is in the tool list anyway)."""
    checks = []
    for name, markers in (
        ("tool calls render", ("ARG_MARK_TWO", "ARG_MARK_THREE")),
        ("tool results render", ("RESULT_MARK_TWO", "RESULT_MARK_THREE")),
    ):
        missing = [m for m in markers if m not in prompt]
        detail = f"missing from the prompt: {', '.join(missing)}" if missing else ""
        checks.append(Check(name=name, status="failed" if missing else "ok", detail=detail))
    return checks


def probe_template(template: ChatTemplate) -> TemplateReport:
    """Render the canonical conversation both ways and judge what the template keeps."""
    results = []
    prompt_for_checks: str | None = None
    for field in FIELDS:
        result, prompt = _field(template, field)
        results.append(result)
        prompt_for_checks = prompt_for_checks or prompt
    checks = _render_checks(prompt_for_checks) if prompt_for_checks is not None else []
    overall, summary, notes = _conclude(results)
    return TemplateReport(
        overall=overall,
        summary=summary,
        notes=tuple(notes),
        source=template.origin,
        name=template.name,
        fields=tuple(results),
        checks=tuple(checks),
    )


def _conclude(results: list[FieldResult]) -> tuple[Overall, str, list[str]]:
    notes: list[str] = []
    if all(r.error is not None for r in results):
        return Overall.UNPROBED, f"could not render the template: {results[0].error}", notes
    keeping = [r.field for r in results if r.keeps_loop]
    notes.extend(f"{r.field}: {r.error}" for r in results if r.error is not None)
    by_design = [r.field for r in results if r.rule == RULE_AFTER_USER]
    if by_design:
        notes.append(
            f"reasoning before the last user message is dropped by design ({', '.join(by_design)}): "
            "a user-role message injected mid-loop would drop the loop's thinking too"
        )
    if keeping:
        return Overall.KEPT, f"the current tool loop keeps its reasoning from {' and '.join(keeping)}", notes
    return Overall.LEAK, "the template drops reasoning inside the current tool loop", notes
