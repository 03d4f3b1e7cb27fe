"""One warm Lambda execution environment: imports a handler once and runs invocations read from stdin.

Run as a script (``python -P worker.py module.function``) with the function's environment and
``PYTHONPATH=<code dir>:<layer dirs>`` so that, as on Lambda, nothing but the function's code, its layers
and the installed packages is importable. It therefore imports only the standard library.

Protocol: one JSON object per line. In on stdin: ``{"id", "event", "deadline_ms", "request_id",
"function_arn"}``. Out on the original stdout: ``{"type": "ready"}`` or ``{"type": "init_error", "error"}``
once, then ``{"type": "result", "id", "ok", "result" | "error"}`` per invocation. Whatever the function
prints goes to stderr, which the stack shows as the function's log.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO


class LambdaContext:
    """The attributes of the Python runtime's context object (memory_limit_in_mb is a string there too)."""

    def __init__(self, request_id: str, function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_root_log_handler() -> _RequestIdFilter:
    # The Lambda runtime gives the root logger a handler in this format; code that only calls
    # logging.getLogger().setLevel(...) relies on it.
    request_filter = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    )
    handler.addFilter(request_filter)
    logging.Formatter.converter = time.gmtime
    logging.getLogger().addHandler(handler)
    return request_filter


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=_json_default) + "\n")
    channel.flush()


def _load(handler_path: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = handler_path.rpartition(".")
    module = importlib.import_module(module_name.replace("/", "."))
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler  # type: ignore[no-any-return]


def main(argv: list[str]) -> int:
    # Keep the real stdout for the protocol and send everything else the process writes to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    request_filter = _install_root_log_handler()
    try:
        handler = _load(argv[1])
    except Exception as exc:
        error_type = (
            "Runtime.ImportModuleError" if isinstance(exc, ImportError) else "Runtime.HandlerNotFound"
        )
        if not isinstance(exc, ImportError | AttributeError):
            error_type = type(exc).__name__
        traceback.print_exc()
        _send(channel, {"type": "init_error", "error": _error(exc, error_type)})
        return 1
    _send(channel, {"type": "ready"})
    for line in sys.stdin:
        request = json.loads(line)
        request_filter.request_id = request["request_id"]
        context = LambdaContext(request["request_id"], request["function_arn"], request["deadline_ms"])
        reply: dict[str, Any] = {"type": "result", "id": request["id"]}
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
            reply.update(ok=False, error=_error(exc))
        else:
            try:
                json.dumps(result, default=_json_default)
                reply.update(ok=True, result=result)
            except (TypeError, ValueError) as exc:
                reply.update(ok=False, error=_error(exc, "Runtime.MarshalError"))
        _send(channel, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
