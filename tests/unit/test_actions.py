"""Custom actions with real trackers against a real SQLite shop: behaviour, context and bad input."""

from __future__ import annotations

from pathlib import Path

from actions.cart import ActionAddToCart, ActionPlaceOrder, ActionRemoveFromCart, ActionViewCart, ValidateCheckoutForm
from actions.orders import ActionRunOrderService, ActionStartOrderService, ValidateVerifyCustomerForm
from actions.shopping import (
    ActionCompareProducts,
    ActionProductDetails,
    ActionRecommend,
    ActionRefineSearch,
    ActionSearchProducts,
)
from actions.support import ActionHandoff, ActionSaveFeedback, ActionStartFeedback, ActionStorePolicy
from catalog.demo.orders import DEMO_EMAIL
from catalog.store import Store
from tests.actions_helpers import ents, required, run, tracker, validate


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


def test_cheaper_shows_only_cheaper_products(shop_db: Path, store: Store) -> None:
    ctx = _search("headphones")
    before = min(p.price for p in store.products(ctx["last_results"]))
    _, changes, _ = run(ActionRefineSearch(), tracker("cheaper", "refine_search", slots=ctx))
    after = store.products(changes["last_results"])
    assert after and all(p.price < before for p in after)


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


def test_checkout_creates_a_real_order(shop_db: Path, store: Store) -> None:
    ctx = _search("board game")
    _, changes, _ = run(ActionAddToCart(), tracker("add the first", "add_to_cart", ents(ordinal="first"), slots=ctx))
    ctx.update(changes, email=DEMO_EMAIL)
    _, changes, reply = run(ActionPlaceOrder(), tracker("checkout", "place_order", slots=ctx))
    assert changes["cart"] == []
    order_id = reply.split("Order ")[1].split()[0]
    order = store.order(order_id)
    assert order and order.customer_id == "C0001" and order.lines[0].product_id == ctx["last_results"][0]


def test_checkout_for_a_new_email_asks_for_an_address(shop_db: Path) -> None:
    cart = [{"id": "P00001", "qty": 1}]
    form = ValidateCheckoutForm()
    slots, _ = validate(
        form,
        tracker(
            "new.shopper@example.com",
            "inform",
            slots={"cart": cart},
            candidates={"email": "new.shopper@example.com"},
            active_loop="checkout_form",
        ),
    )
    assert slots["email"] == "new.shopper@example.com"
    after_email = tracker("", slots={"cart": cart, "email": "new.shopper@example.com"})
    assert required(form, after_email) == ["email", "new_address"]
    assert required(form, tracker("", slots={"cart": cart, "email": DEMO_EMAIL})) == ["email"]
    assert required(form, tracker("", slots={"cart": [], "email": DEMO_EMAIL})) == []  # nothing to buy
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


def test_verification_accepts_spoken_order_id_and_matching_email(shop_db: Path) -> None:
    slots, _ = _verify("one zero zero zero two", {}, {"order_id": "one zero zero zero two"})
    assert slots["order_id"] == "10002" and slots["requested_slot"] == "email"
    slots, _ = _verify(
        "alex dot morgan at example dot com", {"order_id": "10002"}, {"email": "alex dot morgan at example dot com"}
    )
    assert slots["verified_order_id"] == "10002" and slots["customer_id"] == "C0001"
    assert slots["requested_slot"] is None


def test_an_unknown_order_and_a_wrong_email_get_the_same_reply(shop_db: Path) -> None:
    slots, unknown = _verify("99999", {}, {"order_id": "99999"})
    assert slots["order_id"] is None
    slots, wrong = _verify("eve@example.com", {"order_id": "10002"}, {"email": "eve@example.com"})
    assert slots["email"] is None and slots.get("verified_order_id") is None
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
    assert slots.get("verified_order_id") is None and slots["requested_slot"] is None
    _, _, reply = run(ActionRunOrderService(), tracker("", slots={"pending_service": "track_order"}))
    assert "couldn't verify" in reply


