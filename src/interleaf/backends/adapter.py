"""One adapter per backend profile: every decision about talking to the server a profile describes.

A :class:`Backend` answers, for the agent's model client, the probes, eval and the gateway alike: the
endpoint URLs, the request headers (the profile's, the key in its auth style), the request body (the
profile's parameters, and where each earlier thinking block goes back), and how a reply is read
(its API's codec and stream assembler from :mod:`interleaf.wire.apis`, and the server's own way of
reporting an error inside an HTTP 200). A server quirk is taught here, or to its :class:`Profile`, once.

Two choices differ by caller, and are arguments rather than copies:

* ``replay``: ``"as-arrived"`` sends each thinking block of an OpenAI Chat conversation back the way
  it arrived from this server (the agent, whose history is the server's own replies); ``"profile"``
  puts every block where the profile says (the gateway, whose history comes from client apps, each
  with its own idea of where thinking goes). Either way the profile decides for blocks that did not
  arrive from this server, and a profile that takes no thinking back leaves them out, each recorded.
* ``defaults``: ``"recommended"`` fills the profile's sampling settings and output limit where the
  request sets none (the agent asks as the model's authors recommend); ``"required"`` adds only what
  the server needs (an Anthropic ``max_tokens``, usage in a translated stream): the gateway never
  changes an app's own generation settings.

The profile's ``extra_body`` goes in either way, where the request does not set the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from interleaf.backends.effort import (
    adaptive_for_budget,
    anthropic_thinking,
    effort_word,
    interleaves_unasked,
    refuses_sampling,
    thinking_conflict,
    unthought_tool_turn,
)
from interleaf.backends.errors import BackendHTTPError
from interleaf.backends.openai_strict import fit_params, reasons
from interleaf.backends.profiles import Profile, ReplyError
from interleaf.backends.reasoning_summary import (
    SummaryRefusals,
    ask_summary,
    asks_reasoning,
    credential_of,
    refuses_summary,
)
from interleaf.transcript import (
    THINKING_BLOCKS,
    Block,
    Conversation,
    JSONDict,
    ReasoningDialect,
    Response,
    Thinking,
)
from interleaf.wire.apis import Assembler, WireApi, api
from interleaf.wire.errors import Losses
from interleaf.wire.openai_messages import OPENAI_DIALECTS

Replay = Literal["as-arrived", "profile"]
Defaults = Literal["recommended", "required"]

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` for an Anthropic server when the request and the profile set none (the API requires it)."""

__all__ = ["DEFAULT_MAX_TOKENS", "Backend", "Defaults", "Replay"]

INTERLEAVED_BETA = "interleaved-thinking-2025-05-14"
"""The beta that lets a budget-thinking Claude 4 model think between tool calls (docs/architecture.md §4.1)."""

# The transcript's ``source`` of a request sent in each API's own format.
_OWN_FORMAT = {"anthropic": "anthropic", "openai-chat": "openai-chat", "openai-responses": "responses"}


