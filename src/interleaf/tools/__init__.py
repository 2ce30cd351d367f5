"""The agent's tools: one module per tool, all called through :class:`~interleaf.tools.base.Toolset`.

``base`` is the seam (the :class:`Tool` protocol, :class:`ToolContext`, :class:`ToolOutcome`,
:class:`Toolset`); ``shell``, ``files`` and ``python`` are the built-in tools. Tool modules are not
imported here, so ``import interleaf.tools`` stays cheap and needs no optional dependency.
"""

from interleaf.tools.base import Params, Tool, ToolContext, ToolError, ToolOutcome, Toolset, tool_spec

__all__ = ["Params", "Tool", "ToolContext", "ToolError", "ToolOutcome", "Toolset", "tool_spec"]
