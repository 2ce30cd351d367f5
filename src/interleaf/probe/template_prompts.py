"""Rendering the probe's conversations with one template: compiled once, each prompt rendered once.

A chat template is code from a model repository: whatever it raises (``raise_exception``, a
``TypeError`` from joining a dict to a string, an undefined attribute) is a finding about that
template, reported against the messages it was rendering, never a crash of the probe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interleaf.probe.template_conversations import TOOL
from interleaf.probe.template_env import ChatTemplate, hf_environment

__all__ = ["Attempt", "PromptRenderer", "describe_error"]

_MAX_ERROR = 300


def describe_error(exc: BaseException) -> str:
    """``TypeError: can only concatenate str (not "dict") to str`` — the kind and the message."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


@dataclass(frozen=True, slots=True)
class Attempt:
    """A conversation rendered with the first argument form that worked (``arguments``), or not at
    all; ``failures`` holds ``form: error`` for every form that raised."""

    prompt: str | None
    arguments: str | None
    failures: tuple[str, ...] = ()

    @property
    def error(self) -> str | None:
        if self.prompt is not None:
            return None
        return "; ".join(self.failures) or "nothing was rendered"


class PromptRenderer:
    """The template compiled in the Hugging Face environment, with the variables every render gets:
    the special tokens, the caller's template options, the probe's tool and no documents.

    Raises ``jinja2.TemplateSyntaxError`` when the source does not compile."""

    def __init__(self, template: ChatTemplate, options: Mapping[str, Any]) -> None:
        self.source = template.source
        self._compiled = hf_environment().from_string(template.source)
        self._variables: dict[str, Any] = {"bos_token": "", "eos_token": "", **(template.tokens or {})}
        self._variables.update(options)
        self._cache: dict[str, tuple[str | None, str | None]] = {}

    def render(
        self, messages: list[dict[str, Any]], *, add_generation_prompt: bool = True
    ) -> tuple[str | None, str | None]:
        """``(prompt, None)``, or ``(None, error)`` when the template raised."""
        key = json.dumps([messages, add_generation_prompt], ensure_ascii=False)
        if key not in self._cache:
            try:
                prompt = self._compiled.render(
                    **self._variables,
                    messages=messages,
                    tools=[TOOL],
                    documents=None,
                    add_generation_prompt=add_generation_prompt,
                )
                self._cache[key] = (prompt, None)
            except Exception as exc:  # a template is untrusted code: its errors are findings
                self._cache[key] = (None, describe_error(exc))
        return self._cache[key]

    def attempt(self, build: Callable[[str], list[dict[str, Any]]], forms: Sequence[str]) -> Attempt:
        """Render ``build(form)`` for each argument form in turn until one renders, as serving engines
        retry a template that cannot take dict arguments with JSON strings."""
        failures: list[str] = []
        for form in forms:
            prompt, error = self.render(build(form))
            if prompt is not None:
                return Attempt(prompt=prompt, arguments=form, failures=tuple(failures))
            failures.append(f"{form} arguments: {error}")
        return Attempt(prompt=None, arguments=None, failures=tuple(failures))
