"""The task step of an app that acts in text instead of tool calls (aider's edit formats).

Such an app sends no tools: the model acts by writing an edit into its reply, and the app answers in
the same run with a new request when the edit cannot be applied. The scripted model's steps 1 and 2
are therefore a SEARCH/REPLACE block (aider's ``diff`` edit format,
https://aider.chat/docs/more/edit-formats.html) whose SEARCH line is not in the file: aider applies
nothing, and sends the failure back ("SEARCH/REPLACE block failed to match") with every earlier turn
of the run. Nothing is written to the workdir, so each request shows the app's conversation as it was.
"""

from __future__ import annotations

import re

EDIT_MARKER = "COMPAT-EDIT"
_ANCHOR = rf"{EDIT_MARKER} [0-9a-f]{{8}}-\d+"
ANCHOR_LINES = re.compile(rf"{_ANCHOR} (?:is not a line of this file|replaces it)")
"""The two lines of an edit that are the suite's own wherever they are quoted (aider's error report)."""


def edit_anchor(nonce: str, number: int) -> str:
    """The line by which a later request's copy of text turn ``number`` is found (never the thinking's
    marker, so that thinking moved into the text is still told apart)."""
    return f"{EDIT_MARKER} {nonce}-{number}"


def failed_edit(file_name: str, anchor: str) -> str:
    """A SEARCH/REPLACE block for ``file_name`` whose SEARCH line (``anchor``) is not in the file, after
    the short explanation aider's prompt asks models for ("explain the needed changes in a few short
    sentences", then the blocks)."""
    return (
        f"I will change the line of {file_name} that the task names, and nothing else in the file.\n\n"
        f"{file_name}\n"
        "```text\n"
        "<<<<<<< SEARCH\n"
        f"{anchor} is not a line of this file\n"
        "=======\n"
        f"{anchor} replaces it\n"
        ">>>>>>> REPLACE\n"
        "```\n"
    )


def edit_pattern(file_name: str) -> re.Pattern[str]:
    """Matches every :func:`failed_edit` for ``file_name`` (the trailing newline optional: apps strip
    their replies)."""
    sample = re.escape(failed_edit(file_name, "ANCHOR").rstrip("\n"))
    return re.compile(sample.replace("ANCHOR", _ANCHOR))
