"""Template options: the variables a chat template reads besides the conversation, and how a user
passes them (``--template-kwargs JSON``, ``--kwarg NAME=VALUE``), as servers pass
``chat_template_kwargs``.

Options change what survives: GLM's ``clear_thinking``, Nemotron's ``truncate_history_thinking``,
Hunyuan's ``preserved_thinking``, Qwen3's ``enable_thinking``, DeepSeek's ``thinking``. They are found
by parsing the template: a name it reads but never sets, or one it tests with ``is defined`` (a
template that defaults an option sets it itself: ``{% if thinking is not defined %}{% set thinking =
false %}``). A name the template sets without testing it first is its own variable, not an option.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import jinja2
from jinja2 import meta, nodes

from interleaf.probe.template_results import TemplateOption

__all__ = [
    "RESERVED",
    "OptionError",
    "check_options",
    "find_options",
    "merge_options",
    "parse_kwarg",
    "parse_template_kwargs",
]

RESERVED: Final = frozenset({"messages", "tools", "documents", "add_generation_prompt"})
"""Variables the probe sets itself; an option cannot replace them."""
_STANDARD: Final = RESERVED | {"bos_token", "eos_token", "pad_token", "unk_token"}


class OptionError(ValueError):
    """A template option is malformed or would replace one of the probe's own variables; the message
    names it."""


def find_options(
    env: jinja2.Environment, source: str, passed: Iterable[str] = ()
) -> tuple[TemplateOption, ...]:
    """The options ``source`` reads, sorted by name, each with the literals it is compared with.

    Raises ``jinja2.TemplateSyntaxError`` when the source does not parse."""
    tree = env.parse(source)
    undeclared = meta.find_undeclared_variables(tree) - _STANDARD - set(env.globals)
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    tested = {
        test.node.name
        for test in tree.find_all(nodes.Test)
        if test.name in ("defined", "undefined") and isinstance(test.node, nodes.Name)
    }
    given = set(passed)
    names = sorted(n for n in undeclared if n not in assigned or n in tested or n in given)
    compared = _compared(tree, set(names))
    return tuple(
        TemplateOption(name=name, compared_with=tuple(compared.get(name, ())), passed=name in given)
        for name in names
    )


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _compared(tree: nodes.Template, names: set[str]) -> dict[str, list[str]]:
    """``x == 'high'`` and ``x is false`` give ``x``: ``"high"``, ``false``."""
    found: dict[str, list[str]] = {}

    def add(name: str, literal: str) -> None:
        if name in names and literal not in found.setdefault(name, []):
            found[name].append(literal)

    for compare in tree.find_all(nodes.Compare):
        operands = [compare.expr, *(op.expr for op in compare.ops)]
        constants = [o.value for o in operands if isinstance(o, nodes.Const)]
        for operand in operands:
            if isinstance(operand, nodes.Name):
                for value in constants:
                    add(operand.name, _literal(value))
    for test in tree.find_all(nodes.Test):
        if isinstance(test.node, nodes.Name) and test.name in ("true", "false", "none"):
            add(test.node.name, test.name)
    for flag in _flags(tree):
        add(flag, "true")
        add(flag, "false")
    return found


def _flags(tree: nodes.Template) -> set[str]:
    """Names used as a truth value: ``if x``, ``not x``, ``x and …``, ``a if x else b``."""
    tests: list[nodes.Node] = [n.test for n in tree.find_all(nodes.If)]
    tests += [n.test for n in tree.find_all(nodes.CondExpr)]
    tests += [n.node for n in tree.find_all(nodes.Not)]
    for logic in tree.find_all((nodes.And, nodes.Or)):
        tests += [logic.left, logic.right]
    return {n.name for n in tests if isinstance(n, nodes.Name)}


def parse_kwarg(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``: the value as JSON when it parses (``false``, ``2``, ``"x"``, ``{...}``), else the
    text itself."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise OptionError(f"--kwarg {text!r} is not NAME=VALUE (for example --kwarg clear_thinking=false)")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def parse_template_kwargs(text: str) -> dict[str, Any]:
    """``--template-kwargs``: a JSON object of options."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise OptionError(
            f"--template-kwargs is not valid JSON ({exc}); pass an object such as "
            "'{\"clear_thinking\": false}'"
        ) from None
    if not isinstance(value, dict):
        raise OptionError(f"--template-kwargs must be a JSON object, got {type(value).__name__}")
    return value


def merge_options(kwargs_json: str | None, kwargs: Iterable[str]) -> dict[str, Any]:
    """``--template-kwargs`` first, each ``--kwarg`` over it; the probe's own variables refused."""
    options = parse_template_kwargs(kwargs_json) if kwargs_json else {}
    options.update(parse_kwarg(text) for text in kwargs)
    check_options(options)
    return options


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse options that would replace what the probe renders."""
    clash = sorted(set(options) & RESERVED)
    if clash:
        raise OptionError(
            f"the probe sets {', '.join(clash)} itself; template options cannot replace "
            f"{'it' if len(clash) == 1 else 'them'}"
        )
