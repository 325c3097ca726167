#!/usr/bin/env bash
# Make a Docker engine and nblambda's base image available. Idempotent: safe to
# run any number of times; does nothing but two quick checks when all is ready.
#
#   bash tests/setup_docker.sh
#
# 1. If `docker info` fails: (as root) install Debian's docker.io when dockerd is
#    missing, then start dockerd in the background (setsid nohup), trying
#    progressively more conservative flags until one answers:
#      defaults  ->  --iptables=false --ip-masq=false  ->  --iptables=false --bridge=none
#    The storage driver is chosen up front: overlay2 when a test overlay mount
#    works on the data-root's file system, vfs otherwise.
# 2. If the image (default nblambda/python:3.11) is missing, build it offline
#    with nblambda/images/build_base_image.sh (debootstrap + docker import).
# 3. Smoke test: python3 runs in the image with --network none.
#
# Environment:
#   NBLAMBDA_IMAGE                   image tag (default nblambda/python:3.11)
#   NBLAMBDA_DOCKERD_LOG             dockerd log (default /tmp/nblambda-dockerd.log)
#   NBLAMBDA_DOCKERD_TIMEOUT         seconds to wait for each dockerd attempt (default 60)
#   NBLAMBDA_DOCKER_STORAGE_DRIVER   force a storage driver (e.g. vfs)
#   NBLAMBDA_REBUILD_IMAGE=1         rebuild the image even if present
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
IMAGE="${NBLAMBDA_IMAGE:-nblambda/python:3.11}"
BUILD_SCRIPT="$REPO/nblambda/images/build_base_image.sh"
LOG="${NBLAMBDA_DOCKERD_LOG:-/tmp/nblambda-dockerd.log}"
TIMEOUT="${NBLAMBDA_DOCKERD_TIMEOUT:-60}"
[ "$TIMEOUT" -ge 5 ] 2>/dev/null || TIMEOUT=5
DATA_ROOT="/var/lib/docker"

say() { printf '[setup_docker] %s\n' "$*"; }
die() { printf '[setup_docker] ERROR: %s\n' "$*" >&2; exit 1; }

engine_up() { docker info >/dev/null 2>&1; }

# Serialise concurrent runs (two test sessions starting at once).
if command -v flock >/dev/null 2>&1; then
    exec 9>"/tmp/nblambda-setup-docker.lock"
    flock -w 600 9 || die "timed out waiting for another setup_docker.sh run"
fi

command -v docker >/dev/null 2>&1 || NEED_CLI=1

# --- 1. engine ------------------------------------------------------------------
install_engine() {
    [ "$(id -u)" -eq 0 ] || die "no Docker engine reachable and not root: cannot install/start dockerd (start Docker yourself, or run this as root)"
    command -v apt-get >/dev/null 2>&1 || die "dockerd is missing and apt-get is unavailable: install a Docker engine by hand"
    say "installing Debian's docker.io (dockerd, containerd, runc)"
    export DEBIAN_FRONTEND=noninteractive
    # apt-get update only if the package lists do not know docker.io (fresh
    # machine) or the install fails (stale lists).
    local policy
    policy="$(apt-cache policy docker.io 2>/dev/null || true)"
    if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
        say "apt-get update"
        apt-get update -q >/dev/null || die "apt-get update failed"
    fi
    if ! apt-get install -y -q --no-install-recommends docker.io >/tmp/nblambda-apt-docker.log 2>&1; then
        say "install failed; apt-get update and retry"
        apt-get update -q >/dev/null || die "apt-get update failed"
        apt-get install -y -q --no-install-recommends docker.io >/tmp/nblambda-apt-docker.log 2>&1 \
            || { tail -n 20 /tmp/nblambda-apt-docker.log >&2; die "apt-get install docker.io failed"; }
    fi
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd not on PATH"
}

pick_storage_driver() {
    if [ -n "${NBLAMBDA_DOCKER_STORAGE_DRIVER:-}" ]; then
        echo "$NBLAMBDA_DOCKER_STORAGE_DRIVER"; return
    fi
    # Same test dockerd's overlay2 driver does: an overlay mount with a
    # multi-lower stack on the data-root's file system.
    mkdir -p "$DATA_ROOT"
    local t rc=1
    t="$(mktemp -d "$DATA_ROOT/.nblambda-ovl-test.XXXXXX")"
    mkdir -p "$t/l1" "$t/l2" "$t/u" "$t/w" "$t/m"
    if mount -t overlay overlay -o "lowerdir=$t/l1:$t/l2,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
        touch "$t/m/probe" 2>/dev/null && rc=0
        umount "$t/m" 2>/dev/null || umount -l "$t/m" 2>/dev/null || true
    fi
    rm -rf --one-file-system "$t"
    if [ "$rc" -eq 0 ]; then echo overlay2; else echo vfs; fi
}

