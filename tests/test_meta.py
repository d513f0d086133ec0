"""The typed meta keys read and write exactly the strings journals have always held, so an existing
journal opens and works unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.secr import offline
from agent.secr.journal import Journal
from agent.secr.meta import Meta, Mode

# What a journal in the middle of an offline session held before the keys were typed.
ON_DISK = {
    "mode": "offline",
    "offline_prohibited": "0",
    "offline_session_id": "5008",
    "offline_seed": "179625192271939",
    "offline_reserve": "40",
    "session.id": "5008",
    "session.seed": "179625192271939",
    "session.next_n": "7",
    "session.chain_hash": "ab" * 32,
    "session.begin_doc": "12",
    "session.lost_doc": "11",
    "session.warned": "month_limit,session_limit",
    "ledger.month": "2026-11",
    "ledger.month_closed_s": "7200.0",
    "ledger.session_began_at": "2026-11-02T08:00:00+00:00",
    "ledger.server_month_s": "3600.0",
    "identity.tin": "34554362",
    "identity.local_number": "1",
    "upload_error": "the fiscal server refused a document of the package",
    "last_sync_at": "2026-11-01T10:00:00+00:00",
}


def test_an_existing_journal_reads_as_before(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.set_many(dict(ON_DISK))
    meta = Meta(journal)
    assert meta.mode == Mode.OFFLINE and meta.offline_prohibited is False
    assert (meta.offline_session_id, meta.offline_seed, meta.offline_reserve) == (
        "5008",
        "179625192271939",
        40,
    )
    assert (meta.session_id, meta.session_seed, meta.session_next_n) == ("5008", "179625192271939", 7)
    assert (meta.chain_hash, meta.begin_doc, meta.lost_doc) == ("ab" * 32, 12, 11)
    assert meta.warned == {"month_limit", "session_limit"}
    assert meta.ledger(datetime(2026, 11, 3, tzinfo=UTC)) == offline.Ledger(
        month="2026-11",
        month_closed=timedelta(hours=2),
        session_began_at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
        server_month=timedelta(hours=1),
    )
    assert meta.identity("tin") == "34554362" and meta.identity("ipn") is None
    assert meta.upload_error == ON_DISK["upload_error"]
    assert meta.last_sync_at == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    journal.close()


def test_writes_keep_the_strings_on_disk(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    changes: list[None] = []
    meta = Meta(journal, on_change=lambda: changes.append(None))
    with journal.transaction():
        meta.mode = Mode.OFFLINE
        meta.offline_prohibited = False
        meta.offline_session_id = "5008"
        meta.offline_seed = "179625192271939"
        meta.offline_reserve = 40
        meta.begin_session("5008", "179625192271939")
        meta.session_next_n = 7
        meta.chain_hash = "ab" * 32
        meta.begin_doc = 12
        meta.lost_doc = 11
        meta.warned = {"session_limit", "month_limit"}
        meta.save_ledger(
            offline.Ledger(
                month="2026-11",
                month_closed=timedelta(hours=2),
                session_began_at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
                server_month=timedelta(hours=1),
            )
        )
        meta.set_identity("tin", "34554362")
        meta.set_identity("local_number", "1")
        meta.upload_error = ON_DISK["upload_error"]
        meta.last_sync_at = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    assert {key: journal.get(key) for key in ON_DISK} == ON_DISK
    assert changes  # every write tells the register its status may have changed
    journal.close()


def test_what_a_delivered_session_leaves(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.set_many(dict(ON_DISK))
    meta = Meta(journal)
    meta.end_session()
    meta.offline_reserve = None
    assert meta.session_id is None and meta.session_next_n is None and meta.begin_doc is None
    assert meta.warned == frozenset() and meta.chain_hash is None
    assert meta.lost_doc == 11  # settled (and cleared) before the 102 is delivered, not here
    assert meta.offline_session_id == "5008" and meta.offline_reserve is None
    journal.close()


def test_a_new_journal_knows_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    meta = Meta(journal)
    assert meta.mode == Mode.ONLINE and meta.offline_prohibited is None and not meta.numbering_started()
    assert meta.ledger(datetime(2026, 12, 5, tzinfo=UTC)).month == "2026-12"
    journal.set_next_local_num(5)
    assert meta.numbering_started()
    journal.close()
