"""``interleaf serve``: a gateway between client apps and a model server that restores the thinking
the apps drop. See docs/gateway.md; :func:`create_app` builds the Starlette app from
:class:`ServeOptions`."""

from interleaf.gateway.app import Gateway, create_app
from interleaf.gateway.config import ModelMap, ServeOptions

__all__ = ["Gateway", "ModelMap", "ServeOptions", "create_app"]
