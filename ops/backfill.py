"""Move existing images to the write-sharded index keys, without downtime.

    python -m ops.backfill [--table NAME] [--checkpoint FILE] [--segments N] [--page-size N]
                           [--rate WRITES_PER_S] [--stop-after PAGES] [--dry-run]

Scans the table for image items (a parallel Scan of ``--segments`` segments, read page by page in
turn) and gives every image whose ``gsi3pk``/``gsi4pk`` are not the ones the current code writes its
new keys (``imagegen.persistence.backfill``). Run it after deploying the code that writes the new
keys and reads both layouts; then drop the old reads (``docs/data-model.md``, "Migration").

- **Resumable**: each segment's LastEvaluatedKey and the counts are saved to ``--checkpoint`` (JSON,
  replaced atomically) after every page. Started again with the same file, it continues where it
  stopped (Ctrl-C, a crash, ``--stop-after``); a page cut short is done again, which is harmless.
  A checkpoint of another table or segment count is refused.
- **Idempotent**: an image already on the new keys is not written; a run over a migrated table
  writes nothing and reports ``remaining 0``.
- **Rate-limited**: at most ``--rate`` UpdateItems per second (a token bucket), so the backfill
  never takes an index partition's capacity from the traffic; each rewrite is about 3 writes of the
  item (the base item and the two index entries that move: 6 WRU for an item over 1 KB).

Exit status: 0 when every segment is done, 3 when stopped early (``--stop-after``; run it again),
130 on Ctrl-C (the checkpoint holds the last finished page), 2 when the table cannot be read or the
checkpoint does not match.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from imagegen.errors import DomainError

CHECKPOINT_VERSION = 1
DONE = "done"


class RateLimiter:
    """A token bucket: ``acquire`` waits until one more operation fits in ``rate`` per second."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = 1.0
        self._last = clock()

    def acquire(self) -> None:
        while True:
            now = self._clock()
            self._tokens = min(max(1.0, self.rate), self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0 - 1e-9:
                self._tokens = max(0.0, self._tokens - 1.0)
                return
            self._sleep(max((1.0 - self._tokens) / self.rate, 1e-6))


@dataclass
class Checkpoint:
    """Where each segment stands: absent = not started, a key = resume after it, ``"done"``."""

    table: str
    segments: int
    positions: dict[str, Any] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def finished(self) -> bool:
        return all(self.positions.get(str(s)) == DONE for s in range(self.segments))

    def save(self, path: Path) -> None:
        body = {
            "version": CHECKPOINT_VERSION,
            "table": self.table,
            "segments": self.segments,
            "positions": self.positions,
            "counts": dict(self.counts),
        }
        partial = path.with_name(path.name + ".tmp")
        partial.write_text(json.dumps(body, indent=1, sort_keys=True))
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path, table: str, segments: int) -> Checkpoint:
        if not path.exists():
            return cls(table, segments)
        body = json.loads(path.read_text())
        if body.get("version") != CHECKPOINT_VERSION or body.get("table") != table:
            raise ValueError(f"{path} is the checkpoint of another table or version")
        if body.get("segments") != segments:
            raise ValueError(f"{path} was made with --segments {body.get('segments')}")
        return cls(table, segments, dict(body.get("positions") or {}), Counter(body.get("counts") or {}))


@dataclass(frozen=True)
class Options:
    table: str
    checkpoint: Path
    segments: int = 1
    page_size: int = 100
    rate: float = 100.0
    stop_after: int | None = None
    dry_run: bool = False


def run(options: Options, out: TextIO, *, limiter: RateLimiter | None = None) -> int:
    from imagegen.persistence.backfill import ImageIndexBackfill

    backfill = ImageIndexBackfill(options.table)
    limiter = limiter or RateLimiter(options.rate)
    state = Checkpoint(options.table, options.segments)
    if not options.dry_run:
        state = Checkpoint.load(options.checkpoint, options.table, options.segments)
    pages = 0
    while not state.finished:
        for segment in range(options.segments):
            position = state.positions.get(str(segment))
            if position == DONE:
                continue
            if options.stop_after is not None and pages >= options.stop_after:
                print(f"stopped after {pages} pages: {_summary(state.counts)}", file=out)
                return 3
            page = backfill.scan_page(segment, options.segments, position, options.page_size)
            pages += 1
            state.counts["scanned"] += page.scanned
            for found in page.images:
                state.counts["images"] += 1
                if options.dry_run:
                    state.counts["current" if found.current else "remaining"] += 1
                    continue
                if not found.current:
                    limiter.acquire()
                outcome = backfill.migrate(found)
                state.counts[outcome.value] += 1
            state.positions[str(segment)] = page.last_key if page.last_key is not None else DONE
            if not options.dry_run:
                state.save(options.checkpoint)
    counts = state.counts
    if not options.dry_run:
        counts = Counter({**counts, "remaining": 0})
    print(f"done: {_summary(counts)}", file=out)
    return 0


def _summary(counts: Counter[str]) -> str:
    names = ("scanned", "images", "migrated", "current", "gone", "remaining")
    return ", ".join(f"{name} {counts.get(name, 0)}" for name in names)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    from imagegen.settings import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m ops.backfill",
        description="Give existing images the write-sharded index keys (resumable, idempotent, throttled)",
    )
    parser.add_argument("--table", help="table name (default: TABLE_NAME, else the settings' default)")
    parser.add_argument("--checkpoint", default="backfill-checkpoint.json", help="checkpoint file")
    parser.add_argument("--segments", type=int, default=1, help="parallel Scan segments (1..64)")
    parser.add_argument("--page-size", type=int, default=100, help="items a Scan page evaluates (1..1000)")
    parser.add_argument("--rate", type=float, default=100.0, help="UpdateItems per second at most")
    parser.add_argument("--stop-after", type=int, help="stop after this many Scan pages (resume later)")
    parser.add_argument("--dry-run", action="store_true", help="count what would move; write nothing")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if not 1 <= args.segments <= 64 or not 1 <= args.page_size <= 1000 or args.rate <= 0:
        print("error: --segments 1..64, --page-size 1..1000, --rate > 0", file=sys.stderr)
        return 2
    options = Options(
        table=args.table or get_settings().table_name,
        checkpoint=Path(args.checkpoint),
        segments=args.segments,
        page_size=args.page_size,
        rate=args.rate,
        stop_after=args.stop_after,
        dry_run=args.dry_run,
    )
    try:
        return run(options, out)
    except KeyboardInterrupt:
        print(f"interrupted: resume with the same --checkpoint {options.checkpoint}", file=sys.stderr)
        return 130
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: could not read or write table {options.table!r}: {exc.detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
