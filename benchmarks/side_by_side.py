"""app.py's app and a bare Starlette app in one server: /bench/plain goes to the bare app
(the baseline of benchmarks/api.py's throughput, uninstrumented), everything else, the
lifespan included, to app.py's app. Both pay the same one-line dispatch."""

from __future__ import annotations

from typing import Any

from bare_app import plain
from starlette.applications import Starlette
from starlette.routing import Route

from app import app as served

PLAIN = "/bench/plain"
bare = Starlette(routes=[Route(PLAIN, plain)])


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await (bare if scope.get("path") == PLAIN else served)(scope, receive, send)
