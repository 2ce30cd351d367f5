"""Shell command lines read as bash reads them, far enough to judge what they would run.

:func:`parse` turns a command line into the simple commands it contains, wherever they hide: after
``;``, ``&&``, ``||``, ``&`` or a newline, in pipelines, subshells, ``{ ...; }`` groups, function
bodies, ``$( )``, backquotes, ``<( )`` and ``>( )``, and in the code handed to ``bash -c``, ``sh -c``,
``eval``, ``su -c`` or ``find -exec sh -c``. Words come from :mod:`shlex` (POSIX quoting) after a
first pass that does what shlex does not: joins ``\\``-newline continuations, drops comments (``#`` at
the start of a word only), drops here-document bodies (data, not commands) and rewrites backquotes
as ``$( )``. Redirections are kept apart from the words.

This is a reader for a deny list, not an interpreter: it never expands globs or runs anything, and
code it cannot read (an unclosed quote) comes back as :class:`Unreadable`, which bash would refuse too.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

__all__ = ["Command", "Pipeline", "Script", "Unreadable", "parse", "unwrap"]

_OPERATORS = ";&|()<>\n"
# shlex joins adjacent operator characters into one token (`);`, `|&`); these are bash's, longest first.
_KNOWN_OPERATORS = sorted(
    [
        ";;&",
        "&>>",
        "<<<",
        "<<-",
        ";;",
        ";&",
        "&&",
        "||",
        "|&",
        ">>",
        "<<",
        "<>",
        ">|",
        "&>",
        ">&",
        "<&",
        "<(",
        ">(",
        "()",
        ";",
        "&",
        "|",
        "(",
        ")",
        "<",
        ">",
        "\n",
    ],
    key=len,
    reverse=True,
)
_SEPARATORS = {";", "&&", "||", "&", "\n", ";;", ";&", ";;&", "|&"}
_REDIRECTS = {">", ">>", "<", "<>", ">|", "&>", "&>>", ">&", "<&", "<<<"}
_HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z0-9_.-]*[A-Za-z_.-][A-Za-z0-9_.-]*)\2")
_CODE_RUNNERS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "su"}
_MAX_DEPTH = 8

# Commands that run the command in their arguments, and their options that take a value.
_WRAPPERS: dict[str, set[str]] = {
    "sudo": {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group"},
    "doas": {"-u", "-C"},
    "env": {"-u", "-C", "-S", "--unset", "--chdir"},
    "nohup": set(),
    "nice": {"-n", "--adjustment"},
    "ionice": {"-c", "-n", "-p", "--class", "--classdata"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"},
    "time": {"-f", "-o"},
    "command": set(),
    "builtin": set(),
    "exec": {"-a"},
    "stdbuf": {"-i", "-o", "-e"},
    "setsid": set(),
    "chrt": set(),
    "taskset": set(),
    "unbuffer": set(),
    "busybox": set(),
    "caffeinate": set(),
}
_TAKES_A_FIRST_ARGUMENT = {"timeout", "chrt", "taskset"}


class Unreadable(ValueError):
    """The command line is not valid shell syntax (bash would fail on it too)."""


@dataclass
class Command:
    """One simple command: its words (quotes removed), redirections, and code it substitutes in."""

    words: list[str] = field(default_factory=list)
    redirects: list[tuple[str, str]] = field(default_factory=list)
    """(operator, target) pairs, e.g. ``(">", "/dev/sda")``."""
    inner: list[Script] = field(default_factory=list)
    """Scripts from ``$( )``, ``<( )``, ``>( )`` in this command, and from ``bash -c`` code."""

    @property
    def name(self) -> str:
        return self.words[0] if self.words else ""


@dataclass
class Pipeline:
    commands: list[Command] = field(default_factory=list)
    background: bool = False


@dataclass
class Script:
    """The pipelines of a command line, flattened (subshells and groups included), and its functions."""

    pipelines: list[Pipeline] = field(default_factory=list)
    functions: dict[str, Script] = field(default_factory=dict)
    assignments: dict[str, str] = field(default_factory=dict)
    """``NAME=value`` words that stood alone as commands, in order: later ones win."""

    def commands(self) -> list[Command]:
        """Every simple command, nested ones (substitutions, ``bash -c``, function bodies) included."""
        found: list[Command] = []
        for pipeline in self.pipelines:
            for command in pipeline.commands:
                found.append(command)
                for inner in command.inner:
                    found += inner.commands()
        for body in self.functions.values():
            found += body.commands()
        return found


def parse(text: str, *, depth: int = 0) -> Script:
    """Read ``text`` as bash would; raises :class:`Unreadable` for what bash could not read either."""
    lexer = shlex.shlex(_prepare(text), posix=True, punctuation_chars=_OPERATORS)
    lexer.whitespace_split = True
    lexer.whitespace = " \t\r"
    lexer.commenters = ""
    try:
        tokens = [piece for token in lexer for piece in _split_operators(token)]
    except ValueError as exc:
        raise Unreadable(str(exc)) from None
    script = Script()
    _Reader(tokens, script, depth).read()
    return script


class _Reader:
    def __init__(self, tokens: list[str], script: Script, depth: int) -> None:
        self.tokens = tokens
        self.script = script
        self.depth = depth
        self.i = 0

    def read(self) -> None:
        pipeline, command = Pipeline(), Command()
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            self.i += 1
            if token == "()" and len(command.words) == 1:
                self._function(command.words[0])
                command = Command()
            elif (
                token in _SEPARATORS
                or token in ("(", ")", "()")
                or (token in ("{", "}") and not command.words)
            ):
                self._end(pipeline, command, background=token == "&")
                pipeline, command = Pipeline(), Command()
            elif token == "|":
                pipeline.commands.append(command)
                command = Command()
            elif token == "function" and not command.words and self.i < len(self.tokens):
                name = self.tokens[self.i].removesuffix("()")
                self.i += 1
                if self.i < len(self.tokens) and self.tokens[self.i] == "()":
                    self.i += 1
                self._function(name)
            elif token in ("<(", ">(") or (token == "$" and self._peek() == "("):
                self.i += token == "$"
                command.inner.append(self._nested())
                command.words.append("$(…)") if token == "$" else None
            elif self._is_redirect(token, command):
                target = self.tokens[self.i] if self.i < len(self.tokens) else ""
                self.i += 1
                if target in ("(", "<(", ">("):  # a redirect from a process substitution
                    command.inner.append(self._nested())
                else:
                    command.redirects.append((token, target))
            else:
                command.words.append(token)
                command.inner += [parse(code, depth=self.depth + 1) for code in self._substitutions(token)]
        self._end(pipeline, command, background=False)

    def _peek(self) -> str:
        return self.tokens[self.i] if self.i < len(self.tokens) else ""

    def _is_redirect(self, token: str, command: Command) -> bool:
        if token in _REDIRECTS or token in ("<<", "<<-"):
            if command.words and command.words[-1].isdigit() and token[0] in "<>":
                command.words.pop()  # `2>` lexes as the word 2 and the operator >
            return True
        return False

    def _nested(self) -> Script:
        """The tokens up to the matching ``)``, read as a script of their own."""
        level, start = 1, self.i
        while self.i < len(self.tokens) and level:
            token = self.tokens[self.i]
            level += token.count("(") - token.count(")") if set(token) <= set(_OPERATORS) else 0
            self.i += 1
        inner = Script()
        if self.depth < _MAX_DEPTH:
            _Reader(self.tokens[start : self.i - 1], inner, self.depth + 1).read()
        return inner

    def _function(self, name: str) -> None:
        """A function definition: its body is the group or subshell that follows."""
        while self.i < len(self.tokens) and self.tokens[self.i] == "\n":
            self.i += 1
        opener = self._peek()
        closer = {"{": "}", "(": ")"}.get(opener)
        if closer is None:
            return
        level, start = 0, self.i
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            self.i += 1
            level += (token == opener) - (token == closer)
            if level == 0:
                break
        body = Script()
        _Reader(self.tokens[start + 1 : self.i - 1], body, self.depth + 1).read()
        self.script.functions[name] = body

    def _substitutions(self, word: str) -> list[str]:
        """The code of each ``$( )`` inside a word (a quoted one arrives as part of one token)."""
        if self.depth >= _MAX_DEPTH:
            return []
        found, start = [], word.find("$(")
        while start >= 0:
            level, end = 0, start + 1
            while end < len(word):
                level += (word[end] == "(") - (word[end] == ")")
                if level == 0:
                    break
                end += 1
            found.append(word[start + 2 : end])
            start = word.find("$(", end)
        return found

    def _end(self, pipeline: Pipeline, command: Command, *, background: bool) -> None:
        if command.words or command.redirects or command.inner:
            if all(_ASSIGNMENT.match(w) for w in command.words) and command.words:
                for word in command.words:
                    name, _, value = word.partition("=")
                    self.script.assignments[name] = value
            pipeline.commands.append(command)
        if pipeline.commands:
            pipeline.background = background
            for item in pipeline.commands:
                item.inner += self._code_arguments(item)
            self.script.pipelines.append(pipeline)

    def _code_arguments(self, command: Command) -> list[Script]:
        """``bash -c CODE``, ``eval CODE...``, ``su -c CODE``: the code is commands too."""
        words = command.words
        if self.depth >= _MAX_DEPTH or not words:
            return []
        words = unwrap(words)
        name = words[0].rsplit("/", 1)[-1] if words else ""
        code: str | None = None
        if name == "eval":
            code = " ".join(words[1:])
        elif name in _CODE_RUNNERS and "-c" in words[1:]:
            position = words.index("-c", 1)
            code = words[position + 1] if position + 1 < len(words) else None
        elif name in _CODE_RUNNERS:
            combined = [w for w in words[1:] if w.startswith("-") and not w.startswith("--") and "c" in w]
            if combined:
                position = words.index(combined[0], 1)
                code = words[position + 1] if position + 1 < len(words) else None
        if not code:
            return []
        try:
            return [parse(code, depth=self.depth + 1)]
        except Unreadable:
            return []


_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def unwrap(words: list[str]) -> list[str]:
    """The command a wrapper runs: ``sudo -u root env A=1 nice rm -rf x`` is ``rm -rf x``.

    Leading ``NAME=value`` assignments go too, and a path is reduced to its name (``/bin/rm`` is ``rm``).
    """
    i = 0
    while i < len(words):
        word = words[i]
        name = word.rsplit("/", 1)[-1]
        if _ASSIGNMENT.match(word):
            i += 1
            continue
        if name not in _WRAPPERS:
            break
        takes_value = _WRAPPERS[name]
        i += 1
        while i < len(words) and words[i].startswith("-") and words[i] != "-":
            if words[i] == "--":
                i += 1
                break
            i += 2 if words[i] in takes_value else 1
        if name in _TAKES_A_FIRST_ARGUMENT and i < len(words):
            i += 1  # timeout's duration, chrt's priority, taskset's mask
    rest = words[i:]
    return [rest[0].rsplit("/", 1)[-1], *rest[1:]] if rest else []


def _split_operators(token: str) -> list[str]:
    """``);`` is ``)`` and ``;``: split a run of operator characters into bash's operators."""
    if not token or not set(token) <= set(_OPERATORS):
        return [token]
    pieces, i = [], 0
    while i < len(token):
        operator = next((op for op in _KNOWN_OPERATORS if token.startswith(op, i)), token[i])
        pieces.append(operator)
        i += len(operator)
    return pieces


