/*
 * counter.h: counters that converge (INCR and friends), as an entry kind.
 *
 * A counter entry (flags ENTRY_COUNTER) holds, in its value bytes, a state
 * of three parts (docs/ARCHITECTURE.md, "Counters"):
 *
 *   register  the last SET or DEL of the key (hlc, origin, value or
 *             tombstone), last writer wins as for any entry;
 *   items     per origin node, the running totals of its increments (p)
 *             and decrements (n), both only ever grow: merged by maximum
 *             (a PN-counter, shaped like the vector clock);
 *   observed  per origin, the totals the register's writer had seen when
 *             it wrote (op <= p, on <= n): what the SET or DEL reset.
 *
 * The key reads as register + sum over origins of (p - op) - (n - on): a
 * SET or DEL resets the increments it saw, increments it did not see
 * survive. Two states join component-wise (the larger register with its
 * observed totals, per-origin maximum of p and n, the larger top stamp), a
 * join-semilattice, so merging is commutative, associative and idempotent
 * (tests/unit/test_counter.c). A plain value or tombstone is the state with
 * that register and no items, which is how plain and counter versions of a
 * key merge.
 *
 * Payload layout (little-endian, canonical: one encoding per state, so
 * equal states have equal version hashes on every node):
 *
 *   OFFSET SIZE DESCRIPTION
 *        0    1 version (1)
 *        1    1 register kind: 0 value, 1 tombstone
 *        2    1 items (1..COUNTER_ITEMS_MAX)
 *        3    1 zero
 *        4    4 register value length (0 for a tombstone)
 *        8    8 register hlc    (0 and origin 0: the key never had one)
 *       16    8 register origin
 *       24    L register value bytes
 *   24 + L   40 per item, ascending node, unique, p + n > 0:
 *                 node u64, p u64, n u64, op u64 (<= p), on u64 (<= n)
 *
 * The entry's own hlc/origin are the largest stamp of any write the state
 * holds (the last INCR, SET or DEL), so every write is a new version for
 * anti-entropy and the delta queues. ENTRY_TOMBSTONE is set exactly when
 * the key reads as absent (a tombstone register and nothing unseen).
 *
 * Pure code: no I/O, no clock, no randomness (strtold is the only libc
 * number parser used, as Redis uses it).
 */
#ifndef GKV_STORAGE_COUNTER_H
#define GKV_STORAGE_COUNTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/entry.h"

#define COUNTER_VERSION 1u
#define COUNTER_HDR_BYTES 24u
#define COUNTER_ITEM_BYTES 40u
/* A local increment adds its origin only while the state has fewer items
 * than this; past it the increment becomes a rebase (a register write of
 * the new number that observes every item). 16 origins * 40 bytes keeps a
 * counter delta well inside one 1400-byte datagram. */
#define COUNTER_ORIGINS_SOFT_MAX 16u
/* What a payload may carry at all. Joins can pass the soft limit (origins
 * that added themselves concurrently, each at most once), never this one
 * in a realistic cluster: a join that would is refused and counted
 * (GKV_ELIMIT, store stats merge errors). */
#define COUNTER_ITEMS_MAX 255u
/* Redis's MAX_LONG_DOUBLE_CHARS: the longest float INCRBYFLOAT formats. */
#define COUNTER_FMT_MAX 5120u

struct counter_item {
    uint64_t node, p, n, op, on;
};

/* A decoded payload; bytes borrowed from the entry. */
struct counter_view {
    bool reg_tomb;
    uint64_t reg_hlc, reg_origin;
    const uint8_t *reg_value;
    uint32_t reg_len;
    uint32_t n;
    const uint8_t *items; /* n * COUNTER_ITEM_BYTES */
};

/* Decode and validate an untrusted payload (layout above, canonical):
 * 0 or GKV_EINVAL. */
int counter_decode(const uint8_t *p, size_t len, struct counter_view *v);
void counter_item_at(const struct counter_view *v, uint32_t i, struct counter_item *out);

/* The counter-form view of any entry: a counter's payload decoded, a plain
 * value or tombstone as a register without items, NULL as the key that
 * never existed. GKV_EINVAL for a bad payload. */
int counter_view_of(const struct entry *e, struct counter_view *v);

