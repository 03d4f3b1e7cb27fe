#!/usr/bin/env bash
# Builds the two virtual environments of the project from the pinned requirement files.
#
#   .venv      dev tools (pytest, moto, ruff, mypy, cfn-lint, ...) and the project itself, editable,
#              so `imagegen` imports the same way from tests, scripts and the local stack.
#   .venv-sam  aws-sam-cli alone: it pins boto3, pydantic and click exactly, which would fight the
#              dev requirements in one environment.
#
# Idempotent and quick when nothing changed: each environment has a stamp file, and its work is
# skipped while the stamp is newer than the files it was built from. Packages come from PyPI only
# (uv ignores pip's configuration files). FORCE=1 rebuilds the environments' contents anyway.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

# The uv that pip installs into .venv and that then installs everything else.
UV_VERSION="0.13.8"

dev_venv="$root/.venv"
sam_venv="$root/.venv-sam"
dev_stamp="$dev_venv/.bootstrap-stamp"
sam_stamp="$sam_venv/.bootstrap-stamp"
dev_inputs=(requirements/dev.txt pyproject.toml scripts/bootstrap.sh)
sam_inputs=(requirements/sam.txt scripts/bootstrap.sh)

log() { printf '[bootstrap] %s\n' "$*"; }

# True when the stamp exists and no input is newer than it.
up_to_date() {
    local stamp="$1"
    shift
    [ "${FORCE:-0}" != "1" ] && [ -f "$stamp" ] || return 1
    local input
    for input in "$@"; do
        [ "$input" -nt "$stamp" ] && return 1
    done
    return 0
}

# True when the venv's interpreter still runs and is 3.12 (its base interpreter may have gone).
venv_usable() {
    [ -x "$1/bin/python" ] &&
        "$1/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}

if up_to_date "$dev_stamp" "${dev_inputs[@]}" && up_to_date "$sam_stamp" "${sam_inputs[@]}" &&
    venv_usable "$dev_venv" && venv_usable "$sam_venv"; then
    log "environments are up to date (FORCE=1 to rebuild)"
    exit 0
fi

python="$(scripts/find-python312.sh)"
log "using $python"

# ---- .venv ---------------------------------------------------------------------------------------
if ! venv_usable "$dev_venv"; then
    log "creating .venv"
    rm -rf "$dev_venv"
    "$python" -m venv "$dev_venv"
fi
uv="$dev_venv/bin/uv"
# `uv --version` prints "uv 0.13.8 (<build>)": compare the version word only.
installed_uv="$("$uv" --version 2>/dev/null || true)"
installed_uv="${installed_uv#uv }"
if [ "${installed_uv%% *}" != "$UV_VERSION" ]; then
    log "installing uv $UV_VERSION into .venv with pip"
    "$dev_venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
if up_to_date "$dev_stamp" "${dev_inputs[@]}"; then
    log ".venv is up to date"
else
    log "syncing .venv with requirements/dev.txt"
    # uv, pip and the project are not in dev.txt: listed here so the exact sync keeps them.
    extra="$(mktemp --suffix=.txt)"
    trap 'rm -f "$extra"' EXIT
    printf 'uv==%s\n' "$UV_VERSION" >"$extra"
    "$uv" pip sync --quiet --python "$dev_venv/bin/python" \
        requirements/dev.txt "$extra"
    log "installing the project (editable) into .venv"
    "$uv" pip install --quiet --python "$dev_venv/bin/python" --no-deps -e "$root"
    touch "$dev_stamp"
fi

# ---- .venv-sam -----------------------------------------------------------------------------------
if up_to_date "$sam_stamp" "${sam_inputs[@]}" && venv_usable "$sam_venv"; then
    log ".venv-sam is up to date"
else
    if ! venv_usable "$sam_venv"; then
        log "creating .venv-sam"
        rm -rf "$sam_venv"
        "$uv" venv --quiet --python "$python" "$sam_venv"
    fi
    log "syncing .venv-sam with requirements/sam.txt"
    "$uv" pip sync --quiet --python "$sam_venv/bin/python" requirements/sam.txt
    touch "$sam_stamp"
fi

log "done: .venv ($("$dev_venv/bin/python" --version)), .venv-sam ($("$sam_venv/bin/sam" --version))"
