"""Running the gateway under uvicorn (uvloop + httptools), as ``interleaf serve`` does.

``interleaf serve`` checks its flags, then replaces itself (same PID) with a fresh interpreter running
``python -m interleaf.gateway``: the serving process then holds only the gateway, not the CLI with
every other command's modules (typer, click and the rest: about 10 MiB of RSS per replica). The
flags travel in an environment variable, not in argv, because a store or upstream URL may hold a
password and argv is readable by every user through ``ps``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import sys
from types import FrameType

import uvicorn

from interleaf.backends.errors import redact_url
from interleaf.gateway.app import create_app
from interleaf.gateway.config import GatewayConfigError, ServeOptions
from interleaf.gateway.flags import ServeFlags

log = logging.getLogger("interleaf.gateway")

FLAGS_ENV = "INTERLEAF_SERVE_FLAGS"
BAD_INPUT = 2  # interleaf.cli.exit_codes.BAD_INPUT (the gateway does not import the CLI)


def raise_open_file_limit() -> int:
    """Lift the soft limit on open files to the hard limit: each relayed stream holds two sockets,
    and the usual soft limit of 1024 would cap the gateway near 500 streams."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
    return soft


def uvicorn_config(options: ServeOptions, *, log_level: int = logging.INFO) -> uvicorn.Config:
    app = create_app(options)
    return uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # the gateway logs one line per request itself, without secrets
        log_config=None,
        log_level=log_level,
        server_header=False,
        backlog=4096,
        timeout_keep_alive=75,
    )


def run(options: ServeOptions, *, log_level: int = logging.INFO) -> None:
    """Serve until interrupted."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    files = raise_open_file_limit()
    config = uvicorn_config(options, log_level=log_level)
    profile = options.profile
    log.info(
        "interleaf gateway: %s upstream (%s, thinking back as %s) at %s; store %s; %s auth; "
        "on missing thinking: %s; up to %d open files",
        profile.name,
        profile.api,
        profile.thinking_dialect.value if profile.thinking_dialect else "nothing",
        redact_url(profile.url()),
        redact_url(options.store_url) if options.store_url else "sqlite (data dir)",
        "managed" if options.keys_file else "passthrough",
        options.on_missing,
        files,
    )
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that was
    # there before it: make that a no-op, so a graceful shutdown exits with status 0, not -15 or a
    # KeyboardInterrupt traceback.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _after_shutdown)
    uvicorn.Server(config).run()


def _after_shutdown(sig: int, frame: FrameType | None) -> None:
    """The signal was handled: uvicorn already shut down."""


def serve(flags: ServeFlags) -> int:
    """Serve ``flags`` in a fresh interpreter (POSIX: this process is replaced and the call never
    returns), else in this process; returns an exit code."""
    if os.name != "posix":
        return _serve_here(flags)
    os.environ[FLAGS_ENV] = flags.to_json()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "interleaf.gateway"])


def main() -> None:
    """``python -m interleaf.gateway``: serve the flags ``interleaf serve`` left in the environment."""
    text = os.environ.pop(FLAGS_ENV, None)
    if text is None:
        sys.exit(
            f"python -m interleaf.gateway is started by `interleaf serve`; run that instead ({FLAGS_ENV} is unset)"
        )
    sys.exit(_serve_here(ServeFlags.from_json(text)))


def _serve_here(flags: ServeFlags) -> int:
    from interleaf.backends.errors import BackendConfigError
    from interleaf.store.thinking import StoreError

    try:
        run(flags.options(), log_level=flags.level())
    except (GatewayConfigError, BackendConfigError, StoreError) as exc:
        print(f"interleaf serve: error: {exc}", file=sys.stderr)
        return BAD_INPUT
    return 0
