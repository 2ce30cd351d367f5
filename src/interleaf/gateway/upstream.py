"""The upstream: where requests go, with which headers, and the store scope of what it produces.

The scope (profile name, base URL, model) narrows every tenant id, so thinking — and its signature —
is only ever restored into requests for the backend, model and account that produced it
(docs/architecture.md, rule 4 and §4.1). A client that switches model
mid-conversation gets nothing restored across the switch, which is what Anthropic requires.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from interleaf.backends.adapter import Backend
from interleaf.backends.profiles import Profile
from interleaf.backends.reasoning_summary import credential_of
from interleaf.gateway.auth import Identity
from interleaf.gateway.config import ClientFormat, ModelMap
from interleaf.gateway.jsonio import json_bytes
from interleaf.transcript import Conversation
from interleaf.wire.errors import Losses

log = logging.getLogger("interleaf.gateway")

# Client request headers an Anthropic upstream should see from an Anthropic client (Claude Code sends
# betas such as interleaved thinking and context management).
_ANTHROPIC_PASS = ("anthropic-version", "anthropic-beta")
_SETTING_LOSSES = tuple(
    f"{name}:" for name in ("reasoning_effort", "temperature", "top_p", "top_k", "stop", "metadata")
)


class Upstream:
    """One upstream model server, described by its profile (``base_url`` applied); every wire decision
    about it is the profile's :class:`~interleaf.backends.adapter.Backend`, shared with the agent."""

    def __init__(self, profile: Profile, model_map: ModelMap) -> None:
        assert profile.base_url is not None
        self.profile = profile
        self.backend = Backend(profile)
        self.api: ClientFormat = profile.api
        self.url = self.backend.url
        self.models_url = self.backend.models_url
        self.model_map = model_map
        self.dialect = self.backend.dialect
        self._scope = f"{profile.name}\0{profile.base_url.rstrip('/')}\0"

    def model(self, requested: Any) -> str | None:
        """The upstream model for the model a client asked for (``--model-map``, else as asked, else
        the profile's default)."""
        name = requested if isinstance(requested, str) else None
        return self.model_map.upstream(name, self.profile.model)

    def scope(self, model: str | None) -> str:
        """The store scope of replies from this upstream and ``model``."""
        return self._scope + (model or "")

    def headers(
        self,
        identity: Identity,
        client_headers: Mapping[str, str],
        fmt: ClientFormat,
        model: str | None = None,
    ) -> dict[str, str]:
        """Request headers: the profile's (those ``model`` needs), the client's Anthropic
        version/betas when both sides speak Anthropic, and the key in the profile's auth style."""
        passed: dict[str, str] = {}
        if fmt == "anthropic" and self.api == "anthropic":
            for name in _ANTHROPIC_PASS:
                value = client_headers.get(name)
                if value:
                    passed[name] = value
        return self.backend.headers(identity.upstream_key, passed=passed, model=model)

    def passthrough_body(self, raw: bytes, body: dict[str, Any], model: str | None) -> bytes:
        """The client's bytes unchanged, unless the model is mapped, ``extra_body`` fields are
        missing or a setting the model refuses is there (then the parsed body with just those
        changes)."""
        changes, drops = self.backend.passthrough_changes(body, model)
        if not changes and not drops:
            return raw
        if drops:
            log.debug(
                "left out of the request: %s (%s refuses them)", ", ".join(drops), model or body.get("model")
            )
        changed = {**body, **changes}
        for key in drops:
            del changed[key]
        return json_bytes(changed)

    def encode(
        self, conversation: Conversation, model: str | None, *, stream: bool, headers: Mapping[str, str]
    ) -> bytes:
        """The upstream request for a decoded (and restored) client conversation: every thinking block
        where the profile says (the client's placement is the client's, not the upstream's), and only
        what the upstream requires added; the client's own generation settings are never changed.
        ``headers``: the request's upstream headers (their key decides whether a reasoning summary is
        asked for)."""
        if model is not None:
            conversation = replace(conversation, params={**conversation.params, "model": model})
        losses = Losses()
        body = self.backend.encode(
            conversation,
            stream=stream,
            replay="profile",
            defaults="required",
            losses=losses,
            credential=credential_of(headers),
        )
        for loss in losses:
            # The losses that say which of an app's settings the upstream did not get, and why (why
            # an app asking for reasoning gets none, a sampling setting the model refuses). Other
            # losses may quote request content, which is logged only with --log-content.
            if loss.startswith(_SETTING_LOSSES):
                log.debug("%s", loss)
        return json_bytes(body)
