#!/usr/bin/env bash
# Prints the absolute path of a Python 3.12 interpreter (the Lambda runtime's version), or fails.
#
# Order: python3.12 on PATH, the newest pyenv 3.12.x, /usr/bin/python3.12, then `uv python find 3.12`.
# Each candidate is run, not just located: a pyenv shim sits on PATH even when no 3.12 is selected,
# and then it only prints an error. The path printed is the interpreter's own (sys.executable),
# never a shim, so callers can put its directory on PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Prints the interpreter's real path when "$1" runs and is 3.12; silent and non-zero otherwise.
# A virtual environment's python (an activated venv on PATH) gives its base interpreter instead:
# a venv built from another venv's python breaks when that one is removed.
probe() {
    local candidate="$1"
    [ -n "$candidate" ] && [ -x "$candidate" ] || return 1
    "$candidate" - 2>/dev/null <<'PY'
import os
import sys

assert sys.version_info[:2] == (3, 12)
path = sys.executable
if sys.prefix != sys.base_prefix:
    path = getattr(sys, "_base_executable", "") or ""
assert path and os.access(path, os.X_OK)
print(path)
PY
}

found() {
    local path
    if path="$(probe "$1")" && [ -n "$path" ]; then
        printf '%s\n' "$path"
        exit 0
    fi
}

if candidate="$(command -v python3.12 2>/dev/null)"; then
    found "$candidate"
fi

pyenv_root=""
if command -v pyenv >/dev/null 2>&1; then
    pyenv_root="$(pyenv root 2>/dev/null || true)"
fi
for root in "$pyenv_root" "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
    [ -n "$root" ] && [ -d "$root/versions" ] || continue
    # Newest patch release first (sort -V knows 3.12.10 > 3.12.9).
    while IFS= read -r candidate; do
        found "$candidate"
    done < <(find "$root/versions" -maxdepth 3 -path "$root/versions/3.12.*/bin/python3.12" 2>/dev/null | sort -V -r)
done

found /usr/bin/python3.12

for uv in "$(command -v uv 2>/dev/null || true)" "$here/../.venv/bin/uv"; do
    [ -n "$uv" ] && [ -x "$uv" ] || continue
    if candidate="$("$uv" python find --system 3.12 2>/dev/null)"; then
        found "$candidate"
    fi
done

cat >&2 <<'EOF'
error: no Python 3.12 interpreter found.
Looked for: python3.12 on PATH, $(pyenv root)/versions/3.12.*/bin/python3.12, /usr/bin/python3.12,
and `uv python find 3.12`. Install one (for example `pyenv install 3.12` or `uv python install 3.12`)
and run this again.
EOF
exit 1
