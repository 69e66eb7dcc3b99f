"""Regenerate python/baostore/proto/ from protos/ (protobuf, gRPC and mypy stubs).

    python scripts/gen_protos.py           # rewrite the checked-in generated code
    python scripts/gen_protos.py --check   # fail, showing the diff, if it is out of date

protoc writes one module per .proto under its package path (``baostore/v1/blobstore_pb2.py``);
those would import as ``baostore.v1...``, which collides with the real ``baostore`` package, so
the modules are flattened into ``baostore/proto/`` and their imports made package-relative.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_DIR = ROOT / "python" / "baostore" / "proto"
OUT_PACKAGE = "baostore.proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
INIT_TEXT = '"""Generated from protos/ by scripts/gen_protos.py; do not edit."""\n'


def proto_sources() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def run_protoc(out: Path) -> None:
    bin_dir = Path(sys.executable).parent
    sources = [str(path.relative_to(PROTO_ROOT)) for path in proto_sources()]
    if not sources:
        raise SystemExit(f"no .proto files under {PROTO_ROOT}")
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    result = subprocess.run(command, cwd=PROTO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"protoc failed:\n{result.stderr}")


def relative_imports(text: str, proto_packages: set[str]) -> str:
    """Point imports of generated modules at their flattened, package-relative place."""
    for package in sorted(proto_packages, key=len, reverse=True):
        escaped = re.escape(package)
        # "from baostore.v1 import blobstore_pb2 as x" -> "from . import blobstore_pb2 as x"
        text = re.sub(rf"^from {escaped} import (\w+_pb2)", r"from . import \1", text, flags=re.M)
        # "import baostore.v1.blobstore_pb2" (mypy stubs) -> "from . import blobstore_pb2"
        text = re.sub(rf"^import {escaped}\.(\w+_pb2)$", r"from . import \1", text, flags=re.M)
        # Fully qualified uses in stubs, and the module name protobuf records on its classes.
        text = re.sub(rf"\b{escaped}\.(\w+_pb2)\b", rf"{OUT_PACKAGE}.\1", text)
    # Inside the stubs the module is imported by its bare name.
    text = re.sub(rf"(?<!['\"]){re.escape(OUT_PACKAGE)}\.(\w+_pb2)\.", r"\1.", text)
    return text


def generate(into: Path) -> None:
    """Write the complete generated package into ``into`` (which must be empty)."""
    with tempfile.TemporaryDirectory() as raw_dir:
        raw = Path(raw_dir)
        run_protoc(raw)
        generated = sorted(p for p in raw.rglob("*") if p.name.endswith(GENERATED_SUFFIXES))
        packages = {".".join(p.relative_to(raw).parent.parts) for p in generated}
        for path in generated:
            target = into / path.name
            if target.exists():
                raise SystemExit(f"two protos generate {path.name}: rename one of them")
            target.write_text(relative_imports(path.read_text(), packages))
    (into / "__init__.py").write_text(INIT_TEXT)


def generated_files(directory: Path) -> dict[str, str]:
    names = [p for p in directory.iterdir() if p.name.endswith(GENERATED_SUFFIXES)]
    names.append(directory / "__init__.py")
    return {p.name: p.read_text() for p in names if p.exists()}


def check() -> int:
    with tempfile.TemporaryDirectory() as fresh_dir:
        fresh = Path(fresh_dir)
        generate(fresh)
        expected = generated_files(fresh)
        actual = generated_files(OUT_DIR) if OUT_DIR.exists() else {}
    diff: list[str] = []
    for name in sorted(expected.keys() | actual.keys()):
        diff += difflib.unified_diff(
            actual.get(name, "").splitlines(keepends=True),
            expected.get(name, "").splitlines(keepends=True),
            fromfile=f"checked-in/{name}",
            tofile=f"regenerated/{name}",
        )
    if diff:
        sys.stdout.writelines(diff)
        print(f"\n{OUT_DIR.relative_to(ROOT)} is out of date: run `make proto` and commit.")
        return 1
    print(f"{OUT_DIR.relative_to(ROOT)} is up to date.")
    return 0


def write() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for stale in OUT_DIR.iterdir():
        if stale.name.endswith(GENERATED_SUFFIXES):
            stale.unlink()
    shutil.rmtree(OUT_DIR / "__pycache__", ignore_errors=True)
    generate(OUT_DIR)
    print(f"regenerated {OUT_DIR.relative_to(ROOT)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the checked-in code differs")
    args = parser.parse_args()
    return check() if args.check else write()


if __name__ == "__main__":
    sys.exit(main())
