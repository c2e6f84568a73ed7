#!/usr/bin/env bash
# Container tooling for `make deploy-test` on a Debian (bookworm) machine, run as root.
#
#   containers.sh install   apt-get install podman/buildah/runc/debootstrap/prometheus/docker-compose
#                           (only what is missing) and write /etc/containers/containers.conf
#   containers.sh base      build (or reuse) the local Debian base image localhost/neo-base:bookworm
#
# Why these choices: base images cannot be pulled here, so the base is made with
# `debootstrap --variant=minbase bookworm` from the Debian mirror (python3.11 included) and cached as
# a tarball in $NEO_CI_CACHE (default /var/cache/neo-ci) between runs. Root on this kind of machine
# may not raise rlimits, so podman must not ask for more than the hard limit (default_ulimits), and
# crun is not installed (runtime = "runc"). Idempotent: every step is skipped when already done.
set -euo pipefail

CACHE="${NEO_CI_CACHE:-/var/cache/neo-ci}"
BASE_TAR="$CACHE/base-bookworm.tar"
BASE_IMAGE="${NEO_CI_BASE_IMAGE:-localhost/neo-base:bookworm}"
MIRROR="${NEO_CI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

log() { echo "containers.sh: $*" >&2; }

install_tools() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v buildah >/dev/null || missing+=(buildah)
    command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
    command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
    command -v promtool >/dev/null || missing+=(prometheus)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    # podman kube play builds its pause image around catatonit, only a Recommends of podman
    command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
            "${missing[@]}" uidmap slirp4netns fuse-overlayfs
        # the Debian package starts a Prometheus on :9090; the tests start their own
        $SUDO systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
    fi
    local conf=/etc/containers/containers.conf
    if ! grep -q 'runtime = "runc"' "$conf" 2>/dev/null; then
        log "writing $conf"
        $SUDO mkdir -p /etc/containers
        $SUDO tee "$conf" >/dev/null <<'CONF'
# Written by NEO's scripts/ci/containers.sh: runc (crun is absent) and rlimits root may set here.
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]

[engine]
runtime = "runc"
CONF
    fi
}

build_base() {
    if podman image exists "$BASE_IMAGE"; then
        log "base image $BASE_IMAGE present"
        return
    fi
    $SUDO mkdir -p "$CACHE"
    if [ ! -s "$BASE_TAR" ]; then
        local root
        root="$(mktemp -d "${TMPDIR:-/var/tmp}/neo-base.XXXXXX")"
        log "debootstrap bookworm into $root (a few minutes; cached in $BASE_TAR)"
        $SUDO debootstrap --variant=minbase \
            --include=python3.11,python3.11-venv,python3-venv,ca-certificates,tzdata \
            bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
            || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
        $SUDO chroot "$root" apt-get clean
        $SUDO rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
            "$root"/usr/share/man/* "$root"/var/log/*.log
        $SUDO tar -C "$root" --numeric-owner -cf "$BASE_TAR.tmp" .
        $SUDO mv "$BASE_TAR.tmp" "$BASE_TAR"
        $SUDO rm -rf "$root"
    fi
    log "importing $BASE_TAR as $BASE_IMAGE"
    podman import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
        "$BASE_TAR" "$BASE_IMAGE" >/dev/null
}

case "${1:-}" in
    install) install_tools ;;
    base) install_tools; build_base ;;
    *) echo "usage: $0 install|base" >&2; exit 2 ;;
esac
