"""Repository over the shop database: products, customers, orders, returns, feedback.

Business rules that depend on policies (what can be cancelled, what can be returned) live
here too, so every front end applies them the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from catalog import db
from catalog.identity import OWNER, STATUS, Identity
from catalog.mail import mailer_for, read_outbox
from catalog.models import Customer, Order, OrderLine, Product, ReturnRequest
from catalog.policies import load_policies

# Failed verifications count for this long (per conversation and per order).
VERIFICATION_WINDOW = dt.timedelta(hours=1)


class StoreError(Exception):
    """A request the shop cannot fulfil; the message is safe to show a shopper."""


PRODUCT_FIELDS = tuple(Product.__dataclass_fields__)


def product_from_row(row: sqlite3.Row) -> Product:
    """A Product from a products row; extra columns (e.g. a search rank) are ignored."""
    data = {key: row[key] for key in PRODUCT_FIELDS}
    for key in ("colors", "sizes", "tags"):
        data[key] = json.loads(data[key] or "[]")
    return Product(**data)


class Store:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path: Path = db.db_path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"No shop database at {self.path}; run `python -m catalog build`.")
        self.conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        with self.conn:
            db.create_schema(self.conn)  # tables added since the file was built; a no-op otherwise
        self.policies = load_policies()
        self.identity = Identity(self.conn, mailer_for(self.conn))

    def close(self) -> None:
        self.conn.close()

    # -- products -------------------------------------------------------------------------
    def product(self, product_id: str) -> Product | None:
        row = self.conn.execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
        return product_from_row(row) if row else None

    def products(self, product_ids: list[str]) -> list[Product]:
        """Products in the order of ``product_ids``; ids that no longer exist are skipped."""
        if not product_ids:
            return []
        marks = ",".join("?" * len(product_ids))
        rows = self.conn.execute(f"SELECT * FROM products WHERE id IN ({marks})", product_ids)
        found = {row["id"]: product_from_row(row) for row in rows}
        return [found[i] for i in product_ids if i in found]

    def product_ids(self) -> list[str]:
        """Every product id, in id order."""
        return [row[0] for row in self.conn.execute("SELECT id FROM products ORDER BY id")]

    def product_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM products").fetchone()[0])

    def distinct(self, column: str) -> list[str]:
        """Distinct values of a product attribute; list columns (colors, sizes) are flattened."""
        if column in ("colors", "sizes"):
            sql = f"SELECT DISTINCT j.value FROM products, json_each(products.{column}) AS j"
        elif column in ("brand", "category", "product_type", "material"):
            sql = f"SELECT DISTINCT {column} FROM products WHERE {column} IS NOT NULL"
        else:
            raise ValueError(f"unknown product attribute {column!r}")
        return sorted(str(row[0]) for row in self.conn.execute(sql) if row[0])

    # -- customers ------------------------------------------------------------------------
    def customer(self, customer_id: str) -> Customer | None:
        row = self.conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        return Customer(**{**dict(row), "newsletter": bool(row["newsletter"])}) if row else None

    def customer_by_email(self, email: str) -> Customer | None:
        row = self.conn.execute("SELECT id FROM customers WHERE email = ?", (email.strip(),)).fetchone()
        return self.customer(row["id"]) if row else None

    def create_customer(self, name: str, email: str, address: str) -> Customer:
        number = int(self.conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]) + 1
        customer = Customer(f"C{number:04d}", name, email.strip(), address)
        with self.conn:
            db.insert_customers(self.conn, [customer])
        return customer

    # -- orders ---------------------------------------------------------------------------
    def order(self, order_id: str) -> Order | None:
        row = self.conn.execute("SELECT * FROM orders WHERE id = ?", (str(order_id),)).fetchone()
        if not row:
            return None
        lines = [
            OrderLine(r["product_id"], r["name"], r["quantity"], r["unit_price"])
            for r in self.conn.execute("SELECT * FROM order_lines WHERE order_id = ?", (row["id"],))
        ]
        return Order(**dict(row), lines=lines)

    def orders_for_customer(self, customer_id: str) -> list[Order]:
        ids = [
            r["id"]
            for r in self.conn.execute(
                "SELECT id FROM orders WHERE customer_id = ? ORDER BY created_at DESC", (customer_id,)
            )
        ]
        return [o for o in (self.order(i) for i in ids) if o]

    # -- who may see what (catalog/identity.py) ------------------------------------------------
    def owner(self, conversation: str) -> Customer | None:
        """The customer whose e-mail this conversation proved with a code lately, if any."""
        email = self.identity.owned_email(conversation)
        return self.customer_by_email(email) if email else None

    def access(self, conversation: str, order: Order) -> str | None:
        """``OWNER`` (all of the order), ``STATUS`` (its status only) or None, from the database only."""
        owner = self.owner(conversation)
        if owner and owner.id == order.customer_id:
            return OWNER
        return STATUS if self.identity.knows_order(conversation, order.id) else None

    def outbox(self, to: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Mail kept on this machine (no SMTP server configured), newest first."""
        return read_outbox(self.conn, to, limit)

    def verify(self, order_id: str, email: str) -> Order | None:
        """The order when ``email`` is its customer's address, else None."""
        order = self.order(order_id)
        customer = self.customer_by_email(email) if order else None
        return order if order and customer and customer.id == order.customer_id else None

    def create_order(
        self,
        customer_id: str,
        items: list[tuple[str, int]],
        shipping_option: str = "standard",
        address: str | None = None,
        today: dt.date | None = None,
    ) -> Order:
        """Place an order for (product id, quantity) pairs; takes the goods out of stock."""
        if not items:
            raise StoreError("The cart is empty.")
        customer = self.customer(customer_id)
        if not customer:
            raise StoreError("I couldn't find that customer account.")
        lines = []
        for product_id, quantity in items:
            product = self.product(product_id)
            if not product:
                raise StoreError(f"Product {product_id} is no longer sold.")
            if product.stock < quantity:
                raise StoreError(f"Only {product.stock} of the {product.name} left in stock.")
            lines.append(OrderLine(product.id, product.name, quantity, product.price))
        next_id = (
            int(self.conn.execute("SELECT COALESCE(MAX(CAST(id AS INTEGER)), 10000) FROM orders").fetchone()[0]) + 1
        )
        order = Order(
            str(next_id),
            customer.id,
            "processing",
            (today or dt.date.today()).isoformat(),
            address or customer.address,
            shipping_option,
            lines,
        )
        with self.conn:
            db.insert_order(self.conn, order)
            for line in lines:
                self.conn.execute(
                    "UPDATE products SET stock = stock - ? WHERE id = ?", (line.quantity, line.product_id)
                )
        return order

    def cancel_order(self, order_id: str, today: dt.date | None = None) -> Order:
        order = self.order(order_id)
        if not order:
            raise StoreError(f"I couldn't find order {order_id}.")
        if order.status == "cancelled":
            raise StoreError(f"Order {order_id} was already cancelled on {order.cancelled_at}.")
        if order.status not in self.policies["cancellation"]["allowed_statuses"]:
            raise StoreError(
                f"Order {order_id} has already {order.status}, so it can't be cancelled; "
                "you can return it instead once it arrives."
            )
        when = (today or dt.date.today()).isoformat()
        with self.conn:
            self.conn.execute("UPDATE orders SET status = 'cancelled', cancelled_at = ? WHERE id = ?", (when, order.id))
            for line in order.lines:
                self.conn.execute(
                    "UPDATE products SET stock = stock + ? WHERE id = ?", (line.quantity, line.product_id)
                )
        return self.order(order.id)  # type: ignore[return-value]

    def change_shipping_address(self, order_id: str, address: str) -> Order:
        order = self.order(order_id)
        if not order:
            raise StoreError(f"I couldn't find order {order_id}.")
        if order.status != "processing":
            raise StoreError(f"Order {order_id} has already {order.status}, so its address can't change now.")
        address = " ".join(address.split())
        if len(address) < 8:
            raise StoreError("That address looks too short; please give street, city and postcode.")
        with self.conn:
            self.conn.execute("UPDATE orders SET shipping_address = ? WHERE id = ?", (address, order.id))
        return self.order(order.id)  # type: ignore[return-value]

    # -- returns --------------------------------------------------------------------------
    def returns_for_order(self, order_id: str) -> list[ReturnRequest]:
        rows = self.conn.execute("SELECT * FROM returns WHERE order_id = ? ORDER BY created_at", (order_id,))
        return [ReturnRequest(**dict(r)) for r in rows]

    def return_eligibility(self, order: Order, today: dt.date | None = None) -> tuple[bool, str]:
        """Whether the order can be returned now, and why (a sentence for the shopper)."""
        rules = self.policies["returns"]
        if order.status != "delivered" or not order.delivered_at:
            return False, f"Order {order.id} is {order.status}; returns open once it's delivered."
        if self.returns_for_order(order.id):
            return False, f"A return for order {order.id} is already open."
        days = ((today or dt.date.today()) - dt.date.fromisoformat(order.delivered_at)).days
        if days > rules["window_days"]:
            return False, (
                f"Order {order.id} was delivered {days} days ago, past our {rules['window_days']}-day return window."
            )
        blocked = set(rules.get("non_returnable_categories", []))
        products = self.products([line.product_id for line in order.lines])
        if products and all(p.category in blocked for p in products):
            return False, f"Items from {', '.join(sorted(blocked))} can't be returned."
        left = rules["window_days"] - days
        return True, f"Order {order.id} is within the return window ({left} days left)."

    def create_return(self, order_id: str, reason: str, today: dt.date | None = None) -> ReturnRequest:
        order = self.order(order_id)
        if not order:
            raise StoreError(f"I couldn't find order {order_id}.")
        ok, why = self.return_eligibility(order, today)
        if not ok:
            raise StoreError(why)
        number = int(self.conn.execute("SELECT COUNT(*) FROM returns").fetchone()[0]) + 1
        ret = ReturnRequest(
            f"R{number:04d}",
            order.id,
            " ".join(reason.split())[:500] or "not given",
            "requested",
            order.total,
            (today or dt.date.today()).isoformat(),
        )
        with self.conn:
            db.insert_return(self.conn, ret)
        return ret

    # -- feedback, newsletter, handoff ----------------------------------------------------
    def record_verification_failure(self, conversation: str, order_id: str, now: dt.datetime | None = None) -> None:
        """Note a failed attempt to prove ``order_id`` belongs to whoever is in ``conversation``."""
        at = (now or dt.datetime.now()).isoformat(timespec="seconds")
        with self.conn:
            self.conn.execute(
                "INSERT INTO verification_failures (conversation, order_id, at) VALUES (?,?,?)",
                (conversation, order_id, at),
            )

    def verification_failures(
        self,
        conversation: str | None = None,
        order_id: str | None = None,
        window: dt.timedelta = VERIFICATION_WINDOW,
        now: dt.datetime | None = None,
    ) -> int:
        """Failed attempts within ``window`` in a conversation, or on an order (from any conversation)."""
        since = ((now or dt.datetime.now()) - window).isoformat(timespec="seconds")
        column, value = ("conversation", conversation) if conversation is not None else ("order_id", order_id)
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM verification_failures WHERE {column} = ? AND at > ?", (value, since)
        ).fetchone()
        return int(row[0])

    def add_feedback(self, kind: str, text: str, customer_id: str | None = None, session_id: str | None = None) -> int:
        text = " ".join(text.split())[:5000]
        if not text:
            raise StoreError("The feedback is empty.")
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO feedback (kind, text, customer_id, session_id, created_at) VALUES (?,?,?,?,?)",
                (kind, text, customer_id, session_id, dt.datetime.now().isoformat(timespec="seconds")),
            )
        return int(cur.lastrowid or 0)

    def feedback(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM feedback", tuple[str, ...]()
        if kind:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def subscribe(self, email: str) -> bool:
        """Subscribe ``email``; False when it already was."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO newsletter VALUES (?, ?)", (email.strip(), dt.date.today().isoformat())
            )
            self.conn.execute("UPDATE customers SET newsletter = 1 WHERE email = ?", (email.strip(),))
        return cur.rowcount == 1

    def add_handoff(
        self, session_id: str, summary: dict[str, Any], reason: str = "", customer_id: str | None = None
    ) -> int:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO handoffs (session_id, customer_id, reason, summary, created_at) VALUES (?,?,?,?,?)",
                (session_id, customer_id, reason, json.dumps(summary), dt.datetime.now().isoformat(timespec="seconds")),
            )
        return int(cur.lastrowid or 0)

    def handoffs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM handoffs ORDER BY id")
        return [{**dict(r), "summary": json.loads(r["summary"])} for r in rows]
