"""Deterministic demo customers, orders and returns, dated relative to ``as_of``.

The first five orders are fixed so the README and tests can rely on them:
10001 processing, 10002 shipped, 10003 delivered 10 days ago (returnable),
10004 ordered 65 days ago and delivered 63 days ago (outside the 30-day return window), 10005 cancelled.
All belong to Alex Morgan <alex.morgan@example.com>.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from catalog.models import Customer, Order, OrderLine, Product, ReturnRequest

FIRST_NAMES = [
    "Alex",
    "Sam",
    "Priya",
    "Jordan",
    "Mei",
    "Tomasz",
    "Aisha",
    "Lucas",
    "Ines",
    "Kwame",
    "Hannah",
    "Diego",
    "Yuki",
    "Omar",
    "Freya",
    "Mateo",
    "Zara",
    "Noah",
    "Leila",
    "Finn",
]
LAST_NAMES = [
    "Morgan",
    "Patel",
    "Nowak",
    "Okafor",
    "Lindqvist",
    "Reyes",
    "Chen",
    "Haddad",
    "Brennan",
    "Costa",
    "Fischer",
    "Mensah",
    "Sato",
    "Duarte",
    "Walsh",
]
STREETS = [
    "Elm Street",
    "Harbour Road",
    "Mill Lane",
    "Station Avenue",
    "Kingfisher Way",
    "Orchard Close",
    "Queen's Parade",
    "Beacon Hill",
    "Willow Crescent",
    "Market Row",
]
CITIES = [
    ("Springfield", "IL 62701"),
    ("Riverton", "WY 82501"),
    ("Portland", "OR 97201"),
    ("Madison", "WI 53703"),
    ("Ashland", "OR 97520"),
    ("Burlington", "VT 05401"),
]
CARRIERS = ["ParcelWay", "SwiftPost", "Northline Freight"]
RETURN_REASONS = [
    "too small",
    "not as described",
    "arrived damaged",
    "changed my mind",
    "wrong colour",
    "better price elsewhere",
]
# Product types people buy together, so "what goes with this" has real order history to learn from.
COMPANIONS = {
    "running shoes": ["smartwatch", "earbuds", "t-shirt", "yoga mat"],
    "hiking boots": ["rain jacket", "hoodie"],
    "sandals": ["dress", "t-shirt"],
    "dress shoes": ["jeans", "dress"],
    "rain jacket": ["hiking boots"],
    "yoga mat": ["dumbbells", "t-shirt"],
    "dumbbells": ["yoga mat"],
    "bicycle helmet": ["smartwatch"],
    "frying pan": ["chef knife", "olive oil"],
    "chef knife": ["frying pan"],
    "coffee maker": ["coffee beans"],
    "coffee beans": ["coffee maker", "dark chocolate"],
    "blender": ["green tea"],
    "laptop": ["headphones"],
    "tablet": ["earbuds"],
    "smartwatch": ["running shoes"],
    "dog bed": ["dog leash", "pet food bowl"],
    "dog leash": ["pet food bowl"],
    "notebook": ["fountain pen"],
    "fountain pen": ["notebook"],
    "office chair": ["desk organiser", "table lamp"],
    "bedding set": ["throw blanket", "scented candle"],
    "garden hose": ["pruning shears", "planter"],
    "planter": ["pruning shears"],
    "cookbook": ["frying pan"],
    "travel guide": ["rain jacket"],
    "necklace": ["earrings"],
    "earrings": ["necklace", "bracelet"],
    "face moisturiser": ["shampoo"],
    "perfume": ["lipstick"],
    "board game": ["jigsaw puzzle"],
}
DEMO_EMAIL = "alex.morgan@example.com"
FIRST_ORDER_ID = 10001


@dataclass
class StoreData:
    customers: list[Customer]
    orders: list[Order]
    returns: list[ReturnRequest]


def _address(rng: random.Random) -> str:
    city, zip_code = rng.choice(CITIES)
    return f"{rng.randint(1, 240)} {rng.choice(STREETS)}, {city}, {zip_code}"


def _customers(rng: random.Random, count: int) -> list[Customer]:
    customers = [Customer("C0001", "Alex Morgan", DEMO_EMAIL, "12 Elm Street, Springfield, IL 62701")]
    taken = {DEMO_EMAIL}
    while len(customers) < count:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}@example.com".lower()
        if email in taken:
            continue
        taken.add(email)
        customers.append(
            Customer(
                f"C{len(customers) + 1:04d}", f"{first} {last}", email, _address(rng), newsletter=rng.random() < 0.3
            )
        )
    return customers


def _lines(rng: random.Random, products: list[Product]) -> list[OrderLine]:
    picked = rng.sample(products, k=rng.choice([1, 1, 2, 2, 3]))
    return [OrderLine(p.id, p.name, rng.choice([1, 1, 1, 2]), p.price) for p in picked]


def _released_by(products: list[Product], day: dt.date) -> list[Product]:
    """What was on sale that day: nobody bought a product before it was released."""
    on_sale = [p for p in products if not p.release_date or p.release_date <= day.isoformat()]
    return on_sale or products


def _basket(rng: random.Random, products: list[Product]) -> list[OrderLine]:
    """One product, and usually something that goes with it (shoes and a watch, a pan and a knife)."""
    first = rng.choice(products)
    picked = [first]
    for _ in range(rng.choice([0, 1, 1, 2])):
        kinds = COMPANIONS.get(picked[-1].product_type, [])
        options = [p for p in products if p.product_type in kinds and p not in picked]
        if not options or rng.random() < 0.25:  # some baskets are just unrelated things
            options = [p for p in products if p not in picked]
        picked.append(rng.choice(options))
    return [OrderLine(p.id, p.name, rng.choice([1, 1, 1, 2]), p.price) for p in picked]


def _order(
    rng: random.Random,
    number: int,
    customer: Customer,
    status: str,
    age_days: int,
    as_of: dt.date,
    products: list[Product],
    companions: bool = False,
) -> Order:
    created = as_of - dt.timedelta(days=age_days)
    order = Order(
        id=str(number),
        customer_id=customer.id,
        status=status,
        created_at=created.isoformat(),
        shipping_address=customer.address,
        shipping_option=rng.choice(["standard", "standard", "express", "next_day"]),
        lines=_basket(rng, _released_by(products, created)) if companions else _lines(rng, products),
    )
    if status in ("shipped", "delivered"):
        order.carrier = rng.choice(CARRIERS)
        order.tracking_number = f"{order.carrier[:2].upper()}{rng.randint(10**9, 10**10 - 1)}"
    if status == "shipped":
        order.eta = (as_of + dt.timedelta(days=rng.randint(1, 3))).isoformat()
    if status == "delivered":
        order.delivered_at = (created + dt.timedelta(days=min(age_days, rng.randint(2, 5)))).isoformat()
    if status == "cancelled":
        order.cancelled_at = (created + dt.timedelta(days=1)).isoformat()
    return order


def generate_store_data(
    products: list[Product],
    as_of: dt.date | None = None,
    seed: int = 11,
    customer_count: int = 40,
    order_count: int = 600,
) -> StoreData:
    """Customers, orders and returns. Same seed, products and ``as_of`` -> same data."""
    as_of = as_of or dt.date.today()
    rng = random.Random(seed)
    customers = _customers(rng, customer_count)
    alex = customers[0]
    # Returnable goods only for the fixed demo orders, so return flows work.
    returnable = [p for p in products if p.category != "groceries"]
    fixed = [("processing", 1), ("shipped", 3), ("delivered", 14), ("delivered", 65), ("cancelled", 20)]
    orders = [
        _order(rng, FIRST_ORDER_ID + i, alex, status, age, as_of, returnable) for i, (status, age) in enumerate(fixed)
    ]
    # The return-window demo order was delivered exactly 10 days ago.
    orders[2].delivered_at = (as_of - dt.timedelta(days=10)).isoformat()
    while len(orders) < order_count:
        age = rng.randint(0, 120)
        if age <= 2:
            status = "processing"
        elif age <= 6:
            status = rng.choice(["shipped", "processing", "shipped"])
        else:
            status = "cancelled" if rng.random() < 0.08 else "delivered"
        orders.append(
            _order(
                rng, FIRST_ORDER_ID + len(orders), rng.choice(customers), status, age, as_of, products, companions=True
            )
        )
    returns: list[ReturnRequest] = []
    for order in orders[5:]:
        if order.status != "delivered" or rng.random() > 0.12:
            continue
        delivered = dt.date.fromisoformat(order.delivered_at or order.created_at)
        created = delivered + dt.timedelta(days=rng.randint(1, 20))
        if created > as_of:
            continue
        status = "refunded" if (as_of - created).days > 7 else rng.choice(["requested", "received"])
        returns.append(
            ReturnRequest(
                id=f"R{len(returns) + 1:04d}",
                order_id=order.id,
                reason=rng.choice(RETURN_REASONS),
                status=status,
                refund_amount=order.lines[0].total,
                created_at=created.isoformat(),
                refunded_at=(created + dt.timedelta(days=5)).isoformat() if status == "refunded" else None,
            )
        )
    return StoreData(customers, orders, returns)
