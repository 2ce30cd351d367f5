"""The modules the compiled wheel builds with mypyc (pyproject.toml's mypyc hook): that the list names real
modules mypyc can compile, and which build a test run exercises.

``make test`` runs the suite twice over these modules: from the source tree (pure Python, where a
compiled file left next to its source would shadow every edit of it), and from the compiled wheel
(``scripts/test-compiled`` sets ``INTERLEAF_EXPECT_COMPILED=1``), where each of them must come from its
extension module, not silently from its ``.py``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def compiled_paths() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    hook = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]
    paths: list[str] = hook["include"]
    return paths


def module_name(path: str) -> str:
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def test_the_list_names_modules_of_the_package() -> None:
    paths = compiled_paths()
    assert paths, "the mypyc hook compiles nothing"
    for path in paths:
        assert path.startswith("src/interleaf/") and path.endswith(".py"), path
        assert (ROOT / path).is_file(), f"{path} is listed for mypyc but does not exist"


@pytest.mark.parametrize("path", compiled_paths())
def test_no_async_generator_in_a_compiled_module(path: str) -> None:
    """mypyc cannot compile an async generator: a failing wheel build, found here first."""
    tree = ast.parse((ROOT / path).read_text())
    for function in ast.walk(tree):
        if isinstance(function, ast.AsyncFunctionDef):
            yields = [
                node
                for node in ast.walk(function)
                if isinstance(node, ast.Yield | ast.YieldFrom) and _owner(function, node) is function
            ]
            assert not yields, (
                f"{path}:{function.lineno}: async generator {function.name}() (mypyc cannot compile it)"
            )


def _owner(root: ast.AST, target: ast.AST) -> ast.AST | None:
    """The innermost function under ``root`` (or ``root``) that holds ``target``."""
    owner: ast.AST | None = None

    def visit(node: ast.AST, current: ast.AST) -> None:
        nonlocal owner
        for child in ast.iter_child_nodes(node):
            if child is target:
                owner = current
                return
            inner = (
                child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) else current
            )
            visit(child, inner)

    visit(root, root)
    return owner


@pytest.mark.parametrize("path", compiled_paths())
def test_each_module_comes_from_the_build_under_test(path: str) -> None:
    module = importlib.import_module(module_name(path))
    origin = module.__file__ or ""
    compiled = origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    if os.environ.get("INTERLEAF_EXPECT_COMPILED") == "1":
        assert compiled, f"{module.__name__} ran from {origin}, not from the compiled wheel"
    else:
        assert not compiled, (
            f"{module.__name__} ran from a compiled file, {origin}: a build left it next to the source, where "
            "it hides every edit of the .py; delete it"
        )
