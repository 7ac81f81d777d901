"""Client models generated the way a consumer would (``datamodel-codegen``), for the tests
that read live answers and events through them, and the check that nothing in them is
untyped."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

CODEGEN = Path(sys.executable).parent / "datamodel-codegen"


def generate_models(
    spec: Path, kind: Literal["openapi", "jsonschema"], out: Path
) -> types.ModuleType:
    """Generate pydantic v2 models from ``spec`` into ``out`` and import them (as the module
    named after ``out``)."""
    subprocess.run(
        [
            str(CODEGEN),
            "--input", str(spec),
            "--input-file-type", kind,
            "--output", str(out),
            "--output-model-type", "pydantic_v2.BaseModel",
            "--target-python-version", "3.11",
            "--formatters", "builtin",
            "--disable-timestamp",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    loaded = importlib.util.spec_from_file_location(out.stem, out)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    sys.modules[out.stem] = module  # forward references resolve through it
    loaded.loader.exec_module(module)
    return module


def untyped(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """Fields of ``model`` and every model it reaches whose type holds ``Any`` or an untyped
    mapping (``dict`` with ``Any`` values)."""
    if model in seen:
        return []
    seen.add(model)
    out: list[str] = []
    for name, field in model.model_fields.items():
        for arg in _flatten(field.annotation):
            if arg is Any or arg is dict or arg is object:
                out.append(f"{model.__name__}.{name}")
            elif isinstance(arg, type) and issubclass(arg, BaseModel):
                out += untyped(arg, seen)
    return out


def _flatten(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in typing.get_args(annotation):
        if not isinstance(arg, str):  # Literal values
            yield from _flatten(arg)
