"""Plugins: a package installed next to interleaf adds a backend profile and an agent tool (docs/plugins.md).

The main test builds two real plugin packages in ``tmp_path`` and pip-installs them (offline: no index,
no build isolation, the build backend of this environment) into a fresh venv that sees this
environment's packages, interleaf included even when it is an editable install; then, in that venv's
Python, ``interleaf plugins`` lists them, ``get_profile`` and a ``[profiles.gpu]`` table based on the
plugin's profile resolve, and ``interleaf run`` drives the agent against a scripted OpenAI-compatible
server on loopback that calls the plugin's tool. ``interleaf-acme`` is a well-behaved plugin;
``interleaf-clumsy`` fails to import, takes built-in names and has a tool that cannot be built, and
interleaf must go on without those parts, saying which distribution they came from.

The registry's rules (built-ins through their own entry point or directly, once; refusals; lazy
loading) are also checked in this process on distributions written to a directory on ``sys.path``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from interleaf.backends.profiles import Profile
from interleaf.backends.registry import EntryPointRegistry
from tests.support.payloads import openai_chunks, openai_completion, tool_call
from tests.support.plugin_venv import INTERLEAF, Plugin, PluginVenv, make_plugin_venv
from tests.support.scripted_server import ScriptedServer, Step

ACME = '''
"""A fictional Acme inference server (OpenAI-compatible) and a tool, as a plugin package ships them."""

from typing import Any, Literal

from pydantic import Field

from interleaf.backends.profiles import Profile, get_profile
from interleaf.tools import Params, ToolContext, ToolFactory, ToolOutcome, ToolSetup, tool_spec
from interleaf.transcript import ReasoningDialect, ToolSpec


def profiles() -> list[Profile]:
    # Built on a built-in while the registry loads: the built-ins are registered first.
    vllm = get_profile("vllm")
    return [
        vllm.with_overrides(
            name="acme",
            description="Acme inference server (OpenAI-compatible).",
            base_url="http://127.0.0.1:9/v1",
            key_env="ACME_API_KEY",
            model="acme-1",
            discover_model=False,
            thinking_dialect=ReasoningDialect.REASONING_CONTENT,
        )
    ]


class EchoParams(Params):
    text: str = Field(description="What to echo.")
    loud: bool = Field(default=False, description="Echo it to the whole building (leaves the workdir).")


class AcmeEcho:
    name = "acme_echo"
    params = EchoParams
    read_only = False

    def __init__(self, setup: ToolSetup) -> None:
        self.sandbox = setup.sandbox

    @property
    def spec(self) -> ToolSpec:
        return tool_spec(self.name, "Echo a text the Acme way.", EchoParams)

    def reach(self, arguments: dict[str, Any], ctx: ToolContext | None) -> Literal["read", "outside"]:
        return "outside" if arguments.get("loud") else "read"

    async def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
        mode = self.sandbox.policy.mode if self.sandbox is not None else "none"
        return ToolOutcome(
            content=f"acme echo: {arguments['text']} (workdir {ctx.workdir.name}, "
            f"writable {ctx.workdir_writable}, sandbox {mode})"
        )

    async def aclose(self) -> None:
        pass


def tools() -> list[ToolFactory]:
    return [ToolFactory(name="acme_echo", build=AcmeEcho)]
'''

CLUMSY = '''
"""A plugin that gets things wrong: interleaf must name it and go on."""

from interleaf.backends.profiles import Profile
from interleaf.tools import ToolFactory, ToolSetup


def profiles() -> list[Profile]:
    return [Profile(name="vllm", api="openai-chat", base_url="http://clumsy.invalid/v1", auth="none",
                    thinking_dialect=None)]


def _cannot(setup: ToolSetup) -> object:
    raise RuntimeError("the clumsy tool needs a license server")


def tools() -> list[ToolFactory]:
    return [ToolFactory(name="shell", build=_cannot), ToolFactory(name="clumsy_fails", build=_cannot)]
'''

CHECK = """
import json, sys
from interleaf.backends.profiles import PROFILES, get_profile, profile_names
from interleaf.backends.resolve import resolve_profile
from interleaf.config import load_config

