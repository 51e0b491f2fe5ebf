"""The queue is the task table (see ``storage.repository``); this package holds its wake-ups."""

from videoloom.queue.wakeup import LocalWakeUp

__all__ = ["LocalWakeUp"]
