"""The agent's tools: one module per tool, all called through :class:`~interleaf.tools.base.Toolset`.

``base`` is the seam (the :class:`Tool` protocol, :class:`ToolContext`, :class:`ToolOutcome`,
:class:`Toolset`); ``shell``, ``files`` and ``python`` are the built-in tools. ``registry`` holds the
tools by name, built-ins and plugins' alike (entry-point group ``interleaf.tools``): a package adds a
tool with a :class:`ToolFactory` (docs/plugins.md). Tool modules are not imported here, so ``import
interleaf.tools`` stays cheap and needs no optional dependency.
"""

from interleaf.tools.base import Params, Tool, ToolContext, ToolError, ToolOutcome, Toolset, tool_spec
from interleaf.tools.registry import ToolFactory, ToolSetup

__all__ = [
    "Params",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolFactory",
    "ToolOutcome",
    "ToolSetup",
    "Toolset",
    "tool_spec",
]
