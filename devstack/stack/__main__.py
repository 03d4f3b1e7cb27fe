"""``python -m devstack.stack``: start the local stack and serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

from devstack.stack.stack import LocalStack, StackOptions
from devstack.template import TemplateError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.stack",
        description="Run the application of a SAM template on loopback: HTTP API, queues, storage events, "
        "schedules, and a local Google sign-in, with an embedded AWS emulator.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "3000")),
        help="HTTP port (env PORT, default 3000; 0 picks a free one)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--template", type=Path, default=Path("template.yaml"), help="SAM template (default template.yaml)"
    )
    parser.add_argument(
        "--frontend-dist",
        type=Path,
        default=None,
        help="built frontend to serve (default frontend/dist next to the template, if it exists)",
    )
    parser.add_argument(
        "--openapi",
        type=Path,
        default=None,
        help="OpenAPI document to serve at /openapi.json, with Swagger UI at /docs "
        "(default docs/openapi.json next to the template, if it exists)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".local"),
        help="where the running stack writes localstack.json (its URLs); default .local/",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="start from empty state; the emulator keeps nothing across restarts, so this is "
        "always the case and the flag is accepted for scripts",
    )
    parser.add_argument(
        "--function-logs",
        action="store_true",
        default=os.environ.get("LOCAL_FUNCTION_LOGS", "") not in ("", "0", "false"),
        help="show the functions' own log lines (env LOCAL_FUNCTION_LOGS=1)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    dist = args.frontend_dist
    if dist is None:
        candidate = args.template.resolve().parent / "frontend" / "dist"
        dist = candidate if candidate.is_dir() else None
    openapi = args.openapi
    if openapi is None:
        candidate = args.template.resolve().parent / "docs" / "openapi.json"
        openapi = candidate if candidate.is_file() else None
    stack = LocalStack(
        StackOptions(
            template=args.template,
            host=args.host,
            port=args.port,
            frontend_dist=dist,
            openapi=openapi,
            state_dir=args.state_dir,
            function_logs=args.function_logs,
        )
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        stack.start()
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    while not stop.wait(0.2):
        pass
    stack.console.line("stopping")
    started = time.monotonic()
    took = stack.stop()
    parts = ", ".join(f"{part} {seconds:.1f}s" for part, seconds in took.items())
    stack.console.line(f"stopped in {time.monotonic() - started:.1f}s ({parts})")
    return 0


def leave(code: int) -> NoReturn:
    """Exit without the interpreter's finalization. Everything the stack owns is stopped by then (workers,
    servers, event sources; the state file removed): what remains is the heap, and after a long session
    the emulator holds millions of objects whose final garbage collection and deallocation took longer
    than the whole orderly stop (see docs/performance.md, "The local stack"). The OS frees it at once."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    leave(main())
