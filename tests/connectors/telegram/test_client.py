"""The bot token's one Telegram client on a fake clock and a recording transport: per-chat and group pacing,
order, the overall budget shared with the outbox worker's turns, 429 pauses, retries, the callers' attempts.
No test here waits for real time."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from broadcasts.publishers import RecipientGone, RetryAfter, Transient
from broadcasts.ratelimit import GUARD, LocalSlots, budget
from connectors.telegram.client import TelegramClient, chat_key
from connectors.telegram.limits import GROUP_PER_MINUTE, PER_CHAT_INTERVAL
from tests.connectors.telegram.doubles import START, FakeClock, FakeTransport, busiest, client_on

TOO_MANY = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 5"}
TOO_MANY["parameters"] = {"retry_after": 5}
BAD_GATEWAY = {"ok": False, "error_code": 502, "description": "Bad Gateway"}


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_a_private_chat_gets_one_message_per_second_in_the_order_sent() -> None:
    clock = FakeClock()
    client, transport = client_on(clock)

    async def reply() -> None:
        await asyncio.gather(*(client.send_message(4711, f"Teil {i}") for i in range(5)))
        await client.send_message(4712, "ein anderer Chat")

    await clock.run(reply())
    sends = transport.sends(4711)
    assert [c.params["text"] for c in sends] == [f"Teil {i}" for i in range(5)]
    assert sends[0].at == START  # the first message goes at once
    assert all(gap >= PER_CHAT_INTERVAL for gap in gaps([c.at for c in sends]))
    assert client._chats == {}  # per-chat state is forgotten when nothing waits for the chat


async def test_another_chat_is_not_held_up_by_a_busy_one() -> None:
    clock = FakeClock()
    client, transport = client_on(clock)
    await clock.run(
        asyncio.gather(*(client.send_message(1, f"{i}") for i in range(4)), client.send_message(2, "x"))
    )
    [other] = transport.sends(2)
    assert other.at < START + 0.1


async def test_a_group_gets_at_most_twenty_per_minute_and_one_per_second() -> None:
    clock = FakeClock()
    client, transport = client_on(clock)
    await clock.run(asyncio.gather(*(client.send_message(-100123, f"{i}") for i in range(45))))
    await clock.run(asyncio.gather(*(client.send_message("@koblenz_warnungen", f"{i}") for i in range(25))))
    group = [c.at for c in transport.sends(-100123)]
    assert [c.params["text"] for c in transport.sends(-100123)] == [f"{i}" for i in range(45)]
    assert busiest(group, 60.0) <= GROUP_PER_MINUTE and min(gaps(group)) >= PER_CHAT_INTERVAL
    assert busiest([c.at for c in transport.sends("@koblenz_warnungen")], 60.0) <= GROUP_PER_MINUTE


async def test_replies_and_the_outbox_worker_take_turns_from_one_budget() -> None:
    """The worker's dispatcher takes its turns from the same Slots the client uses; together they stay
    within the token's budget in every second."""
    clock = FakeClock()
    client, transport = client_on(clock, rate=10.0)
    worker_turns: list[float] = []

    async def worker() -> None:
        for _ in range(30):
            await client.budget.wait_turn()
            worker_turns.append(clock())

    async def replies() -> None:
        await asyncio.gather(*(client.send_message(1000 + i, "Antwort") for i in range(30)))

    await clock.run(asyncio.gather(worker(), replies()))
    everything = worker_turns + [c.at for c in transport.sends()]
    assert len(everything) == 60
    assert busiest(everything, 1.0 + GUARD) <= budget(10.0)


async def test_a_turn_taken_by_the_worker_is_used_at_once_or_let_go_for_a_busy_chat() -> None:
    clock = FakeClock()
    transport = FakeTransport(clock)
    slots = CountingSlots(LocalSlots(30.0, clock=clock, sleep=clock.sleep))
    client = TelegramClient(transport, slots, clock=clock, sleep=clock.sleep)
    await clock.run(client.send_message(7, "Warnung", turn_taken=True, attempts=1))
    assert slots.turns == 0 and transport.sends(7)[0].at == START  # the worker's turn, used right away
    # a second message to the same chat within its second: the worker's turn is let go, a fresh one is
    # taken after the chat's wait, so the write never lands late in another second's budget
    await clock.run(client.send_message(7, "Entwarnung", turn_taken=True, attempts=1))
    assert slots.turns == 1 and transport.sends(7)[1].at >= START + PER_CHAT_INTERVAL
    # edits do not count against the chat's message limit
    await clock.run(client.edit_message_text(7, 1, "Warnung (aktualisiert)", turn_taken=True, attempts=1))
    assert slots.turns == 1


