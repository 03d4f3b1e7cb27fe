#!/usr/bin/env bash
# Browser tests of the web app: start the local stack on a free port (serving frontend/dist), and a second
# one with UPLOAD_METHOD=PUT for the upload-by-PUT test, run the playwright-core suite in headless Chromium
# against them, stop the stacks. Installs Debian's chromium when it is missing and we are root (CI);
# E2E_SCREENSHOTS=1 refreshes docs/screenshots/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "[e2e] installing chromium from Debian's packages"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "[e2e] /usr/bin/chromium is missing: install Debian's chromium package" >&2
        exit 1
    fi
fi
[ -f frontend/dist/index.html ] || make frontend

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
put_port="$(free_port)"
log="$(mktemp)"
put_log="$(mktemp)"
ADMIN_EMAILS="${E2E_ADMIN_EMAIL:-admin@example.com}" .venv/bin/python -m devstack.stack \
    --port "$port" --state-dir ".local/e2e-browser" >"$log" 2>&1 &
stack_pid=$!
# A second stack whose uploads are presigned PUTs (UPLOAD_METHOD=PUT, as on Cloudflare R2), for one test.
UPLOAD_METHOD=PUT .venv/bin/python -m devstack.stack \
    --port "$put_port" --state-dir ".local/e2e-browser-put" >"$put_log" 2>&1 &
put_pid=$!
cleanup() {
    kill -TERM "$stack_pid" "$put_pid" 2>/dev/null || true
    wait "$stack_pid" "$put_pid" 2>/dev/null || true
    rm -f "$log" "$put_log"
}
trap cleanup EXIT

wait_ready() { # pid log
    for _ in $(seq 1 120); do
        grep -q "Local stack ready" "$2" && return 0
        kill -0 "$1" 2>/dev/null || { cat "$2"; echo "[e2e] the local stack did not start" >&2; exit 1; }
        sleep 0.5
    done
    grep -q "Local stack ready" "$2" || { cat "$2"; exit 1; }
}
wait_ready "$stack_pid" "$log"
wait_ready "$put_pid" "$put_log"
echo "[e2e] local stack on http://127.0.0.1:$port (UPLOAD_METHOD=PUT: http://127.0.0.1:$put_port)"

status=0
(cd frontend && E2E_BASE_URL="http://127.0.0.1:$port" E2E_PUT_BASE_URL="http://127.0.0.1:$put_port" npm run e2e) \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "[e2e] the local stack's log:"; tail -n 60 "$log"
    echo "[e2e] the UPLOAD_METHOD=PUT stack's log:"; tail -n 30 "$put_log"
fi
exit "$status"