def test_wrong_emails_lock_an_order_across_conversations_and_restarts(shop_db: Path) -> None:
    from actions.common import reset_shop_connection

    for n in range(5):  # five conversations, one guess each
        _verify("eve@example.com", {"order_id": "10002"}, {"email": f"guess{n}@example.com"}, sender=f"attacker-{n}")
    reset_shop_connection()  # as after a restart of the action server
    slots, _ = _verify(DEMO_EMAIL, {"order_id": "10002"}, {"email": DEMO_EMAIL}, sender="attacker-6")
    assert slots.get("verified_order_id") is None and slots["requested_slot"] is None, "even the right email"
    ran = tracker("", slots={"pending_service": "track_order", "order_id": "10002"}, sender="attacker-6")
    assert "couldn't verify" in run(ActionRunOrderService(), ran)[2]
    # Another order is not affected.
    slots, _ = _verify(DEMO_EMAIL, {"order_id": "10001"}, {"email": DEMO_EMAIL}, sender="attacker-7")
    assert slots["verified_order_id"] == "10001"


def test_failures_older_than_the_window_do_not_count(store: Store) -> None:
    import datetime as dt

    earlier = dt.datetime.now() - dt.timedelta(hours=2)
    for _ in range(5):
        store.record_verification_failure("old", "10003", now=earlier)
    assert store.verification_failures(order_id="10003") == 0
    assert store.verification_failures(order_id="10003", window=dt.timedelta(hours=3)) == 5


def _service(service: str, store: Store, **extra: object) -> str:
    slots = {"pending_service": service, "verified_order_id": extra.pop("order", "10001"), **extra}
    return run(ActionRunOrderService(), tracker("", slots=slots))[2]


def test_order_services_use_the_real_order(shop_db: Path, store: Store) -> None:
    shipped = store.order("10002")
    reply = _service("track_order", store, order="10002")
    assert shipped.tracking_number in reply and shipped.carrier in reply
    assert "can't be cancelled" in _service("cancel_order", store, order="10002")
    assert "cancelled" in _service("cancel_order", store, order="10001")
    assert store.order("10001").status == "cancelled"
    reply = _service("get_refund", store, order="10003", return_reason="too small")
    assert "Return R" in reply and store.returns_for_order("10003")
    assert "return window" in _service("get_refund", store, order="10004")
    assert "Total" in _service("get_invoice", store, order="10003")


def test_address_change_asks_for_the_address_only_when_possible(shop_db: Path, store: Store) -> None:
    form = ValidateVerifyCustomerForm()
    base = {"pending_service": "change_shipping_address", "order_id": "10001", "customer_id": "C0001"}
    slots, _ = validate(
        form,
        tracker(DEMO_EMAIL, "inform", slots=base, candidates={"email": DEMO_EMAIL}, active_loop="verify_customer_form"),
    )
    assert slots["requested_slot"] == "new_address"
    reply = _service("change_shipping_address", store, new_address="5 Quay Street, Portland, OR 97201")
    assert "5 Quay Street" in reply and store.order("10001").shipping_address.startswith("5 Quay Street")


def test_a_verified_customer_is_not_asked_again_for_their_own_order(shop_db: Path) -> None:
    slots = {"customer_id": "C0001", "verified_order_id": "10002", "email": DEMO_EMAIL}
    _, changes, _ = run(
        ActionStartOrderService(), tracker("cancel order 10001", "cancel_order", ents(order_id="10001"), slots=slots)
    )
    assert changes["verified_order_id"] == "10001" and changes["pending_service"] == "cancel_order"
    _, changes, _ = run(
        ActionStartOrderService(), tracker("track order 10050", "track_order", ents(order_id="10050"), slots=slots)
    )
    assert changes["verified_order_id"] is None and changes["email"] is None


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
