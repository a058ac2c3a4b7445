"""English word forms the shop's text needs: plurals of product types, counts with their noun."""

from __future__ import annotations


def plural(noun: str) -> str:
    """'running shoes', 'frying pans', 'dress' -> 'dresses': product types as plurals."""
    if noun.endswith("ss") or noun.endswith(("sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("s"):
        return noun
    if noun.endswith("ife"):
        return noun[:-2] + "ves"  # knife, knives
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def counted(n: int, noun: str) -> str:
    """'1 product', '2 products', '0 matches': a count with its noun in the right number."""
    return f"{n} {noun if n == 1 else plural(noun)}"
