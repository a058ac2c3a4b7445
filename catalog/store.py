"""Repository over the shop: products (the local index), and its records (customers, orders,
returns, stock, feedback...) through ``catalog/records.py``, on SQLite or PostgreSQL.

Business rules that depend on policies (what can be cancelled, what can be returned) live
here too, so every front end applies them the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Integer, cast, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from catalog import db, records
from catalog.identity import OWNER, STATUS, Identity
from catalog.mail import mailer_for, read_outbox
from catalog.migrations import migrate
from catalog.models import Customer, Order, OrderLine, Product, ReturnRequest
from catalog.policies import load_policies
from catalog.records import Records, same_email

T = TypeVar("T")
# A new order, customer or return takes the next number; when another process took it first, the
# insert fails on the key and is tried again with the number after.
NUMBER_TRIES = 5

# Price bounds that read naturally in an example request.
ROUND_PRICES = (10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 5000)

# Failed verifications count for this long (per conversation and per order).
VERIFICATION_WINDOW = dt.timedelta(hours=1)


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


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
    def __init__(self, path: str | os.PathLike[str] | None = None, records_url: str | None = None) -> None:
        self.path: Path = db.db_path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"No shop database at {self.path}; run `python -m catalog build`.")
        self.conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        with self.conn:
            db.create_schema(self.conn)  # tables added since the file was built; a no-op otherwise
        self.records_url = records_url or records.records_url(self.path)
        self.policies = load_policies()

    @cached_property
    def records(self) -> Records:
        """The shop's records, migrated to the current schema on first use (search alone never opens them)."""
        shop = Records(self.records_url)
        migrate(shop)
        return shop

    @cached_property
    def identity(self) -> Identity:
        return Identity(self.records, mailer_for(self.records))

    def close(self) -> None:
        self.conn.close()
        if "records" in self.__dict__:
            self.records.dispose()

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

    def example_search(self) -> str:
        """A request this shop answers, for the bot's hints ("blue backpack under 150"): of its most
        common product types, the one its product names most often say (a source's type can be a
        department such as "kitchen"), in that type's most common colour, under a round price above
        the type's median. "" for an empty shop."""
        types = self.conn.execute(
            "SELECT product_type, COUNT(*) FROM products WHERE product_type != '' "
            "GROUP BY product_type ORDER BY COUNT(*) DESC, product_type LIMIT 20"
        ).fetchall()
        if not types:
            return ""

        def named(kind: str) -> int:
            stem = kind.rstrip("s")
            sql = "SELECT COUNT(*) FROM products WHERE product_type = ? AND lower(name) LIKE ?"
            return int(self.conn.execute(sql, (kind, f"%{stem}%")).fetchone()[0])

        kind = max((t for t, _ in types), key=named)
        prices = [row[0] for row in self.conn.execute("SELECT price FROM products WHERE product_type = ?", (kind,))]
        median = sorted(prices)[len(prices) // 2]
        bound = next((b for b in ROUND_PRICES if b > median), int(median) + 1)
        colour = self.conn.execute(
            "SELECT j.value FROM products, json_each(products.colors) AS j WHERE product_type = ? "
            "GROUP BY j.value ORDER BY COUNT(*) DESC, j.value LIMIT 1",
            (kind,),
        ).fetchone()
        return " ".join(part for part in (colour[0] if colour else "", kind, f"under {bound}") if part)

    def set_stock(self, levels: Mapping[str, int]) -> None:
        """What the shop can sell of each product (from an import): the shared records and this node's index."""
        self.records.set_stock(levels)
        self._note_stock(levels)

    def _take_stock(self, conn: Connection, product: Product, quantity: int) -> int:
        """Take ``quantity`` of ``product`` from the shared stock in ``conn``'s transaction; what is left."""
        # A product imported on this node before the records knew it starts from the index's level.
        conn.execute(self.records.insert_ignoring_duplicates(records.stock, {"product_id": product.id,
                                                                             "quantity": product.stock}))  # fmt: skip
        row = records.stock.c
        taken = conn.execute(
            update(records.stock)
            .where(row.product_id == product.id, row.quantity >= quantity)
            .values(quantity=row.quantity - quantity)
        )
        left = int(conn.execute(select(row.quantity).where(row.product_id == product.id)).scalar_one())
        if taken.rowcount != 1:
            raise StoreError(f"Only {left} of the {product.name} left in stock.")
        return left

    def _note_stock(self, levels: Mapping[str, int]) -> None:
        """Copy shared stock levels into this node's index, so its search sees what was just sold."""
        with self.conn:
            self.conn.executemany("UPDATE products SET stock = ? WHERE id = ?", [(q, pid) for pid, q in levels.items()])

    # -- customers ------------------------------------------------------------------------
    def customer(self, customer_id: str) -> Customer | None:
        with self.records.read() as conn:
            row = (
                conn.execute(select(records.customers).where(records.customers.c.id == customer_id)).mappings().first()
            )
        return Customer(**{**row, "newsletter": bool(row["newsletter"])}) if row else None

    def customer_by_email(self, email: str) -> Customer | None:
        table = records.customers
        with self.records.read() as conn:
            found = conn.execute(select(table.c.id).where(same_email(table.c.email, email))).scalar()
        return self.customer(found) if found else None

    def create_customer(self, name: str, email: str, address: str) -> Customer:
        def add(conn: Connection) -> Customer:
            number = int(conn.execute(select(func.count()).select_from(records.customers)).scalar_one()) + 1
            customer = Customer(f"C{number:04d}", name, email.strip(), address)
            conn.execute(insert(records.customers).values(records.customer_row(customer)))
            return customer

        return self._numbered(add)

    def _numbered(self, write: Callable[[Connection], T]) -> T:
        """Run ``write`` in a transaction, again when another process took the number it chose."""
        for attempt in range(NUMBER_TRIES):
            try:
                with self.records.begin() as conn:
                    return write(conn)
            except IntegrityError:
                if attempt == NUMBER_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # -- orders ---------------------------------------------------------------------------
    def order(self, order_id: str) -> Order | None:
        with self.records.read() as conn:
            row = conn.execute(select(records.orders).where(records.orders.c.id == str(order_id))).mappings().first()
            if not row:
                return None
            found = conn.execute(select(records.order_lines).where(records.order_lines.c.order_id == row["id"]))
            lines = [OrderLine(r.product_id, r.name, r.quantity, r.unit_price) for r in found]
        return Order(**row, lines=lines)

    def orders_for_customer(self, customer_id: str) -> list[Order]:
        table = records.orders
        with self.records.read() as conn:
            ids = conn.execute(
                select(table.c.id).where(table.c.customer_id == customer_id).order_by(table.c.created_at.desc())
            ).scalars()
            ids = list(ids)
        return [o for o in (self.order(i) for i in ids) if o]

    def purchases(self) -> list[tuple[str, str, str, str]]:
        """(customer, product, order, date) of every line of every order not cancelled: what recommenders learn."""
        o, line = records.orders, records.order_lines
        query = (
            select(o.c.customer_id, line.c.product_id, o.c.id, o.c.created_at)
            .select_from(line.join(o, o.c.id == line.c.order_id))
            .where(o.c.status != "cancelled")
        )
        with self.records.read() as conn:
            return [(str(c or ""), str(p), str(i), str(t or "")) for c, p, i, t in conn.execute(query)]

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
        return read_outbox(self.records, to, limit)

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
        """Place an order for (product id, quantity) pairs; takes the goods out of the shared stock."""
        if not items:
            raise StoreError("The cart is empty.")
        customer = self.customer(customer_id)
        if not customer:
            raise StoreError("I couldn't find that customer account.")
        products = []
        for product_id, quantity in items:
            product = self.product(product_id)
            if not product:
                raise StoreError(f"Product {product_id} is no longer sold.")
            products.append((product, quantity))
        left: dict[str, int] = {}

        def place(conn: Connection) -> Order:
            # Stock and order in one transaction: if the order cannot be written, nothing was taken.
            lines = []
            for product, quantity in products:
                left[product.id] = self._take_stock(conn, product, quantity)
                lines.append(OrderLine(product.id, product.name, quantity, product.price))
            highest = conn.execute(select(func.max(cast(records.orders.c.id, Integer)))).scalar()
            order = Order(
                str(max(int(highest or 0), 10000) + 1),
                customer.id,
                "processing",
                (today or dt.date.today()).isoformat(),
                address or customer.address,
                shipping_option,
                lines,
            )
            records.insert_order(conn, order)
            return order

        order = self._numbered(place)
        self._note_stock(left)
        return order

    def _set_order(self, order_id: str, **values: Any) -> None:
        with self.records.begin() as conn:
            conn.execute(update(records.orders).where(records.orders.c.id == order_id).values(**values))

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
        row = records.stock.c
        left: dict[str, int] = {}
        with self.records.begin() as conn:
            # Only an order still open is cancelled, so two cancellations never return its goods twice.
            done = conn.execute(
                update(records.orders)
                .where(records.orders.c.id == order.id, records.orders.c.status != "cancelled")
                .values(status="cancelled", cancelled_at=when)
            )
            if done.rowcount == 1:
                for line in order.lines:
                    conn.execute(
                        update(records.stock)
                        .where(row.product_id == line.product_id)
                        .values(quantity=row.quantity + line.quantity)
                    )
                    level = conn.execute(select(row.quantity).where(row.product_id == line.product_id)).scalar()
                    if level is not None:
                        left[line.product_id] = int(level)
        self._note_stock(left)
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
        self._set_order(order.id, shipping_address=address)
        return self.order(order.id)  # type: ignore[return-value]

    # -- returns --------------------------------------------------------------------------
    def returns_for_order(self, order_id: str) -> list[ReturnRequest]:
        table = records.returns
        with self.records.read() as conn:
            rows = conn.execute(select(table).where(table.c.order_id == order_id).order_by(table.c.created_at))
            return [ReturnRequest(**r) for r in rows.mappings()]

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

        def add(conn: Connection) -> ReturnRequest:
            number = int(conn.execute(select(func.count()).select_from(records.returns)).scalar_one()) + 1
            ret = ReturnRequest(
                f"R{number:04d}",
                order.id,
                " ".join(reason.split())[:500] or "not given",
                "requested",
                order.total,
                (today or dt.date.today()).isoformat(),
            )
            conn.execute(insert(records.returns).values(records.return_row(ret)))
            return ret

        return self._numbered(add)

    # -- feedback, newsletter, handoff ----------------------------------------------------
    def record_verification_failure(self, conversation: str, order_id: str, now: dt.datetime | None = None) -> None:
        """Note a failed attempt to prove ``order_id`` belongs to whoever is in ``conversation``."""
        at = (now or dt.datetime.now()).isoformat(timespec="seconds")
        with self.records.begin() as conn:
            conn.execute(insert(records.verification_failures).values(conversation=conversation, order_id=order_id,
                                                                      at=at))  # fmt: skip

    def verification_failures(
        self,
        conversation: str | None = None,
        order_id: str | None = None,
        window: dt.timedelta = VERIFICATION_WINDOW,
        now: dt.datetime | None = None,
    ) -> int:
        """Failed attempts within ``window`` in a conversation, or on an order (from any conversation)."""
        since = ((now or dt.datetime.now()) - window).isoformat(timespec="seconds")
        table = records.verification_failures
        column, value = (
            (table.c.conversation, conversation) if conversation is not None else (table.c.order_id, order_id)
        )
        with self.records.read() as conn:
            query = select(func.count()).select_from(table).where(column == value, table.c.at > since)
            return int(conn.execute(query).scalar_one())

    def add_feedback(self, kind: str, text: str, customer_id: str | None = None, session_id: str | None = None) -> int:
        text = " ".join(text.split())[:5000]
        if not text:
            raise StoreError("The feedback is empty.")
        now = dt.datetime.now().isoformat(timespec="seconds")
        with self.records.begin() as conn:
            added = conn.execute(
                insert(records.feedback).values(
                    kind=kind, text=text, customer_id=customer_id, session_id=session_id, created_at=now
                )
            )
            return int(added.inserted_primary_key[0])

    def feedback(self, kind: str | None = None) -> list[dict[str, Any]]:
        table = records.feedback
        query = select(table).order_by(table.c.id)
        if kind:
            query = query.where(table.c.kind == kind)
        with self.records.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def subscribe(self, email: str) -> bool:
        """Subscribe ``email``; False when it already was."""
        email = email.strip()
        table = records.newsletter
        try:
            with self.records.begin() as conn:
                if conn.execute(select(table.c.email).where(same_email(table.c.email, email))).first():
                    return False
                conn.execute(insert(table).values(email=email, subscribed_at=dt.date.today().isoformat()))
                conn.execute(
                    update(records.customers).where(same_email(records.customers.c.email, email)).values(newsletter=1)
                )
        except IntegrityError:  # subscribed from another conversation a moment ago
            return False
        return True

    def add_handoff(
        self, session_id: str, summary: dict[str, Any], reason: str = "", customer_id: str | None = None
    ) -> int:
        with self.records.begin() as conn:
            added = conn.execute(
                insert(records.handoffs)
                .values(session_id=session_id, customer_id=customer_id, reason=reason, summary=json.dumps(summary),
                        created_at=_now())
            )  # fmt: skip
            return int(added.inserted_primary_key[0])

    def handoffs(self, *statuses: str) -> list[dict[str, Any]]:
        """Tickets, oldest first; only those in ``statuses`` when given (waiting, taken, closed)."""
        table = records.handoffs
        query = select(table).order_by(table.c.id)
        if statuses:
            query = query.where(table.c.status.in_(statuses))
        with self.records.read() as conn:
            return [{**r, "summary": json.loads(r["summary"])} for r in conn.execute(query).mappings()]

    def handoff(self, ticket: int) -> dict[str, Any] | None:
        table = records.handoffs
        with self.records.read() as conn:
            row = conn.execute(select(table).where(table.c.id == ticket)).mappings().first()
        return {**row, "summary": json.loads(row["summary"])} if row else None

    def open_handoff(self, session_id: str) -> int | None:
        """The conversation's ticket still waiting for (or held by) an agent, if it has one."""
        table = records.handoffs
        with self.records.read() as conn:
            return conn.execute(
                select(table.c.id).where(table.c.session_id == session_id, table.c.status.in_(("waiting", "taken")))
                .order_by(table.c.id.desc()).limit(1)
            ).scalar_one_or_none()  # fmt: skip

    def held_by_agent(self, session_id: str) -> str | None:
        """The agent who holds this conversation now, if one does."""
        table = records.handoffs
        with self.records.read() as conn:
            return conn.execute(
                select(table.c.agent).where(table.c.session_id == session_id, table.c.status == "taken").limit(1)
            ).scalar_one_or_none()

    def take_handoff(self, ticket: int, agent: str) -> bool:
        """The agent takes a waiting ticket; False when it is not waiting (another agent was first)."""
        table = records.handoffs
        with self.records.begin() as conn:
            taken = conn.execute(
                update(table)
                .where(table.c.id == ticket, table.c.status == "waiting")
                .values(status="taken", agent=agent, taken_at=_now())
            )
            return taken.rowcount == 1

    def untake_handoff(self, ticket: int, agent: str) -> None:
        """The take did not go through (the bot could not be paused): the ticket waits again."""
        table = records.handoffs
        with self.records.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == ticket, table.c.status == "taken", table.c.agent == agent)
                .values(status="waiting", agent=None, taken_at=None)
            )

    def close_handoff(self, ticket: int, agent: str) -> bool:
        """The agent who holds the ticket hands the conversation back; False when they do not hold it."""
        table = records.handoffs
        with self.records.begin() as conn:
            closed = conn.execute(
                update(table)
                .where(table.c.id == ticket, table.c.status == "taken", table.c.agent == agent)
                .values(status="closed", closed_at=_now())
            )
            return closed.rowcount == 1

    def agent_seen(self, agent: str) -> None:
        table = records.agents_online
        with self.records.begin() as conn:
            if conn.execute(update(table).where(table.c.agent == agent).values(seen_at=_now())).rowcount:
                return
        try:
            with self.records.begin() as conn:
                conn.execute(insert(table).values(agent=agent, seen_at=_now()))
        except IntegrityError:  # the same agent's other tab was first
            pass

    def agents_online(self, within: dt.timedelta = dt.timedelta(seconds=60)) -> list[str]:
        """Agents whose inbox asked for news within ``within``."""
        table = records.agents_online
        since = (dt.datetime.now() - within).isoformat(timespec="seconds")
        with self.records.read() as conn:
            return list(conn.execute(select(table.c.agent).where(table.c.seen_at >= since)).scalars())
