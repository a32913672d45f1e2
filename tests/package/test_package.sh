#!/usr/bin/env bash
# test_package.sh: the Debian package. Builds it the way a release does
# (prefix /usr, dpkg-buildflags hardening, cpack -G DEB), checks it with
# dpkg-deb --info/--contents and lintian (no error, no warning), installs it
# with dpkg, checks what postinst made (system user, 0700 data directory,
# config readable by the service only), checks the systemd unit (started if
# systemd is PID 1, as test_systemd.sh arranges, else `systemd-analyze
# verify`), runs the installed binary
# as the gossipkv user on the installed config, then purges the package and
# checks the user and data are gone. The purge also runs on failure (trap).
# Needs root (dpkg); exit 77 (skipped) otherwise. Ports 24700-24799.
BUILD_ARG=${1:?usage: $0 BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: installing a package needs root"; exit 77
fi
. "$(dirname "$0")/../cluster/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PKG_BUILD=$BUILD_ARG/package-build
INSTALLED=0
NODE_PID=

pkg_cleanup() {
  if [ -n "$NODE_PID" ]; then kill -KILL "$NODE_PID" 2>/dev/null; fi
  if [ "$INSTALLED" = 1 ]; then
    dpkg --purge gossipkv >>"$TMP/dpkg.log" 2>&1 || echo "dpkg --purge gossipkv failed"
    rm -f /etc/gossipkv/cluster.key
    rmdir /etc/gossipkv 2>/dev/null
  fi
}
trap 'pkg_cleanup; cleanup' EXIT

for tool in cpack dpkg-deb lintian dpkg-shlibdeps dpkg-buildflags systemd-analyze setpriv; do
  command -v "$tool" >/dev/null || { fail "$tool not found (scripts/deps)"; summary; }
done
if dpkg-query -W -f='${Status}' gossipkv 2>/dev/null | grep -q installed; then
  fail "a gossipkv package is already installed here: not touching it"; summary
fi
if getent passwd gossipkv >/dev/null; then
  fail "a gossipkv user already exists here: not touching it"; summary
fi

# --- build ------------------------------------------------------------------
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cmake -S "$SRC" -B "$PKG_BUILD" -DCMAKE_BUILD_TYPE=Release -DGKV_WERROR=OFF -DGKV_BENCH=OFF \
  -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON \
  -DCMAKE_C_FLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
  -DCMAKE_EXE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)" >"$TMP/configure.log" 2>&1
check "configure with prefix /usr" [ $? = 0 ]
cmake --build "$PKG_BUILD" -j2 --target gossipkv gkv_package_files >"$TMP/build.log" 2>&1
check "build the binary, man pages and changelog" [ $? = 0 ]
rm -f "$PKG_BUILD"/gossipkv_*.deb
(cd "$PKG_BUILD" && cpack -G DEB) >"$TMP/cpack.log" 2>&1
DEB=$(ls "$PKG_BUILD"/gossipkv_*_*.deb 2>/dev/null | head -n 1)
check "cpack -G DEB builds a .deb" [ -n "$DEB" ]
[ -n "$DEB" ] || { cat "$TMP/cpack.log"; summary; }

# --- static checks ----------------------------------------------------------
dpkg-deb --info "$DEB" >"$TMP/info.txt"
dpkg-deb --contents "$DEB" | awk '{print $NF}' >"$TMP/contents.txt"
field() { dpkg-deb --field "$DEB" "$1"; }
check "Package: gossipkv" [ "$(field Package)" = gossipkv ]
deps=$(field Depends)
for lib in libc6 libuv1 libsodium23 libmicrohttpd12 adduser; do
  check "Depends names $lib (shlibdeps): $deps" grep -q "$lib" <<<"$deps"
done
check "maintainer scripts and conffiles in the control archive" \
  bash -c "grep -q postinst '$TMP/info.txt' && grep -q postrm '$TMP/info.txt' && grep -q conffiles '$TMP/info.txt'"
check "conffiles lists the example config" \
  bash -c "dpkg-deb --ctrl-tarfile '$DEB' | tar -xO ./conffiles | grep -qx /etc/gossipkv/gossipkv.conf"
for f in ./usr/bin/gossipkv ./usr/share/man/man1/gossipkv.1.gz ./usr/share/man/man5/gossipkv.conf.5.gz \
         ./etc/gossipkv/gossipkv.conf ./lib/systemd/system/gossipkv.service \
         ./usr/share/doc/gossipkv/copyright ./usr/share/doc/gossipkv/changelog.gz \
         ./usr/share/doc/gossipkv/examples/alerts.yml; do
  check "the package holds $f" grep -qx -- "$f" "$TMP/contents.txt"
done
check "nothing under /usr/local" bash -c "! grep -q '^./usr/local' '$TMP/contents.txt'"
lintian --fail-on error,warning --pedantic "$DEB" >"$TMP/lintian.txt" 2>&1; rc=$?
check "lintian: no error, no warning (exit $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || cat "$TMP/lintian.txt"

# --- install ----------------------------------------------------------------
INSTALLED=1
dpkg -i "$DEB" >"$TMP/dpkg.log" 2>&1; rc=$?
check "dpkg -i installs it (exit $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || { cat "$TMP/dpkg.log"; summary; }
check "postinst made the system user gossipkv" getent passwd gossipkv
uid=$(id -u gossipkv 2>/dev/null || echo 99999)
check "... a system uid ($uid) with no login shell" \
  bash -c "[ $uid -lt 1000 ] && getent passwd gossipkv | grep -q ':/usr/sbin/nologin$'"
