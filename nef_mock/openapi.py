"""Writes the NEF mock's published API document: ``python -m nef_mock.openapi [path]``.

The document is generated from the app (dev settings, default scenario) so that it cannot drift from
the code; ``tests/nef_mock/test_openapi.py`` fails when the committed ``openapi/nef.yaml`` differs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flcore.openapidoc import render

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "openapi" / "nef.yaml"


def build() -> dict[str, Any]:
    from nef_mock.app import create_app
    from nef_mock.settings import NefSettings

    return create_app(NefSettings(dev_mode=True)).openapi()


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(build()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
