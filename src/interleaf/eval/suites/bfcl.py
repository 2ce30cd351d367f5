"""``bfcl-multi-turn``: BFCL v4's multi-turn categories, run through interleaf's agent, scored by BFCL.

Each task is one BFCL entry: several user turns against stateful API classes (a file system, a trading
bot, travel booking, a vehicle, messaging, ...). Every function of the entry's classes is one agent
tool; a call runs on BFCL's own class instances through its ``execute_multi_turn_func_call``, exactly
as its inference pipeline runs them, and the result string goes back as the tool result. Held-out
functions (``miss_func``) join the toolset at their turn, with BFCL's own "I have updated some more
functions" message. At the end, the calls of each step of each turn go to BFCL's
``multi_turn_checker`` (state and response checks), as its ``eval_runner`` does; a turn cut off by the
agent's budget (BFCL's 20-step limit) fails the task as BFCL's force-termination does.

What is loaded from the bfcl-eval wheel and why: see :mod:`interleaf.eval.suites.bfcl_package`.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from interleaf.eval.spec import Grade, SuiteError, Task, TurnResult, check_options
from interleaf.eval.suites.bfcl_package import VERSION as BFCL_VERSION
from interleaf.eval.suites.bfcl_package import Bfcl, load_bfcl
from interleaf.tools.base import Tool, ToolContext, ToolError, ToolOutcome
from interleaf.transcript import Message, ToolSpec

NAME = "bfcl-multi-turn"
VERSION = f"bfcl-eval-{BFCL_VERSION}/multi_turn-v4"
CATEGORIES = ("base", "long_context", "miss_func", "miss_param")
OPTIONS = {"categories": f"comma-separated subset of {', '.join(CATEGORIES)} (default: all four)"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _AnyArguments(BaseModel):
    """Arguments pass through as the model wrote them: BFCL's functions judge them (as in BFCL)."""

    model_config = ConfigDict(extra="allow")


