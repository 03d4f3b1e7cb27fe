"""The stack's output: a readable line per request or event delivery; the functions' own logs on demand."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO


class Console:
    def __init__(self, *, function_logs: bool = False, stream: TextIO | None = None) -> None:
        self.function_logs = function_logs
        self._stream = stream
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            try:
                stream.write(text + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # output closed (the stack is stopping, or its reader went away)

    def trace(self, error: dict[str, Any]) -> None:
        """A failed invocation's stack trace, unless the function's own log (which has it) is shown."""
        if self.function_logs:
            return
        for frame in error.get("stackTrace") or []:
            for text in str(frame).rstrip("\n").splitlines():
                self.line(f"    {text}")

    def function_log(self, function: str, text: str) -> None:
        if self.function_logs:
            self.line(f"  [{function}] {text}")
