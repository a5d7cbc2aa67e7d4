"""The browser client on an `overloaded` answer (the server did not run the command): it sends
the same command again after the answer's `retry_after`, and the message lands once."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.e2e.browser import expect, person, register, start_session, tag
from tests.e2e.test_web_e2e import items
from tests.support import ServerProcess


async def test_an_overloaded_chat_is_sent_again_and_lands_once(
        servers: list[ServerProcess], browser: Any, book: dict[str, Any]) -> None:
    """The first two times Ana's chat reaches the server it is answered `overloaded` (by a
    proxy in the page's socket): the app sends the very same frame again after `retry_after`,
    the third one is acked, and the message shows once."""
    ana = await person(browser, servers[0], "Ana", tag())
    armed = {"on": False}
    sent: list[str] = []

    async def through(route: Any) -> None:
        server = route.connect_to_server()

        def upstream(message: Any) -> None:
            if armed["on"] and isinstance(message, str) and '"chat"' in message \
                    and '"publish"' in message:
                sent.append(message)
                if len(sent) <= 2:
                    route.send(json.dumps({
                        "type": "error", "id": json.loads(message)["id"], "code": "overloaded",
                        "message": "test: overloaded", "field": None, "retry_after": 0.2}))
                    return
            server.send(message)

        route.on_message(upstream)
        server.on_message(route.send)

    await ana.page.route_web_socket(re.compile(r".*/ws$"), through)
    await register(ana)
    await start_session(ana, book["id"], "Busy")
    await expect(ana.page.locator("#presence")).to_contain_text("Ana")
    armed["on"] = True
    await ana.page.get_by_label("Message", exact=True).fill("After a busy moment")
    await ana.page.get_by_role("button", name="Send").click()
    await expect(ana.page.locator('#timeline [data-pending="true"]')).to_have_count(0)
    await expect(items(ana, "chat", "After a busy moment")).to_have_count(1)
    assert len(sent) == 3 and len(set(sent)) == 1, sent  # the same frame: same id, same key
    await expect(ana.page.locator("#conn")).to_have_attribute("data-state", "online")
    await ana.context.close()
