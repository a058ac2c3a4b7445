"""Uploads over the limit are refused before the handler (and FastAPI's multipart spooling) sees them."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, File, UploadFile
from fastapi.testclient import TestClient

from bot.upload_limit import MULTIPART_OVERHEAD, UploadLimit

LIMIT = 100_000


def make_app() -> tuple[TestClient, list[int]]:
    app = FastAPI()
    seen: list[int] = []  # sizes the handler was given

    @app.post("/upload")
    async def upload(file: UploadFile = File(...)) -> dict[str, int]:  # noqa: B008 - FastAPI's idiom
        seen.append(len(await file.read()))
        return {"size": seen[-1]}

    app.add_middleware(UploadLimit, paths={"/upload"}, max_bytes=LIMIT)
    return TestClient(app), seen


def test_an_upload_within_the_limit_is_read() -> None:
    client, seen = make_app()
    response = client.post("/upload", files={"file": ("a.wav", b"x" * LIMIT)})
    assert response.status_code == 200 and seen == [LIMIT]


def test_a_declared_size_over_the_limit_is_refused_unread() -> None:
    client, seen = make_app()
    response = client.post("/upload", files={"file": ("a.wav", b"x" * (LIMIT + MULTIPART_OVERHEAD + 1))})
    assert response.status_code == 413 and "not read" in response.json()["detail"]
    assert seen == [], "the handler never ran"


def test_an_upload_without_a_size_is_refused() -> None:
    client, seen = make_app()

    def chunks() -> Iterator[bytes]:  # an iterator body goes out chunked, with no Content-Length
        yield b"--b\r\n"

    response = client.post("/upload", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 411 and seen == []


def test_other_paths_are_not_limited() -> None:
    client, _ = make_app()
    assert client.get("/docs").status_code == 200
