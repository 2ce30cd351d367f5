"""Errors of the data pipeline: each message is one line naming the file, row or endpoint at fault."""

from __future__ import annotations


class DataError(Exception):
    """Base class; ``str(error)`` is a one-line message fit for the command line."""


class DatasetError(DataError):
    """A dataset directory or Parquet file cannot be read or written."""


class SourceError(DataError):
    """A source (a sessions database, an eval directory, a JSON-lines file) cannot be read at all."""


class RowError(DataError):
    """One input record is not a trajectory; ``where`` names it (``file.jsonl:17``, ``session 2026…``)."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class RulesConfigError(DataError):
    """The ``--rules`` file is not valid; the message names the file and the key."""


class JudgeError(DataError):
    """The judge could not be reached or configured; the message names the endpoint."""


class EngineError(DataError):
    """The execution engine (process pool or Ray) could not run a stage."""
