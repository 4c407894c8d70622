"""Writes the AF's published API document: ``python -m af_server.openapi [path]``.

Generated from the app, so it cannot drift from the code; ``tests/af_server/test_openapi.py`` fails
when the committed ``openapi/af.yaml`` differs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flcore.openapidoc import render

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "openapi" / "af.yaml"


def build() -> dict[str, Any]:
    from af_server.app import create_app
    from af_server.settings import AfSettings

    return create_app(AfSettings(dev_mode=True)).openapi()


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(build()))
    print(f"wrote {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
