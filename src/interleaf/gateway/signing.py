"""Signatures the gateway gives thinking it hands to Anthropic clients from an upstream that signs none.

An Anthropic-format client in front of an OpenAI-format upstream (DeepSeek, vLLM, ...) receives thinking
blocks without a signature, because the upstream makes none. Careful clients treat unsigned thinking
as untrusted: some turn it into text, some drop it. Either way the client's next request no longer
matches the stored turn (a fingerprint includes visible text), and nothing is restored.

So the gateway signs such blocks itself: ``signature = "ilf1." + HMAC(tenant key, text)``. The client
stores and replays them as signed thinking. On the way back the gateway *redeems* its own tokens before
anything goes upstream: a block whose token verifies for this tenant is the gateway's, intact - it goes
upstream in the upstream's dialect, without the token; a block whose token does not verify (edited text,
another tenant's or another upstream's token) is dropped, and restoration puts the stored original back.
Tokens never leave the gateway towards an upstream, and an upstream's own signature is never minted or
altered: only thinking that arrived with no signature at all is signed, and only for Anthropic clients of
a non-Anthropic upstream. The key is derived from the store's tenant secret, so every replica sharing a
store redeems every other replica's tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace

from interleaf.transcript import Block, Conversation, Message, Response, Thinking

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
