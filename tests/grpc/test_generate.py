"""Stub generation: output layout, import rewriting, freshness checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from venta_core.transports.grpc import generate as gen


def test_generate_into_a_directory(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert gen.generate(out) is True
    assert gen.generate(out) is False  # fresh: nothing to do
    assert gen.is_fresh(out)
    names = {p.name for p in (out / "venta" / "v1").iterdir()}
    for stem in ("common", "user", "vendor", "location"):
        assert {f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_pb2_grpc.py"} <= names
    for path in out.rglob("*.py*"):
        text = path.read_text("utf-8")
        assert "from venta.v1 import" not in text and "import venta." not in text, path
    assert (out / "__init__.py").is_file() and (out / "venta" / "__init__.py").is_file()


def test_changed_protos_make_stubs_stale(tmp_path: Path) -> None:
    protos = tmp_path / "protos"
    (protos / "venta" / "v1").mkdir(parents=True)
    source = protos / "venta" / "v1" / "common.proto"
    source.write_text('syntax = "proto3";\npackage venta.v1;\nmessage A { string x = 1; }\n')
    out = tmp_path / "out"
    gen.generate(out, protos)
    assert gen.is_fresh(out, protos)
    source.write_text(source.read_text().replace("string x = 1;", "string x = 1; int64 y = 2;"))
    assert not gen.is_fresh(out, protos)
    assert gen.generate(out, protos) is True and gen.is_fresh(out, protos)


def test_rewrite_keeps_aliases_and_subpackages() -> None:
    text = "from venta.v1 import user_pb2 as u\nfrom venta import x\nimport venta.v1.a_pb2\n"
    rewritten = gen._rewrite_imports(text, {"venta"})
    assert rewritten.splitlines() == [
        f"from {gen.GENERATED_PACKAGE}.venta.v1 import user_pb2 as u",
        f"from {gen.GENERATED_PACKAGE}.venta import x",
        f"import {gen.GENERATED_PACKAGE}.venta.v1.a_pb2",
    ]


def test_the_package_stubs_match_the_protos() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "venta_core.transports.grpc.generate", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
