"""A bare Starlette app with one JSON endpoint: the baseline of benchmarks/api.py's start-up
and memory figures (served by uvicorn with the same flags as app.py)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


async def plain(request: Request) -> JSONResponse:
    """The throughput baseline (benchmarks/side_by_side.py): a bare JSON endpoint."""
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/health", health)])
