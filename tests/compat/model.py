"""The scripted model behind every compatibility run: a strict 3-step tool task in one dialect.

It answers from the request itself (a :data:`~tests.support.scripted_server.Responder`), so it copes
with whatever an app sends around the task:

* a **task request** offers tools and carries the task marker; its step is the number of tool results
  it holds plus one. Steps 1 and 2 think (a unique marker text per turn) and call one of the app's own
  tools with arguments that read a file of the workdir (:mod:`tests.compat.tools`); step 3 thinks and
  answers with text. Before answering, every earlier turn of the task is checked (:mod:`.checks`); one
  whose thinking did not come back exactly gets the vendor's 400 (the strict validators of
  tests/support/strict.py, or the same words where their position rules do not see the loss).
* a **side request** (title generation, a quota probe, a summary, no tools or no marker) gets a short
  text without thinking and takes no step; ``count_tokens`` gets an estimate; ``GET …/models`` a list.

With ``text_actions`` (an app that sends no tools, such as aider) a request with the marker is a task
request even without tools: its step is the number of this model's earlier turns it carries plus one,
and steps 1 and 2 answer with an edit the app cannot apply (:mod:`.textedits`), so that the app sends
the next request itself. Thinking lost from such plain-text turns is counted, never refused: no vendor
requires it back, as Anthropic and DeepSeek's thinking mode demand earlier thinking only inside a tool
loop, and here every turn is followed by a user message (the app's report on the edit).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.compat.checks import Echo, carries_text_turn, echoes
from tests.compat.dialects import Dialect
from tests.compat.replies import Call, Turn, plain_reply, reply
from tests.compat.textedits import edit_anchor, failed_edit
from tests.compat.tools import plan_call, tool_specs
from tests.support.payloads import minted_call_id
from tests.support.scripted_server import RecordedRequest, ScriptedServer, Step, Validator
from tests.support.strict import (
    StrictAnthropic,
    StrictAnthropicFields,
    StrictOpenAIReasoning,
    StrictResponses,
    StrictThinkTags,
)

TASK_MARKER = "COMPAT-TASK"
STEPS = 3


@dataclass
class Exchange:
    """One request the model answered, as the suite reports it."""

    number: int
    kind: str
    """``task``, ``side``, ``count_tokens``, ``models`` or ``other``."""
    method: str
    path: str
    step: int = 0
    echoes: list[Echo] = field(default_factory=list)
    status: int = 200
    problem: str = ""
    """The 400 text when the request was refused."""
    tool: str = ""
    tool_result_seen: bool = False
    """Step 2 and later: the first tool's output (the file's content) came back in a tool result."""

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "step": self.step,
            "echoes": [e.as_json() for e in self.echoes],
            "status": self.status,
            "problem": self.problem,
            "tool": self.tool,
            "tool_result_seen": self.tool_result_seen,
        }


class CompatModel:
    """The model of one run. ``attach`` it to a :class:`ScriptedServer` before the app starts."""

    def __init__(
        self,
        dialect: Dialect,
        workdir: Path,
        file_name: str,
        file_text: str,
        *,
        model_name: str = "scripted-model",
        strict: bool = True,
        text_actions: bool = False,
    ) -> None:
        self.dialect = dialect
        self.model_name = model_name
        self.workdir = workdir
        self.file_name = file_name
        self.file_text = file_text
        self.strict = strict
        self.text_actions = text_actions
        self.nonce = secrets.token_hex(4)
        self.turns: list[Turn] = []
        self.chain: dict[int, Turn] = {}
        """The latest turn issued at each step: what a later step's request must carry back."""
        self.exchanges: list[Exchange] = []
        self._validators: list[Validator] = []

    def attach(self, server: ScriptedServer) -> None:
        """Answer ``server``'s requests, with the dialect's strict validator watching the replies."""
        server.responder = self
        name = self.dialect.name
        if self.dialect.api == "anthropic":
            self._validators.append(StrictAnthropic(server))
            server.validators.append(StrictAnthropicFields())
        elif self.dialect.api == "openai-responses":
            self._validators.append(StrictResponses(server))
        elif name == "think_tags":
            self._validators.append(StrictThinkTags(server))
        else:
            self._validators.append(StrictOpenAIReasoning(server, self.dialect.field))

    # ---------------------------------------------------------------------------------- answers

    def __call__(self, request: RecordedRequest) -> Step | None:
        exchange = Exchange(len(self.exchanges) + 1, "other", request.method, request.path)
        self.exchanges.append(exchange)
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model") or self.model_name)
        if request.method == "GET" and request.path.rstrip("/").endswith("/models"):
            exchange.kind = "models"
            return Step.json(_models_body(model))
        if request.method == "POST" and request.path.endswith("/count_tokens"):
            exchange.kind = "count_tokens"
            return Step.json({"input_tokens": max(1, len(request.raw) // 4)})
        if request.method != "POST" or request.api is None:
            exchange.status = 404
            return None
        stream = body.get("stream") is True
        specs = tool_specs(body)
        marked = TASK_MARKER in request.raw.decode("utf-8", errors="replace")
        text_task = self.text_actions and marked and not specs
        if not text_task and (not specs or not marked):
            exchange.kind = "side"
            return plain_reply(request.api, _side_text(request), model=model, stream=stream)
        exchange.kind = "task"
        if text_task:
            exchange.step = min(sum(carries_text_turn(body, t) for t in self.turns) + 1, STEPS)
        else:
            exchange.step = min(_tool_results(body) + 1, STEPS)
        earlier = [self.chain[k] for k in range(1, exchange.step) if k in self.chain]
        exchange.echoes = echoes(self.dialect, body, earlier)
        exchange.tool_result_seen = self._file_seen(request)
        problem = self._problem(request, exchange)
        if problem:
            exchange.status, exchange.problem = 400, problem
            return Step.error(400, problem, error_type="invalid_request_error")
        turn = self._turn(exchange.step, specs)
        exchange.tool = turn.call.name if turn.call else ""
        self.turns.append(turn)
        self.chain[exchange.step] = turn
        return reply(self.dialect, turn, model=model, stream=stream)

    def _problem(self, request: RecordedRequest, exchange: Exchange) -> str:
        if not self.strict:
            return ""
        # Only this model's answers count as issued: the app's own text is not checked.
        for validator in self._validators:
            problem = validator(request)
            if problem:
                return problem
        # Only turns with tool calls are refused (see the module docstring on plain-text turns).
        lost = [e for e in exchange.echoes if not e.exact and self.turns[e.turn - 1].call is not None]
        if not lost:
            return ""
        first = lost[0]
        if self.dialect.api == "anthropic":
            return (
                "`thinking` or `redacted_thinking` blocks in the latest assistant message cannot be "
                f"modified. These blocks must remain as they were in the original response. (turn {first.turn}: {first.detail})"
            )
        return (
            f"The reasoning of assistant turn {first.turn} must be passed back to the API ({first.detail})."
        )

    def _file_seen(self, request: RecordedRequest) -> bool:
        return self.file_text in request.raw.decode("utf-8", errors="replace")

    def _turn(self, step: int, specs: list[Any]) -> Turn:
        number = len(self.turns) + 1
        if self.text_actions and not specs:
            return self._text_turn(step, number)
        plan = plan_call(specs, step, self.workdir, self.file_name) if step < STEPS else None
        marker = f"cm{self.nonce}t{number}"
        intent = f"call {plan.tool}" if plan else "answer"
        thought = f"Compat thinking for step {step}: I will {intent}. {marker}"
        token, reasoning_id = self._token(), "rs_" + secrets.token_hex(16)
        call = None
        if plan is not None:
            call = Call(
                minted_call_id(self.dialect.api),
                plan.tool,
                plan.arguments,
                item_id="fc_" + secrets.token_hex(16),
            )
        done = f"COMPAT-DONE {self.nonce}" if plan is None else ""
        return Turn(number, thought, token, reasoning_id, call, done)

    def _text_turn(self, step: int, number: int) -> Turn:
        """A text app's turn: an edit it cannot apply (steps 1 and 2), then the answer."""
        marker = f"cm{self.nonce}t{number}"
        intent = "propose an edit" if step < STEPS else "answer"
        thought = f"Compat thinking for step {step}: I will {intent}. {marker}"
        token, reasoning_id = self._token(), "rs_" + secrets.token_hex(16)
        if step < STEPS:
            anchor = edit_anchor(self.nonce, number)
            edit = failed_edit(self.file_name, anchor)
            return Turn(number, thought, token, reasoning_id, None, edit, anchor)
        return Turn(number, thought, token, reasoning_id, None, self.done_text)

    def _token(self) -> str:
        """The opaque value issued with a turn's thinking (an encrypted_content, else a signature)."""
        if self.dialect.api == "openai-responses":
            return "gAAAAAB" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode()
        return "Eq" + base64.b64encode(secrets.token_bytes(48)).decode()

    # ---------------------------------------------------------------------------------- results

    @property
    def done_text(self) -> str:
        return f"COMPAT-DONE {self.nonce}"

    def task_exchanges(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.kind == "task"]


def _tool_results(body: Mapping[str, Any]) -> int:
    """How many tool results a request carries (Anthropic blocks, Chat tool messages, Responses items)."""
    count = 0
    for message in body.get("messages") or ():
        if not isinstance(message, Mapping):
            continue
        if message.get("role") == "tool":
            count += 1
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for b in content if isinstance(b, Mapping) and b.get("type") == "tool_result")
    for item in body.get("input") or ():
        if isinstance(item, Mapping) and str(item.get("type", "")).endswith("call_output"):
            count += 1
    return count


def _side_text(request: RecordedRequest) -> str:
    raw = request.raw.decode("utf-8", errors="replace").lower()
    if "json" in raw:
        return json.dumps(
            {"title": "Compat task", "isNewTopic": False, "next_speaker": "user", "reasoning": "done"}
        )
    return "Compat task"


def _models_body(model: str) -> dict[str, Any]:
    entry = {
        "id": model,
        "object": "model",
        "type": "model",
        "created": 0,
        "owned_by": "compat",
        "display_name": model,
    }
    return {"object": "list", "data": [entry], "has_more": False, "first_id": model, "last_id": model}
