#!/usr/bin/env bash
# test_systemd.sh: the package's service unit under a real systemd.
#
# Where systemd is not PID 1 (containers, CI machines), test_package.sh can
# only run `systemd-analyze verify` on the unit. This test boots systemd as
# PID 1 in a container (systemd-nspawn --private-network: only a loopback
# interface inside) whose root is a copy-on-write overlay of this machine's
# root, the upper layer on a tmpfs the test mounts. Inside it runs
# test_package.sh, which then builds and installs the .deb, and starts,
# reloads and stops gossipkv.service with systemctl (the hardened unit as
# shipped: its own user, StateDirectory, ProtectSystem=strict, the syscall
# filter). Nothing the container writes reaches the host: the container,
# the overlay and the tmpfs are removed on exit, also on failure.
# Needs root, systemd-nspawn (systemd-container) and overlayfs; exit 77
# (skipped) otherwise.
set -u
BUILD_ARG=${1:?usage: $0 BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_ABS=$(cd "$BUILD_ARG" && pwd)
skip() { echo "skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "booting a container needs root"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn not found (scripts/deps installs systemd-container)"
[ -x /lib/systemd/systemd ] || skip "no systemd on this machine"
if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
  skip "systemd is PID 1 here: test_package.sh starts the unit itself"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gkv-systemd.XXXXXX")
ROOT=$WORK/root
NSPAWN_PID=
LOG=$WORK/nspawn.log
status=1

teardown() {
  if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    # SIGTERM asks the container's systemd to power off.
    kill -TERM "$NSPAWN_PID" 2>/dev/null
    for _ in $(seq 1 300); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NSPAWN_PID" 2>/dev/null
    wait "$NSPAWN_PID" 2>/dev/null
  fi
  mountpoint -q "$ROOT" && umount "$ROOT"
  mountpoint -q "$WORK/layer" && umount "$WORK/layer"
  rm -rf "$WORK"
}
trap teardown EXIT

mkdir -p "$ROOT" "$WORK/layer"
mount -t tmpfs -o size=4g,mode=0755 gkv-systemd "$WORK/layer" || skip "cannot mount a tmpfs"
mkdir -p "$WORK/layer/upper" "$WORK/layer/work"
if ! mount -t overlay gkv-systemd-root \
    -o "lowerdir=/,upperdir=$WORK/layer/upper,workdir=$WORK/layer/work" "$ROOT" 2>"$WORK/mount.err"; then
  skip "overlayfs over / is not available here: $(cat "$WORK/mount.err")"
fi

# The sources and the build directory are bound in at their own paths: the
# container gets its own /tmp, where a CI clone may live.
SRC=$(cd "$HERE/../.." && pwd)
binds=(--bind="$SRC")
case "$BUILD_ABS/" in "$SRC"/*) ;; *) binds+=(--bind="$BUILD_ABS") ;; esac
# basic.target: systemd and its sockets, none of the machine's own services.
systemd-nspawn --quiet -D "$ROOT" --private-network --register=no --link-journal=no \
  "${binds[@]}" --keep-unit -M gkv-systemd-test -b systemd.unit=basic.target \
  </dev/null >"$LOG" 2>&1 &
NSPAWN_PID=$!

leader=
for _ in $(seq 1 300); do
  kill -0 "$NSPAWN_PID" 2>/dev/null || break
  for pid in $(pgrep -P "$NSPAWN_PID"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] && leader=$pid
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
if [ -z "$leader" ]; then
  echo "FAIL - the container's systemd did not start"; cat "$LOG"
  echo "0 passed, 1 failed"; exit 1
fi
in_container() { nsenter -t "$leader" -a -- "$@"; }
# Until its manager answers on the private bus and start-up has finished.
state=
for _ in $(seq 1 600); do
  state=$(in_container systemctl is-system-running 2>&1)
  case "$state" in running|degraded) break ;; esac
  kill -0 "$NSPAWN_PID" 2>/dev/null || break
  sleep 0.1
done
case "$state" in
  running|degraded) echo "ok   - systemd is PID 1 in the container ($state)" ;;
  *) echo "FAIL - the container's systemd did not finish booting: $state"; tail -n 30 "$LOG"
     echo "0 passed, 1 failed"; exit 1 ;;
esac
in_container bash -c '[ "$(ps -p 1 -o comm=)" = systemd ]' || { echo "FAIL - PID 1 is not systemd inside"; exit 1; }

# The package test, inside; it takes its systemctl branch there.
in_container env -C "$HERE" bash "$HERE/test_package.sh" "$BUILD_ABS" | tee "$WORK/package.out"
status=${PIPESTATUS[0]}
if ! grep -q '^ok   - systemctl start gossipkv' "$WORK/package.out"; then
  echo "FAIL - the unit was not started by systemd inside the container"
  status=1
fi
exit "$status"
