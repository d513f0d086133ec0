"""One fresh process whose threads all use the XSDs for the first time at once (tests/faults/
test_schema_race.py runs it): libxml2's first schema parse is not thread-safe, so it failed ("Document is not valid XML
Schema", "the given type is not a built-in type", or a segfault) unless the schemas are built under the
lock. Exit 0 when every thread got the validator's own answer."""

from __future__ import annotations

import sys
import threading

from agent.secr.documents import schema
from agent.secr.errors import InvalidDocument

DOCUMENTS = (
    b"<CHECK><CHECKHEAD></CHECKHEAD></CHECK>",
    b"<ZREP><ZREPHEAD></ZREPHEAD></ZREP>",
    b"<TICKET></TICKET>",
)
THREADS = 9


def main() -> int:
    start = threading.Barrier(THREADS)
    unexpected: list[str] = []

    def first_use(i: int) -> None:
        start.wait()
        try:
            schema.validate(DOCUMENTS[i % len(DOCUMENTS)])
        except InvalidDocument:
            return  # the validator's own answer: these documents are incomplete
        except Exception as exc:  # the race: the schema itself failed to build
            unexpected.append(repr(exc))

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("\n".join(unexpected))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
