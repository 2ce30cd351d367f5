"""The deny list: commands no approval policy runs, because they damage the machine, not the task.

It is the second line of defence behind the sandbox (:mod:`interleaf.tools.sandbox`), and the only one
when commands run unconfined. Commands are read with a shell lexer (:mod:`interleaf.tools.shell_syntax`)
rather than matched with patterns, so quoting, ``sudo``, ``bash -c``, ``$( )``, ``\\rm``, ``/bin/rm``,
``--recursive --force``, ``"$HOME"`` or a variable set earlier in the line make no difference. What is
refused: recursive deletes (``rm``, ``find -delete``) of ``/``, a home directory, a top-level or system
directory, or the directory above; writes to disks and ``/proc/sysrq-trigger``; formatting and
partitioning; shutdown and reboot; killing every process (``kill -9 -1``); fork bombs; recursive
permission changes of system directories; force pushes and remote deletes with git; code downloaded
straight into an interpreter (``curl … | sh``); ``crontab -r``; deleting user accounts.
``tests/unit/test_denylist.py`` holds the corpus of spellings it must refuse and commands it must allow.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass

from interleaf.tools.shell_syntax import Command, Script, Unreadable, parse, unwrap

__all__ = ["Denial", "check_python", "check_shell"]

_SYSTEM_TOP = {"usr", "etc", "var", "boot", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "opt", "srv"}
_SYSTEM_FILES = ("/etc/", "/boot/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/sys/")
_DISK = re.compile(r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|dm-|md|loop|sr|disk/|mapper/|mem$|kmem$|port$)")
_DISK_TOOLS = {"wipefs", "blkdiscard", "fdisk", "sfdisk", "cfdisk", "parted", "sgdisk", "gdisk", "shred"}
_POWER = {"shutdown", "reboot", "halt", "poweroff", "kexec"}
_SYSTEMCTL_POWER = {"poweroff", "reboot", "halt", "kexec", "emergency", "rescue", "suspend", "hibernate"}
_DOWNLOADERS = {"curl", "wget", "fetch", "aria2c", "http", "https", "xh", "lwp-request", "GET"}
_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh"}
_INTERPRETERS = _SHELLS | {"python", "python2", "python3", "perl", "ruby", "node", "php", "pwsh", "lua"}
_CODE_FLAGS = {"-c", "-e", "-E", "--eval", "-r"}
_FORK_LOOP = re.compile(
    r"\bfork\b[\s\S]*\b(while|loop|for|until)\b|\b(while|loop|until|for)\b[\s\S]*\bfork\b"
)
_WRITE_REDIRECTS = {">", ">>", "&>", "&>>", ">|", "<>"}
_FIND_DESTRUCTIVE = {"rm", "shred", "unlink", "chmod", "chown", "chgrp", "mv", "truncate", "dd"}
_VARIABLE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)(:[?][^}]*)?\}?")


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a command is refused: ``reason`` says what it would do, ``command`` is the part that would."""

    reason: str
    command: str

    def __str__(self) -> str:
        return f"`{self.command}` {self.reason}"


def check_shell(command: str) -> Denial | None:
    """The first thing in ``command`` the deny list refuses, or ``None``. Unreadable text is not
    refused here: bash refuses it itself."""
    try:
        script = parse(command)
    except Unreadable:
        return None
    return _check_script(script)


