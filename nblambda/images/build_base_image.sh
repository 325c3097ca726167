#!/usr/bin/env bash
# Build nblambda's sandbox base image offline: no container registry needed.
#
#   bash build_base_image.sh [TAG]        (default TAG: nblambda/python:3.11)
#
# Recipe: debootstrap --variant=minbase a Debian bookworm tree (its python3 is
# 3.11) with python3 from the Debian mirror this machine's apt already uses,
# strip docs/locales/apt caches, add the mount points the sandbox uses
# (/var/runtime, /var/task, /opt/python, /tmp), then `docker import` it.
# Needs root (debootstrap) and a running Docker engine.
#
# Environment overrides:
#   NBLAMBDA_DEBIAN_MIRROR   mirror URL (default: read from /etc/apt/sources*)
#   NBLAMBDA_DEBIAN_SUITE    default bookworm
#   NBLAMBDA_IMAGE_PACKAGES  extra comma-separated Debian packages to include
#   NBLAMBDA_BUILD_DIR       parent dir for the temporary tree (default /var/tmp)
set -euo pipefail

TAG="${1:-nblambda/python:3.11}"
SUITE="${NBLAMBDA_DEBIAN_SUITE:-bookworm}"
PACKAGES="python3${NBLAMBDA_IMAGE_PACKAGES:+,${NBLAMBDA_IMAGE_PACKAGES}}"
RECIPE_VERSION=1

log() { printf '[build_base_image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap needs it)"
command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "Docker engine not reachable (docker info failed); start dockerd first (tests/setup_docker.sh does)"

# --- find the Debian mirror apt already uses -----------------------------
find_mirror() {
    local f uri
    # deb822 *.sources files: a stanza's URIs whose Suites include $SUITE
    # (not the -security/-updates ones).
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri="$(awk -v suite="$SUITE" '
            BEGIN { RS=""; FS="\n" }
            {
                uris=""; ok=0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^#/) continue
                    if ($i ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", $i); uris=$i }
                    if ($i ~ /^Suites:/) { n=split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok=1 }
                }
                if (ok && uris != "") { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f")"
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    # one-line format: deb [opts] URI SUITE COMPONENTS...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri="$(sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' || true)"
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    echo "http://deb.debian.org/debian"
}
MIRROR="${NBLAMBDA_DEBIAN_MIRROR:-$(find_mirror)}"

# --- debootstrap ----------------------------------------------------------
if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap missing and apt-get unavailable"
    log "installing debootstrap via apt"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends debootstrap >/tmp/nblambda-apt-debootstrap.log 2>&1; then
        apt-get update -q >/dev/null 2>&1 || true
        apt-get install -y -q --no-install-recommends debootstrap >/tmp/nblambda-apt-debootstrap.log 2>&1 \
            || { tail -n 20 /tmp/nblambda-apt-debootstrap.log >&2; die "apt-get install debootstrap failed"; }
    fi
fi

PARENT="${NBLAMBDA_BUILD_DIR:-/var/tmp}"
mkdir -p "$PARENT"
WORK="$(mktemp -d "$PARENT/nblambda-rootfs.XXXXXX")"
ROOTFS="$WORK/rootfs"

cleanup() {
    # debootstrap may leave proc/sys mounted inside the tree if it was interrupted.
    local m
    if [ -d "$ROOTFS" ]; then
        for m in $(awk -v r="$ROOTFS" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
            umount -l "$m" 2>/dev/null || true
        done
    fi
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

log "debootstrap $SUITE (minbase, +$PACKAGES) from $MIRROR"
START=$SECONDS
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2 || true
    tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    die "debootstrap failed"
fi
log "debootstrap done in $((SECONDS - START))s"

# --- slim it down -----------------------------------------------------------
rm -rf "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
       "$ROOTFS"/usr/share/locale/* "$ROOTFS"/usr/share/lintian "$ROOTFS"/usr/share/linda \
       "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/debconf/*-old \
       "$ROOTFS"/var/log/* "$ROOTFS"/var/cache/ldconfig/aux-cache "$ROOTFS"/debootstrap
mkdir -p "$ROOTFS"/var/lib/apt/lists/partial
# keep future apt installs inside the image from re-adding docs/locales
mkdir -p "$ROOTFS"/etc/dpkg/dpkg.cfg.d
cat >"$ROOTFS"/etc/dpkg/dpkg.cfg.d/01-nblambda-nodoc <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# apt sources for anyone who extends the image
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$ROOTFS"/etc/apt/sources.list

# mount points the sandbox uses
mkdir -p "$ROOTFS"/var/runtime "$ROOTFS"/var/task "$ROOTFS"/opt/python "$ROOTFS"/tmp
chmod 0755 "$ROOTFS"/var/runtime "$ROOTFS"/var/task "$ROOTFS"/opt/python
chmod 1777 "$ROOTFS"/tmp
# docker manages these at run time
: >"$ROOTFS"/etc/hostname
rm -f "$ROOTFS"/etc/resolv.conf

"$ROOTFS"/usr/bin/python3 --version >/dev/null 2>&1 || \
    chroot "$ROOTFS" /usr/bin/python3 --version >/dev/null || die "python3 missing from the tree"

# --- import -------------------------------------------------------------------
log "importing as $TAG"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'WORKDIR /var/task' \
    --change "LABEL org.nblambda.recipe=$RECIPE_VERSION org.nblambda.suite=$SUITE" \
    --change 'CMD ["python3"]' \
    --message "nblambda base image: debootstrap $SUITE minbase + $PACKAGES" \
    - "$TAG" >/dev/null

PYV="$(docker run --rm --network none "$TAG" python3 -c 'import sys; print(sys.version.split()[0])')" \
    || die "image $TAG was imported but python3 does not run in it"
SIZE="$(docker image inspect --format '{{.Size}}' "$TAG")"
log "built $TAG: python $PYV, size $((SIZE / 1024 / 1024)) MiB ($SIZE bytes)"
