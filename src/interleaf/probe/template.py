"""``interleaf probe template``: which earlier reasoning a chat template renders back into the prompt.

The template is rendered as Hugging Face ``apply_chat_template`` does (:mod:`.template_env`) over two
tool conversations (:mod:`.template_conversations`) with the reasoning carried every way a client can
send it: ``reasoning_content``, ``reasoning``, ``thinking``, ``<think>`` inline in ``content`` and, for
harmony templates, an analysis channel in ``content``. Tool-call arguments go as a dict, then as a
JSON string when the dict raises, as serving engines retry. Per assistant message the report says
kept, dropped, verbatim (in the prompt as plain text) or error, and per carrier the rule
(:mod:`.template_rules`). The same is judged for what each serving stack hands the template
(:mod:`.template_stacks`), since vLLM, SGLang, llama.cpp and transformers versions pass different
fields. Template options (``chat_template_kwargs``) are passed to every render and the ones the
template reads are listed (:mod:`.template_options`).

Exit code: 0 when some carrier keeps the current tool loop's reasoning in the template's format, 1
when none does, 2 when the template does not parse or nothing renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import jinja2

from interleaf.probe.report import Check, Overall, TemplateReport
from interleaf.probe.template_conversations import (
    ARGS_DICT,
    ARGS_JSON,
    ARGUMENT_MARKERS,
    INLINE_CARRIERS,
    LOOP,
    NUDGED,
    RESULT_MARKERS,
    Position,
    carriers_for,
    messages,
    positions,
    restore_tags,
)
from interleaf.probe.template_env import ChatTemplate, TemplateLoadError, hf_environment, load_template
from interleaf.probe.template_options import OptionError, check_options, find_options
from interleaf.probe.template_prompts import Attempt, PromptRenderer, describe_error
from interleaf.probe.template_results import (
    FieldResult,
    MessageVerdict,
    StackResult,
    Survival,
    TemplateOption,
    loop_survival,
)
from interleaf.probe.template_rules import (
    RULE_AFTER_FINAL,
    RULE_AFTER_USER,
    RULE_ALL,
    RULE_NONE,
    RULE_VERBATIM,
    classify,
)
from interleaf.probe.template_stacks import REASONING_KEYS, STACKS, Stack

__all__ = [
    "RULE_AFTER_FINAL",
    "RULE_AFTER_USER",
    "RULE_ALL",
    "RULE_NONE",
    "RULE_VERBATIM",
    "ChatTemplate",
    "OptionError",
    "TemplateLoadError",
    "hf_environment",
    "load_template",
    "probe_template",
]

Messages = list[dict[str, Any]]
_DIRECT_FORMS = (ARGS_DICT, ARGS_JSON)


def _build(
    conversation: str, carrier: str, view: Callable[[Messages, str], Messages] | None, source: str, form: str
) -> Messages:
    built = messages(conversation, carrier, form)
    return built if view is None else view(built, source)


def _judge(
    renderer: PromptRenderer, carrier: str, stack: Stack | None, forms: Sequence[str]
) -> tuple[tuple[MessageVerdict, ...], dict[str, Attempt]]:
    """Render both conversations (through ``stack``'s view, or as sent) and judge every assistant."""
    view = None if stack is None else stack.view
    verdicts: list[MessageVerdict] = []
    attempts: dict[str, Attempt] = {}
    for conversation in (LOOP, NUDGED):
        attempt = renderer.attempt(partial(_build, conversation, carrier, view, renderer.source), forms)
        attempts[conversation] = attempt
        for position in positions(conversation):
            survival, detail = _survival(renderer, attempt, position, carrier, stack)
            verdicts.append(
                MessageVerdict(
                    conversation=conversation,
                    number=position.number,
                    index=position.index,
                    place=position.place,
                    after_last_user=position.after_last_user,
                    after_last_final=position.after_last_final,
                    survival=survival,
                    detail=detail,
                )
            )
    return tuple(verdicts), attempts


def _survival(
    renderer: PromptRenderer, attempt: Attempt, position: Position, carrier: str, stack: Stack | None
) -> tuple[Survival, str]:
    if attempt.prompt is None:
        return Survival.ERROR, attempt.error or ""
    if position.marker not in attempt.prompt:
        return Survival.DROPPED, ""
    if carrier not in INLINE_CARRIERS:
        return Survival.KEPT, ""
    assert attempt.arguments is not None  # set whenever a prompt was rendered
    twin_messages = messages(position.conversation, carrier, attempt.arguments, neutral=position.number)
    if stack is not None:
        twin_messages = stack.view(twin_messages, renderer.source)
    twin, _ = renderer.render(twin_messages)
    if twin is not None and restore_tags(twin, carrier) == attempt.prompt:
        return Survival.VERBATIM, "rendered as plain text: the tags are not parsed"
    return Survival.KEPT, ""


def _field_result(renderer: PromptRenderer, carrier: str) -> FieldResult:
    verdicts, attempts = _judge(renderer, carrier, None, _DIRECT_FORMS)
    rule, evidence = classify(verdicts)
    loop, nudged = attempts[LOOP], attempts[NUDGED]
    rendered = loop if loop.prompt is not None else nudged
    return FieldResult(
        field=carrier,
        messages=verdicts,
        rule=rule,
        evidence=evidence,
        arguments=rendered.arguments,
        argument_errors=rendered.failures if rendered.prompt is not None else (),
        error=loop.error or nudged.error,
        rendered=loop.prompt or "",
        rendered_nudged=nudged.prompt or "",
    )


def _sees(stack: Stack, carrier: str, source: str) -> tuple[str, ...]:
    sent = messages(LOOP, carrier, stack.argument_forms[0])
    received = [m for m in stack.view(sent, source) if m.get("role") == "assistant"]
    if carrier in INLINE_CARRIERS:
        return ("content",)
    return tuple(key for key in REASONING_KEYS if any(m.get(key) is not None for m in received))


def _stack_result(renderer: PromptRenderer, stack: Stack, carrier: str) -> StackResult:
    verdicts, attempts = _judge(renderer, carrier, stack, stack.argument_forms)
    rule, _ = classify(verdicts)
    loop = attempts[LOOP]
    return StackResult(
        stack=stack.name,
        sends=carrier,
        sees=_sees(stack, carrier, renderer.source),
        loop=loop_survival(verdicts),
        rule=rule,
        messages=verdicts,
        arguments=loop.arguments,
        error=loop.error,
    )


def _checks(fields: Sequence[FieldResult]) -> list[Check]:
    """Tool calls render when their arguments do (the tool's name is in the tool list anyway)."""
    prompt = next((f.rendered for f in fields if f.rendered), None)
    if prompt is None:
        return []
    checks = []
    for name, markers in (("tool calls render", ARGUMENT_MARKERS), ("tool results render", RESULT_MARKERS)):
        missing = [m for m in markers if m not in prompt]
        detail = f"missing from the prompt: {', '.join(missing)}" if missing else ""
        checks.append(Check(name=name, status="failed" if missing else "ok", detail=detail))
    return checks


def _generation_prompt(renderer: PromptRenderer, fields: Sequence[FieldResult]) -> str | None:
    """What ``add_generation_prompt`` appends to the loop conversation."""
    for result in fields:
        if result.rendered and result.arguments is not None:
            built = messages(LOOP, result.field, result.arguments)
            without, _ = renderer.render(built, add_generation_prompt=False)
            if without is not None and result.rendered.startswith(without):
                return result.rendered[len(without) :]
            return None
    return None


def probe_template(template: ChatTemplate, *, options: Mapping[str, Any] | None = None) -> TemplateReport:
    """Render the probe conversations every way and judge what the template keeps.

    ``options`` are template options (``chat_template_kwargs``) passed to every render. Raises
    OptionError for an option that would replace the probe's own variables (``messages`` ...)."""
    passed = dict(options or {})
    check_options(passed)
    base: dict[str, Any] = {"source": template.origin, "name": template.name}
    base["template_kwargs"] = tuple(passed.items())
    try:
        renderer = PromptRenderer(template, passed)
        found = find_options(hf_environment(), template.source, passed)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateReport(
            overall=Overall.UNPROBED, summary=f"could not parse the template: {describe_error(exc)}", **base
        )
    carriers = carriers_for(template.source)
    fields = tuple(_field_result(renderer, carrier) for carrier in carriers)
    stacks = tuple(_stack_result(renderer, stack, carrier) for stack in STACKS for carrier in carriers)
    overall, summary, notes = _conclude(fields, stacks, found, passed)
    return TemplateReport(
        overall=overall,
        summary=summary,
        notes=tuple(notes),
        options=found,
        fields=fields,
        stacks=stacks,
        checks=tuple(_checks(fields)),
        generation_prompt=_generation_prompt(renderer, fields),
        **base,
    )


def _names(fields: Sequence[FieldResult]) -> str:
    return ", ".join(f.field for f in fields)


def _conclude(
    fields: Sequence[FieldResult],
    stacks: Sequence[StackResult],
    found: Sequence[TemplateOption],
    passed: Mapping[str, Any],
) -> tuple[Overall, str, list[str]]:
    if all(m.survival is Survival.ERROR for f in fields for m in f.messages):
        return Overall.UNPROBED, f"could not render the template: {fields[0].error}", []
    notes = _notes(fields, stacks, found, passed)
    keeping = [f for f in fields if f.keeps_loop]
    if keeping:
        return (
            Overall.KEPT,
            f"the current tool loop keeps its reasoning when sent as {_names(keeping)}",
            notes,
        )
    verbatim = [f for f in fields if f.loop == Survival.VERBATIM.value]
    if verbatim:
        return (
            Overall.LEAK,
            f"the current tool loop's reasoning reaches the prompt only as plain text ({_names(verbatim)}): "
            "the template parses no way of sending it",
            notes,
        )
    return (
        Overall.LEAK,
        "the template drops the current tool loop's reasoning whichever way it is sent",
        notes,
    )


def _notes(
    fields: Sequence[FieldResult],
    stacks: Sequence[StackResult],
    found: Sequence[TemplateOption],
    passed: Mapping[str, Any],
) -> list[str]:
    notes: list[str] = []
    retried = next((f for f in fields if f.argument_errors and f.arguments == ARGS_JSON), None)
    if retried is not None:
        notes.append(
            f"tool-call arguments render only as JSON strings ({retried.argument_errors[0]}); vLLM and "
            "SGLang hand templates dicts, so this template raises there"
        )
    notes.extend(f"{f.field}: {f.error}" for f in fields if f.error is not None)
    by_user = [f for f in fields if f.rule == RULE_AFTER_USER]
    if by_user:
        notes.append(
            f"{_names(by_user)}: a user message inside a tool loop drops the reasoning of the loop's "
            "earlier assistant messages (assistant 3 in the nudged conversation); send observations and "
            "reminders as tool results or in the system prompt, never as a user message mid-loop"
        )
    by_final = [f for f in fields if f.rule == RULE_AFTER_FINAL]
    if by_final:
        notes.append(
            f"{_names(by_final)}: reasoning before the last final answer is dropped by design; a user "
            "message inside the tool loop does not drop it"
        )
    notes.extend(_stack_notes(fields, stacks))
    if found:
        listed = ", ".join(
            o.name + (f" ({', '.join(o.compared_with)})" if o.compared_with else "") for o in found
        )
        notes.append(f"the template reads options: {listed}; pass them with --kwarg NAME=VALUE")
    unread = sorted(set(passed) - {o.name for o in found})
    notes.extend(f"option {name}: the template never reads it, so it changes nothing" for name in unread)
    return notes


def _stack_names(names: Sequence[str]) -> str:
    """Stack names, a server named once when all its transformers variants are listed."""
    bases: dict[str, list[str]] = {}
    for name in names:
        bases.setdefault(name.split(" (")[0], []).append(name)
    variants = {s.name.split(" (")[0]: 0 for s in STACKS}
    for stack in STACKS:
        variants[stack.name.split(" (")[0]] += 1
    out = []
    for base, listed in bases.items():
        out.extend([base] if len(listed) == variants.get(base, 1) else listed)
    return ", ".join(out)


_LOOP_WORDS = {"kept": "kept", "dropped": "dropped", "verbatim": "plain text", "partial": "partly kept"}


def _stack_notes(fields: Sequence[FieldResult], stacks: Sequence[StackResult]) -> list[str]:
    """Where a serving stack changes the answer for a client field; stacks the template fails on
    whatever is sent get one note of their own."""
    notes = []
    failing = [
        name
        for name in dict.fromkeys(s.stack for s in stacks)
        if all(s.loop == Survival.ERROR.value for s in stacks if s.stack == name)
    ]
    if failing:
        error = next(s.error for s in stacks if s.stack == failing[0])
        notes.append(f"on {_stack_names(failing)} the template raises whatever is sent ({error})")
    for result in fields:
        differ = [
            s for s in stacks if s.sends == result.field and s.loop != result.loop and s.stack not in failing
        ]
        outcomes: dict[str, list[str]] = {}
        for row in differ:
            outcomes.setdefault(row.loop, []).append(row.stack)
        if not outcomes:
            continue
        told = "; ".join(
            f"{_LOOP_WORDS.get(loop, 'a render error')} on {_stack_names(names)}"
            for loop, names in outcomes.items()
        )
        notes.append(
            f"sent as {result.field} ({_LOOP_WORDS.get(result.loop, 'a render error')} when given to the "
            f"template as sent), the current tool loop's reasoning is {told}"
        )
    return notes
