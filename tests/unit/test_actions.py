"""Custom actions with real trackers against a real shop: behaviour, context and bad input.

Every test runs twice: with the shop's records in its SQLite file (the default), and copied into a
fresh PostgreSQL database (``SHOPKEEPER_RECORDS_URL``), as a shop on several hosts keeps them.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions.cart import ActionAddToCart, ActionPlaceOrder, ActionRemoveFromCart, ActionViewCart, ValidateCheckoutForm
from actions.common import validated_email
from actions.orders import ActionRunOrderService, ActionStartOrderService, ValidateVerifyCustomerForm
from actions.shopping import (
    ActionCompareProducts,
    ActionProductDetails,
    ActionRecommend,
    ActionRefineSearch,
    ActionSearchProducts,
)
from actions.support import (
    ActionHandoff,
    ActionSaveFeedback,
    ActionStartFeedback,
    ActionStorePolicy,
    ActionSubscribeNewsletter,
    ValidateNewsletterForm,
)
from catalog import records
from catalog.demo.orders import DEMO_EMAIL
from catalog.store import Store
from tests.actions_helpers import FORGED_SLOTS, ents, mailed_code, required, run, tracker, validate
from tests.backing_services import records_on_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def shop_db(request: pytest.FixtureRequest, shop_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if request.param == "sqlite":
        yield shop_db
        return
    with records_on_postgres(shop_db, monkeypatch):
        yield shop_db


def _search(text: str, **slots: object) -> dict:
    _, changes, reply = run(ActionSearchProducts(), tracker(text, "search_products", slots=slots))
    return {**slots, **changes, "_reply": reply}


def test_search_lists_matching_products_and_remembers_them(shop_db: Path, store: Store) -> None:
    ctx = _search("show me red running shoes under 100")
    ids = ctx["last_results"]
    assert 1 <= len(ids) <= 5
    for p in store.products(ids):
        assert p.product_type == "running shoes" and "red" in p.colors and p.price <= 100
        assert p.name in ctx["_reply"]
    assert ctx["search_query"]["color"] == "red"


def test_refinements_keep_earlier_filters(shop_db: Path, store: Store) -> None:
    ctx = _search("hoodies")
    _, changes, _ = run(ActionRefineSearch(), tracker("in black", "refine_search", slots=ctx))
    ctx.update(changes)
    assert ctx["search_query"]["product_type"] == "hoodie" and ctx["search_query"]["color"] == "black"
    _, changes, _ = run(ActionRefineSearch(), tracker("only Loomcraft", "refine_search", slots=ctx))
    ctx.update(changes)
    products = store.products(ctx["last_results"])
    assert products and all(
        p.brand == "Loomcraft" and "black" in p.colors and p.product_type == "hoodie" for p in products
    )


def test_refinement_keeps_free_text_until_the_product_changes(shop_db: Path) -> None:
    ctx = _search("waterproof hiking boots")
    _, changes, _ = run(ActionRefineSearch(), tracker("only Trailhawk", "refine_search", slots=ctx))
    assert changes["search_query"]["text"] == "waterproof" and changes["search_query"]["brand"] == "Trailhawk"
    _, changes, _ = run(ActionRefineSearch(), tracker("what about sandals", "refine_search", slots={**ctx, **changes}))
    assert changes["search_query"]["product_type"] == "sandals" and changes["search_query"]["text"] == ""


@pytest.mark.parametrize(
    ("text", "cheaper"),
    [
        ("cheaper ones please", True),
        ("something less expensive", True),
        ("more expensive ones", False),  # not "show more"
        ("something pricier", False),
    ],
)
def test_cheaper_and_pricier_are_against_the_middle_of_the_page_shown(
    shop_db: Path, store: Store, text: str, cheaper: bool
) -> None:
    ctx = _search("headphones")
    middle = statistics.median(p.price for p in store.products(ctx["last_results"]))
    _, changes, reply = run(ActionRefineSearch(), tracker(text, "refine_search", slots=ctx))
    after = store.products(changes["last_results"])
    assert len(after) >= 2 and all((p.price < middle) if cheaper else (p.price > middle) for p in after)
    assert changes["search_query"]["offset"] == 0 and changes["search_query"]["text"] == ""
    bound = f"under ${middle - 0.01:.2f}" if cheaper else f"over ${middle + 0.01:.2f}"
    assert bound in reply, "the reply names the new bound"


def test_cheaper_after_one_product_is_cheaper_than_that_product(shop_db: Path, store: Store) -> None:
    ctx = _search("show me red running shoes under 100")
    assert len(ctx["last_results"]) == 1 and "I found 1 match for red running shoes" in ctx["_reply"]
    only = store.products(ctx["last_results"])[0]
    _, changes, reply = run(ActionRefineSearch(), tracker("cheaper", "refine_search", slots=ctx))
    if changes:
        assert all(p.price < only.price for p in store.products(changes["last_results"]))
    else:
        assert "already the cheapest" in reply


def test_counts_and_hints_follow_what_is_shown(shop_db: Path) -> None:
    one = _search("show me red running shoes under 100")["_reply"]
    assert "1 match " in one and "1 matches" not in one
    assert "second one" not in one and "show more" not in one, "no second one, no next page"
    assert '"tell me more"' in one
    many = _search("headphones")["_reply"]
    found = re.search(r"I found (\d+) matches for headphones, showing 1-5:", many)
    assert found and int(found.group(1)) > 5
    assert '"show more"' in many and "second one" in many


def test_details_and_compare_after_one_product(shop_db: Path, store: Store) -> None:
    ctx = _search("show me red running shoes under 100")
    only = store.products(ctx["last_results"])[0]
    second = tracker("tell me about the second one", "product_details", ents(ordinal="second"), slots=ctx)
    _, _, reply = run(ActionProductDetails(), second)
    assert "I only showed 1 product;" in reply
    _, _, reply = run(ActionCompareProducts(), tracker("compare the first two", "compare_products", slots=ctx))
    assert f"I showed only 1 product, the {only.name}" in reply
    _, changes, reply = run(ActionProductDetails(), tracker("tell me more", "product_details", slots=ctx))
    assert changes["selected_product"] == only.id and only.name in reply


def test_compare_after_a_search_that_found_nothing_or_none_at_all(shop_db: Path) -> None:
    nothing = {"search_query": {"text": "zzqx", "limit": 5}, "last_results": []}
    _, _, reply = run(ActionCompareProducts(), tracker("compare the first two", "compare_products", slots=nothing))
    assert "found nothing" in reply
    _, _, reply = run(ActionCompareProducts(), tracker("compare the first two", "compare_products"))
    assert "Search for something first" in reply


def test_after_a_page_change_the_second_one_is_on_the_page_shown(shop_db: Path) -> None:
    ctx = _search("running shoes")
    _, changes, reply = run(ActionRefineSearch(), tracker("show more", "refine_search", slots=ctx))
    assert "showing 6-10" in reply
    page = {**ctx, **changes}
    second = tracker("tell me about the second one", "product_details", ents(ordinal="second"), slots=page)
    _, picked, _ = run(ActionProductDetails(), second)
    assert picked["selected_product"] == page["last_results"][1]


def test_nothing_the_shop_sells_is_said_plainly_with_the_closest_things(shop_db: Path, store: Store) -> None:
    ctx = _search("a lawn mower")
    assert ctx["_reply"].startswith("Nothing in the shop matches those words exactly. The closest things I have")
    assert "I found" not in ctx["_reply"] and "matches for" not in ctx["_reply"]
    assert ctx["last_results"] and all(p.category == "garden" for p in store.products(ctx["last_results"]))
    nothing = _search("car tyres")
    assert "I couldn't find any" in nothing["_reply"] and nothing["last_results"] == []


def test_show_more_pages_through_results(shop_db: Path) -> None:
    ctx = _search("running shoes")
    _, changes, _ = run(ActionRefineSearch(), tracker("show more", "refine_search", slots=ctx))
    assert changes["search_query"]["offset"] == 5
    assert not set(changes["last_results"]) & set(ctx["last_results"])


def test_the_second_one_resolves_from_context(shop_db: Path) -> None:
    ctx = _search("bluetooth speaker")
    _, changes, reply = run(
        ActionProductDetails(),
        tracker("tell me about the second one", "product_details", ents(ordinal="second"), slots=ctx),
    )
    assert changes["selected_product"] == ctx["last_results"][1]
    _, _, reply = run(
        ActionProductDetails(), tracker("the ninth one", "product_details", ents(ordinal="ninth"), slots=ctx)
    )
    assert "which one" in reply.lower() or "which product" in reply.lower()


def test_compare_names_both_products_and_a_verdict(shop_db: Path, store: Store) -> None:
    ctx = _search("blender")
    _, _, reply = run(
        ActionCompareProducts(),
        tracker(
            "compare the first and third", "compare_products", ents(ordinal="first") + ents(ordinal="third"), slots=ctx
        ),
    )
    first, _, third = store.products(ctx["last_results"][:3])
    assert first.name in reply and third.name in reply and "cheaper" in reply


def test_cart_add_view_remove(shop_db: Path, store: Store) -> None:
    ctx = _search("yoga mat")
    _, changes, reply = run(
        ActionAddToCart(),
        tracker("add 2 of the first one", "add_to_cart", ents(ordinal="first", quantity="2"), slots=ctx),
    )
    first = store.product(ctx["last_results"][0])
    assert changes["cart"] == [{"id": first.id, "qty": 2}] and "Total" in reply
    ctx.update(changes)
    _, changes, _ = run(
        ActionAddToCart(), tracker("add the second one", "add_to_cart", ents(ordinal="second"), slots=ctx)
    )
    ctx.update(changes)
    assert len(ctx["cart"]) == 2
    _, _, reply = run(ActionViewCart(), tracker("show my cart", "view_cart", slots=ctx))
    assert first.name in reply and "Total" in reply
    _, changes, _ = run(
        ActionRemoveFromCart(), tracker("remove the first item", "remove_from_cart", ents(ordinal="first"), slots=ctx)
    )
    assert [i["id"] for i in changes["cart"]] == [ctx["last_results"][1]]


def test_add_without_context_asks_instead_of_guessing(shop_db: Path) -> None:
    _, changes, reply = run(ActionAddToCart(), tracker("add it to my cart", "add_to_cart"))
    assert "cart" not in changes and "Which product" in reply


def _checkout_form(text: str, slots: dict, candidates: dict, sender: str = "test-user") -> tuple[dict, str]:
    return validate(
        ValidateCheckoutForm(),
        tracker(text, "inform", slots=slots, candidates=candidates, active_loop="checkout_form", sender=sender),
    )


def test_checkout_with_a_known_email_needs_the_code_before_anything_is_shown(shop_db: Path, store: Store) -> None:
    ctx = _search("board game")
    _, changes, _ = run(ActionAddToCart(), tracker("add the first", "add_to_cart", ents(ordinal="first"), slots=ctx))
    ctx.update(changes, email=DEMO_EMAIL)
    form = ValidateCheckoutForm()
    assert required(form, tracker("", slots=ctx)) == ["email", "verification_code"], "a code, not the order"
    # Knowing the e-mail is not enough: no order, no name, no address.
    _, changes, reply = run(ActionPlaceOrder(), tracker("checkout", "place_order", slots=ctx))
    customer = store.customer_by_email(DEMO_EMAIL)
    assert "cart" not in changes and customer.name not in reply and customer.address not in reply
    assert "couldn't confirm" in reply
    code = mailed_code(store, DEMO_EMAIL)
    slots, _ = _checkout_form(code, ctx, {"verification_code": code})
    assert slots["verification_code"] == "confirmed" and slots["requested_slot"] is None
    _, changes, reply = run(ActionPlaceOrder(), tracker("", slots={**ctx, **slots}))
    assert changes["cart"] == []
    order_id = reply.split("Order ")[1].split()[0]
    order = store.order(order_id)
    assert order and order.customer_id == customer.id and order.lines[0].product_id == ctx["last_results"][0]
    assert customer.name in reply, "proven: the shopper sees their own name and address"


def test_checkout_asks_every_email_for_a_code_so_accounts_cannot_be_enumerated(shop_db: Path, store: Store) -> None:
    cart = [{"id": "P00001", "qty": 1}]
    form = ValidateCheckoutForm()
    new, known = "new.shopper@example.com", DEMO_EMAIL
    slots, _ = _checkout_form(new, {"cart": cart}, {"email": new})
    assert slots["email"] == new and slots["requested_slot"] == "verification_code"
    slots, _ = _checkout_form(known, {"cart": cart}, {"email": known}, sender="other")
    assert slots["requested_slot"] == "verification_code", "the same step for a known address"
    code = mailed_code(store, new)
    slots, _ = _checkout_form(code, {"cart": cart, "email": new}, {"verification_code": code})
    assert slots["requested_slot"] == "new_address", "a proven new address still needs a delivery address"
    assert required(form, tracker("", slots={"cart": [], "email": known})) == []  # nothing to buy
    slots, reply = validate(
        form,
        tracker(
            "not an email",
            "inform",
            slots={"cart": cart},
            candidates={"email": "not an email"},
            active_loop="checkout_form",
        ),
    )
    assert slots["email"] is None and "email address" in reply


def _verify(text: str, slots: dict, candidates: dict, sender: str = "test-user") -> tuple[dict, str]:
    return validate(
        ValidateVerifyCustomerForm(),
        tracker(text, "inform", slots=slots, candidates=candidates, active_loop="verify_customer_form", sender=sender),
    )


def _prove(store: Store, order_id: str = "10002", service: str = "cancel_order", sender: str = "test-user") -> dict:
    """Order number, e-mail, then the mailed code, as a shopper would: the slots afterwards."""
    slots = {"pending_service": service}
    changes, _ = _verify(order_id, slots, {"order_id": order_id}, sender=sender)
    slots.update(changes)
    changes, _ = _verify(DEMO_EMAIL, slots, {"email": DEMO_EMAIL}, sender=sender)
    slots.update(changes)
    assert slots["requested_slot"] == "verification_code"
    code = mailed_code(store, DEMO_EMAIL)
    changes, _ = _verify(code, slots, {"verification_code": code}, sender=sender)
    return {**slots, **changes}


def test_verification_accepts_spoken_order_id_and_matching_email(shop_db: Path, store: Store) -> None:
    slots, _ = _verify("one zero zero zero two", {}, {"order_id": "one zero zero zero two"})
    assert slots["order_id"] == "10002" and slots["requested_slot"] == "email"
    slots, _ = _verify(
        "alex dot morgan at example dot com",
        {"order_id": "10002", "pending_service": "track_order"},
        {"email": "alex dot morgan at example dot com"},
    )
    assert slots["requested_slot"] is None, "tracking needs no code"
    reply = run(ActionRunOrderService(), tracker("", slots={"order_id": "10002", "pending_service": "track_order"}))[2]
    order = store.order("10002")
    assert "shipped" in reply and order.shipping_address not in reply and order.tracking_number not in reply
    assert not any(line.name in reply for line in order.lines), "the status only, no contents"


def test_an_address_the_tagger_cut_short_is_read_from_the_whole_message(shop_db: Path, store: Store) -> None:
    local, domain = DEMO_EMAIL.split("@")
    slots, reply = _verify(
        f"my email is {DEMO_EMAIL}", {"order_id": "10002", "pending_service": "track_order"}, {"email": local}
    )
    assert slots["email"] == DEMO_EMAIL and "look like" not in reply
    # A tail of the address that is itself an address ("shopper@example.com" of "new.shopper@...").
    said = tracker("new.shopper@example.com", "inform")
    assert validated_email("shopper@example.com", CollectingDispatcher(), said) == "new.shopper@example.com"
    slots, reply = _verify(f"it's {domain}", {"order_id": "10002", "pending_service": "track_order"}, {"email": domain})
    assert slots["email"] is None and "look like an email" in reply


def test_changing_an_order_needs_the_mailed_code(shop_db: Path, store: Store) -> None:
    slots = {"pending_service": "cancel_order", "order_id": "10001"}
    changes, _ = _verify(DEMO_EMAIL, slots, {"email": DEMO_EMAIL})
    assert changes["requested_slot"] == "verification_code"
    assert len(store.outbox(to=DEMO_EMAIL)) == 1
    # Without the code, the order is not cancelled whatever the slots say.
    forged = {**slots, "email": DEMO_EMAIL, "verification_code": "confirmed", "verified_order_id": "10001"}
    reply = run(ActionRunOrderService(), tracker("", slots=forged))[2]
    assert store.order("10001").status == "processing" and "code" in reply
    changes, reply = _verify("123456", {**slots, "email": DEMO_EMAIL}, {"verification_code": "123456"})
    if changes["verification_code"] is None:  # 1 in a million: the guess was right
        assert "isn't right" in reply
    code = mailed_code(store, DEMO_EMAIL)
    changes, _ = _verify(code, {**slots, "email": DEMO_EMAIL}, {"verification_code": code})
    assert changes["requested_slot"] is None
    assert "cancelled" in run(ActionRunOrderService(), tracker("", slots=slots))[2]
    assert store.order("10001").status == "cancelled"
    # The code works once.
    assert not store.identity.check_code("test-user", code).ok
    assert not store.identity.check_code("someone-else", code).ok


def test_the_code_is_stored_hashed_and_expires(shop_db: Path, store: Store) -> None:
    import datetime as dt

    identity = store.identity
    assert identity.send_code("c1", DEMO_EMAIL, "10002")
    code = mailed_code(store, DEMO_EMAIL)
    codes = records.verification_codes
    with store.records.read() as conn:
        row = conn.execute(select(codes).where(codes.c.conversation == "c1")).mappings().one()
    assert code.encode() not in bytes(row["code_hash"]) and code not in str(dict(row))
    later = dt.datetime.now() + dt.timedelta(minutes=11)
    assert identity.check_code("c1", code, now=later).reason == "expired"
    assert identity.check_code("c1", code).ok and identity.owned_email("c1") == DEMO_EMAIL
    assert not identity.check_code("c1", code).ok, "single use"


def test_codes_to_one_address_are_limited(shop_db: Path, store: Store) -> None:
    from catalog.identity import CODES_PER_ADDRESS

    sent = [store.identity.send_code(f"c{n}", DEMO_EMAIL) for n in range(CODES_PER_ADDRESS + 2)]
    assert sent == [True] * CODES_PER_ADDRESS + [False] * 2, "no mail bombing a customer's inbox"


def test_the_retention_job_forgets_spent_codes_lapsed_proofs_and_old_mail(shop_db: Path, store: Store) -> None:
    import datetime as dt

    identity = store.identity
    assert identity.send_code("c1", DEMO_EMAIL, "10002")
    assert identity.check_code("c1", mailed_code(store, DEMO_EMAIL)).ok
    store.record_verification_failure("c2", "10002")
    tables = (records.verification_codes, records.conversation_access, records.verification_failures, records.outbox)

    def rows() -> list[int]:
        with store.records.read() as conn:
            return [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables]

    before = rows()
    assert all(before) and identity.forget_old() == 0, "today's records are all still needed"
    assert identity.owned_email("c1") == DEMO_EMAIL
    assert identity.forget_old(now=dt.datetime.now() + dt.timedelta(days=2)) == sum(before) - before[3]
    assert rows() == [0, 0, 0, before[3]], "the outbox keeps a week"
    assert identity.forget_old(now=dt.datetime.now() + dt.timedelta(days=8)) == before[3]


def test_an_unknown_order_and_a_wrong_email_get_the_same_reply(shop_db: Path) -> None:
    slots, unknown = _verify("99999", {}, {"order_id": "99999"})
    assert slots["order_id"] is None
    slots, wrong = _verify("eve@example.com", {"order_id": "10002"}, {"email": "eve@example.com"})
    assert slots["email"] is None
    assert unknown == wrong, "no oracle for which order numbers exist"
    assert "99999" not in unknown and "10002" not in wrong


def test_three_failures_end_verification_and_offer_a_human(shop_db: Path, store: Store) -> None:
    for _ in range(3):
        slots, _ = _verify("eve@example.com", {"order_id": "10002"}, {"email": "eve@example.com"})
    assert slots["requested_slot"] is None, "the form stops asking"
    assert store.verification_failures(conversation="test-user") == 3
    # Starting the service again does not reset the count: the right email is not even checked now.
    run(ActionStartOrderService(), tracker("track order 10002", "track_order", ents(order_id="10002")))
    slots, _ = _verify(DEMO_EMAIL, {"order_id": "10002"}, {"email": DEMO_EMAIL})
    assert slots["requested_slot"] is None
    _, _, reply = run(ActionRunOrderService(), tracker("", slots={"pending_service": "track_order"}))
    assert "couldn't verify" in reply


def test_wrong_emails_lock_an_order_across_conversations_and_restarts(shop_db: Path) -> None:
    from actions.common import reset_shop_connection

    for n in range(5):  # five conversations, one guess each
        _verify("eve@example.com", {"order_id": "10002"}, {"email": f"guess{n}@example.com"}, sender=f"attacker-{n}")
    reset_shop_connection()  # as after a restart of the action server
    slots, _ = _verify(DEMO_EMAIL, {"order_id": "10002"}, {"email": DEMO_EMAIL}, sender="attacker-6")
    assert slots["requested_slot"] is None, "even the right email"
    ran = tracker("", slots={"pending_service": "track_order", "order_id": "10002"}, sender="attacker-6")
    assert "couldn't verify" in run(ActionRunOrderService(), ran)[2]
    # Another order is not affected.
    slots, _ = _verify(DEMO_EMAIL, {"order_id": "10001", "pending_service": "track_order"}, {"email": DEMO_EMAIL},
                       sender="attacker-7")  # fmt: skip
    ran = tracker("", slots={"pending_service": "track_order", "order_id": "10001"}, sender="attacker-7")
    assert "being packed" in run(ActionRunOrderService(), ran)[2]


def test_wrong_codes_count_as_failures(shop_db: Path, store: Store) -> None:
    slots = {"pending_service": "get_invoice", "order_id": "10003", "email": DEMO_EMAIL}
    _verify(DEMO_EMAIL, {"pending_service": "get_invoice", "order_id": "10003"}, {"email": DEMO_EMAIL})
    right = mailed_code(store, DEMO_EMAIL)
    wrong = [c for c in ("000000", "111111", "222222", "333333") if c != right][:3]
    for code in wrong:
        changes, _ = _verify(code, slots, {"verification_code": code})
    assert changes["requested_slot"] is None, "three wrong codes end the form"
    changes, _ = _verify(right, slots, {"verification_code": right})
    assert changes.get("verification_code") is None and store.identity.owned_email("test-user") is None
    assert "Invoice" not in run(ActionRunOrderService(), tracker("", slots=slots))[2]


def test_failures_older_than_the_window_do_not_count(store: Store) -> None:
    import datetime as dt

    earlier = dt.datetime.now() - dt.timedelta(hours=2)
    for _ in range(5):
        store.record_verification_failure("old", "10003", now=earlier)
    assert store.verification_failures(order_id="10003") == 0
    assert store.verification_failures(order_id="10003", window=dt.timedelta(hours=3)) == 5


def _service(service: str, store: Store, **extra: object) -> str:
    slots = {"pending_service": service, "order_id": extra.pop("order", "10001"), **extra}
    return run(ActionRunOrderService(), tracker("", slots=slots))[2]


def test_order_services_use_the_real_order_once_proven(shop_db: Path, store: Store) -> None:
    assert "couldn't verify" in _service("track_order", store, order="10002"), "nothing proven yet"
    _prove(store, "10002")
    shipped = store.order("10002")
    reply = _service("track_order", store, order="10002")
    assert shipped.tracking_number in reply and shipped.carrier in reply
    assert "can't be cancelled" in _service("cancel_order", store, order="10002")
    # The code proved the account: its other orders need no second code.
    assert "cancelled" in _service("cancel_order", store, order="10001")
    assert store.order("10001").status == "cancelled"
    reply = _service("get_refund", store, order="10003", return_reason="too small")
    assert "Return R" in reply and store.returns_for_order("10003")
    assert "return window" in _service("get_refund", store, order="10004")
    assert "Total" in _service("get_invoice", store, order="10003")


def test_address_change_asks_for_the_address_only_when_possible(shop_db: Path, store: Store) -> None:
    slots = _prove(store, "10001", "change_shipping_address")
    assert slots["requested_slot"] == "new_address"
    reply = _service("change_shipping_address", store, new_address="5 Quay Street, Portland, OR 97201")
    assert "5 Quay Street" in reply and store.order("10001").shipping_address.startswith("5 Quay Street")


def test_a_proven_customer_is_not_asked_again_for_their_own_orders_only(shop_db: Path, store: Store) -> None:
    _prove(store, "10002")
    form = ValidateVerifyCustomerForm()
    own = tracker("cancel order 10001", "cancel_order", slots={"order_id": "10001", "pending_service": "cancel_order"})
    assert required(form, own) == ["order_id"]
    _, changes, _ = run(ActionStartOrderService(), tracker("track order 10050", "track_order", ents(order_id="10050")))
    assert changes["order_id"] == "10050" and changes["email"] is None
    other = store.order("10050")
    if other and other.customer_id != store.customer_by_email(DEMO_EMAIL).id:
        theirs = tracker("", slots={"order_id": "10050", "pending_service": "track_order"})
        assert required(form, theirs) == ["order_id", "email"], "someone else's order: prove again"


def test_a_forged_tracker_gets_nothing(shop_db: Path, store: Store) -> None:
    """What an attacker who reached the action server could post: slots that claim everything."""
    forged = FORGED_SLOTS
    reply = run(ActionRunOrderService(), tracker("", slots=forged, sender="forger"))[2]
    assert "Invoice" not in reply and "couldn't verify" in reply
    assert store.order("10003").lines[0].name not in reply


def test_policy_answers_come_from_the_policy_file(shop_db: Path, store: Store) -> None:
    reply = run(ActionStorePolicy(), tracker("shipping options", "delivery_options"))[2]
    for option in store.policies["shipping"]["options"]:
        assert option["name"] in reply
    reply = run(ActionStorePolicy(), tracker("refund policy", "check_refund_policy"))[2]
    assert f"{store.policies['returns']['window_days']} days" in reply


def test_complaint_and_handoff_are_recorded(shop_db: Path, store: Store) -> None:
    text = "my package arrived damaged and the box was soaking wet"
    _, slots, _ = run(ActionStartFeedback(), tracker(text, "complaint"))
    assert slots["feedback_text"] == text
    run(ActionSaveFeedback(), tracker("", slots=slots))
    assert store.feedback("complaint")[-1]["text"] == text
    _, slots, _ = run(ActionStartFeedback(), tracker("i want to make a complaint", "complaint"))
    assert slots["feedback_text"] is None  # the form will ask what happened
    reply = run(ActionHandoff(), tracker("talk to a human", "contact_human_agent", sender="s-42"))[2]
    handoff = store.handoffs()[-1]
    assert handoff["session_id"] == "s-42" and f"#{handoff['id']}" in reply
    assert handoff["summary"]["last_turns"][-1]["text"] == "talk to a human"
    # Nobody has the agent inbox open: the shopper is told so, with the hours, and no reply is promised.
    contact = store.policies["contact"]
    assert "No one from the shop team is online" in reply and contact["hours"] in reply
    assert "will join" not in reply
    # Asking again keeps the one ticket; with an agent online the shopper is told one will join.
    store.agent_seen("Sam")
    again = run(ActionHandoff(), tracker("a person please", "contact_human_agent", sender="s-42"))[2]
    assert len(store.handoffs("waiting")) == 1 and f"#{handoff['id']}" in again
    assert "online and will join this chat" in again


def test_asking_to_leave_the_newsletter_never_subscribes(shop_db: Path, store: Store) -> None:
    def subscribers() -> int:
        with store.records.read() as conn:
            return int(conn.execute(select(func.count()).select_from(records.newsletter)).scalar_one())

    before = subscribers()
    joining = tracker("sign me up for the newsletter", "newsletter_subscription")
    assert required(ValidateNewsletterForm(), joining) == ["email"]
    for text in ("unsubscribe me", "stop sending me newsletters", "I no longer want your promotional emails"):
        leaving = tracker(text, "newsletter_subscription", slots={"email": "alex.morgan@example.com"})
        assert required(ValidateNewsletterForm(), leaving) == [], "no address is asked for"
        reply = run(ActionSubscribeNewsletter(), leaving)[2]
        assert "unsubscribe link" in reply and "have not subscribed" in reply
    assert subscribers() == before, "nothing was added"


def test_recommendations_give_reasons(shop_db: Path, store: Store) -> None:
    ctx = _search("hiking boots")
    ctx["selected_product"] = ctx["last_results"][0]
    _, changes, reply = run(ActionRecommend(), tracker("show me something similar", "ask_recommendation", slots=ctx))
    picks = store.products(changes["last_results"])
    assert picks and all(p.product_type == "hiking boots" and p.id != ctx["selected_product"] for p in picks)
    assert reply.count("Why:") == len(picks)


def test_bad_input_never_crashes(shop_db: Path) -> None:
    for text in ["", "   ", "🙂🙂", "x" * 10_000, "<script>alert(1)</script> shoes", "'; DROP TABLE products; --"]:
        for action in (
            ActionSearchProducts(),
            ActionRefineSearch(),
            ActionProductDetails(),
            ActionAddToCart(),
            ActionRemoveFromCart(),
            ActionCompareProducts(),
            ActionRecommend(),
        ):
            messages, _, _ = run(action, tracker(text, "search_products"))
            assert messages, f"{action.name()} said nothing for {text[:20]!r}"


def test_shell_gets_no_buttons_other_channels_do(shop_db: Path) -> None:
    messages, _, _ = run(ActionSearchProducts(), tracker("headphones", "search_products", channel="cmdline"))
    assert "buttons" not in messages[0] or not messages[0]["buttons"]
    messages, _, _ = run(ActionSearchProducts(), tracker("headphones", "search_products", channel="socketio"))
    assert messages[0]["buttons"]


# -- cards for the web widget (custom payloads) ------------------------------------------------
def _customs(messages: list[dict]) -> list[dict]:
    return [m["custom"] for m in messages if m.get("custom")]


def test_rich_clients_get_product_cards_that_name_their_products(shop_db: Path, store: Store) -> None:
    rich = {"rich": True}
    messages, slots, reply = run(ActionSearchProducts(), tracker("show me hoodies", "search_products", metadata=rich))
    (cards,) = [c for c in _customs(messages) if c["type"] == "products"]
    ids = [card["id"] for card in cards["products"]]
    assert ids == slots["last_results"] and [c["position"] for c in cards["products"]] == list(range(1, len(ids) + 1))
    products = {p.id: p for p in store.products(ids)}
    for card in cards["products"]:
        product = products[card["id"]]
        assert (card["name"], card["brand"], card["price"], card["colors"]) == (
            product.name,
            product.brand,
            product.price,
            product.colors,
        )
        assert {b["payload"] for b in card["buttons"]} == {
            f'/product_details{{"product_id": "{product.id}"}}',
            f'/add_to_cart{{"product_id": "{product.id}"}}',
        }
        assert product.name not in reply  # the cards carry the list; the text does not repeat it
    # Text-only clients (rasa shell) never get payloads they cannot show, whatever they ask.
    messages, _, reply = run(
        ActionSearchProducts(), tracker("show me hoodies", "search_products", metadata=rich, channel="cmdline")
    )
    assert not _customs(messages) and store.products(ids)[0].name in reply


def test_card_button_adds_its_own_product_and_sends_the_cart(shop_db: Path, store: Store) -> None:
    ctx = _search("headphones")
    hoodies = store.products(_search("hoodies")["last_results"])
    elsewhere = next(p for p in hoodies if p.id not in ctx["last_results"] and p.stock > 2)
    entities = ents(product_id=elsewhere.id)
    messages, slots, reply = run(
        ActionAddToCart(), tracker("/add_to_cart", "add_to_cart", entities, slots=ctx, metadata={"rich": True})
    )
    assert slots["cart"] == [{"id": elsewhere.id, "qty": 1}] and elsewhere.name in reply
    (cart,) = _customs(messages)
    assert cart["type"] == "cart" and cart["count"] == 1 and cart["total"] == elsewhere.price
    messages, slots, _ = run(
        ActionAddToCart(),
        tracker("/add_to_cart", "add_to_cart", entities, slots={**ctx, "cart": slots["cart"]}, metadata={"rich": True}),
    )
    (cart,) = _customs(messages)
    assert cart["count"] == 2 and cart["total"] == round(2 * elsewhere.price, 2)
    messages, _, _ = run(
        ActionRemoveFromCart(),
        tracker("empty my cart", "remove_from_cart", slots={"cart": slots["cart"]}, metadata={"rich": True}),
    )
    assert _customs(messages) == [{"type": "cart", "count": 0, "total": 0, "total_text": "$0.00", "items": []}]
