"""Backend profiles: one small, documented data entry per model server.

A profile says how to reach a server (API, URL, auth) and — the point of interleaf — where earlier
thinking goes back on the next request (``thinking_dialect``; docs/architecture.md, rule 6 and the
table in §4.2). Adding a server is adding an entry here; nothing else changes.

Every field is data with a documented default; override per use with :meth:`Profile.with_overrides` or
``get_profile(name, base_url=..., model=..., key_env=...)``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from interleaf.backends.errors import BackendConfigError
from interleaf.backends.registry import EntryPointRegistry, PluginReport
from interleaf.transcript import ReasoningDialect

Api = Literal["anthropic", "openai-chat", "openai-responses"]
AuthStyle = Literal["x-api-key", "bearer", "none"]

API_PATHS: dict[Api, str] = {
    "anthropic": "/messages",
    "openai-chat": "/chat/completions",
    "openai-responses": "/responses",
}

# A base URL that already ends in an API version segment (/v1, /v4, /api/v3) gets only the endpoint
# appended; any other base URL gets /v1 first.
_VERSION_SUFFIX = re.compile(r"/v\d+$")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per million tokens."""

    input: float
    output: float


@dataclass(frozen=True, slots=True)
class ReplyError:
    """An error a server reported inside a successful HTTP reply, as the HTTP error it stands for."""

    status: int
    error_type: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """How to talk to one kind of model server.

    * ``api``: the wire format, ``anthropic`` (Messages), ``openai-chat`` (Chat Completions) or
      ``openai-responses`` (the Responses API).
    * ``base_url``: where the server lives, with or without the trailing ``/v1``; ``None`` when it has
      no fixed address (``local``: the embedded server picks a port).
    * ``auth``: ``x-api-key`` (Anthropic), ``bearer`` (``Authorization: Bearer``) or ``none``.
    * ``key_env``: the environment variable holding the key; ``key_required`` False for self-hosted
      servers, whose key is optional (sent when the variable is set).
    * ``headers``: extra request headers (API version, beta flags).
    * ``thinking_dialect``: where earlier thinking goes back (``None``: the API takes none back, so the
      encoder records each thinking block as a loss).
    * ``extra_body``: fields added to every request body unless the request already has them.
    * ``verifies_signatures``: the server rejects thinking whose signature is missing, foreign or edited.
    * ``openai_strict``: the server is OpenAI's own API (or as strict: Azure OpenAI), which refuses
      fields it does not document and settings a model does not take, where other OpenAI-format
      servers ignore them; a request translated from another format is fitted to it
      (:mod:`interleaf.backends.openai_strict`).
    * ``reads_effort``: an OpenAI-format server that reads ``reasoning_effort`` (``low``, ``medium``,
      ``high``) for models with effort levels (gpt-oss) and ignores it for others; an Anthropic app's
      effort reaches it there.
    * ``reasoning_summary``: a Responses server that writes a summary of its reasoning when asked
      (``auto``, ``concise``, ``detailed``); a request interleaf builds asks for one where it asks for
      reasoning (:mod:`interleaf.backends.reasoning_summary`).
    * ``model`` / ``fast_model``: defaults (``None``: the caller must choose, or — with
      ``discover_model`` — the first id from ``GET /v1/models`` is used).
    * ``sampling``: generation defaults (``temperature``, ``top_p``, ``top_k``) applied only where the
      request sets nothing; only parameters the API accepts.
    * ``max_tokens``: default output limit (required by the Anthropic API).
    * ``context_window``: tokens, where documented. ``prices``: per model, where documented.
    * ``reply_error``: the server's way of reporting an error inside an HTTP 200 reply, if it has one
      (MiniMax's ``base_resp``): a function of the parsed body giving the error, or ``None`` for a
      reply. Every client of the profile (agent, gateway, probes) checks it through the adapter.
    """

    name: str
    api: Api
    base_url: str | None
    auth: AuthStyle
    key_env: str | None = None
    key_required: bool = True
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    thinking_dialect: ReasoningDialect | None
    extra_body: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    verifies_signatures: bool = False
    openai_strict: bool = False
    reads_effort: bool = False
    reasoning_summary: str | None = None
    model: str | None = None
    fast_model: str | None = None
    discover_model: bool = False
    sampling: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    max_tokens: int | None = None
    context_window: int | None = None
    prices: Mapping[str, Prices] = field(default_factory=lambda: _EMPTY)
    reply_error: Callable[[Any], ReplyError | None] | None = None
    description: str = ""

    @property
    def path(self) -> str:
        """The endpoint path after the version segment (``/messages`` or ``/chat/completions``)."""
        return API_PATHS[self.api]

    def url(self, base_url: str | None = None) -> str:
        """The endpoint URL for ``base_url`` (default: the profile's).

        ``https://api.minimax.io/anthropic`` -> ``https://api.minimax.io/anthropic/v1/messages``;
        ``http://localhost:8000/v1/`` -> ``http://localhost:8000/v1/chat/completions``; a base URL that
        already ends with the endpoint is used as is.
        """
        return endpoint_url(self._base(base_url), self.path)

    def models_url(self, base_url: str | None = None) -> str:
        """``GET`` URL listing the server's models."""
        return endpoint_url(self._base(base_url), "/models")

    def _base(self, base_url: str | None) -> str:
        base = base_url or self.base_url
        if not base:
            raise BackendConfigError(
                f"profile {self.name!r} has no fixed address; pass base_url (--base-url) "
                "or start the server that provides it"
            )
        return base

    def price(self, model: str | None) -> Prices | None:
        """Documented prices for ``model``, if any."""
        return None if model is None else self.prices.get(model)

    def with_overrides(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        key_env: str | None = None,
        **changes: Any,
    ) -> Profile:
        """A copy with some fields changed; ``None`` leaves a field as it is."""
        updates = dict(changes)
        if base_url is not None:
            updates["base_url"] = base_url
        if model is not None:
            updates["model"] = model
        if key_env is not None:
            updates["key_env"] = key_env
        try:
            return replace(self, **updates)
        except TypeError as exc:
            raise BackendConfigError(f"cannot override profile {self.name!r}: {exc}") from None