check "... and the data directory, 0700 gossipkv:gossipkv" \
  [ "$(stat -c '%a %U:%G' /var/lib/gossipkv 2>/dev/null)" = "700 gossipkv:gossipkv" ]
check "the config is 0640 root:gossipkv (it may hold passwords)" \
  [ "$(stat -c '%a %U:%G' /etc/gossipkv/gossipkv.conf)" = "640 root:gossipkv" ]
check "gossipkv version runs from /usr/bin" bash -c "/usr/bin/gossipkv version | grep -q ."
# Slim container images tell dpkg to skip /usr/share/man: the pages are
# then checked in the package's contents (above) only.
if grep -qs '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
  pass "man pages: dpkg excludes /usr/share/man on this machine (contents checked above)"
else
  check "man finds gossipkv(1) and gossipkv.conf(5)" \
    bash -c "man -w gossipkv >/dev/null && man -w 5 gossipkv.conf >/dev/null"
  check "the man pages render without groff warnings" \
    bash -c "[ -z \"\$(MANWIDTH=80 man --warnings gossipkv 2>&1 >/dev/null)\" ] && [ -z \"\$(MANWIDTH=80 man --warnings 5 gossipkv.conf 2>&1 >/dev/null)\" ]"
fi
UNIT=/lib/systemd/system/gossipkv.service
check "the unit runs /usr/bin/gossipkv on /etc/gossipkv/gossipkv.conf" \
  grep -qx 'ExecStart=/usr/bin/gossipkv serve --config /etc/gossipkv/gossipkv.conf' "$UNIT"

# The unit: started for real only where systemd runs the machine.
BASE=$(pick_base 24700 24800 3) || { fail "no free ports in 24700-24799"; summary; }
G=$BASE C=$((BASE + 1)) M=$((BASE + 2))
KEY=/etc/gossipkv/cluster.key
/usr/bin/gossipkv keygen >"$KEY.tmp" && install -m 0600 -o gossipkv -g gossipkv "$KEY.tmp" "$KEY"
rm -f "$KEY.tmp"
if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
  mkdir -p /run/systemd/system/gossipkv.service.d
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/gossipkv serve --config /etc/gossipkv/gossipkv.conf --gossip 127.0.0.1:%s --client 127.0.0.1:%s\n' \
    "$G" "$C" >/run/systemd/system/gossipkv.service.d/test.conf
  systemctl daemon-reload
  check "systemctl start gossipkv" systemctl start gossipkv
  check "... it answers PING" wait_until 15 ping_ok "$C"
  check "systemctl reload (SIGHUP) keeps it running" bash -c "systemctl reload gossipkv && sleep 1 && systemctl is-active -q gossipkv"
  check "systemctl stop: a graceful stop" systemctl stop gossipkv
  rm -rf /run/systemd/system/gossipkv.service.d
  systemctl daemon-reload
else
  systemd-analyze verify "$UNIT" >"$TMP/verify.txt" 2>&1; rc=$?
  check "systemd is not PID 1 here: systemd-analyze verify accepts the unit (exit $rc)" [ "$rc" = 0 ]
  check "... without complaints about it" bash -c "! grep -i 'gossipkv.service' '$TMP/verify.txt'"
  [ "$rc" = 0 ] || cat "$TMP/verify.txt"
fi

# What the unit runs, by hand: the installed binary as the gossipkv user on
# the installed config and data directory (ports moved to free ones).
# setpriv execs the node, so its pid and exit status are the node's.
setpriv --reuid gossipkv --regid gossipkv --init-groups -- /usr/bin/gossipkv serve --config /etc/gossipkv/gossipkv.conf \
  --gossip "127.0.0.1:$G" --client "127.0.0.1:$C" --metrics "127.0.0.1:$M" >"$TMP/node.log" 2>&1 &
NODE_PID=$!
check "the installed config starts a node as the gossipkv user" wait_until 15 ping_ok "$C"
check "SET on it" [ "$(rcli "$C" SET pkg works)" = OK ]
check "GET on it" get_is "$C" pkg works
check "its files are in /var/lib/gossipkv, owned by gossipkv" \
  bash -c "[ -n \"\$(find /var/lib/gossipkv -user gossipkv -name 'header.gkv')\" ]"
kill -TERM "$NODE_PID"
for _ in $(seq 1 100); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
wait "$NODE_PID"; rc=$?
NODE_PID=
check "SIGTERM: graceful stop, exit 0 (got $rc)" [ "$rc" = 0 ]
check "... the store closed cleanly" grep -q "store closed cleanly" "$TMP/node.log"

# --- purge ------------------------------------------------------------------
rm -f "$KEY"
dpkg --purge gossipkv >>"$TMP/dpkg.log" 2>&1; rc=$?
INSTALLED=0
check "dpkg --purge (exit $rc)" [ "$rc" = 0 ]
check "purge removed the user" bash -c "! getent passwd gossipkv"
check "... the group" bash -c "! getent group gossipkv"
check "... the data directory" [ ! -e /var/lib/gossipkv ]
check "... and the config" [ ! -e /etc/gossipkv/gossipkv.conf ]
rmdir /etc/gossipkv 2>/dev/null
summary
