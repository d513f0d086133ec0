"""What the status button does (issue 13): a short press prints the slip, a long press goes online now
and prints a slip saying what that did. agent/app.py wires it::

    actions = ButtonActions(slip=..., go_online=..., result_slip=...)   # the control channel's actions
    button = StatusButton(pin, on_short=actions.short_press, on_long=actions.long_press)
    ...
    button.close()    # no press comes any more
    actions.close()   # the action in hand finishes (bounded), the thread ends

gpiozero calls ``short_press`` / ``long_press`` on its own threads; they only hand the press over to
the actions' thread and return. One action at a time: a press while one runs is ignored and logged,
not queued — a technician pressing again because the printer is slow wants one slip, not two, and a
second upload would only wait for the first. Whatever an action meets is logged, never raised: the
till must never notice the button.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from agent.secr.errors import FiscalBoxError

__all__ = ["ButtonActions"]

log = logging.getLogger("fiscal-box")

#: how long close() waits for an action in hand (a go-online meets the server's timeouts), as the
#: control channel waits for its requests
CLOSE_WAIT_S = 10.0

GoOnlineReport = Mapping[str, Any]


class ButtonActions:
    """The button's two actions, run one at a time on a thread of their own."""

    def __init__(
        self,
        *,
        slip: Callable[[], object],
        go_online: Callable[[], GoOnlineReport],
        result_slip: Callable[[GoOnlineReport], object],
    ) -> None:
        self._slip = slip
        self._go_online = go_online
        self._result_slip = result_slip
        self._changed = threading.Condition()
        self._job: tuple[str, Callable[[], None]] | None = None  # handed over or running
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="button-actions", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """An action has been handed over and not finished yet."""
        with self._changed:
            return self._job is not None

    def short_press(self) -> None:
        self._hand_over("the slip", self._print_slip)

    def long_press(self) -> None:
        self._hand_over("Go Online", self._go_online_and_print)

    def close(self) -> None:
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        self._thread.join(CLOSE_WAIT_S)
        if self._thread.is_alive():
            log.warning("button: the action in hand did not finish within %g s; stopping without it", CLOSE_WAIT_S)

    def _hand_over(self, name: str, action: Callable[[], None]) -> None:
        with self._changed:
            if self._closed:
                return
            if self._job is not None:
                log.info("button: press for %s ignored: %s is still running", name, self._job[0])
                return
            self._job = (name, action)
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._job is not None or self._closed)
                if self._job is None:  # closed with nothing in hand
                    return
                name, action = self._job
            log.info("button: %s", name)
            try:
                action()
            except Exception:  # the actions log what they expect; this is a defect, and the thread lives on
                log.exception("button: %s failed", name)
            with self._changed:
                self._job = None
                if self._closed:
                    return

    # --- the actions ---------------------------------------------------------------------------------

    def _print_slip(self) -> None:
        try:
            self._slip()
        except FiscalBoxError as exc:  # the printer disabled or failing: said, and the next press tries
            log.warning("button: the slip was not printed: %s", exc)

    def _go_online_and_print(self) -> None:
        report: GoOnlineReport
        try:
            report = self._go_online()
        except FiscalBoxError as exc:
            # It did not run (the journal cannot be written, say): the slip says why all the same.
            report = {"went_online": False, "error": str(exc)}
        except Exception as exc:
            log.exception("button: Go Online failed")
            report = {"went_online": False, "error": f"internal error: {type(exc).__name__}: {exc} -- call support"}
        log.info("button: Go Online: %s", _summary(report))
        try:
            self._result_slip(report)
        except FiscalBoxError as exc:
            log.warning("button: the slip with Go Online's result was not printed: %s", exc)


def _summary(report: GoOnlineReport) -> str:
    if report.get("went_online"):
        outcome = "went online"
    elif report.get("error") is None and report.get("mode") == "online":
        outcome = "online already"
    else:
        outcome = "not online"
    counts = ""
    if "packages_sent" in report:
        counts = f"; packages sent {report['packages_sent']}, documents delivered {report['documents_delivered']}"
    error = report.get("error")
    return outcome + counts + (f": {error}" if error else "")
