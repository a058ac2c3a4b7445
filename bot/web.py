"""The chat widget's files, served by the gateway: ``/`` (full-page chat), ``/demo`` (a shop page
with the bubble), ``/widget.js`` (the one-tag embed) and ``/static/...`` (its ES modules).

The socket.io client comes from npm (``bot/package.json``); ``make widget`` copies it to
``bot/static/vendor``. Embedding on another site's page loads these files cross-origin, so GETs
are open to every origin (nothing here is private).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
SOCKETIO_CLIENT = STATIC / "vendor" / "socket.io.esm.min.js"
log = logging.getLogger("shopkeeper.gateway")


def add_widget_routes(app: FastAPI) -> None:
    if not SOCKETIO_CLIENT.exists():
        log.error("%s is missing: run `make widget` (npm) or the chat widget cannot connect", SOCKETIO_CLIENT)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/demo", include_in_schema=False)
    async def demo_page() -> FileResponse:
        return FileResponse(STATIC / "demo.html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)  # browsers ask on every page; there is no icon

    @app.get("/widget.js", include_in_schema=False)
    async def embed_script() -> FileResponse:
        # Short cache: the loader is tiny and a new release should reach embedding pages soon.
        return FileResponse(
            STATIC / "widget.js", media_type="text/javascript", headers={"Cache-Control": "max-age=300"}
        )