def endpoint_url(base_url: str, path: str) -> str:
    """Join a base URL and an endpoint path, adding ``/v1`` unless a version segment is already there."""
    base = base_url.rstrip("/")
    if base.endswith(path) and _VERSION_SUFFIX.search(base[: -len(path)]):
        return base
    if not _VERSION_SUFFIX.search(base):
        base += "/v1"
    return base + path


def _frozen(**items: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(items))


# M2-family generation defaults, from every MiniMax-M2.x model card on Hugging Face ("recommended
# inference parameters").
_M2_SAMPLING = _frozen(temperature=1.0, top_p=0.95, top_k=40)
_M2_CONTEXT = 204_800
# platform.minimax.io pricing: M2.5 Lightning (-highspeed) $0.3/M in, $2.4/M out; standard "half price".
# Later generations' prices are not in the reference, so they are left out rather than guessed.
_M2_PRICES = MappingProxyType({"MiniMax-M2.5-highspeed": Prices(0.3, 2.4), "MiniMax-M2.5": Prices(0.15, 1.2)})

# MiniMax's status codes (platform.minimax.io, "Error codes") as the HTTP status each stands for.
_MINIMAX_STATUS = {1001: 504, 1002: 429, 1004: 401, 2049: 401, 1008: 402, 1026: 400, 1039: 400, 2013: 400}


def minimax_reply_error(data: Any) -> ReplyError | None:
    """MiniMax can answer HTTP 200 with ``base_resp.status_code != 0`` and no reply: that is an error."""
    if not isinstance(data, dict) or data.get("choices") or data.get("content"):
        return None
    base = data.get("base_resp")
    if not isinstance(base, dict) or base.get("status_code") in (0, None):
        return None
    code = base.get("status_code")
    status = _MINIMAX_STATUS.get(code, 500) if isinstance(code, int) else 500
    return ReplyError(status, f"minimax_{code}", str(base.get("status_msg") or "error without a message"))


