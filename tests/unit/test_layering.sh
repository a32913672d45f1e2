#!/usr/bin/env bash
# The rule that makes the simulator possible (docs/ARCHITECTURE.md): common/,
# storage/ and gossip/ never see libuv, never read a clock, never draw
# randomness and never touch a socket; gossip/ and common/ do no file I/O.
#
# Checked against what the build produced, not against the source text:
#   1. headers: every object of those libraries is preprocessed again with
#      its own compile command (compile_commands.json, -M): it must include
#      no uv.h and no header of a layer above its own (common < storage <
#      gossip < node). The preprocessor drops comments and follows nested
#      includes, so neither a comment nor an indirect include fools it.
#      No -I/-isystem directory on those commands may hold uv.h: libuv's
#      include path reaches only gkv_node and what links it.
#   2. symbols: every undefined symbol of libgkv_{common,storage,gossip}.a
#      (nm -u) is either defined in the same or a lower layer, or on that
#      library's allow-list below. Anything else fails naming the object and
#      the symbol; a new libc call is added here on purpose or not at all.
#   3. state: no object of those libraries lives in .data or .bss (objdump
#      -t): per-store and per-core state belongs to its struct.
#
# usage: test_layering.sh BUILD_DIR   (ctest passes the build dir)
set -u
build=${1:?usage: test_layering.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
bad=0
fail() { echo "layering violation: $*"; bad=1; }

for l in common storage gossip node; do
  [ -f "$build/libgkv_$l.a" ] || { echo "missing $build/libgkv_$l.a (build first)"; exit 1; }
done
[ -f "$build/compile_commands.json" ] || { echo "missing $build/compile_commands.json"; exit 1; }

# --- 1. headers --------------------------------------------------------------
# Layer rank of a project path: what a file of rank r may include is rank <= r.
rank_of() {
  case "$1" in
    "$src"/common/*) echo 0 ;; "$src"/storage/*) echo 1 ;;
    "$src"/gossip/*) echo 2 ;; "$src"/node/*) echo 3 ;; *) echo 9 ;;
  esac
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
checked=0
while IFS=$'\t' read -r dir file cmd; do
  case "$file" in "$src"/common/*|"$src"/storage/*|"$src"/gossip/*) ;; *) continue ;; esac
  r=$(rank_of "$file")
  # libuv's include path is not on the command line (it comes only with
  # linking gkv_node): no -I/-isystem directory that holds uv.h.
  for inc in $(grep -oE -- '(-I|-isystem )[^ ]+' <<<"$cmd" | sed -E 's/^(-I|-isystem )//'); do
    if [ -e "$inc/uv.h" ]; then fail "${file#$src/} is compiled with libuv's include path $inc"; fi
  done
  # The object's own command, writing only the dependency list.
  cmd=$(sed -E 's/ -o [^ ]+/ -o \/dev\/null/' <<<"$cmd")
  if ! (cd "$dir" && eval "$cmd -M -MF $tmp/deps") 2>"$tmp/err"; then
    fail "${file#$src/}: preprocessing failed: $(head -3 "$tmp/err")"
    continue
  fi
  checked=$((checked + 1))
  for h in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$tmp/deps"); do
    case "$h" in
      */uv.h|*/uv/*) fail "${file#$src/} includes $h (libuv belongs to node/)"; continue ;;
    esac
    h=$(realpath -m "$h")
    case "$h" in "$src"/*) ;; *) continue ;; esac
    hr=$(rank_of "$h")
    if [ "$hr" -gt "$r" ]; then fail "${file#$src/} includes ${h#$src/} (a layer above it)"; fi
  done
done < <(python3 - "$build/compile_commands.json" <<'PY'
import json, shlex, sys
for e in json.load(open(sys.argv[1])):
    cmd = e.get("command") or shlex.join(e["arguments"])
    print(e["directory"], e["file"], cmd, sep="\t")
PY
)
[ "$checked" -ge 10 ] || fail "only $checked objects of common/, storage/, gossip/ in compile_commands.json"

# --- 2. symbols --------------------------------------------------------------
# Named categories first, so a failure says which rule broke.
forbidden_uv='^uv_'
forbidden_clock='^(clock_gettime|clock_getres|clock|gettimeofday|time|times|ftime|timespec_get|localtime|localtime_r|gmtime|gmtime_r|mktime|timegm|strftime|sleep|usleep|nanosleep|clock_nanosleep|timerfd_.*)$'
forbidden_rand='^(rand|rand_r|random|random_r|srand|srandom|initstate|setstate|drand48|erand48|lrand48|nrand48|mrand48|jrand48|srand48|seed48|getrandom|getentropy|arc4random.*|randombytes_.*)$'
forbidden_socket='^(socket|socketpair|connect|bind|listen|accept|accept4|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg|shutdown|setsockopt|getsockopt|getsockname|getpeername|getaddrinfo|getnameinfo|freeaddrinfo|gethostbyname.*|inet_.*|poll|ppoll|select|pselect|epoll_.*)$'

# What every library may call: memory, strings, formatting into buffers,
# math, compiler and sanitizer runtime (__floattixf/__floattitf: a 128-bit
# integer to long double, storage/counter.c), libsodium's primitives.
allow_base='^(calloc|malloc|realloc|free|memchr|memcmp|memcpy|memmove|memset|memmem|strchr|strrchr|strcmp|strncmp|strlen|strnlen|strdup|strndup|strerror|strtol|strtoul|strtoll|strtoull|strtold|snprintf|vsnprintf|__isoc99_sscanf|__isoc23_sscanf|sscanf|qsort|bsearch|log|log10|log2|exp|pow|sqrt|ceil|floor|__errno_location|__assert_fail|abort|__stack_chk_fail|__divti3|__udivti3|__modti3|__umodti3|__floatti[xt]f|__(asan|ubsan|lsan|sanitizer|sancov)_.*|_GLOBAL_OFFSET_TABLE_|sodium_.*|crypto_.*)$'
# storage/ owns the data directory: files, mmap, fsync, directory scans, and
# printing to a FILE* its caller passes (inspect).
allow_fileio='^(open|openat|close|read|pread|pread64|write|pwrite|pwrite64|lseek|fstat|fstatat|fstatat64|stat|lstat|fsync|fdatasync|ftruncate|posix_fallocate|fallocate|mmap|munmap|mremap|msync|madvise|mkdir|mkdirat|rename|renameat|unlink|unlinkat|opendir|fdopendir|readdir|closedir|flock|fcntl|sysconf|getpagesize|fprintf|vfprintf|fputc|fputs|fwrite|fflush)$'
# gossip/ encodes with msgpack-c's packer (wire_encode.c). Its msgpack_pack_*
# functions are static inline in <msgpack/pack.h>, so today they leave no
# undefined symbol; should a build ever emit them out of line, they are
# allowed here by name. msgpack-c's unpacker is not: it allocates for declared
# counts before checking them (a 5-byte input asks for 537 MB), so gossip/
# decodes with its bounded reader (mpack.h) and only tests call the unpacker.
# The packer stores big-endian with ntohs/ntohl (msgpack/sysdep.h), which
# glibc inlines when optimizing and calls as functions at -O0: byte-order
# arithmetic, not sockets.
allow_msgpack='^(msgpack_pack_.*|msgpack_packer_.*|ntohs|ntohl)$'
forbidden_unpack='^msgpack_(unpack.*|unpacker_.*|unpacked_.*|zone_.*|object_.*)$'

nm -g --defined-only "$build/libgkv_node.a" 2>/dev/null | awk 'NF==3{print $3}' | sort -u >"$tmp/def3"
defs=""
for l in common storage gossip; do
  r=$(rank_of "$src/$l/")
  nm -g --defined-only "$build/libgkv_$l.a" | awk 'NF==3{print $3}' | sort -u >"$tmp/def$r"
  defs="$defs $tmp/def$r"
  case $l in
    common) allow="$allow_base" ;;
    storage) allow="$allow_base|$allow_fileio" ;;
    gossip) allow="$allow_base|$allow_msgpack" ;;
  esac
  # Same or lower layer: defined in this library or one below it.
  # shellcheck disable=SC2086
  sort -u $defs >"$tmp/below"
  while read -r obj sym; do
    obj=${obj%:}
    obj=${obj#*:}
    where="libgkv_$l.a($obj)"
    if grep -qxF "$sym" "$tmp/below"; then continue; fi
    if [[ $sym =~ $forbidden_uv ]]; then fail "$where calls $sym (libuv)"; continue; fi
    if [[ $sym =~ $forbidden_clock ]]; then fail "$where calls $sym (reads a clock)"; continue; fi
    if [[ $sym =~ $forbidden_rand ]]; then fail "$where calls $sym (draws randomness)"; continue; fi
    if [[ $sym =~ $forbidden_socket ]]; then fail "$where calls $sym (sockets)"; continue; fi
    if [[ $sym =~ $forbidden_unpack ]]; then
      fail "$where calls $sym (msgpack-c's unbounded unpacker: decode with gossip/mpack.h)"
      continue
    fi
    if grep -qxF "$sym" "$tmp/def3"; then fail "$where calls $sym (defined in node/, a layer above)"; continue; fi
    if [[ $sym =~ $allow ]]; then continue; fi
    if [ "$l" != storage ] && [[ $sym =~ $allow_fileio ]]; then
      fail "$where calls $sym (file I/O: only storage/ and node/ touch files)"
      continue
    fi
    fail "$where calls $sym (not on the allow-list of tests/unit/test_layering.sh)"
  done < <(nm -A -u "$build/libgkv_$l.a" | awk '{print $1, $NF}')
done

# --- 3. no process-wide mutable state -------------------------------------
# A store's or a gossip core's state lives in its struct, so one process can
# hold many (the simulator holds thousands) and tests do not leak into each
# other: no object in .data/.bss (or thread-local) in these libraries.
# Read-only tables (.rodata, .data.rel.ro) are fine.
for l in common storage gossip; do
  while read -r obj sec sym; do
    case "$sym" in ___asan_gen*|__odr_asan*|.L*) continue ;; esac
    fail "libgkv_$l.a($obj) holds mutable global $sym (section $sec): make it a field of its struct"
  done < <(objdump -t "$build/libgkv_$l.a" | awk '
    /file format/ { obj = $1; sub(/:$/, "", obj); next }
    / O / && ($(NF-2) ~ /^(\.data|\.bss|\.tdata|\.tbss|\*COM\*)/) && ($(NF-2) !~ /^\.data\.rel\.ro/) {
      print obj, $(NF-2), $NF }')
done

if [ $bad -eq 0 ]; then echo "1 passed, 0 failed ($checked objects preprocessed)"; else echo "0 passed, 1 failed"; fi
exit $bad