dockerd_pids() { pgrep -x dockerd 2>/dev/null | tr '\n' ' ' || true; }

stop_dockerd() {   # only the dockerd this script just started (no other runs: checked before)
    local p
    p="$(dockerd_pids)"
    [ -n "$p" ] || return 0
    # shellcheck disable=SC2086
    kill $p 2>/dev/null || true
    for _ in $(seq 1 30); do [ -z "$(dockerd_pids)" ] && return 0; sleep 0.5; done
    # shellcheck disable=SC2086
    kill -9 $p 2>/dev/null || true
    sleep 1
}

try_start() {   # try_start FLAGS... ; returns 0 when docker info answers
    say "starting dockerd $*"
    printf '\n===== %s dockerd %s =====\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG"
    local start_line
    start_line="$(wc -l <"$LOG")"
    # setsid: own session, so it survives the calling shell / job control.
    # Close every inherited fd above 2 first: our lock (fd 9) and any pipe of
    # the caller (CI's output pipe, a `| tee`) must not stay open in dockerd
    # and containerd for their whole life.
    (
        for fd in /proc/self/fd/*; do
            fd="${fd##*/}"
            [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid nohup dockerd "$@" >>"$LOG" 2>&1 </dev/null
    ) &
    local waited=0
    while [ "$waited" -lt "$TIMEOUT" ]; do
        sleep 1; waited=$((waited + 1))
        if engine_up; then
            say "dockerd answering after ${waited}s (pid $(dockerd_pids)log $LOG)"
            return 0
        fi
        if [ -z "$(dockerd_pids)" ]; then
            tail -n +"$((start_line + 1))" "$LOG" >"$LOG.tail" 2>/dev/null || true
            say "dockerd exited during start-up:"
            { grep -E 'level=(error|fatal)|^failed|Error' "$LOG.tail" 2>/dev/null || tail -n 5 "$LOG.tail"; } \
                | tail -n 4 | cut -c1-300 | sed 's/^/    /'
            return 1
        fi
    done
    say "dockerd did not answer within ${TIMEOUT}s; stopping it"
    stop_dockerd
    return 1
}

start_engine() {
    [ "$(id -u)" -eq 0 ] || die "no Docker engine reachable (docker info failed) and not root: start Docker yourself"
    # A dockerd already starting (e.g. another run, or one slow to come up): wait for it.
    if [ -n "$(dockerd_pids)" ]; then
        say "a dockerd process exists but does not answer yet; waiting up to ${TIMEOUT}s"
        for _ in $(seq 1 "$TIMEOUT"); do engine_up && return 0; sleep 1; done
        die "a dockerd process is running (pid $(dockerd_pids)) but docker info does not answer; see its log (ours: $LOG)"
    fi
    local sd
    sd="$(pick_storage_driver)"
    say "storage driver: $sd"
    local base=(--storage-driver "$sd")
    try_start "${base[@]}" && return 0
    # bridge/iptables trouble (no nf_tables/xt modules, no netfilter in a sandbox...)
    try_start "${base[@]}" --iptables=false --ip-masq=false && return 0
    try_start "${base[@]}" --iptables=false --ip-masq=false --bridge=none && return 0
    if [ "$sd" != vfs ]; then
        try_start --storage-driver vfs --iptables=false --ip-masq=false --bridge=none && return 0
    fi
    die "could not start dockerd with any flag set; see $LOG"
}

if engine_up; then
    say "Docker engine already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
else
    if ! command -v dockerd >/dev/null 2>&1 || [ -n "${NEED_CLI:-}" ]; then
        install_engine
    fi
    start_engine
fi

# --- 2. base image ---------------------------------------------------------------
if [ "${NBLAMBDA_REBUILD_IMAGE:-0}" = 1 ] || ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    [ -f "$BUILD_SCRIPT" ] || die "image $IMAGE missing and $BUILD_SCRIPT not found"
    say "building $IMAGE offline (debootstrap; takes a couple of minutes)"
    bash "$BUILD_SCRIPT" "$IMAGE" || die "building $IMAGE failed"
else
    say "image $IMAGE present"
fi

# --- 3. smoke test -----------------------------------------------------------------
out="$(docker run --rm --network none "$IMAGE" python3 -c 'import sys; print("python", sys.version.split()[0])' 2>&1)" \
    || die "smoke test failed: docker run $IMAGE python3: $out"
say "ready: $out in $IMAGE (storage driver $(docker info --format '{{.Driver}}' 2>/dev/null))"
