"""Proof of identity, kept on the server: one-time codes and what each conversation has proven.

Knowing an e-mail address proves nothing. A conversation proves it owns an address by reading back
a code mailed to it (6 digits, 10 minutes, one use, only a salted PBKDF2 hash stored). It can also
prove it knows an order's number *and* its e-mail, which is enough to see that order's status and
nothing more. Both proofs live in ``conversation_access``, keyed by the conversation id the
gateway signs, so no slot a caller sets can grant them; they lapse after ``ACCESS_LIFETIME``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from catalog.mail import Mailer

CODE_DIGITS = 6
CODE_LIFETIME = dt.timedelta(minutes=10)
ATTEMPTS_PER_CODE = 5  # then the code is spent and a new one must be asked for
CODES_PER_ADDRESS = 5  # mailed to one address per hour, from all conversations: no mail bombing
CODES_PER_CONVERSATION = 5  # mailed per hour from one conversation
CODE_WINDOW = dt.timedelta(hours=1)
ACCESS_LIFETIME = dt.timedelta(hours=2)
HASH_ITERATIONS = 100_000
# Spent codes, lapsed proofs and failed attempts stay a day (a colleague may be asked about them),
# mail in the local outbox a week; then the retention job deletes them.
RECORDS_KEPT = dt.timedelta(days=1)
OUTBOX_KEPT = dt.timedelta(days=7)

OWNER = "owner"  # the conversation read back a code sent to this e-mail address
STATUS = "status"  # the conversation named this order's number and its e-mail address


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now()


def _stamp(when: dt.datetime) -> str:
    return when.isoformat(timespec="seconds")


def hash_code(code: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", code.encode(), salt, HASH_ITERATIONS)


def code_email(code: str) -> tuple[str, str]:
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    return (
        "Your verification code",
        f"Your code is {code}. It is valid for {minutes} minutes and works once.\n\n"
        "If you didn't ask for it, ignore this e-mail: nobody gets into your orders without it.",
    )


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of reading back a code: ``email`` (and the order it was asked for) when right."""

    ok: bool
    email: str | None = None
    order_id: str | None = None
    reason: str = ""  # "wrong", "expired" (none pending), or "" when ok


