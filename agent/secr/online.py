"""An online document: what an earlier one left pending settled first, this one made, journaled and sent.

When its request fails, the register goes offline (offline_session.py) -- unless the box's uplinks have
moved the route, since the document was begun, onto a link that reaches the server (context.Uplinks: a
cable pulled or a gateway dead a second before). Offline then would spend the law's budget while a
legal way exists, so the document is tried once more over the new way: settled as a lost reply is
(reconcile.py: asked about, sent again only if the server never had it), never made anew.
"""

from __future__ import annotations

import logging

from agent.secr.context import Core
from agent.secr.errors import RetryLater
from agent.secr.pipeline import Pipeline, Request, WentDark
from agent.secr.reconcile import Reconciler
from agent.secr.results import Fiscalized

log = logging.getLogger(__name__)


class Online:
    def __init__(self, core: Core, pipeline: Pipeline, reconciler: Reconciler) -> None:
        self.core = core
        self.pipeline = pipeline
        self.reconciler = reconciler

    def fiscalize(self, request: Request) -> Fiscalized:
        """The request's document, registered online; ``WentDark`` when the server cannot be reached
        over any way the uplinks know of."""
        started = self.core.clock.monotonic()
        try:
            return self._once(request)
        except WentDark as dark:
            if not self._route_moved(started, dark):
                raise
            return self._again(request, dark)

    def _once(self, request: Request) -> Fiscalized:
        self.reconciler.settle_pending()
        entry = self.pipeline.make_online(request)
        try:
            return self.reconciler.send(entry)
        except RetryLater as exc:
            raise WentDark(entry, exc) from exc

    def _route_moved(self, started: float, dark: WentDark) -> bool:
        uplinks = self.core.uplinks
        if uplinks is None:
            return False
        try:
            moved = uplinks.way_out(started)
        except Exception:  # the uplinks' fault must not cost the sale: offline is still legal
            log.exception("asking the uplinks for a way out failed")
            return False
        if moved:
            log.warning(
                "the server was not reached (%s) and the uplinks have moved the route: trying once more over it",
                dark.cause.message,
            )
        return moved

    def _again(self, request: Request, dark: WentDark) -> Fiscalized:
        """Once more, over the new route. The document that failed is journaled and may have reached the
        server: it is settled, not made anew; a new one is made only for a request whose own document
        never got that far (the time-stamp service, or an earlier document still pending)."""
        if dark.own and dark.entry is not None:
            try:
                settled = self.reconciler.reconcile(dark.entry)
            except RetryLater as exc:
                raise WentDark(dark.entry, exc) from exc
            if settled is not None:
                return settled
        return self._once(request)


__all__ = ["Online"]