async def test_a_429_pauses_the_token_and_the_chat_and_a_reply_waits_it_out() -> None:
    clock = FakeClock()
    client, transport = client_on(clock)
    transport.answer(429, TOO_MANY)
    message = await clock.run(client.send_message(5, "Hallo"))
    first, second = transport.sends(5)
    assert message["message_id"] == 1 and second.at >= first.at + 5.0
    assert client.budget.paused_until() == pytest.approx(START + 5.0)
    assert client.stats["rate_limited"] == 1 and client.stats["sendMessage"] == 1
    # every other sender of the token waits too (the outbox worker reads the same budget)
    await clock.run(client.send_message(6, "danach"))
    assert transport.sends(6)[0].at >= START + 5.0


async def test_the_outbox_worker_gets_the_429_after_one_attempt() -> None:
    clock = FakeClock()
    client, transport = client_on(clock)
    transport.answer(429, TOO_MANY)
    with pytest.raises(RetryAfter) as caught:
        await clock.run(client.send_message(5, "Warnung", turn_taken=True, attempts=1))
    assert caught.value.seconds == 5.0 and len(transport.calls) == 1
    assert client.budget.paused_until() == pytest.approx(START + 5.0)  # paused for the chat replies too
    assert client.pacer.delay(5) == pytest.approx(5.0)


async def test_network_errors_and_5xx_are_retried_with_backoff_then_given_up() -> None:
    clock = FakeClock()
    client, transport = client_on(clock, attempts=4, backoff=0.5)
    transport.answer(502, BAD_GATEWAY, times=2)
    await clock.run(client.send_message(9, "Hallo"))
    times = [c.at for c in transport.sends(9)]
    assert len(times) == 3 and gaps(times)[0] >= 0.5 and gaps(times)[1] >= 1.0
    transport.answer(502, BAD_GATEWAY, times=4)
    with pytest.raises(Transient):
        await clock.run(client.edit_message_text(9, 1, "neu"))
    assert len([c for c in transport.calls if c.method == "editMessageText"]) == 4


async def test_a_blocked_chat_is_not_retried() -> None:
    clock = FakeClock()
    client, transport = client_on(clock)
    transport.answer(
        403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    )
    with pytest.raises(RecipientGone):
        await clock.run(client.send_message(11, "Hallo"))
    assert len(transport.calls) == 1


async def test_parameters_as_the_bot_api_takes_them() -> None:
    clock = FakeClock()
    client, transport = client_on(clock)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Kosten", callback_data="svc:x:fees")]])
    await clock.run(
        client.send_message("-100123", "<b>Hi</b>", parse_mode="HTML", reply_markup=markup, reply_to=3)
    )
    await clock.run(client.answer_callback_query("q1", "Abonniert", show_alert=True))
    await clock.run(client.delete_message(-100123, 3))
    send, answer, delete = transport.calls
    assert send.params == {
        "chat_id": -100123,
        "text": "<b>Hi</b>",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "Kosten", "callback_data": "svc:x:fees"}]]},
        "reply_parameters": {"message_id": 3, "allow_sending_without_reply": True},
    }
    assert answer.params == {"callback_query_id": "q1", "text": "Abonniert", "show_alert": True}
    assert delete.params == {"chat_id": -100123, "message_id": 3}
    assert chat_key("42") == 42 and chat_key("@kanal") == "@kanal"


async def test_an_identical_edit_counts_as_done() -> None:
    clock = FakeClock()
    client, transport = client_on(clock)
    transport.answer(
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: message is not modified: specified new message content and reply "
            "markup are exactly the same as a current content and reply markup of the message",
        },
    )
    await clock.run(client.edit_message_text(3, 1, "gleich"))
    assert len(transport.calls) == 1


class CountingSlots:
    """A Slots that counts the turns taken through it."""

    def __init__(self, inner: LocalSlots) -> None:
        self.inner = inner
        self.turns = 0

    async def wait_turn(self) -> None:
        self.turns += 1
        await self.inner.wait_turn()

    async def pause(self, until: float) -> None:
        await self.inner.pause(until)

    def paused_until(self) -> float:
        return self.inner.paused_until()