acme = get_profile("acme")
gpu = resolve_profile("gpu", load_config(sys.argv[1]))
print(json.dumps({
    "names": profile_names(),
    "in_mapping": "acme" in PROFILES,
    "acme": [acme.api, acme.base_url, acme.model, acme.auth, str(acme.thinking_dialect)],
    "gpu": [gpu.name, gpu.api, gpu.base_url, gpu.model, str(gpu.thinking_dialect)],
    "vllm": get_profile("vllm").base_url,
}))
"""

THOUGHT = "Acme has an echo tool; use it, then try it loud."


ACME_ENTRY_POINTS = """
[project.entry-points."interleaf.profiles"]
acme = "interleaf_acme:profiles"

[project.entry-points."interleaf.tools"]
acme = "interleaf_acme:tools"
"""

CLUMSY_ENTRY_POINTS = """
[project.entry-points."interleaf.profiles"]
clumsy = "interleaf_clumsy:profiles"
broken = "interleaf_clumsy.missing:profiles"

[project.entry-points."interleaf.tools"]
clumsy = "interleaf_clumsy:tools"
"""


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    return make_plugin_venv(
        tmp_path_factory.mktemp("plugins"),
        [
            Plugin("interleaf-acme", ACME, ACME_ENTRY_POINTS),
            Plugin("interleaf-clumsy", CLUMSY, CLUMSY_ENTRY_POINTS),
        ],
    )


def test_the_venv_sees_interleaf_and_the_plugins_installed_into_it(plugin_venv: PluginVenv) -> None:
    found = plugin_venv.run(
        "-c",
        "import interleaf, interleaf_acme, sys; print(interleaf.__file__); print(interleaf_acme.__file__); "
        "print(sys.prefix)",
    )
    assert found.returncode == 0, found.stderr
    interleaf_file, acme_file, prefix = found.stdout.split()
    assert Path(interleaf_file).resolve() == Path(sys.modules["interleaf"].__file__ or "").resolve()
    assert Path(acme_file).is_relative_to(prefix)  # installed into the new venv, not this environment
    assert importlib.util.find_spec("interleaf_acme") is None


def test_interleaf_plugins_lists_what_each_package_provides_and_what_failed(plugin_venv: PluginVenv) -> None:
    listed = plugin_venv.run("-c", INTERLEAF, "plugins", "--json")
    assert listed.returncode == 1, listed.stderr  # a plugin failed to load
    by_name = {d["distribution"]: d for d in json.loads(listed.stdout)}
    assert list(by_name)[:2] == ["interleaf", "interleaf-acme"]  # built-ins first, then by name
    assert by_name["interleaf"]["builtin"] is True
    assert "vllm" in by_name["interleaf"]["profiles"]
    assert by_name["interleaf"]["tools"] == ["shell", "read_file", "write_file", "edit_file", "python"]
    acme = by_name["interleaf-acme"]
    assert (acme["version"], acme["profiles"], acme["tools"], acme["failed"]) == (
        "0.1.0",
        ["acme"],
        ["acme_echo"],
        [],
    )
    clumsy = by_name["interleaf-clumsy"]
    assert clumsy["profiles"] == []
    assert clumsy["tools"] == ["clumsy_fails"]  # registered; its factory fails only when a toolset is built
    assert clumsy["refused"] == [
        "interleaf.profiles: profile 'vllm': the name is taken by interleaf (built in)",
        "interleaf.tools: tool 'shell': the name is taken by interleaf (built in)",
    ]
    [failure] = clumsy["failed"]
    assert failure["entry_point"] == "interleaf.profiles: broken = interleaf_clumsy.missing:profiles"
    assert "ModuleNotFoundError" in failure["reason"] and "interleaf_clumsy.missing" in failure["reason"]

    text = plugin_venv.run("-c", INTERLEAF, "plugins")
    assert "interleaf-acme 0.1.0\n  profiles: acme\n  tools:    acme_echo\n" in text.stdout
    assert "failed:   interleaf.profiles: broken = interleaf_clumsy.missing:profiles" in text.stdout
    assert text.stderr == ""  # the listing says it; no warnings on top


def test_a_plugin_profile_resolves_like_a_builtin_and_cannot_replace_one(plugin_venv: PluginVenv) -> None:
    config = plugin_venv.root / "gpu.toml"
    config.write_text(
        '[profiles.gpu]\nbase = "acme"\nbase_url = "http://10.0.0.5:8000/v1"\nmodel = "acme-gpu-1"\n'
    )
    checked = plugin_venv.run("-c", CHECK, str(config))
    assert checked.returncode == 0, checked.stderr
    found = json.loads(checked.stdout)
    assert found["names"][:13] == [
        "anthropic",
        "minimax",
        "minimax-openai",
        "openai",
        "openai-responses",
        "deepseek",
        "kimi",
        "openrouter",
        "vllm",
        "sglang",
        "llamacpp",
        "ollama",
        "local",
    ]  # built-ins first, in their order
    assert found["names"][13:] == ["acme"]
    assert found["in_mapping"] is True
    assert found["acme"] == ["openai-chat", "http://127.0.0.1:9/v1", "acme-1", "bearer", "reasoning_content"]
    assert found["gpu"] == [
        "gpu",
        "openai-chat",
        "http://10.0.0.5:8000/v1",
        "acme-gpu-1",
        "reasoning_content",
    ]
    assert found["vllm"] == "http://127.0.0.1:8000/v1"  # the clumsy plugin's "vllm" was refused
    # Every problem is a warning naming the distribution; none stops interleaf.
    assert (
        "plugin interleaf-clumsy (interleaf.profiles: broken = interleaf_clumsy.missing:profiles) failed to import: ModuleNotFoundError"
        in checked.stderr
    )
    assert (
        "plugin interleaf-clumsy (interleaf.profiles: clumsy = interleaf_clumsy:profiles): profile 'vllm' is left out: the name is taken by interleaf (built in)"
        in checked.stderr
    )
    assert "Traceback" not in checked.stderr


async def test_the_agent_offers_and_runs_the_plugin_tool_through_approval(plugin_venv: PluginVenv) -> None:
    first = openai_completion(
        reasoning=THOUGHT,
        tool_calls=[
            tool_call("call_acme_1", "acme_echo", {"text": "hi"}),
            tool_call("call_acme_2", "acme_echo", {"text": "HI", "loud": True}),
        ],
        id="c1",
    )
    final = openai_completion(
        reasoning="Echoed once; the loud one was refused.", content="acme said hi", id="c2"
    )
    config = plugin_venv.root / "agent.toml"
    async with ScriptedServer([Step.sse(openai_chunks(first)), Step.sse(openai_chunks(final))]) as server:
        config.write_text(
            f'[profiles.gpu]\nbase = "acme"\nbase_url = "{server.base_url}/v1"\nmodel = "acme-gpu-1"\n'
        )
        work = plugin_venv.root / "work"
        work.mkdir(exist_ok=True)
        code, out, err = await plugin_venv.arun(
            "-c",
            INTERLEAF,
            "run",
            "--json",
            "-p",
            "gpu",
            "--config",
            str(config),
            "--workdir",
            str(work),
            "--approve",
            "auto",
            "--sandbox",
            "readonly",
            "--no-browser",
            "Echo hi the Acme way.",
        )
        assert code == 0, err
        server.assert_done()
    assert "acme said hi" in out.splitlines()[-1]
    asked, answered = (request.json for request in server.requests if request.method == "POST")
    assert asked["model"] == "acme-gpu-1"
    offered = [tool["function"]["name"] for tool in asked["tools"]]
    assert offered[:5] == ["shell", "read_file", "write_file", "edit_file", "python"]
    assert "acme_echo" in offered
    assert "clumsy_fails" not in offered  # its factory failed: left out, with a warning
    assert (
        "plugin interleaf-clumsy (interleaf.tools: clumsy = interleaf_clumsy:tools): tool 'clumsy_fails' is left out: building it failed: RuntimeError: the clumsy tool needs a license server"
        in err
    )
    assistant, *results = answered["messages"][2:]
    # The plugin profile's dialect decides where the thinking goes back.
    assert assistant["reasoning_content"] == THOUGHT
    by_call = {message["tool_call_id"]: message["content"] for message in results}
    # The tool ran with the session's context and sandbox ...
    assert by_call["call_acme_1"] == "acme echo: hi (workdir work, writable False, sandbox readonly)"
    # ... and its call that reaches outside went through approval like any built-in's: refused, no terminal.
    assert by_call["call_acme_2"].startswith("not run: this call would run outside the sandbox")


# ---------------------------------------------------------------- the registry's rules, in this process


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on ``sys.path`` where the tests write installed distributions (``*.dist-info``)."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    return directory


def _distribution(site_dir: Path, name: str, entry_points: dict[str, str]) -> None:
    """An installed distribution as importlib.metadata finds it (its modules are written apart)."""
    info = site_dir / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = [f"[{GROUP}]", *(f"{key} = {value}" for key, value in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


GROUP = "interleaf.test-profiles"
_THINGS = """
from interleaf.backends.profiles import Profile

