"""Vendor the API docs UI (Swagger UI) into api/static/vendor/, so `/schema` works offline.

    uv run python scripts/vendor_assets.py          # fetch the pinned version with `npm pack`
    uv run python scripts/vendor_assets.py --check  # the files on disk match MANIFEST.json

Only the dist files the page loads are copied (plus the licence); MANIFEST.json records the
package, its version, npm's integrity string and each file's sha256, which the test suite
checks against what the app serves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "swagger-ui-dist"
VERSION = "5.18.2"  # the version Litestar's SwaggerRenderPlugin was written against
FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
    "LICENSE",
)
ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "api" / "static" / "vendor" / "swagger-ui"
MANIFEST = ROOT / "api" / "static" / "vendor" / "MANIFEST.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(  # noqa: S603 - fixed arguments, the pinned package
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--json"],  # noqa: S607 - npm on PATH
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        info = json.loads(out.stdout)[0]
        with tarfile.open(Path(tmp) / info["filename"]) as tar:
            tar.extractall(tmp, filter="data")
        TARGET.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(Path(tmp) / "package" / name, TARGET / name)
    manifest = {
        "swagger-ui": {
            "package": PACKAGE,
            "version": VERSION,
            "integrity": info["integrity"],
            "files": {name: sha256(TARGET / name) for name in FILES},
        }
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"vendored {PACKAGE}@{VERSION} into {TARGET.relative_to(ROOT)}")


def check() -> int:
    manifest = json.loads(MANIFEST.read_text())
    bad = [
        name
        for name, digest in manifest["swagger-ui"]["files"].items()
        if not (TARGET / name).exists() or sha256(TARGET / name) != digest
    ]
    for name in bad:
        print(f"mismatch: {name}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify instead of fetching")
    args = parser.parse_args()
    sys.exit(check() if args.check else fetch() or 0)
