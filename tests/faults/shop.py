"""A shop for the fault suite: a till that drives a box over a pipe, through its lives.

The till keeps to a script of steps (open a shift, sell, refund, ... , close, deliver). Every step that
makes a document carries a request id; when the box dies under a step the till does what a real till does
with an unanswered request: it asks again, with the same id, of the box once it is back (a new life on the
same state directory and printer file). A step the box answers with "retry later" is asked again after the
box was asked to go online (as the agent's loop would), a bounded number of times.
"""

from __future__ import annotations

import multiprocessing
import signal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from tests.conftest import EmulatorHandle
from tests.faults.harness import CRASH_LOG, Crash, LifeSpec, life
from tests.faults.proxy import Fault, FaultProxy
from tests.waiting import wait_for

ANSWER_TIMEOUT_S = 120
RETRIES = 12
_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["tests.faults.harness"])


@dataclass
class Step:
    """One thing the till (or the world around it) does.

    ``op`` is a request to the box (open, sell, refund, cash_in, cash_out, storno, close, go_online), or
    ``server`` (the emulator's own fault mode: ``mode``) or ``proxy`` (a fault of the network: ``fault``).
    ``of``: a refund's sale, as the request id of the step that sold it."""

    op: str
    amount: str = "0"
    of: str | None = None
    mode: str = "none"
    count: int | None = None
    fault: Fault | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def sale(amount: str) -> Step:
    return Step("sell", amount)


@dataclass
class Death:
    life: int
    point: str
    during: int | str
    exitcode: int | None
    in_print_window: bool = False  # the print worker was between the printer and printed_at's commit


class _Life:
    def __init__(self, spec: LifeSpec) -> None:
        self.conn, child = _CTX.Pipe()
        self.proc: BaseProcess = _CTX.Process(target=life, args=(child, spec), daemon=True)
        self.proc.start()
        child.close()

    def receive(self) -> dict[str, Any] | None:
        """The next answer, or None when the process died first."""
        try:
            if not self.conn.poll(ANSWER_TIMEOUT_S):
                raise AssertionError(f"the box (PID {self.proc.pid}) did not answer in {ANSWER_TIMEOUT_S} s")
            answer: dict[str, Any] = self.conn.recv()
        except (EOFError, OSError):
            return None
        return answer

    def send(self, message: dict[str, Any]) -> bool:
        try:
            self.conn.send(message)
        except (BrokenPipeError, OSError):
            return False
        return True

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()

    def end(self) -> int | None:
        self.proc.join(30)
        self.conn.close()
        return self.proc.exitcode