# interleaf's own profiles; every command sees them through the registry below, with the plugins'.
BUILTIN_PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        p.name: p
        for p in (
            Profile(
                name="anthropic",
                description="Anthropic Messages API (Claude).",
                api="anthropic",
                base_url="https://api.anthropic.com",
                auth="x-api-key",
                key_env="ANTHROPIC_API_KEY",
                # The beta lets manual-mode Claude 4 think between tool calls (Anthropic docs, "Interleaved thinking").
                headers=_frozen(
                    **{"anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14"}
                ),
                # Signed thinking / redacted_thinking blocks, byte-exact; dropped or edited -> 400 (docs/architecture.md §4.1).
                thinking_dialect=ReasoningDialect.ANTHROPIC,
                verifies_signatures=True,
                model="claude-sonnet-4-6",
                fast_model="claude-haiku-4-5",
                max_tokens=32_000,
                context_window=200_000,
            ),
            Profile(
                name="minimax",
                description="MiniMax M2.x through its Anthropic-compatible API.",
                api="anthropic",
                base_url="https://api.minimax.io/anthropic",
                # Bearer, not x-api-key: x-api-key alone gave 401 for some users (MiniMax-M2 GitHub issues).
                auth="bearer",
                key_env="MINIMAX_API_KEY",
                headers=_frozen(**{"anthropic-version": "2023-06-01"}),
                # "Append the full response.content" — thinking blocks go back as blocks (platform.minimax.io, Anthropic API guide).
                thinking_dialect=ReasoningDialect.ANTHROPIC,
                # Replay reports conflict (signed, stripped and tampered all accepted in some tests):
                # do not count on the server to catch a bad signature.
                verifies_signatures=False,
                model="MiniMax-M2.7",
                fast_model="MiniMax-M2.7-highspeed",
                # top_k is accepted and ignored on /anthropic; sent so the request states the
                # recommended sampling and so servers that honour it get it.
                sampling=_M2_SAMPLING,
                max_tokens=32_768,
                context_window=_M2_CONTEXT,
                prices=_M2_PRICES,
                reply_error=minimax_reply_error,
            ),
            Profile(
                name="minimax-openai",
                description="MiniMax M2.x through its OpenAI-compatible API, reasoning_split mode.",
                api="openai-chat",
                base_url="https://api.minimax.io/v1",
                auth="bearer",
                key_env="MINIMAX_API_KEY",
                # reasoning_split moves thinking out of content into reasoning_details, which must go
                # back whole; not reasoning_content (docs/architecture.md §4.2).
                thinking_dialect=ReasoningDialect.REASONING_DETAILS,
                extra_body=_frozen(reasoning_split=True),
                model="MiniMax-M2.7",
                fast_model="MiniMax-M2.7-highspeed",
                # top_k is not documented for MiniMax's Chat API, so it is not sent there.
                sampling=_frozen(temperature=1.0, top_p=0.95),
                context_window=_M2_CONTEXT,
                prices=_M2_PRICES,
                reply_error=minimax_reply_error,
            ),
            Profile(
                name="openai",
                description="OpenAI Chat Completions (hosted). Returns no reasoning text.",
                api="openai-chat",
                base_url="https://api.openai.com/v1",
                auth="bearer",
                key_env="OPENAI_API_KEY",
                # Hosted OpenAI Chat returns no reasoning and takes none back (docs/architecture.md §4.2):
                # thinking from other backends is reported as a loss, not sent.
                thinking_dialect=None,
                openai_strict=True,
                model="gpt-5",
                fast_model="gpt-5-mini",
            ),
            Profile(
                name="openai-responses",
                description="OpenAI's Responses API (reasoning items; encrypted reasoning for stateless use).",
                api="openai-responses",
                base_url="https://api.openai.com/v1",
                auth="bearer",
                key_env="OPENAI_API_KEY",
                # Reasoning items go back whole, encrypted_content byte-exact (docs/architecture.md §4.3).
                thinking_dialect=ReasoningDialect.RESPONSES,
                openai_strict=True,
                # Without it a reasoning model's thinking comes back empty; an organization that may
                # not have summaries is asked once (docs/architecture.md §4.3).
                reasoning_summary="auto",
                model="gpt-5",
                fast_model="gpt-5-mini",
            ),
            Profile(
                name="deepseek",
                description="DeepSeek V3.2+/V4 (thinking mode on by default).",
                api="openai-chat",
                base_url="https://api.deepseek.com",
                auth="bearer",
                key_env="DEEPSEEK_API_KEY",
                # reasoning_content must come back on tool-call turns or the API answers 400 (docs/architecture.md §4.2).
                # Legacy deepseek-reasoner (R1) rejects it instead: use a profile override for that.
                thinking_dialect=ReasoningDialect.REASONING_CONTENT,
                model="deepseek-chat",
                context_window=128_000,
            ),
            Profile(
                name="kimi",
                description="Moonshot Kimi K2 thinking models.",
                api="openai-chat",
                base_url="https://api.moonshot.ai/v1",
                auth="bearer",
                key_env="MOONSHOT_API_KEY",
                # reasoning_content on tool-call messages, else 400 (docs/architecture.md §4.2).
                thinking_dialect=ReasoningDialect.REASONING_CONTENT,
                model="kimi-k2-thinking",
                # Thinking mode runs at temperature 1.0 (platform.kimi.ai, "Use Kimi K2 Thinking").
                sampling=_frozen(temperature=1.0),
                context_window=262_144,
            ),
            Profile(
                name="openrouter",
                description="OpenRouter (any upstream model).",
                api="openai-chat",
                base_url="https://openrouter.ai/api/v1",
                auth="bearer",
                key_env="OPENROUTER_API_KEY",
                headers=_frozen(**{"X-Title": "interleaf"}),
                # reasoning_details unmodified; Gemini upstreams 400 without them (OpenRouter docs, "Reasoning tokens").
                thinking_dialect=ReasoningDialect.REASONING_DETAILS,
                model="minimax/minimax-m2",
            ),
            Profile(
                name="vllm",
                description="A self-hosted vLLM server (OpenAI-compatible).",
                api="openai-chat",
                base_url="http://127.0.0.1:8000/v1",
                auth="bearer",
                key_env="VLLM_API_KEY",
                key_required=False,
                # vLLM reads prior reasoning only from `reasoning`; reasoning_content is silently
                # dropped (docs/architecture.md §4.2, vllm#38488). Servers started with an append-think
                # parser want THINK_TAGS instead: override thinking_dialect.
                thinking_dialect=ReasoningDialect.REASONING,
                # It passes reasoning_effort to gpt-oss's chat template (the model's effort levels).
                reads_effort=True,
                discover_model=True,
            ),
            Profile(
                name="sglang",
                description="A self-hosted SGLang server (OpenAI-compatible).",
                api="openai-chat",
                base_url="http://127.0.0.1:30000/v1",
                auth="bearer",
                key_env="SGLANG_API_KEY",
                key_required=False,
                # SGLang accepts reasoning_content on assistant input (docs/architecture.md §4.2).
                thinking_dialect=ReasoningDialect.REASONING_CONTENT,
                # It passes reasoning_effort to gpt-oss's chat template (the model's effort levels).
                reads_effort=True,
                discover_model=True,
            ),
            Profile(
                name="llamacpp",
                description="A llama.cpp server (llama-server).",
                api="openai-chat",
                base_url="http://127.0.0.1:8080/v1",
                auth="bearer",
                key_env="LLAMA_API_KEY",
                key_required=False,
                # With --reasoning-format deepseek (or auto) llama.cpp parses incoming
                # reasoning_content into the template (docs/architecture.md §4.5).
                thinking_dialect=ReasoningDialect.REASONING_CONTENT,
                discover_model=True,
            ),
            Profile(
                name="ollama",
                description="Ollama's OpenAI-compatible /v1 API.",
                api="openai-chat",
                base_url="http://127.0.0.1:11434/v1",
                auth="none",
                key_env="OLLAMA_API_KEY",
                key_required=False,
                # Ollama /v1 returns `reasoning` and reads it back into the message's thinking
                # (ollama/ollama openai/openai.go; docs/architecture.md §4.2).
                thinking_dialect=ReasoningDialect.REASONING,
                # Its /v1 request takes reasoning_effort, the think level of models that have levels.
                reads_effort=True,
                discover_model=True,
            ),
            Profile(
                name="local",
                description="The embedded llama.cpp server (backends/local.py); no key, address chosen at start.",
                api="openai-chat",
                base_url=None,
                auth="none",
                key_required=False,
                # Run with the DeepSeek reasoning format, which splits <think> into reasoning_content
                # and reads it back (docs/architecture.md §4.5).
                thinking_dialect=ReasoningDialect.REASONING_CONTENT,
                model="qwen2.5-coder-1.5b-instruct",
                context_window=8_192,
            ),
        )
    }
)


