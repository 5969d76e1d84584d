"""Fan-out of chain events to subscribed wallets: in order, exactly once, never blocking the node.

Each subscriber gets a queue and a task of its own, so a slow or hung wallet
delays only itself, and events reach it in the order the node published
them. A subscriber whose callback raises is logged and kept (one bad event
must not cost it every later one); a subscriber whose process is gone is
dropped: a restarted wallet subscribes afresh and catches up from its own
last block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from ipc.interfaces import ChainNotifications, Handler, SplitdError, WorkerUnavailable

Event = Callable[[ChainNotifications], Awaitable[None]]
log = structlog.get_logger()


class Subscription(Handler):
    def __init__(self, notifier: Notifier, notifications: ChainNotifications) -> None:
        self.notifications = notifications
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self._notifier = notifier
        self._task = asyncio.get_running_loop().create_task(self._deliver())

    async def disconnect(self) -> None:
        self.close()

    def close(self) -> None:
        self._notifier.subscriptions.discard(self)
        self._task.cancel()

    async def _deliver(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await event(self.notifications)
            except WorkerUnavailable:
                log.info("subscriber_gone")
                self.close()
                return
            except SplitdError as error:
                log.warning("subscriber_failed", code=error.code, message=error.message)
            except Exception:
                log.exception("subscriber_failed")


class Notifier:
    def __init__(self) -> None:
        self.subscriptions: set[Subscription] = set()

    def subscribe(self, notifications: ChainNotifications) -> Handler:
        subscription = Subscription(self, notifications)
        self.subscriptions.add(subscription)
        return subscription

    def publish(self, event: Event) -> None:
        """Queue ``event`` for every current subscriber; returns at once."""
        for subscription in self.subscriptions:
            subscription.queue.put_nowait(event)

    def close(self) -> None:
        for subscription in list(self.subscriptions):
            subscription.close()
