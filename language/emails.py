"""Typed or spoken email addresses ("alex dot morgan at example dot com") in one canonical form."""

from __future__ import annotations

import re

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def email_from_text(text: str) -> str | None:
    """The first email address in ``text``, typed or dictated, lower-cased; None when there is none."""
    text = (text or "").strip()
    found = EMAIL_RE.search(text)
    if not found:
        spoken = re.sub(r"\s+at\s+", "@", text.lower())
        spoken = re.sub(r"\s+dot\s+", ".", spoken)
        spoken = re.sub(r"\s+(underscore)\s+", "_", spoken)
        found = EMAIL_RE.search(spoken.replace(" @", "@").replace("@ ", "@"))
    return found.group(0).lower().rstrip(".") if found else None
