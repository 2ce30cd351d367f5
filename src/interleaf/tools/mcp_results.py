"""Between MCP and the model: arguments checked against a tool's JSON Schema, results as tool results.

Result mapping: text content becomes text; images become image blocks (and are saved in the session
folder); audio and binary resources are saved and named; embedded text resources become text with
their URI; resource links are named; ``structuredContent`` is shown as JSON unless the text already
says the same; ``isError`` makes the result an error. Text is capped like any tool output, with the
full text saved to a file.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from pathlib import Path
from typing import Any

from mcp_types import AudioContent, CallToolResult, EmbeddedResource, ImageContent, TextContent
from mcp_types import TextResourceContents as TextResource

from interleaf.tools.base import ToolContext, ToolOutcome
from interleaf.tools.output import cut_middle
from interleaf.transcript import Image, JSONDict, Text

__all__ = ["check_arguments", "result_outcome"]


def check_arguments(tool: str, schema: JSONDict, arguments: dict[str, Any]) -> str | None:
    """What is wrong with ``arguments`` by the tool's JSON Schema (one line per problem), or None.

    A schema that is itself invalid is not held against the call: the server judges it then.
    """
    from jsonschema import exceptions, validators  # type: ignore[import-untyped]  # no stubs; an mcp dependency

    try:
        validator_class = validators.validator_for(schema)
        validator_class.check_schema(schema)
        validator = validator_class(schema)
    except exceptions.SchemaError:
        return None
    errors = sorted(validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return None
    lines = [f"invalid arguments for tool `{tool}`:"]
    for error in errors[:20]:
        where = ".".join(str(part) for part in error.absolute_path) or "(arguments)"
        lines.append(f"- `{where}`: {error.message}")
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    if isinstance(properties, dict) and properties:
        described = ", ".join(
            f"{name} ({_type(prop)}{', required' if name in required else ''})"
            for name, prop in properties.items()
        )
        lines.append(f"`{tool}` takes: {described}.")
    return "\n".join(lines)


def _type(prop: Any) -> str:
    if isinstance(prop, dict) and "type" in prop:
        kind = prop["type"]
        return " or ".join(kind) if isinstance(kind, list) else str(kind)
    return "any"


def result_outcome(result: CallToolResult, ctx: ToolContext, *, note: str | None, brief: str) -> ToolOutcome:
    """The tool result for an MCP call result."""
    parts: list[Text | Image] = []
    saved: list[Path] = []
    texts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            texts.append(block.text)
            parts.append(Text(text=block.text))
        elif isinstance(block, ImageContent):
            path = _save(ctx, "mcp-image", block.data, block.mime_type)
            if path is None:
                parts.append(Text(text=f"[an image ({block.mime_type}) whose data was not valid base64]"))
                continue
            saved.append(path)
            parts.append(Text(text=f"[image ({block.mime_type}), saved to {path}]"))
            parts.append(Image(media_type=block.mime_type, data=block.data))
        elif isinstance(block, AudioContent):
            path = _save(ctx, "mcp-audio", block.data, block.mime_type)
            saved.extend([path] if path else [])
            parts.append(Text(text=f"[audio ({block.mime_type})" + (f", saved to {path}]" if path else "]")))
        elif isinstance(block, EmbeddedResource):
            resource = block.resource
            mime = resource.mime_type or "unknown type"
            if isinstance(resource, TextResource):
                texts.append(resource.text)
                parts.append(Text(text=f"[resource {resource.uri} ({mime})]\n{resource.text}"))
            else:
                path = _save(ctx, "mcp-resource", resource.blob, resource.mime_type)
                saved.extend([path] if path else [])
                where = f", saved to {path}" if path else ""
                parts.append(Text(text=f"[binary resource {resource.uri} ({mime}){where}]"))
        else:  # a ResourceLink: the last kind of content block MCP defines
            mime = f" ({block.mime_type})" if block.mime_type else ""
            detail = f": {block.description}" if block.description else ""
            parts.append(Text(text=f"[resource link: {block.name} {block.uri}{mime}{detail}]"))
    structured = result.structured_content
    if structured is not None and not _already_said(structured, texts):
        parts.append(Text(text="structured result:\n" + json.dumps(structured, indent=2, ensure_ascii=False)))
    if note:
        parts.insert(0, Text(text=f"[{note}]"))
    if not parts:
        parts.append(Text(text="(the tool returned no content)"))
    parts, full = _cap(parts, ctx)
    if full is not None:
        saved.append(full)
    content: str | tuple[Text | Image, ...]
    if all(isinstance(part, Text) for part in parts):
        content = "\n".join(part.text for part in parts if isinstance(part, Text))
    else:
        content = tuple(parts)
    return ToolOutcome(
        content=content,
        is_error=result.is_error,
        brief=f"{brief} → {'error' if result.is_error else 'ok'}",
        saved=tuple(saved),
    )


def _already_said(structured: Any, texts: list[str]) -> bool:
    """Whether a text block already carries the structured result (servers often send both)."""
    joined = "\n".join(texts)
    if isinstance(structured, dict) and set(structured) == {"result"} and structured["result"] == joined:
        return True  # a plain return value, wrapped by the server
    for text in texts:
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if parsed == structured or (isinstance(structured, dict) and structured == {"result": parsed}):
            return True
    return False


def _save(ctx: ToolContext, prefix: str, data: str, mime_type: str | None) -> Path | None:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    suffix = (mimetypes.guess_extension(mime_type or "") or ".bin") if mime_type else ".bin"
    path = ctx.output_path(prefix, suffix)
    path.write_bytes(raw)
    return path


def _cap(parts: list[Text | Image], ctx: ToolContext) -> tuple[list[Text | Image], Path | None]:
    """Cut the text when it exceeds ``ctx.max_output_chars``; the whole text is saved first."""
    total = sum(len(part.text) for part in parts if isinstance(part, Text))
    if total <= ctx.max_output_chars:
        return parts, None
    full = ctx.output_path("mcp-result", ".txt")
    full.write_text("\n".join(part.text for part in parts if isinstance(part, Text)), encoding="utf-8")
    room = ctx.max_output_chars
    capped: list[Text | Image] = []
    for part in parts:
        if isinstance(part, Text):
            share = max(int(ctx.max_output_chars * len(part.text) / total), 400)
            text = cut_middle(part.text, min(share, max(room, 400)), full)
            room -= len(text)
            capped.append(Text(text=text))
        else:
            capped.append(part)
    return capped, full
