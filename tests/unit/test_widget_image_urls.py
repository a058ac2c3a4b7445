"""The widget loads bot images only from http(s) hosts or its page's own paths (bot/static/widget/dom.js).

Run in Node, which every machine that builds Shopkeeper has (the widget's npm step needs it too).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "https://cdn.example/a.png": "https://cdn.example/a.png",
    "http://x.example/b.jpg": "http://x.example/b.jpg",
    "/static/c.png": "https://shop.example/static/c.png",
    "//evil.example/x.png": None,  # no scheme: another host
    "/\\evil.example/x.png": None,  # browsers read a backslash as a slash
    "javascript:alert(1)": None,
    "data:image/svg+xml,<svg onload=alert(1)>": None,
    "static/relative.png": None,
    "https:evil.example": None,
    "": None,
}


def test_image_sources_are_http_or_same_origin_paths() -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (it ships with the machine; apt-get install nodejs)"
    script = (
        "import { imageSource } from './bot/static/widget/dom.js';"
        f"const cases = {json.dumps(list(CASES))};"
        "console.log(JSON.stringify(cases.map(s => imageSource(s, 'https://shop.example/demo'))));"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert dict(zip(CASES, json.loads(done.stdout), strict=True)) == CASES
