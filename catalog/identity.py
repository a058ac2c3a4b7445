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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from catalog.mail import Mailer
from catalog.records import Records, conversation_access, outbox, same_email, verification_codes, verification_failures

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
    def __init__(self, shop: Records, mailer: Mailer) -> None:
        self.shop = shop
        self.mailer = mailer

    # -- one-time codes -----------------------------------------------------------------------
    def send_code(
        self, conversation: str, email: str, order_id: str | None = None, now: dt.datetime | None = None
    ) -> bool:
        """Mail a new code to ``email`` for this conversation; False when too many were sent lately."""
        when = _now(now)
        since = _stamp(when - CODE_WINDOW)
        codes = verification_codes.c
        recent = select(func.count()).select_from(verification_codes).where(codes.created_at > since)
        with self.shop.read() as conn:
            to_address = int(conn.execute(recent.where(same_email(codes.email, email))).scalar_one())
            to_conversation = int(conn.execute(recent.where(codes.conversation == conversation)).scalar_one())
        if to_address >= CODES_PER_ADDRESS or to_conversation >= CODES_PER_CONVERSATION:
            return False
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        salt = secrets.token_bytes(16)
        self.withdraw(conversation, when)  # a new code replaces the conversation's earlier ones
        with self.shop.begin() as conn:
            conn.execute(
                insert(verification_codes).values(
                    conversation=conversation,
                    email=email,
                    order_id=order_id,
                    salt=salt,
                    code_hash=hash_code(code, salt),
                    created_at=_stamp(when),
                    expires_at=_stamp(when + CODE_LIFETIME),
                )
            )
        subject, body = code_email(code)
        self.mailer.send(email, subject, body)
        return True

    def pending_code(self, conversation: str, now: dt.datetime | None = None) -> dict[str, Any] | None:
        """The conversation's live code (unused, unexpired), if any."""
        codes = verification_codes.c
        query = (
            select(verification_codes)
            .where(codes.conversation == conversation, codes.used_at.is_(None), codes.expires_at > _stamp(_now(now)))
            .order_by(codes.id.desc())
            .limit(1)
        )
        with self.shop.read() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def withdraw(self, conversation: str, now: dt.datetime | None = None) -> None:
        """Spend the conversation's live code (the shopper asked for a new one)."""
        codes = verification_codes.c
        with self.shop.begin() as conn:
            conn.execute(
                update(verification_codes)
                .where(codes.conversation == conversation, codes.used_at.is_(None))
                .values(used_at=_stamp(_now(now)))
            )

    def check_code(self, conversation: str, code: str, now: dt.datetime | None = None) -> CodeCheck:
        """Compare ``code`` with the live one; a right code is spent and grants ownership of its address."""
        when = _now(now)
        row = self.pending_code(conversation, when)
        if row is None:
            return CodeCheck(False, reason="expired")
        this_code = verification_codes.c.id == row["id"]
        if hmac.compare_digest(hash_code(code.strip(), bytes(row["salt"])), bytes(row["code_hash"])):
            with self.shop.begin() as conn:
                # Spent only if still unspent, so one code read back twice at once grants once.
                spent = conn.execute(
                    update(verification_codes)
                    .where(this_code, verification_codes.c.used_at.is_(None))
                    .values(used_at=_stamp(when))
                )
            if spent.rowcount != 1:
                return CodeCheck(False, reason="expired")
            self.grant(conversation, OWNER, email=row["email"], now=when)
            return CodeCheck(True, email=row["email"], order_id=row["order_id"])
        attempts = row["attempts"] + 1
        spent_at = _stamp(when) if attempts >= ATTEMPTS_PER_CODE else None
        with self.shop.begin() as conn:
            conn.execute(update(verification_codes).where(this_code).values(attempts=attempts, used_at=spent_at))
        return CodeCheck(False, email=row["email"], order_id=row["order_id"], reason="wrong")

    def forget_old(self, now: dt.datetime | None = None) -> int:
        """Delete what no rule needs any more (see RECORDS_KEPT); how many rows went."""
        when = _now(now)
        day_ago = _stamp(when - RECORDS_KEPT)
        deletions = (
            delete(verification_codes).where(verification_codes.c.expires_at < day_ago),
            delete(conversation_access).where(
                conversation_access.c.granted_at < _stamp(when - ACCESS_LIFETIME - RECORDS_KEPT)
            ),
            delete(verification_failures).where(verification_failures.c.at < day_ago),
            delete(outbox).where(outbox.c.created_at < _stamp(when - OUTBOX_KEPT)),
        )
        with self.shop.begin() as conn:
            return sum(conn.execute(statement).rowcount for statement in deletions)

    # -- what a conversation has proven ----------------------------------------------------------
    def grant(
        self,
        conversation: str,
        level: str,
        email: str | None = None,
        order_id: str | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        with self.shop.begin() as conn:
            conn.execute(
                insert(conversation_access).values(
                    conversation=conversation, level=level, email=email, order_id=order_id, granted_at=_stamp(_now(now))
                )
            )

    def owned_email(self, conversation: str, now: dt.datetime | None = None) -> str | None:
        """The e-mail address this conversation proved it owns most recently, while that proof lasts."""
        proofs = conversation_access.c
        query = (
            select(proofs.email)
            .where(
                proofs.conversation == conversation,
                proofs.level == OWNER,
                proofs.granted_at > _stamp(_now(now) - ACCESS_LIFETIME),
            )
            .order_by(proofs.granted_at.desc(), proofs.id.desc())
            .limit(1)
        )
        with self.shop.read() as conn:
            email = conn.execute(query).scalar()
        return str(email) if email else None

    def knows_order(self, conversation: str, order_id: str, now: dt.datetime | None = None) -> bool:
        """Whether this conversation named the order's number and e-mail lately (status access)."""
        proofs = conversation_access.c
        query = select(proofs.id).where(
            proofs.conversation == conversation,
            proofs.level == STATUS,
            proofs.order_id == order_id,
            proofs.granted_at > _stamp(_now(now) - ACCESS_LIFETIME),
        )
        with self.shop.read() as conn:
            return conn.execute(query.limit(1)).first() is not None