def _prepare(text: str) -> str:
    """Bash's view before splitting words: continuations joined, comments and here-document bodies
    dropped, backquotes written as ``$( )``. Quotes are tracked so none of this happens inside them."""
    out: list[str] = []
    heredocs: list[tuple[str, bool]] = []
    quote: str | None = None
    word_start = True
    i = 0
    while i < len(text):
        char = text[i]
        if quote == "'":
            out.append(char)
            quote = None if char == "'" else quote
        elif char == "\\" and i + 1 < len(text):
            if text[i + 1] != "\n":
                out.append(text[i : i + 2])
            i += 2
            word_start = False
            continue
        elif char == "`":
            end = text.find("`", i + 1)
            end = len(text) if end < 0 else end
            out.append("$(" + text[i + 1 : end] + ")")
            i = end + 1
            word_start = False
            continue
        elif quote == '"':
            out.append(char)
            quote = None if char == '"' else quote
        elif char in "'\"":
            out.append(char)
            quote = char
        elif char == "#" and word_start:
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif char == "<" and (match := _HEREDOC.match(text, i)) and not text.startswith("<<<", i):
            heredocs.append((match.group(3), match.group(1) == "-"))
            out.append(match.group(0))
            i = match.end()
            word_start = False
            continue
        elif char == "\n" and heredocs:
            out.append(char)
            i = _skip_heredocs(text, i + 1, heredocs)
            heredocs = []
            word_start = True
            continue
        else:
            out.append(char)
        word_start = quote is None and (char.isspace() or char in _OPERATORS)
        i += 1
    return "".join(out)


def _skip_heredocs(text: str, i: int, heredocs: list[tuple[str, bool]]) -> int:
    """The position after the bodies of ``heredocs``, which start at ``i``."""
    for delimiter, strip_tabs in heredocs:
        while i < len(text):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            line = text[i:end]
            i = end + 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
    return min(i, len(text))
