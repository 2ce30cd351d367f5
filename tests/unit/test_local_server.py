"""LocalServer without a model: parameters handed to xllamacpp, errors before and at start.

Serving a real model is tested in tests/integration/test_local_model.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xllamacpp

from interleaf.backends.errors import BackendConfigError
from interleaf.backends.local import LocalServer, LocalServerError, ServerOptions, default_threads


def test_params_follow_the_options() -> None:
    options = ServerOptions(
        n_ctx=4096,
        threads=3,
        reasoning_format="none",
        chat_template="{{ messages }}",
        extra=(("sampling.top_k", 7), ("n_threads_http", 2)),
    )
    params = LocalServer("/models/m.gguf", model_id="m-1", options=options)._params(xllamacpp)

    assert params.model.path == "/models/m.gguf"
    assert params.model_alias == {"m-1"}
    assert (params.n_ctx, params.n_batch, params.n_ubatch, params.n_parallel) == (4096, 512, 512, 1)
    assert (params.cpuparams.n_threads, params.cpuparams_batch.n_threads) == (3, 3)
    assert params.use_jinja is True
    assert params.reasoning_format == xllamacpp.common_reasoning_format.COMMON_REASONING_FORMAT_NONE
    assert params.chat_template == "{{ messages }}"
    assert (params.hostnames, params.port) == (["127.0.0.1"], 0)
    assert params.endpoint_slots is True and params.ui is False
    assert (params.sampling.top_k, params.n_threads_http) == (7, 2)


def test_defaults_use_deepseek_reasoning_and_leave_a_cpu_free() -> None:
    params = LocalServer("m.gguf")._params(xllamacpp)
    assert params.reasoning_format == xllamacpp.common_reasoning_format.COMMON_REASONING_FORMAT_DEEPSEEK
    assert params.n_ctx == 8192
    assert params.cpuparams.n_threads == default_threads() == max(1, len(os.sched_getaffinity(0)) - 1)
    assert params.chat_template == ""  # the GGUF's own template


async def test_a_server_that_is_not_running_has_no_address() -> None:
    server = LocalServer("m.gguf")
    assert not server.running and not await server.ready()
    with pytest.raises(BackendConfigError, match=r"embedded server for m\.gguf is not running"):
        _ = server.base_url
    server.close()  # closing a stopped server does nothing


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(BackendConfigError, match="does not exist"):
        LocalServer(tmp_path / "absent.gguf").start_sync()


def test_a_file_llama_cpp_cannot_load_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    with pytest.raises(LocalServerError, match=r"llama\.cpp could not load .*bad\.gguf.*verbosity=3"):
        LocalServer(bad).start_sync()
