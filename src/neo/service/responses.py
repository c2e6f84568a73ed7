"""JSON responses printed exactly as the CLI's ``--json`` prints (:func:`neo.app.formats
.to_jsonable`, strict JSON), so the two front ends give the same object for the same request."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


def as_json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from neo.app.formats import to_jsonable

    body = json.dumps(to_jsonable(value), allow_nan=False)
    return Response(body, status_code=status, media_type="application/json", headers=headers)
