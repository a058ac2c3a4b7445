"""Refuse an upload that is too large before any of it is read or stored.

FastAPI parses a multipart body (spooling files to disk) before the handler runs, so a size check in
the handler comes too late. This ASGI middleware answers 411 when a request to a limited path does
not say its length, 413 when the length is over the limit, and stops reading a body that grows past
what it said (the HTTP server already holds a body to its Content-Length).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around the file itself


class BodyTooLarge(Exception):
    pass


class UploadLimit:
    def __init__(self, app: ASGIApp, paths: set[str], max_bytes: int) -> None:
        self.app, self.paths, self.limit = app, paths, max_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if not length.isdigit():
            await refuse(send, 411, "Say the upload's size (Content-Length); chunked uploads are not accepted.")
            return
        if int(length) > self.limit:
            await refuse(send, 413, f"The upload is over {self.limit - MULTIPART_OVERHEAD} bytes; it was not read.")
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await refuse(send, 413, "The upload grew past its size; it was dropped.")


async def refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
