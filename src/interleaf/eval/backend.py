"""The endpoint under test, opened once per run (or once per Ray worker task).

:class:`BackendSpec` is plain data (it travels to Ray workers): a profile name resolved through the one
profile resolution every command uses (``backends.resolve``), the user's config file, and the flags.
:class:`Backend` opens it: a :class:`~interleaf.backends.client.ModelClient` for the direct conditions
and, when ``restored`` is asked for, an in-process ``interleaf serve`` gateway in front of the same
endpoint with a client pointed at it. The ``local`` profile without a URL starts the embedded model
first (the driver does; workers get its URL in the spec).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from interleaf.agent.loop import Model
from interleaf.backends.errors import redact_url
from interleaf.backends.profiles import Profile
from interleaf.eval.conditions import Condition


class BackendSetupError(ValueError):
    """The endpoint cannot be opened as asked; the message names the flag to change."""


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """Where the model is: ``--profile``, ``--base-url``, ``--model`` and ``--config`` as given."""

    profile: str
    base_url: str | None = None
    model: str | None = None
    config_path: Path | None = None
    endpoint_label: str | None = None
    """What results call the endpoint when its URL is not the point (the embedded server's port)."""


class ModelSource(Protocol):
    """What the harness needs of an endpoint: a model per condition and how to name it."""

    @property
    def profile_name(self) -> str: ...

    @property
    def api(self) -> str: ...

    @property
    def model_name(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    def model(self, condition: Condition) -> Model: ...


def resolve(spec: BackendSpec) -> Profile:
    """The spec's profile: built-in, adjusted by the config file, then by the flags."""
    from interleaf.backends.errors import BackendConfigError
    from interleaf.backends.resolve import resolve_profile
    from interleaf.config import ConfigError, load_config

    try:
        config = load_config(spec.config_path)
        return resolve_profile(spec.profile, config, base_url=spec.base_url, model=spec.model)
    except (ConfigError, BackendConfigError) as exc:
        raise BackendSetupError(str(exc)) from None


class Backend:
    """An opened :class:`BackendSpec`; use as ``async with Backend(spec, conditions, gateway_db)``.

    ``gateway_db`` is the SQLite file of the restoring gateway's thinking store (in the run directory,
    so workers on one machine share it and the evidence stays with the results).
    """

    def __init__(
        self,
        spec: BackendSpec,
        conditions: Sequence[Condition],
        gateway_db: Path,
        *,
        start_local: bool = True,
    ) -> None:
        self.spec = spec
        self.conditions = list(conditions)
        self.gateway_db = gateway_db
        self.start_local = start_local
        self.profile: Profile = resolve(spec)
        self._stack = AsyncExitStack()
        self._direct: Model | None = None
        self._restoring: Model | None = None
        self._model_name = spec.model or self.profile.model or ""
        self.local_base_url: str | None = None

    @property
    def profile_name(self) -> str:
        return self.profile.name

    @property
    def api(self) -> str:
        return self.profile.api

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def endpoint(self) -> str:
        if self.spec.endpoint_label is not None:
            return self.spec.endpoint_label
        if self.local_base_url is not None or self.profile.base_url is None:
            return "embedded"
        return redact_url(self.profile.base_url)

    async def __aenter__(self) -> Backend:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _open(self) -> None:
        from interleaf.backends.client import ModelClient

        if self.profile.base_url is None:
            if self.profile.name != "local" or not self.start_local:
                raise BackendSetupError(
                    f"profile {self.profile.name!r} has no address; pass --base-url URL of the server"
                )
            from interleaf.backends.local import start_default_server

            server = await start_default_server(pull=False)
            self._stack.push_async_callback(server.aclose)
            self.local_base_url = server.base_url
            self.profile = self.profile.with_overrides(base_url=server.base_url)
            self._model_name = self.spec.model or server.model_id
        direct = ModelClient(self.profile, model=self.spec.model or self._model_name or None)
        self._stack.push_async_callback(direct.aclose)
        self._direct = direct
        if not self._model_name and self.profile.discover_model:
            models = await direct.list_models()
            self._model_name = models[0] if models else ""
        if "restored" in self.conditions:
            url = await self._start_gateway()
            via = ModelClient(self.profile, base_url=url, model=self._model_name or None)
            self._stack.push_async_callback(via.aclose)
            self._restoring = via

    async def _start_gateway(self) -> str:
        from interleaf.gateway import ServeOptions, create_app
        from interleaf.gateway.server import InProcessServer

        self.gateway_db.parent.mkdir(parents=True, exist_ok=True)
        options = ServeOptions(profile=self.profile, port=0, store_url=f"sqlite:///{self.gateway_db}")
        server = InProcessServer(create_app(options))
        await self._stack.enter_async_context(server)
        return server.base_url

    def model(self, condition: Condition) -> Model:
        model = self._restoring if condition == "restored" else self._direct
        if model is None:
            raise BackendSetupError(f"the backend was not opened for condition {condition!r}")
        return model

    def worker_spec(self) -> BackendSpec:
        """The spec a Ray worker opens: the embedded server's URL filled in, so workers share it."""
        if self.local_base_url is None:
            return self.spec
        return replace(
            self.spec, base_url=self.local_base_url, model=self._model_name or None, endpoint_label="embedded"
        )