class Backend:
    """The wire side of one profile at one address (``base_url`` overrides the profile's)."""

    def __init__(self, profile: Profile, base_url: str | None = None) -> None:
        self.profile = profile
        self.base_url = base_url or profile.base_url
        self.wire: WireApi = api(profile.api)
        self.url = profile.url(self.base_url)
        self.models_url = profile.models_url(self.base_url)
        self._unneeded_beta = _without_beta(profile.headers, INTERLEAVED_BETA)
        self.summary_refusals = SummaryRefusals()
        """Credentials whose organization may not have reasoning summaries (asked no more)."""

    def __repr__(self) -> str:
        return f"Backend(profile={self.profile.name!r}, api={self.profile.api!r})"

    @property
    def dialect(self) -> ReasoningDialect | None:
        """Where thinking that did not arrive from this server goes back (``None``: nowhere)."""
        return self.profile.thinking_dialect

    # ------------------------------------------------------------------------------------ headers

    def headers(
        self, key: str | None, *, passed: Mapping[str, str] | None = None, model: str | None = None
    ) -> dict[str, str]:
        """Request headers: JSON, the profile's headers, ``passed`` (a client's own, e.g. Anthropic
        betas), and ``key`` in the profile's auth style (none for ``auth = "none"``). For a ``model``
        that interleaves thinking by itself, the profile's interleaved-thinking beta is left out."""
        own = self.profile.headers
        if model and self._unneeded_beta is not None and interleaves_unasked(model):
            own = self._unneeded_beta
        headers = {"Content-Type": "application/json", **own, **(passed or {})}
        if key and self.profile.auth == "x-api-key":
            headers["x-api-key"] = key
        elif key and self.profile.auth == "bearer":
            headers["Authorization"] = f"Bearer {key}"
        return headers

    # ------------------------------------------------------------------------------------ requests

    def encode(
        self,
        conversation: Conversation,
        *,
        stream: bool,
        replay: Replay,
        defaults: Defaults,
        losses: Losses | None = None,
        credential: str = "",
    ) -> JSONDict:
        """The request body for ``conversation`` (its ``params`` carry the model and the caller's
        settings, which always win over the profile's). ``credential``: the key it goes with, which
        decides whether to ask for a reasoning summary (:meth:`summary_refused`)."""
        losses = Losses() if losses is None else losses
        params = dict(conversation.params)
        if defaults == "recommended":
            for key, value in self.profile.sampling.items():
                params.setdefault(key, value)
            if self.profile.max_tokens is not None:
                params.setdefault("max_tokens", self.profile.max_tokens)
        if self.profile.api == "anthropic":
            params.setdefault("max_tokens", self.profile.max_tokens or DEFAULT_MAX_TOKENS)
        params["stream"] = stream
        # An app's request in this server's own format goes as the app wrote it; the agent's and
        # other formats' are fitted to what a strict server takes.
        translated = conversation.source != _OWN_FORMAT[self.profile.api]
        fitted = self.profile.openai_strict and translated
        reasoning_asked = translated and asks_reasoning(params)  # before fitting takes `thinking` out
        if fitted:
            foreign = conversation.extra if conversation.source == "anthropic" else {}
            fit_params(params, foreign, chat=self.profile.api == "openai-chat", losses=losses)
        elif self.profile.reads_effort and conversation.source == "anthropic":
            # An Anthropic app's effort, for a model with effort levels (gpt-oss); the `thinking`
            # setting goes too, as the Chat convention (models without levels read that, or nothing).
            effort = effort_word(params.get("thinking"), conversation.extra.get("output_config"))
            if effort is not None:
                params.setdefault("reasoning_effort", effort)
        prepared = replace(conversation, params=params)
        dialect: ReasoningDialect | None = self.dialect
        if self.profile.api == "openai-chat":
            prepared, dialect = self._place_thinking(prepared, replay, losses)
        elif self.profile.verifies_signatures:
            prepared = self._drop_unsigned(prepared, losses)
        output_config: JSONDict | None = None
        if self.profile.api == "anthropic":  # after the drops: they decide which turns keep thinking
            self._drop_refused_sampling(params, losses)
            output_config = self._budget_as_adaptive(params, losses) or self._effort_as_thinking(
                params, prepared, losses
            )
        body = self.wire.encode_request(prepared, dialect=dialect, losses=losses)
        if self.profile.api == "openai-chat" and stream and self._wants_usage(conversation, defaults):
            body.setdefault("stream_options", {"include_usage": True})
        summary = self.profile.reasoning_summary
        responses = self.profile.api == "openai-responses"
        if reasoning_asked and summary and responses and not self.summary_refusals.refused(credential):
            if fitted and "reasoning" not in body and reasons(str(params.get("model") or "")):
                # Thinking asked for with no effort (adaptive alone): the model reasons at its default,
                # and says so only in a summary.
                body["reasoning"] = {}
            ask_summary(body, summary)
        if fitted and self.profile.api == "openai-chat" and "max_tokens" in body:
            # OpenAI's reasoning models refuse max_tokens; every current model takes the newer name.
            body["max_completion_tokens"] = body.pop("max_tokens")
        if output_config is not None:
            # Merged into what the request sets there (an Anthropic app's own output_config wins).
            existing = body.get("output_config")
            body["output_config"] = {**output_config, **(existing if isinstance(existing, Mapping) else {})}
        for key, value in self.profile.extra_body.items():
            body.setdefault(key, value)
        return body

    def _effort_as_thinking(
        self, params: dict[str, Any], conversation: Conversation, losses: Losses
    ) -> JSONDict | None:
        """A portable ``reasoning_effort`` (an OpenAI-format app's, or the agent's mode) turned into the
        ``thinking`` this model takes (:mod:`interleaf.backends.effort`), set in ``params`` (the
        conversation's own); returns the ``output_config`` to send with it. A request that sets
        ``thinking`` itself keeps it."""
        effort = params.pop("reasoning_effort", None)
        if not isinstance(effort, str) or "thinking" in params:
            return None
        model = params.get("model") or self.profile.model or ""
        max_tokens = params.get("max_tokens")
        setting = anthropic_thinking(
            str(model), effort, max_tokens=max_tokens if isinstance(max_tokens, int) else None
        )
        if setting is None:
            return None
        conflict = thinking_conflict(str(model), params, conversation.tool_choice)
        if conflict is not None:
            losses.add(
                "reasoning_effort",
                f"thinking left off: this server refuses thinking with the request's {conflict}",
            )
            return None
        unthought = unthought_tool_turn(conversation) if setting.thinking["type"] == "enabled" else None
        if unthought is not None:
            losses.add(
                "reasoning_effort",
                f"thinking left off: messages[{unthought}] of this tool loop called a tool without "
                "thinking, and with a thinking budget every such turn must start with its thinking",
            )
            return None
        params["thinking"] = setting.thinking
        return setting.output_config

    def _budget_as_adaptive(self, params: dict[str, Any], losses: Losses) -> JSONDict | None:
        """A thinking budget for a model that refuses one (Opus 4.7 on) turned adaptive, recorded;
        returns the ``output_config`` (its effort) to send with it."""
        model = str(params.get("model") or self.profile.model or "")
        setting = adaptive_for_budget(model, params.get("thinking"))
        if setting is None:
            return None
        losses.add("reasoning_effort", f"thinking budget sent as adaptive thinking: {model} refuses a budget")
        params["thinking"] = setting.thinking
        return setting.output_config

    def _drop_refused_sampling(self, params: dict[str, Any], losses: Losses) -> None:
        """Sampling settings a model refuses outright (Claude Opus 4.7 and later: a 400, "`temperature`
        is deprecated for this model.") left out, each recorded: with them the request could only
        fail, whoever set them (an OpenAI app's temperature, or an Anthropic app's own: Qwen Code and
        ``llm`` send one; :meth:`passthrough_changes` does the same for bytes passed through)."""
        model = str(params.get("model") or self.profile.model or "")
        if not refuses_sampling(model):
            return
        for name in ("temperature", "top_p", "top_k"):
            if name in params:
                losses.add(name, f"left out: {model} refuses sampling settings")
                del params[name]

    @staticmethod
    def _drop_unsigned(conversation: Conversation, losses: Losses) -> Conversation:
        """Thinking from another API with no signature left out, each recorded: a server that
        verifies signatures refuses such a block (Anthropic: ``thinking.signature`` is required), and
        a signature is never made up (docs/architecture.md, rule 4). Such thinking is another model's
        (a history from a DeepSeek or gpt-oss session, say): this model never wrote it."""
        messages = list(conversation.messages)
        changed = False
        for index, message in enumerate(messages):
            kept = tuple(
                block
                for block in message.blocks
                if not (
                    isinstance(block, Thinking)
                    and not block.signature
                    and block.dialect not in (None, ReasoningDialect.ANTHROPIC)
                )
            )
            if len(kept) != len(message.blocks):
                losses.add(
                    f"messages[{index}]",
                    "thinking from another API has no signature, which this server requires: left out",
                )
                messages[index] = replace(message, blocks=kept)
                changed = True
        return replace(conversation, messages=tuple(messages)) if changed else conversation

    def passthrough_changes(
        self, body: Mapping[str, Any], model: str | None
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """What a request body in this server's own format needs changed to go to it as the client
        sent it otherwise: fields to set (the mapped ``model``, ``extra_body`` fields it does not set)
        and fields to leave out (sampling settings a model refuses outright, which would only get
        the request a 400: Qwen Code and ``llm`` send a temperature to Opus 4.7), and a thinking
        budget such a model refuses, asked for adaptively instead (``llm`` sends one)."""
        changes: dict[str, Any] = {}
        if model is not None and body.get("model") != model:
            changes["model"] = model
        for key, value in self.profile.extra_body.items():
            if key not in body:
                changes[key] = value
        drops: tuple[str, ...] = ()
        if self.profile.api != "anthropic":
            return changes, drops
        name = model if model is not None else body.get("model")
        if not isinstance(name, str):
            return changes, drops
        if ("temperature" in body or "top_p" in body or "top_k" in body) and refuses_sampling(name):
            drops = tuple(key for key in ("temperature", "top_p", "top_k") if key in body)
        adaptive = adaptive_for_budget(name, body.get("thinking"))
        if adaptive is not None:
            changes["thinking"] = adaptive.thinking
            existing = body.get("output_config")
            existing = existing if isinstance(existing, Mapping) else {}
            if adaptive.output_config is not None and "effort" not in existing:
                changes["output_config"] = {**existing, **adaptive.output_config}
        return changes, drops

    def _wants_usage(self, conversation: Conversation, defaults: Defaults) -> bool:
        """Usage in an OpenAI Chat stream: always for the agent (budgets), and for the gateway when the
        client speaks another API, whose stream reports usage; an OpenAI Chat app asks for it itself."""
        return defaults == "recommended" or conversation.source != self.wire.codec_format

    def _place_thinking(
        self, conversation: Conversation, replay: Replay, losses: Losses
    ) -> tuple[Conversation, ReasoningDialect | None]:
        """Where each earlier thinking block goes back, as the conversation to encode and the
        ``dialect`` to encode it with (``None``: each block as its own ``dialect`` says).

        With ``replay="as-arrived"`` a block of an OpenAI Chat conversation goes back the way it
        arrived (inline ``<think>``, a ``reasoning_details`` item, ``reasoning``,
        ``reasoning_content``); the profile decides for the rest. A conversation from another format,
        or ``replay="profile"``, goes back wholly the profile's way. A profile that takes no thinking
        back (hosted OpenAI Chat) gets none of what it decides for, each omission recorded.
        """
        target = self.dialect
        native = replay == "as-arrived" and conversation.source == self.wire.codec_format
        if not native and target is not None:
            return conversation, target

        def arrived_elsewhere(block: Block) -> bool:
            return isinstance(block, THINKING_BLOCKS) and not (native and block.dialect in OPENAI_DIALECTS)

        messages = []
        for i, message in enumerate(conversation.messages):
            if message.role == "assistant" and any(arrived_elsewhere(b) for b in message.blocks):
                blocks: list[Block] = []
                for j, block in enumerate(message.blocks):
                    if isinstance(block, THINKING_BLOCKS) and arrived_elsewhere(block):
                        if target is None:
                            losses.add(
                                f"messages[{i}].blocks[{j}]",
                                f"thinking not sent: the {self.profile.name} API takes no reasoning back",
                            )
                            continue
                        block = replace(block, dialect=target)
                    blocks.append(block)
                message = replace(message, blocks=tuple(blocks))
            messages.append(message)
        return conversation.with_messages(messages), None

    # ------------------------------------------------------------------------------------- replies

    def reply_error(self, data: Any) -> ReplyError | None:
        """The error a successful HTTP reply reports in its body, by the profile's quirk, if any."""
        check = self.profile.reply_error
        return None if check is None else check(data)

    def summary_refused(self, error: BackendHTTPError, headers: Mapping[str, str]) -> bool:
        """Whether ``error`` refuses the reasoning summary a request sent with ``headers`` asked for;
        if so, that credential is asked no more, and the caller sends the request again without it
        (:mod:`interleaf.backends.reasoning_summary`)."""
        if not refuses_summary(error):
            return False
        self.summary_refusals.remember(credential_of(headers))
        return True

    def check_reply(self, data: Any, url: str | None = None) -> None:
        """Raise :class:`BackendHTTPError` (with the status the error stands for) when ``data``, a
        parsed HTTP 200 body, is the server's way of reporting an error rather than a reply."""
        error = self.reply_error(data)
        if error is not None:
            raise BackendHTTPError(
                error.status, error.message, url=url or self.url, error_type=error.error_type
            )

    def decode(self, data: Any) -> Response:
        """A whole reply (parsed JSON); raises BackendHTTPError for an error in a 200 (see
        :meth:`check_reply`) and WireError when it is not a reply of this API."""
        self.check_reply(data)
        return self.wire.decode_response(data)

    def assembler(self) -> Assembler:
        """Reads a reply stream of this server: SSE data in, format-neutral events out."""
        return self.wire.assembler()


def _without_beta(headers: Mapping[str, str], beta: str) -> Mapping[str, str] | None:
    """``headers`` with ``beta`` taken out of ``anthropic-beta`` (the header dropped when nothing is
    left), or None when they do not ask for it."""
    value = headers.get("anthropic-beta")
    if value is None:
        return None
    betas = [b.strip() for b in value.split(",")]
    if beta not in betas:
        return None
    rest = ",".join(b for b in betas if b != beta)
    trimmed = {k: v for k, v in headers.items() if k != "anthropic-beta"}
    if rest:
        trimmed["anthropic-beta"] = rest
    return trimmed
