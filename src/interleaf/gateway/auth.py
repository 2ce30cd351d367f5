"""Who is calling, and which key goes upstream.

Two modes:

* **passthrough** (default): the client's own key (``x-api-key`` or ``Authorization: Bearer``) goes to
  the upstream in the way its profile wants, and is also what the tenant is derived from — two apps with
  different keys never see each other's thinking.
* **managed** (``--keys FILE``): clients present gateway keys listed in the file; each maps to a tenant
  name, and the upstream key comes from an environment variable the clients never see. Several keys may
  name one tenant (key rotation keeps the tenant's stored turns).

The tenant itself is a keyed hash (:func:`interleaf.store.fingerprint.tenant_id`); raw keys are never
stored or logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from interleaf.gateway.config import GatewayConfigError
from interleaf.gateway.errors import GatewayError

ANONYMOUS = "anonymous"
"""The credential of clients that send no key (self-hosted upstreams without auth): one shared tenant."""


@dataclass(frozen=True, slots=True)
class Identity:
    """``credential`` is what the tenant is derived from; ``upstream_key`` is sent upstream (or None)."""

    credential: str
    upstream_key: str | None


def client_key(headers: Mapping[str, str]) -> str | None:
    """The key a client sent: ``x-api-key``, else an ``Authorization: Bearer`` token."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def load_keys(path: Path) -> dict[str, str]:
    """A keys file: one ``GATEWAY_KEY TENANT`` per line (``TENANT`` defaults to the line number's key
    label ``key-N``); blank lines and ``#`` comments are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GatewayConfigError(
            f"--keys {path}: cannot read the keys file ({exc.strerror or exc})"
        ) from None
    keys: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2:
            raise GatewayConfigError(
                f"--keys {path}:{number}: expected 'GATEWAY_KEY [TENANT]', found {len(parts)} fields"
            )
        key, tenant = parts[0], parts[1] if len(parts) == 2 else f"key-{number}"
        if keys.get(key, tenant) != tenant:
            raise GatewayConfigError(f"--keys {path}:{number}: this key is already listed for another tenant")
        keys[key] = tenant
    if not keys:
        raise GatewayConfigError(f"--keys {path}: no keys in the file; write one 'GATEWAY_KEY TENANT' a line")
    return keys


class Authenticator:
    """Turns request headers into an :class:`Identity` (or a 401 in the client's format)."""

    def __init__(self, keys: Mapping[str, str] | None = None, upstream_key: str | None = None) -> None:
        self._keys = dict(keys) if keys is not None else None
        self._upstream_key = upstream_key

    @classmethod
    def from_options(
        cls,
        keys_file: Path | None,
        key_env: str | None,
        key_required: bool,
        env: Mapping[str, str] | None = None,
    ) -> Authenticator:
        """Passthrough without ``keys_file``; managed with it, the upstream key read from ``key_env``."""
        if keys_file is None:
            return cls()
        environ = os.environ if env is None else env
        key = environ.get(key_env or "") or None
        if key is None and key_required:
            where = f"set {key_env}" if key_env else "pass --upstream-key-env NAME and set that variable"
            raise GatewayConfigError(
                f"managed mode (--keys) needs the upstream's API key and none was found: {where}"
            )
        return cls(load_keys(keys_file), key)

    @property
    def managed(self) -> bool:
        return self._keys is not None

    def identify(self, headers: Mapping[str, str]) -> Identity:
        key = client_key(headers)
        if self._keys is None:
            return Identity(credential=key or ANONYMOUS, upstream_key=key)
        tenant = self._keys.get(key) if key is not None else None
        if tenant is None:
            problem = "no API key was sent" if key is None else "the API key is not a key of this gateway"
            raise GatewayError(
                401,
                f"{problem}; use a gateway key from the operator (interleaf serve --keys FILE), "
                "sent as x-api-key or Authorization: Bearer",
                code="invalid_api_key",
            )
        return Identity(credential="managed:" + tenant, upstream_key=self._upstream_key)