class Identity:
    def __init__(self, conn: sqlite3.Connection, mailer: Mailer) -> None:
        self.conn = conn
        self.mailer = mailer

    # -- one-time codes -----------------------------------------------------------------------
    def send_code(
        self, conversation: str, email: str, order_id: str | None = None, now: dt.datetime | None = None
    ) -> bool:
        """Mail a new code to ``email`` for this conversation; False when too many were sent lately."""
        when = _now(now)
        since = _stamp(when - CODE_WINDOW)
        to_address, to_conversation = (
            int(self.conn.execute(f"SELECT COUNT(*) FROM verification_codes WHERE {col} = ? AND created_at > ?",
                                  (value, since)).fetchone()[0])
            for col, value in (("email", email), ("conversation", conversation))
        )  # fmt: skip
        if to_address >= CODES_PER_ADDRESS or to_conversation >= CODES_PER_CONVERSATION:
            return False
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        salt = secrets.token_bytes(16)
        self.withdraw(conversation, when)  # a new code replaces the conversation's earlier ones
        with self.conn:
            self.conn.execute(
                "INSERT INTO verification_codes (conversation, email, order_id, salt, code_hash, created_at,"
                " expires_at) VALUES (?,?,?,?,?,?,?)",
                (conversation, email, order_id, salt, hash_code(code, salt), _stamp(when),
                 _stamp(when + CODE_LIFETIME)),
            )  # fmt: skip
        subject, body = code_email(code)
        self.mailer.send(email, subject, body)
        return True

    def pending_code(self, conversation: str, now: dt.datetime | None = None) -> sqlite3.Row | None:
        """The conversation's live code (unused, unexpired), if any."""
        return self.conn.execute(
            "SELECT * FROM verification_codes WHERE conversation = ? AND used_at IS NULL AND expires_at > ? "
            "ORDER BY id DESC LIMIT 1",
            (conversation, _stamp(_now(now))),
        ).fetchone()

    def withdraw(self, conversation: str, now: dt.datetime | None = None) -> None:
        """Spend the conversation's live code (the shopper asked for a new one)."""
        with self.conn:
            self.conn.execute(
                "UPDATE verification_codes SET used_at = ? WHERE conversation = ? AND used_at IS NULL",
                (_stamp(_now(now)), conversation),
            )

    def check_code(self, conversation: str, code: str, now: dt.datetime | None = None) -> CodeCheck:
        """Compare ``code`` with the live one; a right code is spent and grants ownership of its address."""
        when = _now(now)
        row = self.pending_code(conversation, when)
        if row is None:
            return CodeCheck(False, reason="expired")
        if hmac.compare_digest(hash_code(code.strip(), row["salt"]), row["code_hash"]):
            with self.conn:
                self.conn.execute("UPDATE verification_codes SET used_at = ? WHERE id = ?", (_stamp(when), row["id"]))
            self.grant(conversation, OWNER, email=row["email"], now=when)
            return CodeCheck(True, email=row["email"], order_id=row["order_id"])
        attempts = row["attempts"] + 1
        spent = _stamp(when) if attempts >= ATTEMPTS_PER_CODE else None
        with self.conn:
            self.conn.execute(
                "UPDATE verification_codes SET attempts = ?, used_at = ? WHERE id = ?", (attempts, spent, row["id"])
            )
        return CodeCheck(False, email=row["email"], order_id=row["order_id"], reason="wrong")

    def forget_old(self, now: dt.datetime | None = None) -> int:
        """Delete what no rule needs any more (see RECORDS_KEPT); how many rows went."""
        when = _now(now)
        day_ago = _stamp(when - RECORDS_KEPT)
        deletions = (
            ("DELETE FROM verification_codes WHERE expires_at < ?", day_ago),
            ("DELETE FROM conversation_access WHERE granted_at < ?", _stamp(when - ACCESS_LIFETIME - RECORDS_KEPT)),
            ("DELETE FROM verification_failures WHERE at < ?", day_ago),
            ("DELETE FROM outbox WHERE created_at < ?", _stamp(when - OUTBOX_KEPT)),
        )
        with self.conn:
            return sum(self.conn.execute(sql, (cutoff,)).rowcount for sql, cutoff in deletions)

    # -- what a conversation has proven ----------------------------------------------------------
    def grant(
        self,
        conversation: str,
        level: str,
        email: str | None = None,
        order_id: str | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO conversation_access (conversation, level, email, order_id, granted_at) VALUES (?,?,?,?,?)",
                (conversation, level, email, order_id, _stamp(_now(now))),
            )

    def owned_email(self, conversation: str, now: dt.datetime | None = None) -> str | None:
        """The e-mail address this conversation proved it owns most recently, while that proof lasts."""
        row = self.conn.execute(
            "SELECT email FROM conversation_access WHERE conversation = ? AND level = ? AND granted_at > ? "
            "ORDER BY granted_at DESC, rowid DESC LIMIT 1",
            (conversation, OWNER, _stamp(_now(now) - ACCESS_LIFETIME)),
        ).fetchone()
        return str(row["email"]) if row else None

    def knows_order(self, conversation: str, order_id: str, now: dt.datetime | None = None) -> bool:
        """Whether this conversation named the order's number and e-mail lately (status access)."""
        row = self.conn.execute(
            "SELECT 1 FROM conversation_access WHERE conversation = ? AND level = ? AND order_id = ? "
            "AND granted_at > ?",
            (conversation, STATUS, order_id, _stamp(_now(now) - ACCESS_LIFETIME)),
        ).fetchone()
        return row is not None
