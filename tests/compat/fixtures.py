"""Request shapes for regression tests: what each app sent the scripted model, with every text of the
app's own (prompts, system prompts, tool descriptions, reminders, file listings) replaced by a short
placeholder and keys redacted.

What stays: structure, field names, roles, block and item types, headers (values of credentials
redacted), query strings, tool names, schema shapes (property names, types, ``required``), ids,
signatures and ``encrypted_content`` (the scripted model's own), and every text the suite itself wrote
(the prompt, the thinking markers, the file's content, a text app's edits), so a test can replay the
exact conversation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.compat.checks import strings
from tests.compat.runner import Cell, CellResult
from tests.compat.sandbox import FILE_NAME
from tests.compat.textedits import ANCHOR_LINES, edit_pattern
from tests.support.scripted_server import RecordedRequest

PLACEHOLDER = "[app text]"
_SECRET_HEADERS = re.compile(r"authorization|api-key|cookie|token|secret|key$", re.IGNORECASE)
_DROPPED_HEADERS = {"host", "content-length"}
# Values under these keys are identifiers or enums, never prose.
_STRUCTURAL = {
    "type",
    "role",
    "name",
    "id",
    "tool_use_id",
    "tool_call_id",
    "call_id",
    "model",
    "signature",
    "encrypted_content",
    "data",
    "stop_reason",
    "finish_reason",
    "status",
    "format",
    "effort",
    "media_type",
    "display",
    "ttl",
    "object",
    "reasoning_effort",
    "summary",
    "verbosity",
    "service_tier",
    "truncation",
    "tool_choice",
    "$schema",
    "pattern",
    "additionalProperties",
}
_STRUCTURAL_LISTS = {"required", "include", "enum", "modalities", "stop", "betas"}
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:/@+=-]{1,80}")


class Redactor:
    """Replaces the app's texts, keeping the suite's own (``ours``) verbatim where they appear."""

    def __init__(self, ours: Iterable[str]) -> None:
        texts = sorted({t for t in ours if t and len(t) >= 8}, key=len, reverse=True)
        self._ours = re.compile("|".join(re.escape(t) for t in texts)) if texts else None

    def text(self, value: str) -> str:
        if self._ours is None:
            return PLACEHOLDER if value.strip() else value
        out: list[str] = []
        last = 0
        for match in self._ours.finditer(value):
            out.append(_redact_segment(value[last : match.start()]))
            out.append(match[0])
            last = match.end()
        out.append(_redact_segment(value[last:]))
        return "".join(out)

    def value(self, value: Any, key: str = "", in_list: str = "") -> Any:
        if isinstance(value, Mapping):
            # Schema "properties" keys are property names: kept; so are all other keys.
            return {k: self.value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, key, in_list=key) for v in value]
        if isinstance(value, str):
            structural = key in _STRUCTURAL or in_list in _STRUCTURAL_LISTS
            if structural and _IDENTIFIER.fullmatch(value):
                return value
            return self.text(value)
        return value


def _redact_segment(segment: str) -> str:
    """An app's text between the suite's own: kept only when it is whitespace or ``<think>`` tags."""
    if not segment or re.fullmatch(r"[\s]*(</?think>[\s]*)*", segment):
        return segment
    return PLACEHOLDER


def request_shape(request: RecordedRequest, redactor: Redactor) -> dict[str, Any]:
    headers = {
        name: ("REDACTED" if _SECRET_HEADERS.search(name) else value)
        for name, value in sorted(request.headers.items())
        if name not in _DROPPED_HEADERS
    }
    return {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": headers,
        "body": redactor.value(request.body) if request.body is not None else None,
    }


def write_fixture(
    directory: Path, cell: Cell, requests: Sequence[RecordedRequest], result: CellResult
) -> Path:
    """``<directory>/<app>/<api>--<dialect>.json``: the requests in order, redacted."""
    ours = _our_texts(requests)
    redactor = Redactor(ours)
    path = directory / cell.app / f"{cell.api}--{cell.dialect}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "app": cell.app,
        "api": cell.api,
        "dialect": cell.dialect,
        "result": result.summary(),
        "requests": [request_shape(r, redactor) for r in requests],
    }
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return path


def _our_texts(requests: Sequence[RecordedRequest]) -> list[str]:
    """The suite's own texts in these requests: the prompt, the thinking, the file's content, the
    final answer — recognised by the markers the scripted model and the sandbox put in them."""
    found: set[str] = set()
    pattern = re.compile(
        r"(COMPAT-TASK [0-9a-f]{8}: [^\n\"]*?reply with one short sentence\.)"
        r"|(Compat thinking for step \d: I will [^.]*\. cm[0-9a-f]{8}t\d+)"
        r"|(compat file content [0-9a-f]{12})"
        r"|(COMPAT-DONE [0-9a-f]{8})"
        r"|(another file)"
    )
    for request in requests:
        for match in pattern.finditer(request.raw.decode("utf-8", errors="replace")):
            found.add(match[0])
        found.update(_edit_texts(request))
    return sorted(found)


def _edit_texts(request: RecordedRequest) -> set[str]:
    """A text app's copies of the model's edits (multi-line, so found in the decoded body's strings),
    and the edit's lines wherever the app quotes them."""
    found: set[str] = set()
    if request.body is None:
        return found
    edits = edit_pattern(FILE_NAME)
    for _, value in strings(request.body):
        found.update(match[0] for match in edits.finditer(value))
        found.update(match[0] for match in ANCHOR_LINES.finditer(value))
    return found
