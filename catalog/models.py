"""Plain data types shared by the catalogue, the store and search."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Product:
    id: str
    sku: str
    name: str
    brand: str
    category: str
    product_type: str
    colors: list[str]
    sizes: list[str]
    material: str
    price: float
    rating: float
    review_count: int
    stock: int
    release_date: str  # ISO date
    description: str
    tags: list[str] = field(default_factory=list)

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Customer:
    id: str
    name: str
    email: str
    address: str
    newsletter: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OrderLine:
    product_id: str
    name: str
    quantity: int
    unit_price: float

    @property
    def total(self) -> float:
        return round(self.quantity * self.unit_price, 2)


@dataclass
class Order:
    id: str
    customer_id: str
    status: str  # processing | shipped | delivered | cancelled
    created_at: str  # ISO date
    shipping_address: str
    shipping_option: str
    lines: list[OrderLine]
    carrier: str | None = None
    tracking_number: str | None = None
    eta: str | None = None  # ISO date, for shipped orders
    delivered_at: str | None = None  # ISO date, for delivered orders
    cancelled_at: str | None = None

    @property
    def total(self) -> float:
        return round(sum(line.total for line in self.lines), 2)


@dataclass
class ReturnRequest:
    id: str
    order_id: str
    reason: str
    status: str  # requested | received | refunded | rejected
    refund_amount: float
    created_at: str
    refunded_at: str | None = None