CALLS = []


def profile(name):
    return Profile(name=name, api="openai-chat", base_url=None, auth="none", thinking_dialect=None)


def builtins():
    CALLS.append("builtins")
    return [profile("alpha"), profile("beta")]


def extra():
    CALLS.append("extra")
    return [profile("gamma"), profile("alpha"), "delta", profile("Bad Name")]


def raises():
    raise RuntimeError("no license")


def returns_one():
    return profile("epsilon")


NOT_A_FUNCTION = [profile("zeta")]
"""


def _registry(module: Any) -> EntryPointRegistry[Profile]:
    return EntryPointRegistry(
        GROUP,
        kind=Profile,
        name_of=lambda profile: profile.name,
        builtins=module.builtins,
        check=lambda profile: None if profile.name.islower() and " " not in profile.name else "a bad name",
        what="profile",
    )


def _things(site_dir: Path) -> Any:
    module = f"interleaf_test_things_{secrets.token_hex(4)}"
    (site_dir / f"{module}.py").write_text(_THINGS)
    return importlib.import_module(module), module


def test_builtins_register_through_their_own_entry_point_once_and_lazily(site_dir: Path) -> None:
    things, module = _things(site_dir)
    _distribution(site_dir, "interleaf", {"builtin": f"{module}:builtins", "again": f"{module}:builtins"})
    registry = _registry(things)
    assert things.CALLS == []  # nothing loads before first use
    assert list(registry.items()) == ["alpha", "beta"]
    [report] = registry.reports()
    assert (report.distribution, report.builtin, report.names) == ("interleaf", True, ("alpha", "beta"))
    assert report.entry_point in (f"builtin = {module}:builtins", f"again = {module}:builtins")
    registry.items(), registry.reports()
    assert things.CALLS == ["builtins"]  # the same function twice registers once; loading happens once


def test_without_interleafs_entry_point_the_builtins_register_directly_and_first(
    site_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    things, module = _things(site_dir)
    _distribution(
        site_dir,
        "Interleaf_Clumsy",
        {
            "extra": f"{module}:extra",
            "missing": "interleaf_nowhere:profiles",
            "raises": f"{module}:raises",
            "one": f"{module}:returns_one",
            "listed": f"{module}:NOT_A_FUNCTION",
        },
    )
    registry = _registry(things)
    with caplog.at_level(logging.WARNING, logger="interleaf.plugins"):
        assert list(registry.items()) == ["alpha", "beta", "gamma"]
    builtin, *plugin = registry.reports()
    assert (builtin.distribution, builtin.entry_point, builtin.names) == (
        "interleaf",
        None,
        ("alpha", "beta"),
    )
    assert {r.distribution for r in plugin} == {"interleaf-clumsy"}  # the normalized name
    by_entry = {r.entry_point.split(" = ")[0]: r for r in plugin if r.entry_point}
    assert by_entry["extra"].names == ("gamma",)
    assert by_entry["extra"].refused == (
        "profile 'alpha': the name is taken by interleaf (built in)",
        "'delta': not a Profile",
        "profile 'Bad Name': a bad name",
    )
    assert by_entry["missing"].error is not None and by_entry["missing"].error.startswith(
        "failed to import: ModuleNotFoundError"
    )
    assert by_entry["raises"].error == "raised RuntimeError: no license"
    assert by_entry["one"].error == "returned a Profile, not an iterable of profiles"
    assert by_entry["listed"].error is not None and by_entry["listed"].error.startswith(
        "names a list, not a function"
    )
    warned = "\n".join(record.getMessage() for record in caplog.records)
    assert warned.count("plugin interleaf-clumsy (") == 7  # 3 refusals, 4 failures
    assert (
        f"plugin interleaf-clumsy ({GROUP}: raises = {module}:raises) raised RuntimeError: no license; interleaf goes on without it"
        in warned
    )