def builtin_profiles() -> Iterable[Profile]:
    """interleaf's own entry point in the ``interleaf.profiles`` group: the built-in profiles."""
    return BUILTIN_PROFILES.values()


def profile_key(name: str) -> str:
    """The form profile names are looked up in: case-insensitive, ``_`` the same as ``-``."""
    return name.strip().lower().replace("_", "-")


def _profile_problem(profile: Profile) -> str | None:
    """Why a plugin's profile cannot be used, or None (the dataclass itself checks no values)."""
    name: object = profile.name  # typed, but a plugin may still pass anything
    if not isinstance(name, str):
        return f"the name is a {type(name).__name__}, not a string"
    if not name.strip() or " " in name.strip():
        return "the name must be one word, words joined by -"
    if profile_key(name) != name:
        return f"the name must be lower case with - between words ({profile_key(name)!r})"
    if profile.api not in API_PATHS:
        return f"api {profile.api!r} is not one of {', '.join(API_PATHS)}"
    if profile.auth not in ("x-api-key", "bearer", "none"):
        return f"auth {profile.auth!r} is not one of x-api-key, bearer, none"
    dialect: object = profile.thinking_dialect  # typed, but a plugin may still pass a plain string
    if dialect is not None and not isinstance(dialect, ReasoningDialect):
        return f"thinking_dialect {dialect!r} is not a ReasoningDialect (e.g. ReasoningDialect.REASONING)"
    return None


