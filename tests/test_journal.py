"""The journal on its own: schema migration, the durable print queue, one connection shared by threads."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.secr.errors import JournalMismatch
from agent.secr.journal import RECEIPTS_WHERE, SCHEMA_VERSION, DocumentFilter, Journal, Page, _narrowed

WHEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def add_document(journal: Journal, local_num: int) -> int:
    entry = journal.add(
        local_num=local_num,
        uid=f"uid-{local_num}",
        doc_class="CHECK",
        doc_type=0,
        doc_subtype=0,
        shift_id=None,
        xml=b"<x/>",
        signed=b"signed",
        created_at=WHEN,
    )
    return entry.id


def test_a_journal_of_schema_1_opens_and_goes_on_numbering(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    add_document(journal, 1)
    journal.close()
    # What version 1 left on disk: no print queue, version 1.
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE prints")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    journal = Journal(path)
    assert journal.get("schema_version") == str(SCHEMA_VERSION)
    assert journal.next_local_num() == 2
    assert journal.unprinted() == []  # documents from before the queue are not printed again
    add_document(journal, 2)
    journal.close()


def test_a_journal_of_schema_2_keeps_its_print_queue_and_learns_the_print_start(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    doc_id = add_document(journal, 1)
    journal.close()
    # What version 2 left on disk: a queued receipt in a prints table without started_at.
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE prints")
        conn.execute(
            "CREATE TABLE prints (doc_id INTEGER PRIMARY KEY REFERENCES documents(id), queued_at TEXT NOT"
            " NULL, printed_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT)"
        )
        conn.execute("INSERT INTO prints(doc_id, queued_at) VALUES(?, ?)", (doc_id, WHEN.isoformat()))
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    journal = Journal(path)
    assert journal.get("schema_version") == str(SCHEMA_VERSION)
    [job] = journal.unprinted()
    assert job.doc_id == doc_id and job.started_at is None
    journal.print_started(doc_id, WHEN)
    assert journal.unprinted()[0].started_at == WHEN.isoformat()
    journal.print_failed(doc_id, "paper out")  # the printer said so: the next attempt is no copy
    assert journal.unprinted()[0].started_at is None
    journal.close()


def test_a_journal_from_a_newer_box_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(JournalMismatch, match="newer fiscal-box"):
        Journal(path)


def test_print_queue_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    first, second = add_document(journal, 1), add_document(journal, 2)
    with journal.transaction():
        journal.queue_print(first, WHEN)
        journal.queue_print(second, WHEN)
        journal.queue_print(second, WHEN)  # queued twice is queued once
    journal.print_failed(first, "paper_out")
    journal.close()
    journal = Journal(path)
    jobs = journal.unprinted()
    assert [j.doc_id for j in jobs] == [first, second]
    assert jobs[0].attempts == 1 and jobs[0].last_error == "paper_out"
    journal.mark_printed(first, WHEN)
    assert [j.doc_id for j in journal.unprinted()] == [second]
    job = journal.print_job(first)
    assert job is not None and job.printed_at == WHEN.isoformat() and job.last_error is None
    journal.close()


def test_another_thread_never_writes_inside_a_transaction(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    doc = add_document(journal, 1)
    inside = threading.Event()
    other_done = threading.Event()

    def other() -> None:
        inside.wait(5)
        journal.queue_print(doc, WHEN)  # must wait for the transaction below, not join it
        other_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with pytest.raises(RuntimeError), journal.transaction():
        journal.set("probe", "1")
        inside.set()
        assert not other_done.wait(0.2)
        raise RuntimeError("rolled back")
    thread.join(5)
    assert other_done.is_set()
    assert journal.get("probe") is None  # the rollback took only the transaction's own write
    assert [j.doc_id for j in journal.unprinted()] == [doc]
    journal.close()


def test_meta_values_of_a_rolled_back_transaction_are_gone(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.set("mode", "online")
    with pytest.raises(RuntimeError), journal.transaction():
        journal.set("mode", "offline")
        assert journal.get("mode") == "offline"  # the transaction sees its own write
        raise RuntimeError("rolled back")
    assert journal.get("mode") == "online"
    journal.close()
    reopened = Journal(tmp_path / "journal.sqlite")
    assert reopened.get("mode") == "online"
    reopened.close()


def add_check(journal: Journal, local_num: int, *, subtype: int, shift_id: int | None, when: datetime) -> int:
    entry = journal.add(
        local_num=local_num,
        uid=f"uid-{local_num}",
        doc_class="CHECK",
        doc_type=0,
        doc_subtype=subtype,
        shift_id=shift_id,
        xml=b"<x/>" * 1000,  # rows with real bodies: the lists must not need to read them
        signed=b"signed",
        created_at=when,
    )
    journal.mark_registered(entry.id, fiscal_num=f"FN{local_num}", registered_at=when, ticket=None)
    return entry.id


def test_a_journal_of_schema_3_learns_the_list_indexes(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    shift = journal.new_shift(WHEN, "Касир")
    add_check(journal, 1, subtype=0, shift_id=shift, when=WHEN)
    journal.close()
    # What version 3 left on disk: no list indexes.
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX documents_receipts")
        conn.execute("DROP INDEX documents_z_reports")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    journal = Journal(path)
    assert journal.get("schema_version") == str(SCHEMA_VERSION)
    indexes = {r[0] for r in journal._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"documents_receipts", "documents_z_reports"} <= indexes
    [entry] = journal.receipts(DocumentFilter(), Page(limit=25))
    assert entry.local_num == 1 and entry.fiscal_num == "FN1"
    journal.close()


def test_a_journal_of_schema_4_learns_where_to_keep_the_z_figures(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    shift = journal.new_shift(WHEN, "Касир")
    journal.close()
    # What version 4 left on disk: shifts without z_figures.
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE shifts DROP COLUMN z_figures")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    journal = Journal(path)
    assert journal.get("schema_version") == str(SCHEMA_VERSION) == "5"
    found = journal.shift(shift)
    assert found is not None and found.z_figures is None and found.cashier == "Касир"
    journal.update_shift(shift, z_figures='{"realiz": {}}')
    assert (journal.shift(shift) or found).z_figures == '{"realiz": {}}'
    journal.close()


def test_receipt_pages_come_from_the_index_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    first, second = journal.new_shift(WHEN, None), journal.new_shift(WHEN, None)
    subtypes = [0, 1, 2, 4, 5]  # sale, return, deposit, issue: listed; the storno (5) is not a receipt
    for n in range(1, 11):
        add_check(
            journal,
            n,
            subtype=subtypes[(n - 1) % 5],
            shift_id=first if n <= 5 else second,
            when=WHEN + timedelta(minutes=n),
        )
    listed = [e.local_num for e in journal.receipts(DocumentFilter(), Page(limit=None))]
    assert listed == [1, 2, 3, 4, 6, 7, 8, 9]
    assert [e.local_num for e in journal.receipts(DocumentFilter(), Page(limit=3, offset=2, desc=True))] == [
        7,
        6,
        4,
    ]
    assert [e.local_num for e in journal.receipts(DocumentFilter(shift_ids=(second,)), Page(25))] == [
        6,
        7,
        8,
        9,
    ]
    assert journal.receipts(DocumentFilter(shift_ids=()), Page(25)) == []
    assert [e.local_num for e in journal.receipts(DocumentFilter(fiscal_num="FN3"), Page(25))] == [3]
    assert [e.local_num for e in journal.receipts(DocumentFilter(local_num=8), Page(25))] == [8]
    window = DocumentFilter(since=WHEN + timedelta(minutes=2), until=WHEN + timedelta(minutes=4))
    assert [e.local_num for e in journal.receipts(window, Page(25))] == [2, 3, 4]
    kyiv = timezone(timedelta(hours=2))  # an aware bound in another zone means the same instant
    assert [
        e.local_num
        for e in journal.receipts(
            DocumentFilter(since=(WHEN + timedelta(minutes=9)).astimezone(kyiv)), Page(25)
        )
    ] == [9]
    where, params = _narrowed(RECEIPTS_WHERE, DocumentFilter(since=WHEN))
    plan = " ".join(
        str(r[3])
        for r in journal._conn.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM documents INDEXED BY documents_receipts WHERE {where}"
            " ORDER BY local_num LIMIT 25",
            params,
        )
    )
    assert "COVERING INDEX documents_receipts" in plan and "TEMP B-TREE" not in plan
    journal.close()


def test_shift_pages(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    shifts = [journal.new_shift(WHEN, None) for _ in range(4)]
    for shift in shifts[:3]:
        journal.update_shift(shift, closed_at=WHEN.isoformat())
    assert journal.shift_ids(Page(limit=None)) == shifts
    assert journal.shift_ids(Page(limit=2, offset=1, desc=True)) == [shifts[2], shifts[1]]
    assert journal.shift_ids(Page(limit=25), is_open=True) == [shifts[3]]
    assert journal.shift_ids(Page(limit=25), is_open=False) == shifts[:3]
    journal.close()


def test_a_page_past_sqlites_integers_is_empty(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.new_shift(WHEN, None)
    add_check(journal, 1, subtype=0, shift_id=None, when=WHEN)
    far = Page(limit=10**30, offset=10**30)
    assert journal.shift_ids(far) == [] and journal.receipts(DocumentFilter(), far) == []
    assert journal.z_reports(DocumentFilter(), far) == []
    assert [e.local_num for e in journal.receipts(DocumentFilter(), Page(limit=10**30))] == [1]
    journal.close()
