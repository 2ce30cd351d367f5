"""Content parts of Responses messages and tool outputs: ``input_text``, ``input_image``, ``output_text``.

Text parts become :class:`Text` (the part's other fields, ``annotations`` and ``logprobs`` too, in its
``extra``); an ``input_image`` with an ``image_url`` becomes :class:`Image` (a ``data:`` URL split into
media type and data). Every other part (``input_file``, ``input_audio``, ``refusal``, an image given
only by ``file_id``...) is kept whole as ``Opaque(source=PART_SOURCE)`` where it stood.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interleaf.transcript import Block, Image, JSONDict, Opaque, Text
from interleaf.wire.errors import Losses, WireFormatError
from interleaf.wire.responses.common import (
    MESSAGE_FIELDS,
    PART_SOURCE,
    PLAIN,
    as_object,
    at,
    describe,
    foreign_fields,
    loss,
    parse_data_url,
    require,
    rest,
)

__all__ = ["decode_input_part", "decode_output_text", "encode_input_part", "encode_output_text"]


def _kind(part: Mapping[str, Any], path: str) -> str:
    kind = require(part, "type", str, path)
    assert isinstance(kind, str)
    return kind


def decode_input_part(data: Any, path: str) -> Text | Image | Opaque:
    """A part of a user, system or developer message, or of a tool output list."""
    part = as_object(data, path)
    kind = _kind(part, path)
    if kind == "input_text":
        return Text(text=require(part, "text", str, path), extra=rest(part, "type", "text"))
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        url: str = part["image_url"]
        extra = rest(part, "type", "image_url")
        inline = parse_data_url(url)
        if inline is not None:
            return Image(media_type=inline[0], data=inline[1], extra=extra)
        return Image(url=url, extra=extra)
    return Opaque(source=PART_SOURCE, data=dict(part))


def encode_input_part(block: Block, path: str, *, native: bool, losses: Losses | None) -> JSONDict | None:
    """The wire part of a user-side block, or ``None`` (recorded in ``losses``)."""
    if isinstance(block, Text):
        out: JSONDict = {"type": "input_text", "text": block.text}
        if native:
            out.update(rest(block.extra, "type", "text"))
        else:
            foreign_fields(block.extra, path, losses)
        return out
    if isinstance(block, Image):
        return _encode_image(block, path, native=native, losses=losses)
    if isinstance(block, Opaque) and block.source == PART_SOURCE:
        return dict(block.data)
    loss(losses, path, f"{describe(block)} has no Responses content part")
    return None


def _encode_image(image: Image, path: str, *, native: bool, losses: Losses | None) -> JSONDict | None:
    if image.data is not None:
        url = f"data:{image.media_type or ''};base64,{image.data}"
    elif image.url is not None:
        url = image.url
    else:
        loss(losses, path, "an image with neither data nor url was left out")
        return None
    out: JSONDict = {"type": "input_image", "image_url": url}
    if native:
        out.update(rest(image.extra, "type", "image_url"))
        return out
    # OpenAI Chat keeps the image's detail inside image_url; Responses requires one beside it.
    inner = image.extra.get("image_url")
    detail = inner.get("detail") if isinstance(inner, Mapping) else None
    out["detail"] = detail if isinstance(detail, str) else "auto"
    others = {k: v for k, v in image.extra.items() if k != "image_url"}
    if isinstance(inner, Mapping):
        others.update({f"image_url.{k}": v for k, v in inner.items() if k != "detail"})
    foreign_fields(others, path, losses)
    return out


def decode_output_text(data: Any, path: str) -> Text:
    """An ``output_text`` part of an assistant message."""
    part = as_object(data, path)
    kind = _kind(part, path)
    if kind != "output_text":
        raise WireFormatError(at(path, "type"), f"expected 'output_text', got {kind!r}")
    return Text(text=require(part, "text", str, path), extra=rest(part, "type", "text"))


def encode_output_text(
    block: Text, path: str, *, native: bool, reply: bool, losses: Losses | None
) -> JSONDict:
    """The ``output_text`` part of an assistant Text. A reply from another format gets the empty
    ``annotations`` list the API always sends (clients read it unconditionally)."""
    out: JSONDict = {"type": "output_text", "text": block.text}
    if native:
        out.update(rest(block.extra, "type", "text", MESSAGE_FIELDS, PLAIN))
        return out
    if reply:
        out["annotations"] = []
    foreign_fields(block.extra, path, losses)
    return out
