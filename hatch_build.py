"""Hatchling build hook: generate the gRPC stubs when a wheel is built.

It runs ``grpc_tools.protoc`` on ``src/venta_core/transports/grpc/protos`` into
``src/venta_core/transports/grpc/generated`` (never committed), for regular and editable wheels.
A regular wheel gets the generated files force-included (they are ignored by git, which hatchling
would otherwise honour). An editable install imports them straight from the source tree.

The generator is loaded by file path: in the isolated build environment only the standard
library, hatchling and grpcio-tools are importable, not venta's own dependencies.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

GENERATOR = Path("src/venta_core/transports/grpc/generate.py")
PACKAGE_ROOT = Path("src")


def _load_generator(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_venta_grpc_generate", root / GENERATOR)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CustomBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        generator = _load_generator(root)
        out_dir: Path = generator.OUTPUT_DIR
        changed = generator.generate(out_dir)
        self.app.display_info(
            f"gRPC stubs {'generated' if changed else 'up to date'} in {out_dir.relative_to(root)}"
        )
        if version == "editable":
            return  # imported from the source tree through the editable path entry
        base = root / PACKAGE_ROOT
        for path in sorted(out_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                build_data["force_include"][str(path)] = path.relative_to(base).as_posix()
