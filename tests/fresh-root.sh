#!/usr/bin/env bash
# Proves the README's two commands on a machine that has nothing installed:
# builds a minimal Debian 12 root (debootstrap --variant=minbase: no
# compiler, no python3, no git, no sudo), clones the committed project into
# it, and runs there, under `env -i`, first `bash launch/test.sh` and then
# `bash launch/quickstart.sh`, each installing what it needs itself.
#
#   sudo bash tests/fresh-root.sh [--test-only | --quickstart-only] [-- QUICKSTART ARGS...]
#
# Not part of make check: it needs root, the Debian mirror, and about
# 20 minutes on 2 cores (docs/testing.md has the last result).
# Environment:
#   DF_FRESH_DIR     where the root is built (default: a new folder under /var/tmp)
#   DF_FRESH_KEEP=1  keep the root afterwards (default: removed)
#   DF_FRESH_MIRROR  the Debian mirror (default: the one apt uses here)
#   DF_FRESH_REF     the commit to clone (default: HEAD)
# Exit status: 0 both commands passed, 1 one failed, 77 not root.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[fresh-root] %s\n' "$*" >&2; }

run_test=1 run_quick=1 quick_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --test-only) run_quick=0 ;;
        --quickstart-only) run_test=0 ;;
        --) shift; quick_args=("$@"); break ;;
        *) log "unknown option '$1' (--test-only, --quickstart-only, -- QUICKSTART ARGS)"; exit 2 ;;
    esac
    shift
done

[ "$(id -u)" -eq 0 ] || { log "needs root (debootstrap, chroot, mounts): skipped"; exit 77; }

# The mirror apt uses on this machine: the first URIs of a deb822 .sources
# file that serves bookworm, else the first 'deb' line of sources.list.
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { uri = $2 } /^Suites:/ && /bookworm( |$)/ && uri !~ /security/ { print uri; exit }' "$f"
    done | head -n 1
    if [ -f /etc/apt/sources.list ]; then
        awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list
    fi
}
mirror=${DF_FRESH_MIRROR:-$(find_mirror | head -n 1)}
[ -n "$mirror" ] || { log "cannot tell which Debian mirror apt uses: set DF_FRESH_MIRROR"; exit 1; }

command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

work=${DF_FRESH_DIR:-$(mktemp -d /var/tmp/deepfried-fresh.XXXXXX)}
mkdir -p "$work"
root=$work/root
mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R -l "${mounted[i]}" 2>/dev/null || true
    done
    if [ "${DF_FRESH_KEEP:-0}" != 1 ]; then
        # never follow a mount that is still there
        findmnt -R "$root" >/dev/null 2>&1 && { log "mounts remain under $root: not removed"; return; }
        rm -rf "$work"
    else
        log "root kept in $root"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
log "debootstrap --variant=minbase bookworm $root $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    log "debootstrap failed ($work/debootstrap.log)"
    DF_FRESH_KEEP=1
    exit 1
}
log "root built in $(( $(date +%s) - start )) s"

# What a fresh machine of this kind has that a bare root lacks: the
# network's name servers, /etc/hosts, and this network's extra certificate authorities
# (without them npm fails with SELF_SIGNED_CERT_IN_CHAIN: the root, not the project).
cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap writes no /etc/hosts; every installed machine has one
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
    >"$root/etc/hosts"
if [ -d /usr/local/share/ca-certificates ]; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
[ -f /etc/ssl/certs/ca-certificates.crt ] && mkdir -p "$root/etc/ssl/certs" &&
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"

ref=${DF_FRESH_REF:-HEAD}
log "cloning $src at $ref ($(git -C "$src" rev-parse --short "$ref"))"
git clone -q --no-hardlinks "$src" "$root/root/project"
git -C "$root/root/project" checkout -q "$(git -C "$src" rev-parse "$ref")"

# /sys with its cgroup file system (slurmd needs it: tests/slurm_requeue.sh)
# and /dev as a fresh machine has them; a /dev/shm of its own for Open MPI's
# shared-memory transport
for m in proc sys dev; do mkdir -p "$root/$m"; done
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")
mount -t tmpfs -o size=2g tmpfs "$root/dev/shm" && mounted+=("$root/dev/shm")

in_root() {  # name command: run it in the root under env -i, log to $work/name.log
    local name=$1 cmd=$2 t0 status=0
    t0=$(date +%s)
    log "$name: $cmd"
    chroot "$root" env -i HOME=/root TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -c "cd /root/project && $cmd" >"$work/$name.log" 2>&1 || status=$?
    log "$name: exit $status after $(( $(date +%s) - t0 )) s; last lines:"
    tail -n 6 "$work/$name.log" | sed 's/^/    /' >&2
    return "$status"
}

failed=0
if [ "$run_test" = 1 ]; then
    in_root test "bash launch/test.sh" || failed=1
    grep -E '^(make check|tests):' "$work/test.log" >&2 || true
    grep -E '^SKIP: ' "$work/test.log" | sed 's/^/    /' >&2 || true
fi
if [ "$run_quick" = 1 ]; then
    in_root quickstart "bash launch/quickstart.sh ${quick_args[*]:-}" || failed=1
    grep -E 'test error|parameters' "$work/quickstart.log" | tail -n 3 >&2 || true
fi
[ "$failed" = 0 ] || DF_FRESH_KEEP=1
log "total $(( $(date +%s) - start )) s; $([ "$failed" = 0 ] && echo passed || echo FAILED: logs in "$work")"
exit "$failed"