def to_json_schema(schema: Any) -> Any:
    """A BFCL parameter schema (``dict``, ``float``, ``tuple``...) as JSON Schema, via BFCL's mapping."""
    from interleaf.eval.suites.bfcl_package import load_bfcl as _load

    mapping: Mapping[str, str] = _load().types.GORILLA_TO_OPENAPI
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            converted[key] = mapping.get(value, value)
        elif key == "properties" and isinstance(value, dict):
            converted[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            converted[key] = to_json_schema(value)
        else:
            converted[key] = value
    return converted


def call_string(name: str, arguments: Mapping[str, Any]) -> str:
    """A call as BFCL's decoders write it (``convert_to_function_call``): ``name(key=repr(value),...)``."""
    return f"{name}({','.join(f'{key}={value!r}' for key, value in arguments.items())})"


class BfclFunctionTool:
    """One BFCL function as an agent tool, executed on the trial's BFCL class instances."""

    params = _AnyArguments
    read_only = True

    def __init__(self, doc: Mapping[str, Any], run: BfclRun) -> None:
        self.doc = doc
        self.name = str(doc["name"])
        self._run = run
        parameters = to_json_schema(doc.get("parameters") or {"type": "object", "properties": {}})
        self._spec = ToolSpec(
            name=self.name, description=str(doc.get("description", "")), parameters=parameters
        )
        self._known = set((parameters.get("properties") or {}).keys())

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        for key in arguments:
            # The call becomes Python source for BFCL's executor: only declared, plain names may pass.
            if not _IDENTIFIER.match(key) or key not in self._known:
                raise ToolError(
                    f"`{self.name}` has no parameter {key!r}; its parameters: {', '.join(sorted(self._known)) or 'none'}"
                )
        return ToolOutcome(content=self._run.execute(call_string(self.name, arguments)))

    async def aclose(self) -> None:
        pass


class BfclRun:
    """One trial of one BFCL entry: its own class instances (keyed by a fresh prefix), its tools."""

    def __init__(self, bfcl: Bfcl, entry: Mapping[str, Any], ground_truth: list[list[str]]) -> None:
        self.bfcl = bfcl
        self.entry = copy.deepcopy(dict(entry))
        self.ground_truth = ground_truth
        self.prefix = f"interleaf_{uuid.uuid4().hex}"
        self.category = self.entry["id"].rsplit("_", 1)[0]
        self.long_context = "long_context" in self.category
        prompts = bfcl.prompts.PROMPT_STYLE_TEMPLATES["classic"]
        self.system: str | None = f"{prompts['persona']} {prompts['task']}\n\n{prompts['multiturn_behavior']}"
        self.max_steps = int(bfcl.prompts.MAXIMUM_STEP_LIMIT)
        self._held_out: dict[int, list[Mapping[str, Any]]] = {
            int(turn): list(docs) for turn, docs in (self.entry.get("missed_function") or {}).items()
        }
        self.tools: Sequence[Tool] | None = self._tools(self.entry["function"])
        # Instantiate the classes with the entry's initial state before the first call, as BFCL does.
        self.bfcl.executor.execute_multi_turn_func_call(
            [], self.entry["initial_config"], self.entry["involved_classes"], self.prefix,
            self.entry["id"], long_context=self.long_context, is_evaL_run=False,
        )  # fmt: skip

    def _tools(self, docs: Sequence[Mapping[str, Any]]) -> list[Tool]:
        tools: list[Tool] = []
        seen: set[str] = set()
        for doc in docs:
            if doc["name"] not in seen:
                seen.add(doc["name"])
                tools.append(BfclFunctionTool(doc, self))
        return tools

    def execute(self, call: str) -> str:
        results, _ = self.bfcl.executor.execute_multi_turn_func_call(
            [call], self.entry["initial_config"], self.entry["involved_classes"], self.prefix,
            self.entry["id"], long_context=self.long_context, is_evaL_run=False,
        )  # fmt: skip
        return str(results[0])

    def turns(self) -> int:
        return len(self.entry["question"])

    def turn(self, index: int) -> tuple[str, Sequence[Tool]]:
        messages = self.entry["question"][index]
        if index in self._held_out:
            return self.bfcl.prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC, self._tools(
                self._held_out[index]
            )
        return "\n\n".join(str(m["content"]) for m in messages if m.get("role") == "user"), ()

    def continues(self, result: TurnResult) -> bool:
        return result.finished.status == "done"

    async def grade(self, results: Sequence[TurnResult], messages: Sequence[Message]) -> Grade:
        decoded = decode_turns(messages)
        info: dict[str, Any] = {
            "turns": len(self.ground_truth),
            "calls": sum(len(s) for t in decoded for s in t),
        }
        if len(results) != len(self.ground_truth) or any(r.finished.status != "done" for r in results):
            status = next((r.finished.status for r in results if r.finished.status != "done"), "missing")
            info["error"] = f"force-terminated: turn {len(results) - 1} ended with {status}"
            return Grade(False, "multi_turn:force_terminated", info)
        entry = {k: v for k, v in self.entry.items() if k != "function"}
        verdict = self.bfcl.checker.multi_turn_checker(
            decoded, self.ground_truth, entry, self.category, f"{self.prefix}_grade"
        )
        if verdict.get("valid"):
            return Grade(True, "valid", info)
        info["error"] = str(verdict.get("error_message", ""))[:500]
        return Grade(False, str(verdict.get("error_type", "invalid")), info)

    async def aclose(self) -> None:
        # BFCL keeps instances in its executor module's globals by name; each trial's names start with
        # its prefix, and a long run would otherwise keep every instance alive.
        namespace = vars(self.bfcl.executor)
        for name in [n for n in namespace if n.startswith(self.prefix)]:
            del namespace[name]


def decode_turns(messages: Sequence[Message]) -> list[list[list[str]]]:
    """The calls of each step of each user turn, as BFCL's decoders produce them (empty steps left out)."""
    turns: list[list[list[str]]] = []
    for message in messages:
        if message.role == "user" and not message.tool_results:
            turns.append([])
        elif message.role == "assistant" and turns:
            step = [call_string(c.name, c.arguments) for c in message.tool_calls if c.arguments_error is None]
            if step:
                turns[-1].append(step)
    return turns


@cache
def _data(root: Path | None) -> tuple[Bfcl, dict[str, dict[str, Any]], dict[str, list[list[str]]]]:
    bfcl = load_bfcl(root)
    entries: dict[str, dict[str, Any]] = {}
    truth: dict[str, list[list[str]]] = {}
    for category in CATEGORIES:
        for entry in bfcl.entries(category):
            entries[entry["id"]] = entry
        truth.update(bfcl.ground_truth(category))
    return bfcl, entries, truth


class BfclSuite:
    name = NAME
    version = VERSION
    description = "BFCL v4 multi-turn (base, long_context, miss_func, miss_param), scored by BFCL's checker"

    def __init__(self, root: Path | None = None) -> None:
        self.root = root

    def data(self) -> tuple[Bfcl, dict[str, dict[str, Any]], dict[str, list[list[str]]]]:
        return _data(self.root)

    def tasks(self, options: Mapping[str, str], seed: int) -> list[Task]:
        check_options(options, OPTIONS, NAME)
        chosen = [c.strip() for c in options.get("categories", ",".join(CATEGORIES)).split(",") if c.strip()]
        unknown = [c for c in chosen if c not in CATEGORIES]
        if unknown:
            raise SuiteError(
                f"-O categories: unknown {', '.join(unknown)}; choose from {', '.join(CATEGORIES)}"
            )
        _, entries, _ = self.data()
        by_category = {
            c: [e for e in entries.values() if e["id"].startswith(f"multi_turn_{c}_")] for c in chosen
        }
        for items in by_category.values():
            items.sort(key=lambda e: int(e["id"].rsplit("_", 1)[1]))
        tasks: list[Task] = []
        # Round-robin over the categories, so --limit N samples each of them.
        for index in range(max((len(v) for v in by_category.values()), default=0)):
            for category in chosen:
                if index < len(by_category[category]):
                    entry = by_category[category][index]
                    tasks.append(
                        Task(
                            id=entry["id"],
                            suite=NAME,
                            info={
                                "category": category,
                                "turns": len(entry["question"]),
                                "classes": list(entry["involved_classes"]),
                            },
                        )
                    )
        return tasks

    async def open(self, task: Task, workdir: Path, seed: int) -> BfclRun:
        bfcl, entries, truth = self.data()
        if task.id not in entries:
            raise SuiteError(f"BFCL has no entry {task.id!r}")
        return BfclRun(bfcl, entries[task.id], truth[task.id])
