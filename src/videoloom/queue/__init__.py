"""The queue is the task table (see ``storage.repository``); this package holds its wake-ups."""

from videoloom.queue.wakeup import CHANNEL, LocalWakeUp, PostgresListener

__all__ = ["CHANNEL", "LocalWakeUp", "PostgresListener"]
