"""The shop's data and intelligence: products, search, recommendations, customers, orders. Knows
nothing of Rasa.

This module is the catalogue's public face: code outside ``catalog/`` imports from here only
(``tests/test_layout.py`` checks), so the sub-packages can change behind it:

- ``settings``, ``models``, ``db`` (SQLite schema, building a shop), ``store`` (the repository and
  business rules), ``policies``, ``importer`` (a shop's own catalogue), ``cli`` (``python -m catalog``);
- ``search/``: query understanding, BM25, vectors, hybrid search;
- ``recommend/``: recommendation models on ids, and the shop's recommender with reasons;
- ``demo/``: the generated demo shop.
"""

from catalog.db import build_demo_database, create_product_database, db_path
from catalog.demo.orders import DEMO_EMAIL
from catalog.identity import CODE_DIGITS, OWNER, STATUS, CodeCheck, Identity
from catalog.importer import CatalogueFormatError, import_catalogue
from catalog.mail import Mailer, OutboxMailer, SmtpMailer
from catalog.migrations import migrate
from catalog.models import Customer, Order, OrderLine, Product, ReturnRequest
from catalog.policies import load_policies, money
from catalog.recommend.algorithms import (
    ALSO_BOUGHT,
    BOUGHT_TOGETHER,
    SIMILAR,
    ItemGraph,
    Personalised,
    Popularity,
    Purchase,
    Weights,
    profile_from_history,
)
from catalog.recommend.shop import NEW_DAYS, Interests, Recommendation, Recommender
from catalog.records import Records, records_url
from catalog.search.hybrid import HybridSearch, shop_corrector
from catalog.search.lexical import LexicalSearch, SearchHit, SearchResponse
from catalog.search.query import CATEGORY_SYNONYMS, STOP_WORDS, SearchQuery, Vocabulary, clean_text
from catalog.search.vectors import ProductVectors, TextEncoder, product_text
from catalog.settings import CatalogSettings
from catalog.store import Store, StoreError

__all__ = [
    # settings and data
    "CatalogSettings",
    "Customer",
    "Order",
    "OrderLine",
    "Product",
    "ReturnRequest",
    # the shop's repository and policies
    "Store",
    "StoreError",
    "load_policies",
    "money",
    # the shop's records (customers, orders...): where they live, their schema migrations
    "Records",
    "migrate",
    "records_url",
    # proof of identity: one-time codes, what a conversation has proven, the shop's mail
    "CODE_DIGITS",
    "OWNER",
    "STATUS",
    "CodeCheck",
    "Identity",
    "Mailer",
    "OutboxMailer",
    "SmtpMailer",
    # building and importing a shop
    "DEMO_EMAIL",
    "CatalogueFormatError",
    "build_demo_database",
    "create_product_database",
    "db_path",
    "import_catalogue",
    # search
    "CATEGORY_SYNONYMS",
    "STOP_WORDS",
    "HybridSearch",
    "LexicalSearch",
    "ProductVectors",
    "SearchHit",
    "SearchQuery",
    "SearchResponse",
    "TextEncoder",
    "Vocabulary",
    "clean_text",
    "product_text",
    "shop_corrector",
    # recommendation
    "NEW_DAYS",
    "Interests",
    "Recommendation",
    "Recommender",
    "ALSO_BOUGHT",
    "BOUGHT_TOGETHER",
    "SIMILAR",
    "ItemGraph",
    "Personalised",
    "Popularity",
    "Purchase",
    "Weights",
    "profile_from_history",
]
