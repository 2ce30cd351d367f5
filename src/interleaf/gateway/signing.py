"""Signatures the gateway gives thinking it hands to clients from an upstream that signs none.

An Anthropic-format client in front of an OpenAI-format upstream (DeepSeek, vLLM, ...) receives thinking
blocks without a signature, because the upstream makes none. Careful clients treat unsigned thinking
as untrusted: some turn it into text, some drop it. Either way the client's next request may no longer
match the stored turn (a turn without random tool-call ids is keyed on its visible text), and nothing
is restored.

So the gateway signs such blocks itself: ``signature = "ilf1." + HMAC(tenant key, text)``. The client
stores and replays them as signed thinking. On the way back the gateway *redeems* its own tokens before
anything goes upstream: a block whose token verifies for this tenant is the gateway's, intact - it goes
upstream in the upstream's dialect, without the token; a block whose token does not verify (edited text,
another tenant's or another upstream's token) is dropped, and restoration puts the stored original back.
Tokens never leave the gateway towards an upstream, and an upstream's own signature is never minted or
altered: only thinking that arrived with no signature at all is signed, and only for Anthropic clients of
a non-Anthropic upstream. The key is derived from the store's tenant secret, so every replica sharing a
store redeems every other replica's tokens.

Responses clients in front of a non-Responses upstream get the same token as the reasoning item's
``encrypted_content``: some (Qwen Code) keep a reasoning item only when it has one and otherwise turn
its text into an assistant message, which no longer matches the stored turn. It is redeemed the same
way, and never sent upstream.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace
from typing import Any

from interleaf.transcript import Block, Conversation, JSONDict, Message, ReasoningDialect, Response, Thinking
from interleaf.wire.responses.items import decode_reasoning

TOKEN_PREFIX = "ilf1."
_TOKEN_BYTES = 24


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A request with the gateway's tokens taken off: ``kept`` blocks verified, ``dropped`` did not."""

    conversation: Conversation
    kept: int = 0
    dropped: int = 0


class ThinkingSigner:
    """Signs and redeems the gateway's own thinking tokens under one secret."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"interleaf gateway thinking tokens v1", hashlib.sha256).digest()

    def token(self, tenant: str, text: str) -> str:
        digest = hmac.new(self._key, f"{tenant}\0{text}".encode("utf-8", "surrogatepass"), hashlib.sha256)
        return TOKEN_PREFIX + base64.urlsafe_b64encode(digest.digest()[:_TOKEN_BYTES]).decode().rstrip("=")

    def sign_block(self, tenant: str, block: Block) -> Block:
        """``block`` signed by the gateway when it is thinking that came with no signature at all."""
        if isinstance(block, Thinking) and block.signature is None and block.text:
            return replace(block, signature=self.token(tenant, block.text))
        return block

    def sign_message(self, tenant: str, message: Message) -> Message:
        blocks = tuple(self.sign_block(tenant, b) for b in message.blocks)
        return message if blocks == message.blocks else replace(message, blocks=blocks)

    def sign_reply(self, tenant: str, response: Response) -> Response:
        """The reply as the client should get it (the stored copy keeps the upstream's original)."""
        message = self.sign_message(tenant, response.message)
        return response if message is response.message else replace(response, message=message)

    def seal_responses(self, tenant: str, payload: JSONDict) -> None:
        """Give each reasoning item in a Responses reply payload (a response body, or an event holding an
        item or a response) that has text and no ``encrypted_content`` the gateway's token of its text."""
        for item in _reasoning_items(payload):
            if item.get("encrypted_content") is None:
                decoded = decode_reasoning(item)
                text = decoded.text if isinstance(decoded, Thinking) else ""
                if text:
                    item["encrypted_content"] = self.token(tenant, text)

    def redeem_responses(self, tenant: str, conversation: Conversation) -> Redeemed:
        """Take this gateway's tokens off the reasoning items of a Responses request: a verified one leaves
        the item's text (for the upstream's own dialect), any other drops the block (restored instead)."""
        kept = dropped = 0
        messages: list[Message] = []
        for message in conversation.messages:
            blocks: list[Block] = []
            for block in message.blocks:
                token = _responses_token(block)
                if token is None:
                    blocks.append(block)
                    continue
                text = block.text if isinstance(block, Thinking) else ""
                if text and hmac.compare_digest(token, self.token(tenant, text)):
                    assert isinstance(block, Thinking) and block.item is not None
                    item = {k: v for k, v in block.item.items() if k != "encrypted_content"}
                    blocks.append(replace(block, item=item))
                    kept += 1
                else:
                    dropped += 1
            changed = tuple(blocks) != message.blocks
            messages.append(replace(message, blocks=tuple(blocks)) if changed else message)
        if not kept and not dropped:
            return Redeemed(conversation)
        return Redeemed(conversation.with_messages(messages), kept, dropped)

    def redeem(self, tenant: str, conversation: Conversation) -> Redeemed:
        """Take this gateway's tokens off the assistant turns of a request (see the module docstring)."""
        kept = dropped = 0
        messages: list[Message] = []
        for message in conversation.messages:
            if message.role != "assistant" or not any(_ours(b) for b in message.blocks):
                messages.append(message)
                continue
            blocks: list[Block] = []
            for block in message.blocks:
                if not _ours(block):
                    blocks.append(block)
                    continue
                assert isinstance(block, Thinking) and block.signature is not None
                if hmac.compare_digest(block.signature, self.token(tenant, block.text)):
                    blocks.append(replace(block, signature=None))
                    kept += 1
                else:
                    dropped += 1  # edited, or not this tenant's: the stored original comes back instead
            messages.append(replace(message, blocks=tuple(blocks)))
        if not kept and not dropped:
            return Redeemed(conversation)
        return Redeemed(conversation.with_messages(messages), kept, dropped)


def _ours(block: Block) -> bool:
    return (
        isinstance(block, Thinking)
        and block.signature is not None
        and block.signature.startswith(TOKEN_PREFIX)
    )


def _responses_token(block: Block) -> str | None:
    item = getattr(block, "item", None)
    if getattr(block, "dialect", None) is not ReasoningDialect.RESPONSES or not isinstance(item, dict):
        return None
    value = item.get("encrypted_content")
    return value if isinstance(value, str) and value.startswith(TOKEN_PREFIX) else None


def _reasoning_items(payload: JSONDict) -> list[Any]:
    """The reasoning items a Responses payload holds: itself, its ``item``, its ``output`` or its
    ``response``'s output."""
    if payload.get("type") == "reasoning":
        return [payload]
    found: list[Any] = []
    item = payload.get("item")
    if isinstance(item, dict) and item.get("type") == "reasoning":
        found.append(item)
    for holder in (payload, payload.get("response")):
        output = holder.get("output") if isinstance(holder, dict) else None
        if isinstance(output, list):
            found.extend(i for i in output if isinstance(i, dict) and i.get("type") == "reasoning")
    return found