enum counter_read_kind {
    COUNTER_READ_ABSENT, /* the key reads as absent */
    COUNTER_READ_BYTES,  /* the register's bytes as they are */
    COUNTER_READ_INT,    /* an integer (saturated at the int64 bounds) */
    COUNTER_READ_FLOAT,  /* a float register plus integer increments */
};

struct counter_read {
    enum counter_read_kind kind;
    const uint8_t *bytes; /* BYTES */
    uint32_t len;
    long long i;   /* INT */
    long double f; /* FLOAT */
};

/* What a state reads as (the rule in docs/ARCHITECTURE.md, "Counters"):
 * nothing unseen: the register (absent or its bytes). Otherwise the
 * register as a number (a tombstone as 0) plus the unseen totals; a
 * register that is not a number reads as its bytes (the unseen increments
 * stay in the state: a later SET observes them). */
void counter_read(const struct counter_view *v, struct counter_read *out);

/* Format a read as GET answers it into buf (cap >= COUNTER_FMT_MAX for a
 * FLOAT): integers as %lld, floats as Redis's INCRBYFLOAT does (%.17Lf,
 * trailing zeros and a lone '.' removed, "-0" as "0"). Returns the length
 * and points *out at the bytes (the register's own for BYTES); 0 and NULL
 * for ABSENT. */
size_t counter_format(const struct counter_read *r, char *buf, size_t cap, const uint8_t **out);

/* Redis's string2ll: an optional '-', digits, no leading zero, no sign
 * '+', no spaces, within int64. */
bool counter_parse_ll(const uint8_t *s, size_t len, long long *out);
/* Redis's string2ld: the whole string as a long double (strtold), no
 * leading space, not NaN, at most COUNTER_FMT_MAX bytes. */
bool counter_parse_ld(const uint8_t *s, size_t len, long double *out);

/* An upper bound on the payload bytes of a join of a and b, or of any
 * write made from a (b NULL) with a new register value of reg_len bytes. */
size_t counter_bound(const struct entry *a, const struct entry *b, size_t reg_len);

/* The join of two versions of one key, at least one a counter: encoded
 * into buf (cap from counter_bound) and described by *out (key from a,
 * vector clock left empty: the caller merges clocks). GKV_EINVAL (bad
 * payload), GKV_ELIMIT (more than COUNTER_ITEMS_MAX origins). */
int counter_join(const struct entry *a, const struct entry *b, uint8_t *buf, size_t cap,
                 struct entry *out);

/* A local write on the state of cur (an entry, or NULL for an absent key),
 * stamped (hlc, self):
 *   counter_set: SET (value) or DEL (value NULL, tomb): the register
 *     becomes the write and observes every item;
 *   counter_add: INCRBY delta, when cur reads as an integer (GET's reply
 *     parses with counter_parse_ll; absent reads as 0): GKV_ENOTINT if not
 *     (Redis: "value is not an integer or out of range"), GKV_ERANGE if
 *     the result leaves int64 (Redis: "increment or decrement would
 *     overflow"). *result is the new value. The increment goes into self's
 *     item, unless self has no item and the state already holds
 *     COUNTER_ORIGINS_SOFT_MAX, or self's total would pass 2^64: then it
 *     is a rebase, a register write of the new number (*rebased, may be
 *     NULL, tells which).
 * Both encode into buf (cap from counter_bound) and fill *out as
 * counter_join does. */
int counter_set(const struct entry *cur, const uint8_t *key, uint32_t key_len,
                const uint8_t *value, uint32_t value_len, bool tomb, uint64_t hlc, uint64_t self,
                uint8_t *buf, size_t cap, struct entry *out);
int counter_add(const struct entry *cur, const uint8_t *key, uint32_t key_len, long long delta,
                uint64_t hlc, uint64_t self, uint8_t *buf, size_t cap, struct entry *out,
                long long *result, bool *rebased);

/* entry_merge's decision for a pair where at least one is a counter:
 * MERGE_KEEP_LOCAL when the join is local, MERGE_TAKE_INCOMING when it is
 * incoming, MERGE_JOIN otherwise (bad payloads: MERGE_KEEP_LOCAL). */
enum merge_result counter_merge_decide(const struct entry *local, const struct entry *incoming);

#endif
