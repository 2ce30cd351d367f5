"""A request's headers, indexed once: what the gateway's generation endpoints read them through."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.types import Scope


class IndexedHeaders(Headers):
    """Starlette's request :class:`~starlette.datastructures.Headers`, looked up in a dict built once
    per request instead of a scan of the raw list per lookup.

    The gateway reads about ten headers of every generation request (content type and length, the
    key, Anthropic's version and betas, the user agent); each lookup through ``Headers`` lowers and
    encodes the name and walks the list in Python. A repeated header answers with its first value, as
    ``Headers`` does; everything else (``raw``, ``getlist``, ``items``) is Starlette's own.
    """

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        index: dict[str, str] = {}
        for name, value in self._list:  # servers give names lowercased (ASGI)
            index.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._index = index

    def __getitem__(self, key: str) -> str:
        try:
            return self._index[key.lower()]
        except KeyError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._index.get(key.lower(), default)

    def __contains__(self, key: Any) -> bool:
        return key.lower() in self._index
