"""A human who answers: a shopper's widget and an agent's inbox, two pages of Debian's Chromium, on the
real gateway, Rasa server (paused and resumed through its HTTP API) and action server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.launcher import DEFAULT_MODEL, Services
from tests.e2e.browser import CHROMIUM, bot_count, launch, open_widget, say, wait_turn

XSS = "<img src=x onerror=alert(1)>"

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Chromium is missing: apt-get install chromium (make test installs it)"
    ),
    pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no trained model: run `make train` first"),
]


def last_bot_text(page: Any) -> str:
    return str(page.locator(".sk-bot .sk-bubble").last.inner_text())


def sign_in(page: Any, services: Services, name: str) -> None:
    page.goto(services.gateway_url + "/agent")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Agent token").fill(services.agent_token)
    page.get_by_role("button", name="Open the inbox").click()
    page.get_by_text(f"Signed in as {name}").wait_for(timeout=10000)


def test_an_agent_takes_over_talks_live_and_hands_back(
    browser: Any, playwright: Any, services: Services, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shopper = browser.new_page()
    open_widget(shopper, services, "/")
    before = bot_count(shopper)
    say(shopper, "I want to talk to a human")
    wait_turn(shopper, before)
    told = last_bot_text(shopper)
    ticket = int(re.search(r"ticket #(\d+)", told).group(1))  # type: ignore[union-attr]
    assert "No one from the shop team is online" in told, "no agent has the inbox open yet: no promise"

    agent = browser.new_page()
    # A wrong token gets nowhere.
    agent.goto(services.gateway_url + "/agent")
    agent.get_by_label("Your name").fill("Sam")
    agent.get_by_label("Agent token").fill("guess")
    agent.get_by_role("button", name="Open the inbox").click()
    expect(agent.get_by_role("alert")).to_contain_text("Wrong or missing agent token", timeout=10000)
    sign_in(agent, services, "Sam")

    entry = agent.locator(f'[data-ticket="{ticket}"]')
    entry.wait_for(timeout=10000)
    entry.click()
    expect(agent.locator("#transcript")).to_contain_text("I want to talk to a human", timeout=10000)
    expect(agent.locator("#summary")).to_contain_text("contact_human_agent")
    agent.get_by_role("button", name="Take over").click()

    # The shopper sees a person from the shop join.
    greeting = shopper.locator(".sk-agent").first
    greeting.wait_for(timeout=10000)
    assert "Sam · shop team" in greeting.inner_text() and "Hello, this is Sam" in greeting.inner_text()

    # While the agent holds the conversation the bot says nothing; the agent reads every word, as text.
    bot_before = shopper.locator(".sk-bot:not(.sk-agent)").count()
    say(shopper, f"my parcel came soaked {XSS}")
    expect(agent.locator("#transcript")).to_contain_text(f"my parcel came soaked {XSS}", timeout=15000)
    assert agent.locator("#transcript img").count() == 0, "the shopper's markup is shown, not run"
    shopper.wait_for_timeout(1500)
    assert shopper.locator(".sk-bot:not(.sk-agent)").count() == bot_before, "the paused bot stayed quiet"
    assert shopper.locator(".sk-error").count() == 0, shopper.locator(".sk-error").all_inner_texts()

    agent.get_by_label("Message to the shopper").fill("I'm sorry! A replacement is on its way today.")
    agent.get_by_role("button", name="Send").click()
    expect(shopper.locator(".sk-agent .sk-bubble").last).to_have_text(
        "I'm sorry! A replacement is on its way today.", timeout=10000
    )

    # A second shopper (a browser of their own, so a conversation of their own) asking for a person
    # now hears that someone is online.
    elsewhere = launch(playwright, tmp_path / "second-shopper")
    try:
        other = elsewhere.new_page()
        open_widget(other, services, "/")
        before_other = bot_count(other)
        say(other, "can I speak to a person please")
        wait_turn(other, before_other)
        assert "online and will join this chat" in last_bot_text(other)
    finally:
        elsewhere.close()

    # Handing back: the shopper is told, and the bot answers again.
    agent.get_by_role("button", name="Hand back to the bot").click()
    expect(shopper.locator(".sk-bot .sk-bubble").last).to_contain_text("Sam has left the chat", timeout=10000)
    before = bot_count(shopper)
    say(shopper, "show me hoodies")
    wait_turn(shopper, before)
    shopper.locator(".sk-card").first.wait_for(timeout=30000)
    expect(agent.locator(f'[data-ticket="{ticket}"]')).to_have_count(0, timeout=10000)
