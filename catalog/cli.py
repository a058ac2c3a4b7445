"""Command line: python -m catalog build | import FILE | search "QUERY" | show ID | outbox | migrate | copy-records.

A stable contract others script against:
  python -m catalog import FILE --db PATH            (keeps the source's product ids)
  python -m catalog search --db PATH --json --limit N "QUERY"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from catalog.db import build_demo_database, db_path, imported_catalogues
from catalog.importer import CatalogueFormatError, import_catalogue
from catalog.migrations import migrate
from catalog.policies import money
from catalog.records import Records, copy_records, records_url
from catalog.search.hybrid import HybridSearch
from catalog.search.lexical import LexicalSearch
from catalog.search.vectors import ProductVectors, TextEncoder
from catalog.settings import CatalogSettings
from catalog.store import Store


def _build(args: argparse.Namespace) -> int:
    target = db_path(args.db)
    if target.exists() and not args.force:
        print(f"{target} already exists (use --force to rebuild).")
        return 0
    if imported_catalogues(target) and not args.replace_imported:
        # make run rebuilds the demo shop when its sources change; a shop's own catalogue (and the
        # records in the same file) must survive that.
        print(f"{target} holds an imported catalogue: not replaced by the demo shop (--replace-imported to do so).")
        return 0
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    path = build_demo_database(target, as_of=as_of)
    store = Store(path)
    print(f"Built {path}: {store.product_count()} products.")
    ProductVectors.for_store(store, TextEncoder(), progress=True)
    return 0


def _import(args: argparse.Namespace) -> int:
    mapping = dict(pair.split("=", 1) for pair in args.map or [])
    target, count, problems = import_catalogue(args.file, args.db, mapping or None)
    for problem in problems[:20]:
        print(f"skipped {problem}", file=sys.stderr)
    store = Store(target)
    print(
        f"Imported {count} products into {target} ({store.product_count()} in total, {len(problems)} records skipped)."
    )
    if not args.no_vectors:
        ProductVectors.for_store(store, TextEncoder(), progress=True)
        print("Search vectors are up to date.")
    return 0


def _search(args: argparse.Namespace) -> int:
    store = Store(args.db)
    searcher = LexicalSearch(store) if args.lexical else HybridSearch(store, progress=True)
    query = searcher.parse(args.query)
    query.limit = args.limit
    response = searcher.search(query)
    if args.json:
        print(
            json.dumps(
                {
                    "query": args.query,
                    "filters": response.query.filters(),
                    "text": response.query.text,
                    "sort": response.query.sort,
                    "total": response.total,
                    "relaxed": response.relaxed,
                    "closest_only": response.closest_only,
                    "corrections": response.query.corrections,
                    "results": [{**hit.product.to_dict(), "score": hit.score} for hit in response.hits],
                },
                indent=None,
            )
        )
        return 0
    print(
        f"{response.total} match(es); filters {response.query.filters() or 'none'}; "
        f"text {response.query.text!r}; sort {response.query.sort}"
    )
    if response.relaxed:
        print(f"(relaxed: {', '.join(response.relaxed)})")
    for i, hit in enumerate(response.hits, 1):
        p = hit.product
        print(f"{i:>2}. [{p.id}] {p.name} - {money(p.price)} - {p.rating}/5 - {', '.join(p.colors)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    product = Store(args.db).product(args.id)
    if not product:
        print(f"No product with id {args.id}.", file=sys.stderr)
        return 1
    print(json.dumps(product.to_dict(), indent=2))
    return 0


def _outbox(args: argparse.Namespace) -> int:
    store = Store(args.db)
    if CatalogSettings.from_env().smtp_url:
        print("Mail goes to the SMTP server in SHOPKEEPER_SMTP_URL; the local outbox is not used.", file=sys.stderr)
    for message in reversed(store.outbox(args.to, args.limit)):
        print(f"--- {message['created_at']} to {message['to_address']}: {message['subject']}\n{message['body']}\n")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    shop = Records(records_url(db_path(args.db)))
    try:
        before, after = migrate(shop, report=print)
    finally:
        shop.dispose()
    print(f"The shop's records are at schema version {after} (were at {before}).")
    return 0


def _copy_records(args: argparse.Namespace) -> int:
    source, target = Records(records_url(db_path(args.db))), Records(args.to)
    try:
        migrate(target, report=print)
        copied = copy_records(source, target, progress=True)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        source.dispose()
        target.dispose()
    print(f"Copied {copied} records. Set SHOPKEEPER_RECORDS_URL to the new database on every action server.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catalog", description=__doc__)
    parser.add_argument("--db", help="SQLite file (default: $SHOPKEEPER_DB or catalog/shop.db)")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="generate the demo shop database")
    build.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    build.add_argument("--as-of", help="date the demo orders are relative to (YYYY-MM-DD)")
    build.add_argument(
        "--replace-imported", action="store_true", help="replace even a file that holds an imported catalogue"
    )
    build.set_defaults(func=_build)
    search = sub.add_parser("search", help="search products")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true", help="print one JSON object")
    search.set_defaults(func=_search)
    search.add_argument("--lexical", action="store_true", help="BM25 only, no vectors")
    importer = sub.add_parser("import", help="import a catalogue file (CSV, JSON or YAML), keeping its ids")
    importer.add_argument("file")
    importer.add_argument(
        "--map",
        action="append",
        metavar="FIELD=SOURCE",
        help="take FIELD (e.g. product_type) from the source's SOURCE column; repeatable",
    )
    importer.add_argument("--no-vectors", action="store_true", help="skip building the search vectors")
    importer.set_defaults(func=_import)
    show = sub.add_parser("show", help="show one product")
    show.add_argument("id")
    show.set_defaults(func=_show)
    outbox = sub.add_parser("outbox", help="read the e-mails kept here when no SMTP server is set (demo codes)")
    outbox.add_argument("--to", help="only mail to this address")
    outbox.add_argument("--limit", type=int, default=10)
    outbox.set_defaults(func=_outbox)
    migrate_parser = sub.add_parser(
        "migrate", help="bring the shop's records ($SHOPKEEPER_RECORDS_URL, else the --db file) to the current schema"
    )
    migrate_parser.set_defaults(func=_migrate)
    copy = sub.add_parser("copy-records", help="copy the shop's records (the --db file's) into a new, empty database")
    copy.add_argument("--to", required=True, help="the target, e.g. postgresql://user:password@host:5432/shop")
    copy.set_defaults(func=_copy_records)
    # --db may also come after the sub-command, as in `search --db PATH`.
    for sp in (build, search, importer, show, outbox, migrate_parser, copy):
        sp.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, CatalogueFormatError) as exc:
        print(exc, file=sys.stderr)
        return 2
