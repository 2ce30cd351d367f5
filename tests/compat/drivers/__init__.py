"""Tiny agents built on Python SDKs (openai-agents, pydantic-ai, llm), each run in a venv of its own.

They import their SDK through :mod:`importlib` so that the project's type checker, which does not have
those SDKs installed, still checks the rest of the file.
"""
