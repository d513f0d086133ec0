"""Issue 15, the times of offline documents (agent/emulator/times.py): none dated before its session's 102,
none earlier than the document before it -- the session's duration, which the limits count, is read off these
times («Тривалість офлайн сесії»). The box's own documents pass (tests/test_strict_day.py registers a day of
them; tests/test_clock.py: no document is dated earlier than the one before, whatever the wall clock does)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from agent.emulator import Emulator
from tests.emulator_helpers import OfflineSession, Till
from tests.test_emulator import client, emu, expect_error, make_till, offline_session, post_pck, ticket_of

__all__ = ["client", "emu"]  # the fixtures, used by name


def begun(till: Till) -> OfflineSession:
    """An offline session whose 102 is dated an hour ago."""
    ticket_of(till.send(till.open_shift()))
    session = offline_session(till)
    assert till.when is not None
    till.when -= timedelta(hours=1)
    session.add(lambda **kw: till.check_begin(**kw), chained=False)
    return session


def sale_at(session: OfflineSession, when_after_102: timedelta) -> None:
    till = session.till
    assert till.when is not None
    start = till.when
    till.when = start + when_after_102
    session.add(lambda **kw: till.small_sale(**kw), chained=True, total="16.50")
    till.when = start


def test_a_document_dated_before_its_102_is_refused(emu: Emulator, client: httpx.Client) -> None:
    session = begun(make_till(emu, client))
    sale_at(session, -timedelta(minutes=5))
    expect_error(post_pck(session.till, session.package()), 10, contains="раніший за початок офлайн сесії")


def test_a_document_earlier_than_the_one_before_is_refused(emu: Emulator, client: httpx.Client) -> None:
    session = begun(make_till(emu, client))
    sale_at(session, timedelta(minutes=10))
    sale_at(session, timedelta(minutes=5))
    expect_error(
        post_pck(session.till, session.package()), 10, contains="раніший за час попереднього документа"
    )


def test_documents_in_order_and_in_the_same_second_pass(emu: Emulator, client: httpx.Client) -> None:
    session = begun(make_till(emu, client))
    sale_at(session, timedelta(0))  # the same second as the 102
    sale_at(session, timedelta(minutes=5))
    sale_at(session, timedelta(minutes=5))
    response = post_pck(session.till, session.package())
    assert response.status_code == 200, response.text
