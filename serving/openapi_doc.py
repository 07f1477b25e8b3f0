"""The service's OpenAPI document as the docs site publishes it (`docs/api/openapi.json`).

`python -m serving.openapi_doc` rewrites the file from the code; `tests/unit/test_openapi_docs.py` fails when the
committed file and the code disagree, so the published API is always the served one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from serving.service import app

PUBLISHED = Path(__file__).resolve().parents[1] / "docs" / "api" / "openapi.json"


def document() -> str:
    """The FastAPI app's OpenAPI document in the code's own order, two-space indent, final newline."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=PUBLISHED, help="where to write the document")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(document(), encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    main()