_REGISTRY: EntryPointRegistry[Profile] = EntryPointRegistry(
    "interleaf.profiles",
    kind=Profile,
    name_of=lambda profile: profile.name,
    builtins=builtin_profiles,
    check=_profile_problem,
    what="profile",
)


class _RegisteredProfiles(Mapping[str, Profile]):
    """Every profile by name, built-in and from plugins; the plugins load on first use."""

    def __getitem__(self, name: str) -> Profile:
        return _REGISTRY.items()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY.items())

    def __len__(self) -> int:
        return len(_REGISTRY.items())

    def __repr__(self) -> str:
        return f"<profiles: {', '.join(self)}>"


PROFILES: Mapping[str, Profile] = _RegisteredProfiles()
"""Every registered profile by name (built-ins first, then plugins'); prefer :func:`get_profile`."""


def profile_names() -> list[str]:
    """The names of every registered profile: built-ins first, then plugins' (``interleaf.profiles``)."""
    return list(_REGISTRY.items())


def profile_plugins() -> tuple[PluginReport, ...]:
    """What each ``interleaf.profiles`` entry point registered, refused, or why it failed."""
    return _REGISTRY.reports()


def get_profile(
    name: str,
    *,
    base_url: str | None = None,
    model: str | None = None,
    key_env: str | None = None,
) -> Profile:
    """The named profile, optionally with ``base_url``, ``model`` or ``key_env`` overridden.

    Built-in and plugin profiles alike. Names are case-insensitive and ``_`` equals ``-``. An unknown
    name raises :class:`BackendConfigError` listing the valid ones.
    """
    key = profile_key(name)
    registered = _REGISTRY.items()
    profile = registered.get(key)
    if profile is None:
        close = difflib.get_close_matches(key, registered, n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise BackendConfigError(
            f"unknown backend profile {name!r}{suggestion}; valid profiles: {', '.join(registered)}"
        )
    return profile.with_overrides(base_url=base_url, model=model, key_env=key_env)
