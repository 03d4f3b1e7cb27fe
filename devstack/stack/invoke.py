"""``python -m devstack.stack.invoke FUNCTION EVENT_FILE``: run one function once, like
``sam local invoke`` but without Docker, against a fresh emulator holding the template's resources.

FUNCTION is a logical id (``ThumbnailerFunction``) or the function's directory name (``thumbnailer``);
EVENT_FILE is a JSON file, or ``-`` for standard input. The result is printed as JSON on stdout, the
function's logs go to stderr; the exit status is 1 when the function fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from devstack.stack.console import Console
from devstack.stack.stack import LocalStack, StackOptions
from devstack.template import TemplateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.stack.invoke", description=__doc__)
    parser.add_argument("function", help="logical id or directory name of the function")
    parser.add_argument("event", help="JSON event file, or - for stdin")
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "3000")),
        help="port the functions believe the API is on (API_BASE_URL)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not show the function's logs")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text(encoding="utf-8")
        event: Any = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read the event: {exc}", file=sys.stderr)
        return 2
    stack = LocalStack(
        StackOptions(
            template=args.template,
            port=args.port,
            gateway=False,
            event_sources=False,
            function_logs=not args.quiet,
        )
    )
    stack.console = Console(function_logs=not args.quiet, stream=sys.stderr)
    try:
        stack.start()
        assert stack.app is not None
        spec = stack.app.function_for(args.function)
        pool = stack.pools[spec.logical_id]
        outcome = pool.invoke(event)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.stop()
    print(f"{spec.short_name}: {outcome.describe()} in {outcome.duration_ms:.0f}ms", file=sys.stderr)
    print(json.dumps(outcome.result if outcome.ok else outcome.error, indent=2))
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