@dataclass
class Shop:
    """The box's lives on one state directory, and the till's view of them."""

    root: Path
    emulator: EmulatorHandle
    proxy: FaultProxy
    crashes: Sequence[Crash] = ()
    timeout_s: float = 3.0
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)  # the same, by request id
    deaths: list[Death] = field(default_factory=list)
    faults: int = 0  # faults injected: server and network modes set, kills
    start_answer: dict[str, Any] = field(default_factory=dict)
    _life: _Life | None = None
    _lives: int = 0
    _later: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / "box"

    @property
    def paper(self) -> Path:
        return self.root / "paper.escpos"

    # --- lives -----------------------------------------------------------------------------------------

    def _crash_for(self, index: int) -> Crash | None:
        return self.crashes[index] if index < len(self.crashes) else None

    def _start(self) -> _Life:
        """A new life; dying during its start (an armed point in the register's start) means another."""
        while True:
            crash = self._crash_for(self._lives)
            spec = LifeSpec(
                self.state_dir,
                self.proxy.fs_url,
                self.paper,
                crash=crash if crash is not None and crash.point != "sent" else None,
                timeout_s=self.timeout_s,
            )
            self.state_dir.mkdir(parents=True, exist_ok=True)
            box = _Life(spec)
            self._lives += 1
            ready = box.receive()
            if ready is not None:
                self.start_answer = ready
                self._life = box
                return box
            self._died(box, crash)

    def _died(self, box: _Life, crash: Crash | None) -> None:
        exitcode = box.end()
        log = self.state_dir / CRASH_LOG
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        armed_before = sum(1 for d in self.deaths if d.point != "sent")
        if crash is None or exitcode != -signal.SIGKILL or len(lines) != armed_before + 1:
            raise AssertionError(
                f"life {self._lives} died unarmed or elsewhere (exit {exitcode}, armed {crash}, log {lines})"
            )
        point, during, *window = lines[-1].split(" ")
        assert point == crash.point, (point, crash)
        self.deaths.append(Death(self._lives, point, during, exitcode, window == ["window"]))
        self.faults += 1
        self._life = None

    def box(self) -> _Life:
        return self._life or self._start()

    # --- the till --------------------------------------------------------------------------------------

    def ask(self, index: int | str, message: dict[str, Any]) -> dict[str, Any]:
        """One request, answered by whichever life is there to answer it."""
        message = {**message, "index": index}
        while True:
            box = self.box()
            crash = self._crash_for(self._lives - 1)
            sent_kill = crash is not None and crash.point == "sent" and crash.during == index
            if sent_kill:
                # The print worker idle first: an outside kill cannot tell where the worker was.
                box.send({"op": "drain", "index": "drain"})
                assert box.receive() is not None
                assert crash is not None
                self.proxy.set(Fault("hold-reply", paths=(crash.held,), count=1, skip=crash.hit - 1))
            if box.send(message):
                if sent_kill:
                    self._kill_while_sent(box, index)
                    continue
                answer = box.receive()
                if answer is not None:
                    return answer
            self._died(box, crash)

    def _kill_while_sent(self, box: _Life, index: int | str) -> None:
        """The server has the document and holds its reply: SIGKILL the box, then let the reply go."""
        wait_for(
            lambda: self.proxy.holding == 1 or not box.proc.is_alive(), what="the server to hold a reply"
        )
        box.kill()
        exitcode = box.end()
        self.proxy.release()
        self.proxy.clear()
        assert exitcode == -signal.SIGKILL, exitcode
        self.deaths.append(Death(self._lives, "sent", index, exitcode))
        self.faults += 1
        self._life = None

    def request(self, index: int, step: Step) -> dict[str, Any]:
        message: dict[str, Any] = {"op": step.op, "amount": step.amount, "request_id": step.request_id}
        if step.of is not None:
            sold = self.answered[step.of]
            if not sold["ok"]:
                return {"ok": False, "kind": "not tried", "error": f"its sale was refused: {sold}"}
            message["of"] = sold["doc"]["fiscal_num"]
        answer = self.ask(index, message)
        if not answer["ok"] and answer.get("retry"):
            self.ask(index, {"op": "go_online"})  # as the agent's loop would, then once more
            answer = self.ask(index, message)
        if not answer["ok"] and answer.get("retry"):
            self._later[index] = message  # the till keeps the receipt and asks again after the next one
        return answer

    def _ask_again(self) -> None:
        """The requests the box said to retry: asked again, with their own request ids."""
        for index, message in list(self._later.items()):
            answer = self.ask(index, message)
            if answer["ok"] or not answer.get("retry"):
                del self._later[index]
            self.answers[index] = self.answered[message["request_id"]] = answer

    def run(self, script: Sequence[Step]) -> None:
        self.box()  # the box is on before the day starts
        for index, step in enumerate(script):
            if step.op == "server":
                self.emulator.fault(step.mode, **({"count": step.count} if step.count else {}))
                self.faults += step.mode != "none"
            elif step.op == "proxy":
                assert step.fault is not None
                self.proxy.set(step.fault)
                self.faults += step.fault.mode != "none"
            else:
                self.answers[index] = self.answered[step.request_id] = self.request(index, step)
                self._ask_again()

    def settle(self) -> dict[str, Any]:
        """The end of the day: the server answers; the box delivers everything and prints the queue."""
        self.emulator.fault("none")
        self.proxy.clear()
        status: dict[str, Any] = {}
        for _ in range(RETRIES):
            status = self.ask("settle", {"op": "go_online"})
            self._ask_again()
            if status.get("mode") == "online" and status.get("pending") == 0 and not self._later:
                break
        drained = self.ask("settle", {"op": "drain"})
        self.stop()
        return {**status, **drained}

    def stop(self) -> None:
        box = self._life
        if box is None:
            return
        if box.send({"op": "stop", "index": "stop"}):
            box.receive()
        exitcode = box.end()
        self._life = None
        assert exitcode == 0, f"the box did not stop cleanly: exit {exitcode}"

    def close(self) -> None:
        """Whatever happened, no process is left behind."""
        if self._life is not None:
            self._life.kill()
            self._life.end()
            self._life = None


__all__ = ["Death", "Shop", "Step", "sale"]
