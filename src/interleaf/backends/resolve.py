"""Profile resolution for every command: a name, the user's config file, and flags make one profile.

Order (each later step wins): the built-in profile (``backends/profiles.py``), then the user's
``[profiles.NAME]`` table in config.toml (which may also define a new NAME on top of a built-in
``base``), then the command's flags (``--base-url``, ``--model``, ``--thinking-dialect``). ``interleaf
run``, ``chat``, ``serve`` and ``probe`` all resolve through :func:`resolve_profile`, so a profile the
user defined works everywhere.
"""

from __future__ import annotations

from typing import Any

from interleaf.backends.errors import BackendConfigError
from interleaf.backends.profiles import Profile, get_profile
from interleaf.config import Config, ProfileConfig
from interleaf.transcript import ReasoningDialect

_SCALARS = (
    "api",
    "base_url",
    "model",
    "fast_model",
    "key_env",
    "thinking_dialect",
    "openai_strict",
    "reads_effort",
    "max_tokens",
    "context_window",
)
_MAPPINGS = ("headers", "extra_body", "sampling")


def profile_from_config(name: str, config: Config) -> Profile:
    """The built-in profile ``name`` adjusted by ``[profiles.NAME]`` in ``config``, or a profile the
    config defines on a built-in ``base``. Raises :class:`BackendConfigError` naming the file and key."""
    override: ProfileConfig | None = config.profiles.get(name)
    base_name = (override.base if override and override.base else None) or name
    try:
        profile = get_profile(base_name)
    except BackendConfigError as exc:
        if override is None:
            defined = ", ".join(sorted(config.profiles))
            more = f"; {config.source} defines: {defined}" if defined else ""
            raise BackendConfigError(f"{exc}{more}") from None
        raise BackendConfigError(f"[profiles.{name}] in {config.source}: base {base_name!r}: {exc}") from None
    if override is None:
        return profile
    changes: dict[str, Any] = {"name": name}
    for key in _SCALARS:
        value = getattr(override, key)
        if value is not None:
            changes[key] = value
    if override.reasoning_summary is not None:
        changes["reasoning_summary"] = (
            None if override.reasoning_summary == "off" else override.reasoning_summary
        )
    for key in _MAPPINGS:
        value = getattr(override, key)
        if value is not None:
            changes[key] = {**getattr(profile, key), **value}
    return profile.with_overrides(**changes)


def resolve_profile(
    name: str,
    config: Config | None = None,
    *,
    base_url: str | None = None,
    model: str | None = None,
    key_env: str | None = None,
    thinking_dialect: ReasoningDialect | str | None = None,
) -> Profile:
    """``name`` resolved through ``config`` (``None``: built-ins only), then the flags given."""
    profile = profile_from_config(name, config) if config is not None else get_profile(name)
    changes: dict[str, Any] = {}
    if thinking_dialect is not None:
        changes["thinking_dialect"] = parse_dialect(thinking_dialect, profile)
    return profile.with_overrides(base_url=base_url, model=model, key_env=key_env, **changes)


_OPENAI_DIALECTS = (
    ReasoningDialect.REASONING_CONTENT,
    ReasoningDialect.REASONING,
    ReasoningDialect.REASONING_DETAILS,
    ReasoningDialect.THINK_TAGS,
)


def parse_dialect(value: ReasoningDialect | str, profile: Profile) -> ReasoningDialect | None:
    """A ``--thinking-dialect`` value for ``profile``: one its API can carry, or ``none`` (send no
    thinking back). The error lists the choices."""
    text = value.value if isinstance(value, ReasoningDialect) else value.strip().lower().replace("-", "_")
    if text == "none":
        return None
    allowed = {
        "anthropic": (ReasoningDialect.ANTHROPIC,),
        "openai-responses": (ReasoningDialect.RESPONSES,),
    }.get(profile.api, _OPENAI_DIALECTS)
    for dialect in allowed:
        if dialect.value == text:
            return dialect
    names = ", ".join([d.value for d in allowed] + ["none"])
    raise BackendConfigError(
        f"--thinking-dialect {text!r} does not fit profile {profile.name!r} ({profile.api}); use one of {names}"
    )