def check_python(code: str) -> Denial | None:
    """The same judgement for Python code: shell commands it passes to ``os.system`` or ``subprocess``,
    ``shutil.rmtree`` of a precious directory, ``os.fork()`` in a loop, ``os.kill(-1, ...)``."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    loops = [node for node in ast.walk(tree) if isinstance(node, ast.While | ast.For)]
    for loop in loops:
        if any(_call_name(n) == "os.fork" for n in ast.walk(loop)):
            return Denial("is a fork bomb (os.fork() in a loop)", "os.fork()")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name, first = _call_name(node), node.args[0]
        text = _literal_command(first)
        if name in ("os.system", "os.popen") or name.startswith("subprocess."):
            if text is not None and (denial := check_shell(text)) is not None:
                return denial
        elif name == "shutil.rmtree":
            path = _python_path(first)
            why = _precious(_normalize(path)) if path is not None else None
            if why:
                return Denial(f"deletes {why}", f"shutil.rmtree({path!r})")
        elif name in ("os.kill", "os.killpg") and _literal(first) in (-1, 1):
            return Denial("kills every process it can (PID -1) or init (PID 1)", ast.unparse(node))
    return None


# ------------------------------------------------------------------------------------------ scripts


def _check_script(script: Script) -> Denial | None:
    for name, body in script.functions.items():
        calls = [c for p in body.pipelines for c in p.commands if c.name == name]
        spawning = any(
            (p.background or len(p.commands) > 1) and any(c.name == name for c in p.commands)
            for p in body.pipelines
        )
        if len(calls) >= 2 or spawning:
            return Denial(f"is a fork bomb (the function {name} starts copies of itself)", f"{name}()")
    for pipeline in script.pipelines:
        denial = _check_pipeline(pipeline.commands, script)
        if denial is not None:
            return denial
        for command in pipeline.commands:
            for inner in command.inner:
                if (denial := _check_script(inner)) is not None:
                    return denial
    for body in script.functions.values():
        if (denial := _check_script(body)) is not None:
            return denial
    return None


def _check_pipeline(commands: list[Command], script: Script) -> Denial | None:
    downloaded = False
    for position, command in enumerate(commands):
        words = unwrap(command.words)
        for op, target in command.redirects:
            if op in _WRITE_REDIRECTS and (why := _written_target(target)):
                return Denial(f"writes to {why}", _show(command.words, f"{op} {target}"))
        if not words:
            continue
        if downloaded and _reads_code_from_stdin(words):
            return Denial("runs code straight from the network", _show(words))
        if words[0] in _DOWNLOADERS:
            downloaded = True
        if _runs_downloaded_code(words, command):
            return Denial("runs code straight from the network", _show(words))
        if words[0] == "xargs" and position > 0:
            feeder = unwrap(commands[position - 1].words)
            if feeder[:1] in (["echo"], ["printf"]):
                words = [*_xargs_command(words), *feeder[1:]]
        reason = _check_command(words, script)
        if reason is not None:
            return Denial(reason, _show(words))
    return None


def _check_command(words: list[str], script: Script) -> str | None:
    """Why this simple command (wrappers already removed) is refused, or ``None``."""
    name, args = words[0], words[1:]
    if name == "rm":
        return _check_rm(args, script)
    if name == "find":
        return _check_find(args, script)
    formats = name.startswith("mkfs") or name in ("mke2fs", "mkswap") or name in _DISK_TOOLS
    if formats and any(_DISK.match(a) for a in args):
        return "erases or repartitions a disk"
    if name == "dd":
        for arg in args:
            if arg.startswith("of=") and (why := _written_target(arg[3:])):
                return f"writes to {why}"
    if name in ("tee", "cp", "cat", "install") and any(_DISK.match(a) for a in args):
        return "writes to a disk device"
    if name in _POWER or (name in ("init", "telinit") and args[:1] in (["0"], ["6"])):
        return "shuts down or restarts the machine"
    if name in ("systemctl", "loginctl") and any(a in _SYSTEMCTL_POWER or a == "isolate" for a in args):
        return "shuts down, restarts or suspends the machine"
    if name == "kill":
        return _check_kill(args)
    if name == "killall5" or (name in ("pkill", "killall") and _kills_everything(args)):
        return "kills every process it can"
    if name in ("chmod", "chown", "chgrp", "setfacl"):
        return _check_permissions(name, args, script)
    if name == "git":
        return _check_git(args)
    if name == "crontab" and "-r" in args:
        return "deletes every cron job of the user"
    if name in ("userdel", "deluser"):
        return "deletes a user account"
    if name == "mv":
        return _check_mv(args, script)
    if name in _INTERPRETERS:
        code = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in _CODE_FLAGS), None)
        if code is not None and name.startswith("python") and (denial := check_python(code)):
            return denial.reason
        if code is not None and name not in _SHELLS and _FORK_LOOP.search(code):
            return "is a fork bomb (fork in a loop)"
    return None


def _check_rm(args: list[str], script: Script) -> str | None:
    options, targets = _split_options(args)
    if "--no-preserve-root" in options:
        return "turns off rm's guard against deleting /"
    recursive = "--recursive" in options or any(
        not o.startswith("--") and ("r" in o or "R" in o) for o in options
    )
    for target in targets:
        if recursive and _unset_variable_root(target):
            return f"deletes / if {target.split('/')[0]} is empty or unset (use ${{NAME:?}} to guard it)"
        path = _normalize(_expand(target, script))
        if recursive and (why := _precious(path)):
            return f"deletes {why}"
        if path.startswith(_SYSTEM_FILES) or (
            path.startswith("/usr/") and not path.startswith("/usr/local/")
        ):
            return f"deletes the system file {path}"
    return None


def _check_find(args: list[str], script: Script) -> str | None:
    starts = []
    for arg in args:
        if arg.startswith(("-", "(", "!")):
            break
        starts.append(arg)
    destructive = "-delete" in args
    for flag in ("-exec", "-execdir", "-ok", "-okdir"):
        if flag in args:
            position = args.index(flag)
            executed = unwrap(args[position + 1 :])
            destructive = destructive or (bool(executed) and executed[0] in _FIND_DESTRUCTIVE)
    if not destructive:
        return None
    for start in starts:
        why = _precious(_normalize(_expand(start, script)))
        if why:
            return f"deletes or changes everything in {why}"
    return None


def _check_kill(args: list[str]) -> str | None:
    if args[:1] in (["-l"], ["-L"]):
        return None
    rest = list(args)
    if rest[:1] in (["-s"], ["-n"]):
        rest = rest[2:]  # -s KILL
    elif len(rest) > 1 and rest[0].startswith("-") and rest[0] != "--":
        rest = rest[1:]  # -9, -KILL, -SIGKILL (a lone `kill -1` sends signal 1 to nothing)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if "-1" in rest or "1" in rest:
        return "kills every process it can (PID -1) or init (PID 1)"
    return None


def _kills_everything(args: list[str]) -> bool:
    return "-u" in args or "--user" in args or any(a in (".", ".*", "^", "''") for a in args)


def _check_permissions(name: str, args: list[str], script: Script) -> str | None:
    options, operands = _split_options(args)
    recursive = "--recursive" in options or any(o.startswith("-") and "R" in o for o in options)
    skip = 0 if name == "setfacl" else 1  # the mode or the owner comes first
    for target in operands[skip:]:
        path = _normalize(_expand(target, script))
        why = _precious(path)
        if why and (recursive or path == "/"):
            return f"changes the permissions or owner of {why}"
    return None


def _check_git(args: list[str]) -> str | None:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-C", "-c") else 1  # git's own options, before the subcommand
    if i >= len(args) or args[i] != "push":
        return None
    for arg in args[i + 1 :]:
        if arg.startswith("--force") or arg in ("--mirror", "--delete", "--prune"):
            return "rewrites or deletes history on the remote"
        if arg.startswith("-") and not arg.startswith("--") and ("f" in arg or "d" in arg):
            return "rewrites or deletes history on the remote"
        if arg.startswith(("+", ":")) and len(arg) > 1:
            return "rewrites or deletes history on the remote"
    return None


def _check_mv(args: list[str], script: Script) -> str | None:
    _, operands = _split_options(args)
    if len(operands) >= 2 and operands[-1] == "/dev/null":
        return "replaces /dev/null"
    for source in operands[:-1]:
        if why := _precious(_normalize(_expand(source, script))):
            return f"moves away {why}"
    return None


# -------------------------------------------------------------------------------------- downloads


def _reads_code_from_stdin(words: list[str]) -> bool:
    name, args = words[0], words[1:]
    if name not in _INTERPRETERS:
        return False
    if any(a in _CODE_FLAGS for a in args):
        return False
    operands = [a for a in args if not a.startswith("-")]
    return not operands or operands[0] in ("-", "/dev/stdin") or "-s" in args


def _runs_downloaded_code(words: list[str], command: Command) -> bool:
    """``bash <(curl …)``, ``sh -c "$(curl …)"``, ``eval "$(wget -O- …)"``, ``source <(curl …)``."""
    if words[0] not in _INTERPRETERS | {"eval", "source", "."}:
        return False
    return any(
        c.name in _DOWNLOADERS or unwrap(c.words)[:1] in [[d] for d in _DOWNLOADERS]
        for inner in command.inner
        for c in inner.commands()
    )


def _xargs_command(words: list[str]) -> list[str]:
    i = 1
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in ("-I", "-n", "-P", "-L", "-d", "-s", "-E") else 1
    return unwrap(words[i:])


# ------------------------------------------------------------------------------------------ paths


def _expand(word: str, script: Script, depth: int = 0) -> str:
    """``word`` with what is known expanded: ``~`` and ``$HOME`` become ``~``; variables assigned
    earlier in the command line their values; ``$PWD`` becomes ``.``."""
    if word == "~" or word.startswith("~/"):
        return word
    if word.startswith("~"):
        return "~" + word[word.find("/") :] if "/" in word else "~"  # ~user: another home
    match = _VARIABLE.match(word)
    if match is None or depth > 5:
        return word
    name, rest = match.group(1), word[match.end() :]
    if name == "HOME":
        return "~" + rest
    if name == "PWD":
        return "." + rest
    if name in script.assignments:
        return _expand(script.assignments[name] + rest, script, depth + 1)
    return word


def _normalize(path: str) -> str:
    path = re.sub(r"/+", "/", path.strip())
    while True:
        stripped = re.sub(r"/(\.|\*|\.\*)$", "", path)
        stripped = stripped.rstrip("/") if len(stripped) > 1 else stripped
        if stripped == path:
            break
        path = stripped
    return path or "/"


def _precious(path: str) -> str | None:
    """Why deleting ``path`` (normalized) would damage the machine, or ``None``."""
    if path in ("/", "/*", "/."):
        return "/ (the whole file system)"
    if path == "~" or (path.startswith("~") and "/" not in path):
        return "a home directory"
    if path.startswith("~/") and path[2:].split("/")[0] in (".ssh", ".gnupg", ".aws", ".kube", ".config"):
        return f"{path} (credentials and settings)"
    if re.fullmatch(r"\.\.(/\.\.)*", path):
        return f"{path} (the directories above the current one)"
    if path.startswith("/"):
        parts = path.strip("/").split("/")
        if len(parts) == 1:
            return f"the top-level directory {path}"
        if (parts[0] in ("home", "Users") and len(parts) == 2) or (parts[0] == "root" and len(parts) == 1):
            return f"the home directory {path}"
        if parts[0] in _SYSTEM_TOP and len(parts) == 2:
            return f"the system directory {path}"
    return None


def _written_target(target: str) -> str | None:
    if _DISK.match(target):
        return f"the disk device {target}"
    if target.startswith("/proc/sysrq-trigger"):
        return "/proc/sysrq-trigger (it can halt the machine)"
    if target.startswith(_SYSTEM_FILES) and not target.startswith("/sys/fs/cgroup"):
        return f"the system file {target}"
    return None


def _unset_variable_root(target: str) -> bool:
    match = _VARIABLE.match(target)
    if match is None or match.group(2) or match.group(1) in ("HOME", "PWD"):
        return False
    return target[match.end() :] in ("/", "/*", "/.*")


def _split_options(args: list[str]) -> tuple[list[str], list[str]]:
    options, operands, ended = [], [], False
    for arg in args:
        if ended or not arg.startswith("-") or arg == "-":
            operands.append(arg)
        elif arg == "--":
            ended = True
        else:
            options.append(arg)
    return options, operands


def _show(words: list[str], extra: str = "") -> str:
    text = shlex.join(words) if words else ""
    return f"{text} {extra}".strip()[:200]


# ------------------------------------------------------------------------------------------ python


def _call_name(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    parts: list[str] = []
    target: ast.AST = node.func
    while isinstance(target, ast.Attribute):
        parts.append(target.attr)
        target = target.value
    if isinstance(target, ast.Name):
        parts.append(target.id)
    return ".".join(reversed(parts))


def _literal(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _literal_command(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.List | ast.Tuple) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return shlex.join(str(e.value) for e in node.elts if isinstance(e, ast.Constant))
    return None


def _python_path(node: ast.AST) -> str | None:
    """The path a Python expression names, when it is literal: ``"/"``, ``os.path.expanduser("~")``,
    ``Path.home()``, ``Path("~").expanduser()``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    name = _call_name(node)
    if name.endswith("home") and isinstance(node, ast.Call) and not node.args:
        return "~"
    if isinstance(node, ast.Call) and node.args and name.endswith(("expanduser", "Path")):
        return _python_path(node.args[0])
    if isinstance(node, ast.Call) and name.endswith("expanduser") and isinstance(node.func, ast.Attribute):
        return _python_path(node.func.value)
    return None
