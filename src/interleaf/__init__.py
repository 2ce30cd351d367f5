"""interleaf: lossless interleaved thinking for agents, gateways and probes."""

__version__ = "0.1.0"
