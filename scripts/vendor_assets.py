"""Vendor the browser assets the app serves into api/static/vendor/, so `/schema` and the
console work offline (a call-center LAN has no CDN):

- Swagger UI for the API docs page;
- htmx 2 and its SSE extension for the console (web/). htmx stays on 2.x: its SSE support is
  the separate `htmx-ext-sse` package there, and the next major changed how SSE is wired.

    uv run python scripts/vendor_assets.py          # fetch the pinned versions with `npm pack`
    uv run python scripts/vendor_assets.py --check  # the files on disk match MANIFEST.json

Only the dist files the pages load are copied (plus the licence); MANIFEST.json records each
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
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Asset:
    name: str  # folder under api/static/vendor and key in MANIFEST.json
    package: str
    version: str
    files: dict[str, str]  # path inside the npm package -> file name served


ASSETS = (
    Asset(  # the version Litestar's SwaggerRenderPlugin was written against
        "swagger-ui",
        "swagger-ui-dist",
        "5.18.2",
        {
            name: name
            for name in (
                "swagger-ui-bundle.js",
                "swagger-ui-standalone-preset.js",
                "swagger-ui.css",
                "favicon-32x32.png",
                "LICENSE",
            )
        },
    ),
    Asset("htmx", "htmx.org", "2.0.11", {"dist/htmx.min.js": "htmx.min.js", "LICENSE": "LICENSE"}),
    Asset(
        "htmx-ext-sse",
        "htmx-ext-sse",
        "2.2.4",
        {"dist/sse.min.js": "sse.min.js", "LICENSE": "LICENSE"},
    ),
)
ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "api" / "static" / "vendor"
MANIFEST = VENDOR / "MANIFEST.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_one(asset: Asset) -> dict[str, object]:
    target = VENDOR / asset.name
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(  # noqa: S603 - fixed arguments, the pinned package
            ["npm", "pack", f"{asset.package}@{asset.version}", "--json"],  # noqa: S607
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        info = json.loads(out.stdout)[0]
        with tarfile.open(Path(tmp) / info["filename"]) as tar:
            tar.extractall(tmp, filter="data")
        target.mkdir(parents=True, exist_ok=True)
        for source, served in asset.files.items():
            shutil.copyfile(Path(tmp) / "package" / source, target / served)
    print(f"vendored {asset.package}@{asset.version} into {target.relative_to(ROOT)}")
    return {
        "package": asset.package,
        "version": asset.version,
        "integrity": info["integrity"],
        "files": {served: sha256(target / served) for served in asset.files.values()},
    }


def fetch() -> None:
    manifest = {asset.name: fetch_one(asset) for asset in ASSETS}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


def check() -> int:
    manifest = json.loads(MANIFEST.read_text())
    bad = [
        f"{folder}/{name}"
        for folder, entry in manifest.items()
        for name, digest in entry["files"].items()
        if not (VENDOR / folder / name).exists() or sha256(VENDOR / folder / name) != digest
    ]
    pinned = {a.name: a.version for a in ASSETS}
    bad += [f"{k} (version)" for k, v in pinned.items() if manifest.get(k, {}).get("version") != v]
    for name in bad:
        print(f"mismatch: {name}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify instead of fetching")
    args = parser.parse_args()
    sys.exit(check() if args.check else fetch() or 0)
