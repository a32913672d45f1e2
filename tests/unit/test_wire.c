/*
 * Unit and property tests for gossip/wire.h: the message codec and its
 * bounded decoder.
 *
 * What is checked: round trips of every message type with edge values,
 * several messages per datagram, encoder overflow, every truncation and every
 * single-byte change of a valid datagram, the msgpack bombs that make
 * msgpack-c allocate gigabytes, unknown types, versions and fields. The
 * decoder's promise never to allocate is checked by counting allocations
 * (a malloc replacement in plain builds, the sanitizer allocator's hooks
 * under ASan).
 *
 * Hand-built "foreign" messages are written with msgpack-c's packer: an
 * independent encoder, so the decoder is not only tested against its twin.
 *
 * The randomized tests print their seed; GKV_SEED=<n> replays a run.
 * `test_wire --write-corpus DIR` runs no test: it writes the seed corpus
 * of tests/fuzz/fuzz_wire.c into DIR (tests/fuzz/write_corpus runs it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <msgpack.h>
#include <sodium.h>

#include "common/errors.h"
#include "common/rng.h"
#include "gossip/wire.h"
#include "storage/entry.h"
#include "wire_msgpack_ref.h"
#include "tests/test_seed.h"

/* Default seed of the randomized tests (any fixed value keeps CI
 * reproducible; GKV_SEED explores others). */
#define TEST_SEED_DEFAULT UINT64_C(0x5157494d)

static uint64_t g_seed = TEST_SEED_DEFAULT;

/* ================================================= allocation counting */

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

static volatile int g_counting;
static volatile size_t g_alloc_calls;
static volatile size_t g_alloc_bytes;

static void count_alloc(size_t n)
{
    if (g_counting) {
        g_alloc_calls++;
        g_alloc_bytes += n;
    }
}

#ifdef TEST_ASAN
/* The sanitizer allocator calls these on every malloc/free (declared here:
 * GCC does not ship <sanitizer/allocator_interface.h>). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static void hook_malloc(const volatile void *p, size_t n)
{
    (void)p;
    count_alloc(n);
}
static void hook_free(const volatile void *p)
{
    (void)p;
}
static int alloc_counter_install(void)
{
    return __sanitizer_install_malloc_and_free_hooks(hook_malloc, hook_free) != 0 ? 0 : -1;
}
#else
/* Replace malloc for this executable (glibc supports replacing it; the
 * originals stay reachable as __libc_*), counting while g_counting is set. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
void *malloc(size_t n)
{
    count_alloc(n);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
    count_alloc(n * size);
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
    count_alloc(n);
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
static int alloc_counter_install(void)
{
    return 0;
}
#endif

static void counting_start(void)
{
    g_alloc_calls = 0;
    g_alloc_bytes = 0;
    g_counting = 1;
}

static void counting_stop(void)
{
    g_counting = 0;
}

/* ============================================================= helpers */

/* Byte material for keys and values: a fixed pattern, big enough for a
 * maximum value. */
static uint8_t g_bytes[GKV_VALUE_MAX_DEFAULT + GKV_KEY_MAX];

static struct wire_msg *msg_new(uint8_t type)
{
    struct wire_msg *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->type = type;
    m->version = WIRE_VERSION;
    m->sender_id = 0x1122334455667788ull;
    m->sender_hlc = HLC_MAKE(1700000000000ull, 7);
    return m;
}

static void member_fill(struct wire_member *m, uint64_t id, const char *name, const char *addr,
                        uint64_t inc, uint8_t state)
{
    m->id = id;
    m->name = name;
    m->name_len = (uint32_t)strlen(name);
    m->addr = addr;
    m->addr_len = (uint32_t)strlen(addr);
    m->incarnation = inc;
    m->state = state;
}

static void entry_fill(struct entry *e, uint32_t key_off, uint32_t key_len, uint32_t value_len,
                       bool tombstone, uint64_t hlc, uint64_t origin, uint32_t vc_n)
{
    memset(e, 0, sizeof(*e));
    e->key = g_bytes + key_off;
    e->key_len = key_len;
    if (!tombstone) {
        e->value = g_bytes + key_off + 1;
        e->value_len = value_len;
    }
    e->flags = tombstone ? ENTRY_TOMBSTONE : 0;
    e->hlc = hlc;
    e->origin = origin;
    e->vc.n = vc_n;
    for (uint32_t i = 0; i < vc_n; i++) {
        e->vc.items[i].node = (uint64_t)i * 1000 + 1;
        e->vc.items[i].counter = (uint64_t)i * 77 + 1;
    }
}

/* One message of each type, with edge values: 0 and UINT64_MAX ids, max
 * sequence numbers, maximum name and address lengths, every member state,
 * empty value, maximum key, tombstone, full vector clock. *n gets the count.
 * Caller frees each. */
#define ALL_TYPES 14
/* A name and an address of the maximum lengths (filled in main). */
static char g_name128[WIRE_MAX_NAME + 1];
static char g_addr64[WIRE_MAX_ADDR + 1];

static void all_types(struct wire_msg *out[ALL_TYPES])
{
    int i = 0;
    struct wire_msg *m;

    m = out[i++] = msg_new(WIRE_PING);
    m->u.ping.seq = UINT32_MAX;
    m->u.ping.target_id = 0;
    m->u.ping.source_id = UINT64_MAX;
    m->u.ping.send_ms = 1700000000123ull;

    m = out[i++] = msg_new(WIRE_PING_REQ);
    m->u.ping_req.seq = 12345;
    m->u.ping_req.target_id = 42;
    m->u.ping_req.target_addr = g_addr64;
    m->u.ping_req.target_addr_len = WIRE_MAX_ADDR;
    m->u.ping_req.source_id = 7;

    m = out[i++] = msg_new(WIRE_ACK);
    m->u.ack.seq = 0;
    m->u.ack.source_id = 99;
    m->u.ack.echo_ms = 1700000000123ull;
    m->u.ack.reply_ms = 1700000030456ull;

    m = out[i++] = msg_new(WIRE_NACK);
    m->u.ack.seq = 128;
    m->u.ack.source_id = 0x100000000ull;

    static const uint8_t sus_types[4] = {WIRE_ALIVE, WIRE_SUSPECT, WIRE_DEAD, WIRE_LEAVE};
    for (int s = 0; s < 4; s++) {
        m = out[i++] = msg_new(sus_types[s]);
        member_fill(&m->u.suspicion.member, UINT64_MAX - (uint64_t)s, s == 0 ? g_name128 : "",
                    s == 1 ? g_addr64 : "127.0.0.1:7946", (uint64_t)s << 40, (uint8_t)s);
        m->u.suspicion.from_id = (uint64_t)s;
    }

    m = out[i++] = msg_new(WIRE_JOIN);
    m->u.state.is_reply = false;
    m->u.state.n = 1;
    member_fill(&m->u.state.members[0], 5, "n5", "10.0.0.5:7946", 1, WIRE_STATE_ALIVE);

    m = out[i++] = msg_new(WIRE_STATE);
    m->u.state.is_reply = true;
    m->u.state.n = 4;
    for (uint32_t k = 0; k < 4; k++)
        member_fill(&m->u.state.members[k], k + 1, "node", "127.0.0.1:1", k * 3, (uint8_t)k);

    m = out[i++] = msg_new(WIRE_DELTAS);
    m->u.entries.n = 4;
    entry_fill(&m->u.entries.entries[0], 0, 1, 0, false, 1, 2, 0);          /* empty value */
    entry_fill(&m->u.entries.entries[1], 3, GKV_KEY_MAX, 5, false, 3, 4, 1); /* max key */
    entry_fill(&m->u.entries.entries[2], 9, 3, 0, true, UINT64_MAX, UINT64_MAX, 2); /* tomb */
    entry_fill(&m->u.entries.entries[3], 11, 8, 256, false, HLC_MAKE(1, 65535), 0,
               GKV_VCLOCK_MAX); /* full vclock */
    m->u.entries.entries[3].vc.items[GKV_VCLOCK_MAX - 1].node = UINT64_MAX;
    m->u.entries.entries[3].vc.items[GKV_VCLOCK_MAX - 1].counter = UINT64_MAX;

    m = out[i++] = msg_new(WIRE_DIGEST);
    m->u.digest.root = 0xdeadbeefcafef00dull;
    m->u.digest.bucket_bits = 10;
    m->u.digest.first_bucket = 1000;
    m->u.digest.n = 24;
    for (uint32_t k = 0; k < 24; k++)
        m->u.digest.hashes[k] = k == 0 ? 0 : k == 1 ? UINT64_MAX : k * 0x9e3779b97f4a7c15ull;

    m = out[i++] = msg_new(WIRE_BUCKET_REQ);
    m->u.bucket_req.n = 5;
    m->u.bucket_req.buckets[0] = 0;
    m->u.bucket_req.buckets[1] = 127;
    m->u.bucket_req.buckets[2] = 128;
    m->u.bucket_req.buckets[3] = 65536;
    m->u.bucket_req.buckets[4] = UINT32_MAX;

    m = out[i++] = msg_new(WIRE_REPAIR);
    m->u.entries.n = 1;
    entry_fill(&m->u.entries.entries[0], 0, 4, 70000, false, 99, 98, 3);

    assert_int_equal(i, ALL_TYPES);
}

static void all_types_free(struct wire_msg *msgs[ALL_TYPES])
{
    for (int i = 0; i < ALL_TYPES; i++)
        free(msgs[i]);
}

/* Encode msg alone into a fresh buffer (caller frees); checks that the
 * encoder wrote exactly wire_encoded_size bytes. */
static uint8_t *encode_one(const struct wire_msg *m, size_t *len)
{
    size_t size = wire_encoded_size(m);
    assert_true(size > 0);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    struct wire_encoder enc;
    wire_encoder_init(&enc, buf, size);
    assert_int_equal(wire_encode(&enc, m), 0);
    assert_int_equal(enc.len, size);
    assert_int_equal(enc.msgs, 1);
    *len = size;
    return buf;
}

/* A datagram holding one message of each type (caller frees). ends[i] is
 * the offset just past message i. */
static uint8_t *datagram_all_types(size_t *len, size_t ends[ALL_TYPES],
                                   struct wire_msg *msgs[ALL_TYPES])
{
    all_types(msgs);
    /* The REPAIR entry's 70000-byte value does not belong in a datagram;
     * shrink it so the whole thing is one MTU-sized-ish plaintext. */
    msgs[13]->u.entries.entries[0].value_len = 10;
    /* Maximum lengths have their own tests: keep this one a datagram. */
    msgs[10]->u.entries.entries[1].key_len = 40;
    msgs[10]->u.entries.entries[3].value_len = 40;
    msgs[4]->u.suspicion.member.name_len = 20;
    msgs[1]->u.ping_req.target_addr_len = 20;
    msgs[11]->u.digest.n = 12;
    size_t cap = 0;
    for (int i = 0; i < ALL_TYPES; i++)
        cap += wire_encoded_size(msgs[i]);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    struct wire_encoder enc;
    wire_encoder_init(&enc, buf, cap);
    for (int i = 0; i < ALL_TYPES; i++) {
        assert_int_equal(wire_encode(&enc, msgs[i]), 0);
        ends[i] = enc.len;
    }
    assert_int_equal(enc.len, cap);
    *len = cap;
    return buf;
}

/* Decode every message of buf; returns how many decoded, stops at the
 * first error other than EUNSUPPORTED/EVERSION (*last_rc). out may be NULL. */
static int decode_all(const uint8_t *buf, size_t len, struct wire_msg *scratch,
                      struct wire_msg **out, int max, int *last_rc, int *skipped)
{
    size_t off = 0;
    int n = 0, rc = 0, sk = 0;
    while (off < len && n + sk < (int)WIRE_MAX_MSGS_DATAGRAM) {
        struct wire_msg *m = out && n < max ? out[n] : scratch;
        rc = wire_decode(buf, len, &off, NULL, m);
        if (rc == GKV_EUNSUPPORTED || rc == GKV_EVERSION) {
            sk++;
            continue;
        }
        if (rc < 0)
            break;
        n++;
    }
    if (last_rc)
        *last_rc = rc;
    if (skipped)
        *skipped = sk;
    return n;
}

/* Hand-built messages with msgpack-c's packer. */
static void pk_key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
}

static void pk_head(msgpack_packer *pk, size_t pairs, int type, int version)
{
    msgpack_pack_map(pk, pairs);
    pk_key(pk, "t");
    msgpack_pack_int(pk, type);
    pk_key(pk, "v");
    msgpack_pack_int(pk, version);
    pk_key(pk, "s");
    msgpack_pack_uint64(pk, 77);
    pk_key(pk, "h");
    msgpack_pack_uint64(pk, 88);
}

static void pk_bin(msgpack_packer *pk, const void *d, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, d, n);
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A value that a decoder must skip: nested maps and arrays, ext, float,
 * nil, negative ints, a non-string key. Nesting 3 below where it sits. */
static void pk_junk(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    msgpack_pack_int(pk, -5); /* non-string key */
    msgpack_pack_array(pk, 3);
    msgpack_pack_nil(pk);
    msgpack_pack_double(pk, 1.5);
    msgpack_pack_array(pk, 1);
    msgpack_pack_float(pk, 2.5f);
    pk_key(pk, "ext");
    msgpack_pack_ext(pk, 3, 7);
    msgpack_pack_ext_body(pk, "abc", 3);
    pk_key(pk, "k"); /* a known letter in an unknown place */
    msgpack_pack_map(pk, 1);
    pk_key(pk, "e");
    msgpack_pack_int64(pk, INT64_MIN);
}

/* A PING at depth: {t,v,s,h,q,g,o, "x": <value built by fn>} */
static void pk_ping_with(msgpack_sbuffer *sb, void (*fn)(msgpack_packer *, void *), void *arg)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_head(&pk, 8, WIRE_PING, WIRE_VERSION);
    pk_key(&pk, "q");
    msgpack_pack_uint32(&pk, 1);
    pk_key(&pk, "g");
    msgpack_pack_uint64(&pk, 2);
    pk_key(&pk, "o");
    msgpack_pack_uint64(&pk, 3);
    pk_key(&pk, "x");
    fn(&pk, arg);
}

/* ================================================ round trips, layout */

static void test_wire_roundtrip_every_type(void **state)
{
    (void)state;
    struct wire_msg *msgs[ALL_TYPES];
    all_types(msgs);
    struct wire_msg *got = msg_new(0);
    for (int i = 0; i < ALL_TYPES; i++) {
        size_t len, off = 0;
        uint8_t *buf = encode_one(msgs[i], &len);
        int rc = wire_decode(buf, len, &off, NULL, got);
        if (rc != 0)
            fail_msg("type %s: %s", wire_type_name(msgs[i]->type), gkv_errname(rc));
        assert_int_equal(off, len);
        assert_true(wire_msg_equal(msgs[i], got));
        /* Zero copy: byte strings point into the input. */
        if (got->type == WIRE_DELTAS) {
            const struct entry *e = &got->u.entries.entries[1];
            assert_true(e->key >= buf && e->key + e->key_len <= buf + len);
            assert_int_equal(e->key_len, GKV_KEY_MAX);
            assert_int_equal(got->u.entries.entries[0].value_len, 0);
            assert_true(entry_is_tombstone(&got->u.entries.entries[2]));
            assert_null(got->u.entries.entries[2].value);
            assert_int_equal(got->u.entries.entries[3].vc.n, GKV_VCLOCK_MAX);
        }
        free(buf);
    }
    free(got);
    all_types_free(msgs);
}

/* An entry's expiry travels as its "x" field (absent when 0) and comes
 * back; a tombstone with one, an "x" of 0 or past the HLC's range are
 * refused on both sides. */
static void test_wire_entry_expiry_roundtrip_and_refusals(void **state)
{
    (void)state;
    struct wire_msg *m = msg_new(WIRE_REPAIR);
    struct entry *e = &m->u.entries.entries[0];
    e->key = (const uint8_t *)"k";
    e->key_len = 1;
    e->value = (const uint8_t *)"v";
    e->value_len = 1;
    e->hlc = HLC_MAKE(1700000000000ull, 1);
    e->origin = 3;
    e->expire_ms = 1700000060000ull;
    m->u.entries.entries[1] = *e;
    m->u.entries.entries[1].expire_ms = 0;
    m->u.entries.n = 2;
    size_t len, off = 0;
    uint8_t *buf = encode_one(m, &len);
    struct wire_msg *got = msg_new(0);
    assert_int_equal(wire_decode(buf, len, &off, NULL, got), 0);
    assert_true(wire_msg_equal(m, got));
    assert_int_equal(got->u.entries.entries[0].expire_ms, 1700000060000ull);
    assert_int_equal(got->u.entries.entries[1].expire_ms, 0);
    /* "x" (2 bytes) and a uint64 (9) are sent only when the value expires. */
    assert_int_equal(wire_entry_encoded_size(&m->u.entries.entries[1]) + 2 + 9,
                     wire_entry_encoded_size(e));
    free(buf);
    e->expire_ms = ENTRY_EXPIRE_MAX_MS + 1;
    assert_int_equal(wire_encoded_size(m), 0);
    e->expire_ms = 5;
    e->flags = ENTRY_TOMBSTONE;
    e->value = NULL;
    e->value_len = 0;
    assert_int_equal(wire_encoded_size(m), 0);
    /* Hand-made: a tombstone carrying "x", and an "x" of 0. */
    for (int bad = 0; bad < 2; bad++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pk_head(&pk, 5, WIRE_DELTAS, WIRE_VERSION);
        pk_key(&pk, "e");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 5);
        pk_key(&pk, "k");
        pk_bin(&pk, "k", 1);
        if (bad == 0) {
            pk_key(&pk, "f");
            msgpack_pack_uint64(&pk, ENTRY_TOMBSTONE);
        } else {
            pk_key(&pk, "d");
            pk_bin(&pk, "v", 1);
        }
        pk_key(&pk, "h");
        msgpack_pack_uint64(&pk, 1000);
        pk_key(&pk, "o");
        msgpack_pack_uint64(&pk, 1);
        pk_key(&pk, "x");
        msgpack_pack_uint64(&pk, bad == 0 ? 5 : 0);
        off = 0;
        assert_int_equal(wire_decode((const uint8_t *)sb.data, sb.size, &off, NULL, got),
                         GKV_EDECODE);
        msgpack_sbuffer_destroy(&sb);
    }
    free(got);
    free(m);
}

/* Our output is plain msgpack: msgpack-c (fed trusted bytes we produced)
 * reads each message as a map whose first keys are "t" and "v". */
static void test_wire_output_is_standard_msgpack(void **state)
{
    (void)state;
    struct wire_msg *msgs[ALL_TYPES];
    size_t ends[ALL_TYPES], len;
    uint8_t *buf = datagram_all_types(&len, ends, msgs);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    for (int i = 0; i < ALL_TYPES; i++) {
        assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, len, &off),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, ends[i]);
        const msgpack_object *o = &u.data;
        assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
        assert_true(o->via.map.size >= 4);
        assert_int_equal(o->via.map.ptr[0].key.type, MSGPACK_OBJECT_STR);
        assert_memory_equal(o->via.map.ptr[0].key.via.str.ptr, "t", 1);
        assert_int_equal(o->via.map.ptr[0].val.via.u64, msgs[i]->type);
        assert_memory_equal(o->via.map.ptr[1].key.via.str.ptr, "v", 1);
        assert_int_equal(o->via.map.ptr[1].val.via.u64, WIRE_VERSION);
    }
    msgpack_unpacked_destroy(&u);
    free(buf);
    all_types_free(msgs);
}

static void test_wire_multiple_messages_per_datagram(void **state)
{
    (void)state;
    struct wire_msg *msgs[ALL_TYPES], *got[ALL_TYPES];
    size_t ends[ALL_TYPES], len;
    uint8_t *buf = datagram_all_types(&len, ends, msgs);
    printf("one of each type: %zu bytes:", len);
    for (int i = 0; i < ALL_TYPES; i++)
        printf(" %s %zu", wire_type_name(msgs[i]->type), ends[i] - (i ? ends[i - 1] : 0));
    printf("\n");
    assert_true(len <= WIRE_MTU_DEFAULT);
    for (int i = 0; i < ALL_TYPES; i++)
        got[i] = msg_new(0);
    int rc;
    int n = decode_all(buf, len, NULL, got, ALL_TYPES, &rc, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(n, ALL_TYPES);
    for (int i = 0; i < ALL_TYPES; i++)
        assert_true(wire_msg_equal(msgs[i], got[i]));
    all_types_free(got);
    all_types_free(msgs);
    free(buf);
}

/* A counter's state travels as the entry's value, with its flags, also
 * when the counter reads as absent (flags counter | tombstone). */
static void test_wire_counter_entries_roundtrip(void **state)
{
    (void)state;
    struct wire_msg *m = msg_new(WIRE_DELTAS), *got = msg_new(0);
    m->u.entries.n = 2;
    entry_fill(&m->u.entries.entries[0], 20, 2, 64, false, 9, 9, 1);
    m->u.entries.entries[0].flags = ENTRY_COUNTER;
    entry_fill(&m->u.entries.entries[1], 30, 2, 64, false, 9, 9, 1);
    m->u.entries.entries[1].flags = ENTRY_COUNTER | ENTRY_TOMBSTONE;
    size_t len, off = 0;
    uint8_t *buf = encode_one(m, &len);
    assert_int_equal(wire_decode(buf, len, &off, NULL, got), 0);
    assert_true(wire_msg_equal(m, got));
    assert_int_equal(got->u.entries.entries[1].value_len, 64);
    free(buf);
    free(got);
    free(m);
}

static void test_wire_max_value_entry_fits_a_stream_frame(void **state)
{
    (void)state;
    struct wire_msg *m = msg_new(WIRE_REPAIR), *got = msg_new(0);
    m->u.entries.n = 1;
    entry_fill(&m->u.entries.entries[0], 0, GKV_KEY_MAX, GKV_VALUE_MAX_DEFAULT - 1, false,
               UINT64_MAX, UINT64_MAX, GKV_VCLOCK_MAX);
    m->u.entries.entries[0].value = g_bytes;
    m->u.entries.entries[0].value_len = GKV_VALUE_MAX_DEFAULT;
    size_t len, off = 0;
    uint8_t *buf = encode_one(m, &len);
    assert_true(len <= WIRE_MAX_FRAME);
    assert_int_equal(wire_decode(buf, len, &off, NULL, got), 0);
    assert_true(wire_msg_equal(m, got));

    /* One byte over a receiver's limit is refused, at its default and at a
     * configured one. */
    struct wire_limits lim = {.max_value_bytes = GKV_VALUE_MAX_DEFAULT - 1};
    off = 0;
    assert_int_equal(wire_decode(buf, len, &off, &lim, got), GKV_ELIMIT);
    assert_int_equal(off, 0);
    lim.max_value_bytes = 0;
    lim.max_key_bytes = GKV_KEY_MAX - 1;
    assert_int_equal(wire_decode(buf, len, &off, &lim, got), GKV_ELIMIT);
    free(buf);
    free(got);
    free(m);
}

/* ===================================================== encoder budget */

static uint32_t small_entries(struct entry *es, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        entry_fill(&es[i], i, 1 + i % 7, i % 3 == 0 ? 0 : 5 + i % 11, i % 5 == 0,
                   HLC_MAKE(1700000000000ull + i, i), 1 + i % 4, i % 4);
    return n;
}

static void test_wire_encode_entries_packs_as_many_as_fit(void **state)
{
    (void)state;
    enum { N = 300 };
    struct entry *es = calloc(N, sizeof(*es));
    small_entries(es, N);
    uint8_t buf[WIRE_MTU_DEFAULT];
    struct wire_encoder enc;
    wire_encoder_init(&enc, buf, sizeof(buf));
    uint32_t taken = 0;
    assert_int_equal(wire_encode_entries(&enc, WIRE_DELTAS, 9, 10, es, N, &taken), 0);
    assert_true(taken > 16 && taken < N);
    assert_true(enc.len <= sizeof(buf));

    /* Exactly as many as fit: the same message with one more entry is too big. */
    struct wire_msg *m = msg_new(WIRE_DELTAS), *got = msg_new(0);
    m->sender_id = 9;
    m->sender_hlc = 10;
    m->u.entries.n = taken;
    memcpy(m->u.entries.entries, es, taken * sizeof(*es));
    assert_int_equal(wire_encoded_size(m), enc.len);
    m->u.entries.n = taken + 1;
    memcpy(m->u.entries.entries, es, (taken + 1) * sizeof(*es));
    assert_true(wire_encoded_size(m) > sizeof(buf));

    size_t off = 0;
    assert_int_equal(wire_decode(buf, enc.len, &off, NULL, got), 0);
    assert_int_equal(got->u.entries.n, taken);
    m->u.entries.n = taken;
    assert_true(wire_msg_equal(m, got));

    /* The encoder is full: the next call takes nothing and changes nothing. */
    size_t len = enc.len;
    uint32_t t2 = 99;
    int rc = wire_encode_entries(&enc, WIRE_DELTAS, 9, 10, es + taken, N - taken, &t2);
    if (rc == 0) { /* a small tail entry may still fit: then it was right to take it */
        assert_true(t2 > 0);
    } else {
        assert_int_equal(rc, GKV_ENOSPACE_MSG);
        assert_int_equal(t2, 0);
        assert_int_equal(enc.len, len);
        assert_int_equal(enc.msgs, 1);
    }

    /* A stream frame budget takes at most WIRE_MAX_ENTRIES_MSG per message. */
    uint8_t *big = malloc(64 * 1024);
    wire_encoder_init(&enc, big, 64 * 1024);
    assert_int_equal(wire_encode_entries(&enc, WIRE_REPAIR, 9, 10, es, N, &taken), 0);
    assert_int_equal(taken, WIRE_MAX_ENTRIES_MSG);
    off = 0;
    assert_int_equal(wire_decode(big, enc.len, &off, NULL, got), 0);
    assert_int_equal(got->u.entries.n, WIRE_MAX_ENTRIES_MSG);
    assert_int_equal(off, enc.len);
    m->type = WIRE_REPAIR;
    m->u.entries.n = WIRE_MAX_ENTRIES_MSG;
    memcpy(m->u.entries.entries, es, WIRE_MAX_ENTRIES_MSG * sizeof(*es));
    assert_true(wire_msg_equal(m, got));

    free(big);
    free(got);
    free(m);
    free(es);
}

/* An MTU-full DELTAS datagram from the dissemination fast path (200 small
 * entries offered); returns its length. */
static size_t deltas_mtu(uint8_t dg[WIRE_MTU_DEFAULT])
{
    enum { N = 200 };
    struct entry es[N];
    small_entries(es, N);
    struct wire_encoder enc;
    wire_encoder_init(&enc, dg, WIRE_MTU_DEFAULT);
    uint32_t taken;
    assert_int_equal(wire_encode_entries(&enc, WIRE_DELTAS, 1, 2, es, N, &taken), 0);
    return enc.len;
}

/* ====================================================== pinned bytes */

/* The wire bytes of one message of each type (all_types(): every integer
 * width, str8 names and addresses, bin8/bin16/bin32 keys and values, an
 * array16 vector clock), of a bin16 digest, of an array16 REPAIR and of an
 * MTU-full DELTAS from the dissemination fast path, pinned as length and
 * BLAKE2b-128. They were taken from the hand-written encoder that preceded
 * msgpack-c's packer: a change here is a wire-format change, which needs a
 * WIRE_VERSION bump, not a new pin. The PING is also pinned byte by byte,
 * as a readable example of the format. */
struct pin {
    const char *what;
    size_t len;
    const char *blake2b128;
};

static const struct pin g_pins[] = {
    {"ping", 61, "8ddd7b84398e96d33ebc37edaf3b62f2"},
    {"ping-req", 108, "1a7477c22db8448c0a4a8c3530b06e05"},
    {"ack", 57, "ab33d7ab7b077fcbd0e0a3b2303996a9"},
    {"nack", 44, "3cef1fb25881f4879399971de0806a08"},
    {"alive", 201, "6e7d4973e1e5c123add77937ac7698d0"},
    {"suspect", 131, "a44bfa7411e1a8c6b422ce972fd80243"},
    {"dead", 80, "4aef9f36bca0e30a6bba1244dc261bcf"},
    {"leave", 80, "4b90061adbcb2d6eb4914007ae9bbdf6"},
    {"join", 63, "5ed81681c3ee38224eb9204b0c6a2a88"},
    {"state", 159, "7f1bfba79c54a21136f8e18dc0b295d7"},
    {"deltas", 1481, "05123b44b275639021b814ceb4e2d512"},
    {"digest", 244, "8b2529892dcca975d0dcc42139b56386"},
    {"bucket-req", 46, "0766ce2fffe47a161a7438008c3d6bcc"},
    {"repair", 70068, "fb610a8167d9e5bb8ca6b3e653eacd9f"},
    {"digest-bin16", 363, "d2b282087fb331615c9131ee0bc18d1c"},
    {"repair-array16", 981, "c622ab97fd69ed2e7c750a7c78eede16"},
    {"deltas-mtu-fast-path", 1373, "553e467e697bbceb25691dd6d167de2a"},
};

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void pin_check(const struct pin *pin, const uint8_t *buf, size_t len, int print)
{
    uint8_t h[16];
    char got[33];
    crypto_generichash(h, sizeof(h), buf, len, NULL, 0);
    hex(h, sizeof(h), got);
    if (print)
        printf("    {\"%s\", %zu, \"%s\"},\n", pin->what, len, got);
    else if (len != pin->len || strcmp(got, pin->blake2b128) != 0)
        fail_msg("%s: %zu bytes, blake2b %s; pinned %zu bytes, %s", pin->what, len, got,
                 pin->len, pin->blake2b128);
}

static void test_wire_encoding_matches_pinned_bytes(void **state)
{
    (void)state;
    int print = getenv("GKV_PRINT_PINS") != NULL;
    const struct pin *pin = g_pins;
    struct wire_msg *msgs[ALL_TYPES];
    all_types(msgs);
    for (int i = 0; i < ALL_TYPES; i++, pin++) {
        size_t len;
        uint8_t *b = encode_one(msgs[i], &len);
        pin_check(pin, b, len, print);
        if (msgs[i]->type == WIRE_PING) {
            static const uint8_t ping[] = {
                0x88, 0xa1, 't', 0x01, 0xa1, 'v', 0x01, 0xa1, 's', 0xcf, 0x11, 0x22, 0x33,
                0x44, 0x55, 0x66, 0x77, 0x88, 0xa1, 'h', 0xcf, 0x01, 0x8b, 0xcf, 0xe5, 0x68,
                0x00, 0x00, 0x07, 0xa1, 'q', 0xce, 0xff, 0xff, 0xff, 0xff, 0xa1, 'g', 0x00,
                0xa1, 'o', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa1, 'k',
                0xcf, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b};
            assert_int_equal(len, sizeof(ping));
            assert_memory_equal(b, ping, sizeof(ping));
        }
        free(b);
    }
    all_types_free(msgs);

    struct wire_msg *m = msg_new(WIRE_DIGEST); /* 40 hashes: a bin16 header */
    m->u.digest.root = 1;
    m->u.digest.bucket_bits = 10;
    m->u.digest.n = 40;
    for (uint32_t k = 0; k < 40; k++)
        m->u.digest.hashes[k] = k * 0x9e3779b97f4a7c15ull;
    size_t len;
    uint8_t *b = encode_one(m, &len);
    pin_check(pin++, b, len, print);
    free(b);

    m->type = WIRE_REPAIR; /* 17 entries: an array16 header, 300-byte key and value */
    memset(&m->u, 0, sizeof(m->u));
    m->u.entries.n = 17;
    for (uint32_t i = 0; i < 17; i++)
        entry_fill(&m->u.entries.entries[i], i, i == 0 ? 300 : 1, i == 0 ? 300 : 0, i == 5, i,
                   i, i % 3);
    b = encode_one(m, &len);
    pin_check(pin++, b, len, print);
    free(b);
    free(m);

    uint8_t dg[WIRE_MTU_DEFAULT];
    pin_check(pin++, dg, deltas_mtu(dg), print);
    assert_int_equal(pin - g_pins, sizeof(g_pins) / sizeof(g_pins[0]));
}

/* msgpack-c's packer writes through a callback into the encoder's buffer:
 * at every budget the callback refuses what would pass enc->cap (the bytes
 * after it stay untouched), the encoder notices (what it commits decodes
 * whole) and no encode allocates. */
static void test_wire_encoder_never_writes_past_cap_nor_allocates(void **state)
{
    (void)state;
    enum { N = 40, GUARD = 64 };
    struct entry es[N];
    small_entries(es, N);
    es[7].value_len = 300; /* a bin16 value in the middle */
    struct wire_msg *msgs[ALL_TYPES], *got = msg_new(0);
    all_types(msgs);
    uint8_t buf[WIRE_MTU_DEFAULT + GUARD];
    for (size_t cap = 0; cap <= WIRE_MTU_DEFAULT; cap += 1 + cap / 16) {
        memset(buf, 0xee, sizeof(buf));
        struct wire_encoder enc;
        wire_encoder_init(&enc, buf, cap);
        uint32_t taken = 0;
        counting_start();
        int rc1 = wire_encode_entries(&enc, WIRE_DELTAS, 1, 2, es, N, &taken);
        int rc2 = wire_encode(&enc, msgs[cap % 8]); /* a membership message, if it fits */
        uint32_t t3;
        int rc3 = wire_encode_prefix(&enc, msgs[11], &t3); /* DIGEST: as many hashes as fit */
        counting_stop();
        assert_int_equal(g_alloc_calls, 0);
        assert_true(rc1 == 0 || rc1 == GKV_ENOSPACE_MSG);
        assert_true(rc2 == 0 || rc2 == GKV_ENOSPACE_MSG);
        assert_true(rc3 == 0 || rc3 == GKV_ENOSPACE_MSG);
        assert_true(enc.len <= cap);
        for (size_t i = cap; i < sizeof(buf); i++)
            if (buf[i] != 0xee)
                fail_msg("cap %zu: byte %zu past the budget was written", cap, i);
        int last_rc;
        int n = decode_all(buf, enc.len, got, NULL, 0, &last_rc, NULL);
        assert_int_equal(n, (int)enc.msgs);
        assert_int_equal(last_rc, 0);
    }
    all_types_free(msgs);
    free(got);
}

/* Per-entry sizes add up to the message size, within the documented
 * header allowance. */
static void test_wire_entry_encoded_size_adds_up(void **state)
{
    (void)state;
    enum { N = 40 };
    struct entry es[N];
    small_entries(es, N);
    struct wire_msg *m = msg_new(WIRE_DELTAS);
    m->sender_id = UINT64_MAX;
    m->sender_hlc = UINT64_MAX;
    m->u.entries.n = 0;
    size_t empty = wire_encoded_size(m), sum = 0;
    for (uint32_t n = 1; n <= N; n++) {
        size_t one = wire_entry_encoded_size(&es[n - 1]);
        assert_true(one > 0);
        sum += one;
        m->u.entries.n = n;
        memcpy(m->u.entries.entries, es, n * sizeof(es[0]));
        size_t total = wire_encoded_size(m);
        assert_int_equal(total, empty + sum + (n > 15 ? 2 : 0));
        assert_true(total <= sum + WIRE_ENTRIES_OVERHEAD_MAX);
    }
    es[0].key_len = 0;
    assert_int_equal(wire_entry_encoded_size(&es[0]), 0);
    free(m);
}

/* The array header grows from fixarray to array16 exactly at 16 entries,
 * and the budget is exact on both sides of that edge. */
static void test_wire_encode_entries_header_edge_15_16(void **state)
{
    (void)state;
    struct entry es[20];
    for (uint32_t i = 0; i < 20; i++)
        entry_fill(&es[i], i, 1, 0, true, 1, 1, 0); /* 15 bytes each */
    struct wire_msg *m = msg_new(WIRE_DELTAS), *got = msg_new(0);
    for (uint32_t want = 14; want <= 17; want++) {
        m->u.entries.n = want;
        memcpy(m->u.entries.entries, es, want * sizeof(es[0]));
        size_t exact = wire_encoded_size(m);
        for (size_t cap = exact - 1; cap <= exact; cap++) {
            uint8_t buf[512];
            struct wire_encoder enc;
            wire_encoder_init(&enc, buf, cap);
            uint32_t taken;
            assert_int_equal(wire_encode_entries(&enc, WIRE_DELTAS, m->sender_id, m->sender_hlc,
                                                 es, 20, &taken),
                             0);
            assert_int_equal(taken, cap == exact ? want : want - 1);
            size_t off = 0;
            assert_int_equal(wire_decode(buf, enc.len, &off, NULL, got), 0);
            assert_int_equal(off, enc.len);
            assert_int_equal(got->u.entries.n, taken);
            /* Canonical: the same bytes as the generic encoder. */
            m->u.entries.n = taken;
            assert_int_equal(wire_encoded_size(m), enc.len);
            m->u.entries.n = want;
        }
    }
    free(got);
    free(m);
}

static void test_wire_encoder_overflow_leaves_encoder_unchanged(void **state)
{
    (void)state;
    struct wire_msg *msgs[ALL_TYPES];
    all_types(msgs);
    uint8_t buf[WIRE_MTU_DEFAULT], snap[WIRE_MTU_DEFAULT];
    memset(buf, 0xee, sizeof(buf));
    struct wire_encoder enc;
    wire_encoder_init(&enc, buf, sizeof(buf));
    int fails = 0;
    for (int round = 0; round < 100 && fails < 3; round++) {
        const struct wire_msg *m = msgs[round % 8]; /* the small membership ones */
        size_t len = enc.len;
        uint32_t msgs_before = enc.msgs;
        memcpy(snap, buf, sizeof(buf));
        int rc = wire_encode(&enc, m);
        if (rc == GKV_ENOSPACE_MSG) {
            fails++;
            assert_int_equal(enc.len, len);
            assert_int_equal(enc.msgs, msgs_before);
            assert_memory_equal(buf, snap, sizeof(buf));
            assert_true(len + wire_encoded_size(m) > sizeof(buf));
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(enc.len, len + wire_encoded_size(m));
        }
    }
    assert_true(fails > 0);
    assert_true(enc.len <= sizeof(buf));

    /* Something that can never be encoded is GKV_EINVAL, also unchanged. */
    size_t len = enc.len;
    struct wire_msg *bad = msg_new(WIRE_DELTAS);
    bad->u.entries.n = 1;
    entry_fill(&bad->u.entries.entries[0], 0, 0, 1, false, 1, 1, 0); /* empty key */
    assert_int_equal(wire_encode(&enc, bad), GKV_EINVAL);
    assert_int_equal(enc.len, len);
    free(bad);
    all_types_free(msgs);
}

/* WIRE_MAX_MSGS_DATAGRAM is a cap for the encoder too. */
static void test_wire_encoder_caps_messages_per_datagram(void **state)
{
    (void)state;
    struct wire_msg *m = msg_new(WIRE_ACK);
    m->sender_id = 1;
    m->sender_hlc = 1;
    size_t one = wire_encoded_size(m);
    size_t cap = one * (WIRE_MAX_MSGS_DATAGRAM + 4);
    uint8_t *buf = malloc(cap);
    struct wire_encoder enc;
    wire_encoder_init(&enc, buf, cap);
    uint32_t n = 0;
    while (wire_encode(&enc, m) == 0)
        n++;
    assert_int_equal(n, WIRE_MAX_MSGS_DATAGRAM);
    assert_int_equal(wire_encode(&enc, m), GKV_ENOSPACE_MSG);
    free(buf);
    free(m);
}

static void test_wire_encode_prefix_fills_mtu_with_members_and_hashes(void **state)
{
    (void)state;
    struct wire_msg *m = msg_new(WIRE_STATE), *got = msg_new(0);
    m->u.state.n = WIRE_MAX_MEMBERS_MSG;
    for (uint32_t i = 0; i < WIRE_MAX_MEMBERS_MSG; i++)
        member_fill(&m->u.state.members[i], 1000 + i, "node-with-a-name", "192.168.100.200:7946",
                    i, WIRE_STATE_ALIVE);

    /* All 64 members round trip in a frame-sized buffer. */
    size_t len, off = 0;
    uint8_t *buf = encode_one(m, &len);
    assert_int_equal(wire_decode(buf, len, &off, NULL, got), 0);
    assert_true(wire_msg_equal(m, got));
    free(buf);

    /* In a datagram: the longest prefix that fits, exactly. */
    uint8_t dgram[WIRE_MTU_DEFAULT];
    struct wire_encoder enc;
    wire_encoder_init(&enc, dgram, sizeof(dgram));
    uint32_t taken;
    assert_int_equal(wire_encode(&enc, m), GKV_ENOSPACE_MSG);
    assert_int_equal(wire_encode_prefix(&enc, m, &taken), 0);
    assert_true(taken > 0 && taken < WIRE_MAX_MEMBERS_MSG);
    off = 0;
    assert_int_equal(wire_decode(dgram, enc.len, &off, NULL, got), 0);
    assert_int_equal(got->u.state.n, taken);
    uint32_t all = m->u.state.n;
    m->u.state.n = taken + 1;
    assert_true(wire_encoded_size(m) > sizeof(dgram));
    m->u.state.n = taken;
    assert_true(wire_msg_equal(m, got));
    m->u.state.n = all;

    /* Digest hashes: a prefix keeps first_bucket. */
    struct wire_msg *d = msg_new(WIRE_DIGEST);
    d->u.digest.bucket_bits = 10;
    d->u.digest.n = WIRE_MAX_BUCKETS_MSG;
    for (uint32_t i = 0; i < WIRE_MAX_BUCKETS_MSG; i++)
        d->u.digest.hashes[i] = i * 0x0101010101010101ull;
    buf = encode_one(d, &len); /* the full tree: 1024 buckets */
    off = 0;
    assert_int_equal(wire_decode(buf, len, &off, NULL, got), 0);
    assert_true(wire_msg_equal(d, got));
    free(buf);
    wire_encoder_init(&enc, dgram, sizeof(dgram));
    assert_int_equal(wire_encode_prefix(&enc, d, &taken), 0);
    assert_true(taken > 100 && taken < WIRE_MAX_BUCKETS_MSG);
    off = 0;
    assert_int_equal(wire_decode(dgram, enc.len, &off, NULL, got), 0);
    assert_int_equal(got->u.digest.n, taken);
    assert_int_equal(got->u.digest.first_bucket, 0);
    assert_true(enc.len + 8 > sizeof(dgram));

    /* A full encoder: GKV_ENOSPACE_MSG and taken = 0. */
    assert_int_equal(wire_encode_prefix(&enc, d, &taken), GKV_ENOSPACE_MSG);
    assert_int_equal(taken, 0);
    free(d);
    free(got);
    free(m);
}

static void test_wire_encode_rejects_what_can_never_decode(void **state)
{
    (void)state;
    uint8_t buf[4096];
    struct wire_encoder enc;
    wire_encoder_init(&enc, buf, sizeof(buf));
    struct wire_msg *m = msg_new(WIRE_DELTAS);
    m->u.entries.n = 1;
    struct entry *e = &m->u.entries.entries[0];

    entry_fill(e, 0, GKV_KEY_MAX + 1, 1, false, 1, 1, 0);
    assert_int_equal(wire_encode(&enc, m), GKV_EINVAL);
    entry_fill(e, 0, 1, 1, false, 1, 1, 0);
    e->flags = 0x4; /* unknown flag */
    assert_int_equal(wire_encode(&enc, m), GKV_EINVAL);
    entry_fill(e, 0, 1, 1, false, 1, 1, 2);
    e->vc.items[1].node = e->vc.items[0].node; /* duplicate node */
    assert_int_equal(wire_encode(&enc, m), GKV_EINVAL);
    entry_fill(e, 0, 1, 1, false, 1, 1, 1);
    e->vc.items[0].counter = 0;
    assert_int_equal(wire_encode(&enc, m), GKV_EINVAL);
    assert_int_equal(wire_encoded_size(m), 0);

    /* wire_encode_entries names the bad entry and commits nothing. */
    struct entry es[3];
    small_entries(es, 3);
    es[2].key_len = 0;
    uint32_t taken;
    assert_int_equal(wire_encode_entries(&enc, WIRE_DELTAS, 1, 1, es, 3, &taken), GKV_EINVAL);
    assert_int_equal(taken, 2);
    assert_int_equal(enc.len, 0);
    assert_int_equal(wire_encode_entries(&enc, WIRE_PING, 1, 1, es, 2, &taken), GKV_EINVAL);
    assert_int_equal(wire_encode_entries(&enc, WIRE_DELTAS, 1, 1, es, 0, &taken), 0);
    assert_int_equal(taken, 0);
    assert_int_equal(enc.len, 0);

    struct wire_msg *s = msg_new(WIRE_SUSPECT);
    member_fill(&s->u.suspicion.member, 1, g_name128, "a", 1, 4); /* state 4 */
    assert_int_equal(wire_encode(&enc, s), GKV_EINVAL);
    s->u.suspicion.member.state = 1;
    s->u.suspicion.member.name_len = WIRE_MAX_NAME + 1;
    assert_int_equal(wire_encode(&enc, s), GKV_EINVAL);
    s->type = 77;
    assert_int_equal(wire_encode(&enc, s), GKV_EINVAL);

    struct wire_msg *d = msg_new(WIRE_DIGEST);
    d->u.digest.bucket_bits = 4;
    d->u.digest.first_bucket = 10;
    d->u.digest.n = 7; /* 10 + 7 > 16 buckets */
    assert_int_equal(wire_encode(&enc, d), GKV_EINVAL);
    d->u.digest.bucket_bits = WIRE_MAX_BUCKET_BITS + 1;
    d->u.digest.first_bucket = 0;
    assert_int_equal(wire_encode(&enc, d), GKV_EINVAL);
    assert_int_equal(enc.len, 0);
    free(d);
    free(s);
    free(m);
}

/* ============================================== hostile and broken input */

/* Every prefix of a valid multi-message datagram yields exactly the
 * messages that are complete in it, then an error: never a wrong message,
 * never a read past the end (the prefix is copied into an exactly-sized
 * heap block, so ASan sees any overread). */
static void test_wire_every_truncation_decodes_complete_messages_only(void **state)
{
    (void)state;
    struct wire_msg *msgs[ALL_TYPES], *got[ALL_TYPES];
    size_t ends[ALL_TYPES], len;
    uint8_t *buf = datagram_all_types(&len, ends, msgs);
    for (int i = 0; i < ALL_TYPES; i++)
        got[i] = msg_new(0);
    for (size_t cut = 1; cut < len; cut++) {
        uint8_t *p = malloc(cut);
        memcpy(p, buf, cut);
        int complete = 0;
        while (complete < ALL_TYPES && ends[complete] <= cut)
            complete++;
        int rc;
        int n = decode_all(p, cut, NULL, got, ALL_TYPES, &rc, NULL);
        assert_int_equal(n, complete);
        bool boundary = complete > 0 && ends[complete - 1] == cut;
        assert_int_equal(rc, boundary ? 0 : GKV_EDECODE);
        for (int i = 0; i < n; i++)
            assert_true(wire_msg_equal(msgs[i], got[i]));
        free(p);
    }
    all_types_free(got);
    all_types_free(msgs);
    free(buf);
}

/* Decodes whatever it can from buf, and checks that every message that
 * decodes re-encodes to something that decodes to the same message. */
static int decode_reencode_check(const uint8_t *buf, size_t len, struct wire_msg *a,
                                 struct wire_msg *b, uint8_t *scratch, size_t scratch_cap)
{
    size_t off = 0;
    int n = 0;
    for (int i = 0; i < (int)WIRE_MAX_MSGS_DATAGRAM && off < len; i++) {
        size_t before = off;
        int rc = wire_decode(buf, len, &off, NULL, a);
        if (rc == GKV_EUNSUPPORTED || rc == GKV_EVERSION) {
            assert_true(off > before);
            continue;
        }
        if (rc < 0) {
            assert_int_equal(off, before);
            break;
        }
        assert_true(off > before && off <= len);
        n++;
        struct wire_encoder enc;
        wire_encoder_init(&enc, scratch, scratch_cap);
        /* What decodes can always be encoded again (a str where bin is
         * written can make the canonical form a byte longer per field, so
         * the scratch buffer has room for twice the input). */
        assert_int_equal(wire_encode(&enc, a), 0);
        size_t off2 = 0;
        assert_int_equal(wire_decode(scratch, enc.len, &off2, NULL, b), 0);
        assert_int_equal(off2, enc.len);
        assert_true(wire_msg_equal(a, b));
    }
    return n;
}

static void test_wire_every_byte_change_decodes_cleanly_or_errors(void **state)
{
    (void)state;
    struct wire_msg *msgs[ALL_TYPES];
    size_t ends[ALL_TYPES], len;
    uint8_t *buf = datagram_all_types(&len, ends, msgs);
    struct wire_msg *a = msg_new(0), *b = msg_new(0);
    uint8_t *scratch = malloc(2 * len);
    uint8_t *p = malloc(len);
    uint64_t decoded = 0, variants = 0;
    for (size_t i = 0; i < len; i++) {
        for (unsigned v = 0; v < 256; v++) {
            if (v == buf[i])
                continue;
            memcpy(p, buf, len);
            p[i] = (uint8_t)v;
            decoded += (uint64_t)decode_reencode_check(p, len, a, b, scratch, 2 * len);
            variants++;
        }
    }
    printf("byte changes: %llu variants, %llu messages decoded\n", (unsigned long long)variants,
           (unsigned long long)decoded);
    assert_true(decoded > 0);
    free(p);
    free(scratch);
    free(a);
    free(b);
    free(buf);
    all_types_free(msgs);
}

struct bomb {
    const char *name;
    const uint8_t *data;
    size_t len;
};

/* Builds the hostile inputs (caller frees each data). */
static size_t bombs_make(struct bomb *out)
{
    size_t n = 0;
    static const uint8_t array32[] = {0xdd, 0x00, 0xff, 0xff, 0xff};
    static const uint8_t nested[] = {0x01, 0x91, 0xdd, 0xdd, 0xdd, 0x0a, 0x00};
    static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 't', 0x01};
    static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    static const uint8_t bin32[] = {0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00};
    const struct {
        const char *name;
        const uint8_t *d;
        size_t len;
    } fixed[] = {
        {"array32", array32, sizeof(array32)},
        {"nested-array32", nested, sizeof(nested)},
        {"nested-array32-at-1", nested + 1, sizeof(nested) - 1},
        {"map32", map32, sizeof(map32)},
        {"str32", str32, sizeof(str32)},
        {"bin32", bin32, sizeof(bin32)},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        uint8_t *d = malloc(fixed[i].len);
        memcpy(d, fixed[i].d, fixed[i].len);
        out[n++] = (struct bomb){fixed[i].name, d, fixed[i].len};
    }
    /* Depth 1000 arrays and maps at top level. */
    uint8_t *d = malloc(1001);
    memset(d, 0x91, 1000);
    d[1000] = 0x00;
    out[n++] = (struct bomb){"deep-arrays", d, 1001};
    d = malloc(3001);
    for (int i = 0; i < 1000; i++)
        memcpy(d + 3 * i, "\x81\xa1x", 3);
    d[3000] = 0x00;
    out[n++] = (struct bomb){"deep-maps", d, 3001};

    /* The same bombs as the value of an unknown field in a valid PING head,
     * and as the declared count of known lists. */
    const uint8_t *inner[] = {array32, map32, str32, bin32};
    const size_t inner_len[] = {sizeof(array32), sizeof(map32), sizeof(str32), sizeof(bin32)};
    static const uint8_t head[] = {0x88, 0xa1, 't',  0x01, 0xa1, 'v',  0x01, 0xa1, 's',
                                   0x01, 0xa1, 'h',  0x01, 0xa1, 'q',  0x01, 0xa1, 'g',
                                   0x01, 0xa1, 'o',  0x01, 0xa1, 'x'};
    for (int i = 0; i < 4; i++) {
        d = malloc(sizeof(head) + inner_len[i]);
        memcpy(d, head, sizeof(head));
        memcpy(d + sizeof(head), inner[i], inner_len[i]);
        out[n++] = (struct bomb){"in-unknown-field", d, sizeof(head) + inner_len[i]};
    }
    d = malloc(sizeof(head) + 1001);
    memcpy(d, head, sizeof(head));
    memset(d + sizeof(head), 0x91, 1000);
    d[sizeof(head) + 1000] = 0x00;
    out[n++] = (struct bomb){"deep-in-unknown-field", d, sizeof(head) + 1001};
    /* DELTAS whose "e" declares 2^32-1 entries; REPAIR whose entry key is a
     * 2 GiB bin; DIGEST whose hashes are a 4 GiB bin. */
    static const uint8_t deltas[] = {0x85, 0xa1, 't', 20, 0xa1, 'v', 1, 0xa1, 's', 1,
                                     0xa1, 'h',  1,   0xa1, 'e', 0xdd, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t repair[] = {0x85, 0xa1, 't', 32, 0xa1, 'v', 1, 0xa1, 's', 1, 0xa1, 'h',
                                     1,    0xa1, 'e', 0x91, 0x81, 0xa1, 'k', 0xc6, 0x7f, 0xff,
                                     0xff, 0xff, 'k'};
    static const uint8_t digest[] = {0x88, 0xa1, 't', 30, 0xa1, 'v', 1, 0xa1, 's', 1, 0xa1, 'h',
                                     1,    0xa1, 'd', 0xc6, 0xff, 0xff, 0xff, 0xf8, 0};
    const uint8_t *lists[] = {deltas, repair, digest};
    const size_t list_len[] = {sizeof(deltas), sizeof(repair), sizeof(digest)};
    for (int i = 0; i < 3; i++) {
        d = malloc(list_len[i]);
        memcpy(d, lists[i], list_len[i]);
        out[n++] = (struct bomb){"huge-list", d, list_len[i]};
    }
    return n;
}

static void test_wire_msgpack_bombs_fail_without_allocating(void **state)
{
    (void)state;
    struct bomb bombs[32];
    size_t n = bombs_make(bombs);
    struct wire_msg *m = msg_new(0);
    int rcs[32];
    size_t offs[32];

    counting_start();
    for (size_t i = 0; i < n; i++) {
        offs[i] = 0;
        rcs[i] = wire_decode(bombs[i].data, bombs[i].len, &offs[i], NULL, m);
    }
    counting_stop();

    printf("decoding %zu bombs: %zu allocations, %zu bytes\n", n, (size_t)g_alloc_calls,
           (size_t)g_alloc_bytes);
    assert_int_equal(g_alloc_calls, 0);
    assert_true(g_alloc_bytes < 64 * 1024);
    for (size_t i = 0; i < n; i++) {
        if (!(rcs[i] == GKV_EDECODE || rcs[i] == GKV_ELIMIT))
            fail_msg("bomb %zu (%s): %s", i, bombs[i].name, gkv_errname(rcs[i]));
        assert_int_equal(offs[i], 0);
    }
    /* The deep ones are refused by the depth limit, not by luck. */
    for (size_t i = 0; i < n; i++)
        if (strcmp(bombs[i].name, "deep-in-unknown-field") == 0)
            assert_int_equal(rcs[i], GKV_ELIMIT);
    for (size_t i = 0; i < n; i++)
        free((void *)bombs[i].data);
    free(m);
}

/* The counter itself works, and shows why the decoder exists: msgpack-c's
 * unpacker, given the 5-byte bomb, asks for hundreds of megabytes (it does
 * not touch them, so this is cheap to demonstrate). */
static void test_wire_alloc_counter_sees_msgpack_c_allocate(void **state)
{
    (void)state;
    static const char bomb[] = {(char)0xdd, 0x00, (char)0xff, (char)0xff, (char)0xff};
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    counting_start();
    int rc = (int)msgpack_unpack_next(&u, bomb, sizeof(bomb), &off);
    counting_stop();
    msgpack_unpacked_destroy(&u);
    printf("msgpack-c on dd 00 ff ff ff: rc %d, %zu allocations, %zu bytes\n", rc,
           (size_t)g_alloc_calls, (size_t)g_alloc_bytes);
    assert_true(g_alloc_calls > 0);
    assert_true(g_alloc_bytes > (size_t)256 << 20);
}

/* Depth: a skipped unknown value may nest down to WIRE_MAX_DEPTH counting
 * the message map, not one level more. */
static void pk_nest(msgpack_packer *pk, void *arg)
{
    int levels = *(int *)arg;
    for (int i = 0; i < levels; i++)
        msgpack_pack_array(pk, 1);
    msgpack_pack_int(pk, 1);
}

static void test_wire_depth_limit_is_exact(void **state)
{
    (void)state;
    struct wire_msg *m = msg_new(0);
    for (int levels = (int)WIRE_MAX_DEPTH - 2; levels <= (int)WIRE_MAX_DEPTH + 1; levels++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        pk_ping_with(&sb, pk_nest, &levels);
        size_t off = 0;
        int rc = wire_decode((const uint8_t *)sb.data, sb.size, &off, NULL, m);
        if (1 + levels <= (int)WIRE_MAX_DEPTH) {
            assert_int_equal(rc, 0);
            assert_int_equal(off, sb.size);
        } else {
            assert_int_equal(rc, GKV_ELIMIT);
        }
        msgpack_sbuffer_destroy(&sb);
    }
    free(m);
}

static void pk_junk_cb(msgpack_packer *pk, void *arg)
{
    (void)arg;
    pk_junk(pk);
}

static void test_wire_unknown_fields_are_skipped(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    /* A DELTAS message from a "future" node: extra fields in the message
     * map (before, between and after known ones, including non-string and
     * multi-letter keys), in the entry map and a second message after it. */
    pk_head(&pk, 9, WIRE_DELTAS, WIRE_VERSION);
    pk_key(&pk, "zz");
    pk_junk(&pk);
    msgpack_pack_uint64(&pk, 12345); /* an integer key */
    msgpack_pack_array(&pk, 0);
    pk_key(&pk, "e");
    msgpack_pack_array(&pk, 2);
    {
        msgpack_pack_map(&pk, 7);
        pk_key(&pk, "new");
        pk_junk(&pk);
        pk_key(&pk, "k");
        pk_bin(&pk, "key1", 4);
        pk_key(&pk, "h");
        msgpack_pack_uint64(&pk, 1000);
        pk_key(&pk, "u"); /* not an entry field ("x" is the expiry) */
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, 1);
        msgpack_pack_map(&pk, 0);
        pk_key(&pk, "o");
        msgpack_pack_uint64(&pk, 5);
        pk_key(&pk, "d");
        pk_bin(&pk, "val", 3);
        pk_key(&pk, "c");
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint64(&pk, 5);
        msgpack_pack_uint64(&pk, 3);

        msgpack_pack_map(&pk, 5);
        pk_key(&pk, "o");
        msgpack_pack_int32(&pk, 6); /* a positive int in a signed type */
        pk_key(&pk, "f");
        msgpack_pack_uint8(&pk, ENTRY_TOMBSTONE);
        pk_key(&pk, "k");
        pk_str(&pk, "key2"); /* str where bin is written: accepted */
        pk_key(&pk, "h");
        msgpack_pack_uint64(&pk, 1001);
        pk_key(&pk, "Q");
        msgpack_pack_true(&pk);
    }
    pk_key(&pk, "y");  /* a letter that is a field of another type */
    msgpack_pack_str(&pk, 0);
    pk_key(&pk, "");
    msgpack_pack_nil(&pk);
    /* Then an ACK with an extra field. */
    pk_head(&pk, 7, WIRE_ACK, WIRE_VERSION);
    pk_key(&pk, "q");
    msgpack_pack_uint32(&pk, 7);
    pk_key(&pk, "extra");
    pk_junk(&pk);
    pk_key(&pk, "o");
    msgpack_pack_uint64(&pk, 8);
    /* And a member with extras, in an ALIVE. */
    pk_head(&pk, 7, WIRE_ALIVE, WIRE_VERSION);
    pk_key(&pk, "m");
    msgpack_pack_map(&pk, 6);
    pk_key(&pk, "i");
    msgpack_pack_uint64(&pk, 3);
    pk_key(&pk, "n");
    pk_str(&pk, "n3");
    pk_key(&pk, "meta");
    pk_junk(&pk);
    pk_key(&pk, "a");
    pk_str(&pk, "127.0.0.1:3");
    pk_key(&pk, "c");
    msgpack_pack_uint64(&pk, 9);
    pk_key(&pk, "x");
    msgpack_pack_uint64(&pk, WIRE_STATE_SUSPECT);
    pk_key(&pk, "f");
    msgpack_pack_uint64(&pk, 2);
    pk_key(&pk, "zzz");
    msgpack_pack_map(&pk, 1);
    pk_key(&pk, "m");
    msgpack_pack_map(&pk, 0);

    struct wire_msg *m = msg_new(0);
    size_t off = 0;
    const uint8_t *buf = (const uint8_t *)sb.data;
    assert_int_equal(wire_decode(buf, sb.size, &off, NULL, m), 0);
    assert_int_equal(m->type, WIRE_DELTAS);
    assert_int_equal(m->sender_id, 77);
    assert_int_equal(m->sender_hlc, 88);
    assert_int_equal(m->u.entries.n, 2);
    const struct entry *e = &m->u.entries.entries[0];
    assert_int_equal(e->key_len, 4);
    assert_memory_equal(e->key, "key1", 4);
    assert_int_equal(e->value_len, 3);
    assert_memory_equal(e->value, "val", 3);
    assert_int_equal(e->hlc, 1000);
    assert_int_equal(e->origin, 5);
    assert_int_equal(e->vc.n, 1);
    assert_int_equal(e->vc.items[0].node, 5);
    assert_int_equal(e->vc.items[0].counter, 3);
    e = &m->u.entries.entries[1];
    assert_true(entry_is_tombstone(e));
    assert_memory_equal(e->key, "key2", 4);
    assert_int_equal(e->origin, 6);
    assert_int_equal(e->vc.n, 0);

    assert_int_equal(wire_decode(buf, sb.size, &off, NULL, m), 0);
    assert_int_equal(m->type, WIRE_ACK);
    assert_int_equal(m->u.ack.seq, 7);
    assert_int_equal(m->u.ack.source_id, 8);
    /* An ACK without the clock fields (an older node): no times, whatever
     * the reused message held before. */
    assert_int_equal(m->u.ack.echo_ms, 0);
    assert_int_equal(m->u.ack.reply_ms, 0);

    assert_int_equal(wire_decode(buf, sb.size, &off, NULL, m), 0);
    assert_int_equal(m->type, WIRE_ALIVE);
    assert_int_equal(m->u.suspicion.member.id, 3);
    assert_int_equal(m->u.suspicion.member.state, WIRE_STATE_SUSPECT);
    assert_int_equal(m->u.suspicion.member.addr_len, 11);
    assert_int_equal(m->u.suspicion.from_id, 2);
    assert_int_equal(off, sb.size);
    msgpack_sbuffer_destroy(&sb);

    /* An unknown field nested at the deepest allowed level of known ones. */
    msgpack_sbuffer_init(&sb);
    pk_ping_with(&sb, pk_junk_cb, NULL);
    off = 0;
    assert_int_equal(wire_decode((const uint8_t *)sb.data, sb.size, &off, NULL, m), 0);
    assert_int_equal(m->u.ping.source_id, 3);
    msgpack_sbuffer_destroy(&sb);
    free(m);
}

/* Three messages written with every msgpack form the spec allows rather
 * than the smallest: known fields in wide or signed integer forms, bin32
 * keys, str16 values, bin names, array16 clocks, a map16 message map, and an
 * unknown field holding one of every msgpack type (all ext and fixext sizes,
 * floats, negative ints, 32-bit containers). Returns the byte count. */
static size_t all_forms_datagram(uint8_t *out)
{
    static const uint8_t bytes[] = {
        /* PING as map16, t as int64, v as uint8, s uint16, h uint32 */
        0xde, 0x00, 0x08, 0xa1, 't', 0xd3, 0, 0, 0, 0, 0, 0, 0, 1, 0xa1, 'v', 0xcc, 1,
        0xa1, 's', 0xcd, 0x00, 77, 0xa1, 'h', 0xce, 0, 0, 0, 88,
        0xa1, 'q', 0xd2, 0, 0, 0, 1, 0xa1, 'g', 0xd1, 0, 2, 0xa1, 'o', 0xd0, 3,
        0xa1, 'x', 0xdd, 0, 0, 0, 35,
        0xc0, 0xc2, 0xc3,
        0xe0, 0xd0, 0x80, 0xd1, 0x80, 0, 0xd2, 0x80, 0, 0, 0, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,
        0xcc, 0xff, 0xcd, 0xff, 0xff, 0xce, 0xff, 0xff, 0xff, 0xff,
        0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xca, 0x3f, 0xc0, 0, 0, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
        0xd4, 1, 0xaa, 0xd5, 1, 0xaa, 0xbb, 0xd6, 1, 1, 2, 3, 4, 0xd7, 1, 1, 2, 3, 4, 5, 6, 7, 8,
        0xd8, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        0xc7, 3, 1, 'a', 'b', 'c', 0xc8, 0, 3, 1, 'a', 'b', 'c', 0xc9, 0, 0, 0, 3, 1, 'a', 'b', 'c',
        0xd9, 3, 'a', 'b', 'c', 0xda, 0, 3, 'a', 'b', 'c', 0xdb, 0, 0, 0, 3, 'a', 'b', 'c',
        0xc4, 3, 'a', 'b', 'c', 0xc5, 0, 3, 'a', 'b', 'c', 0xc6, 0, 0, 0, 3, 'a', 'b', 'c',
        0xdc, 0, 1, 0xc0, 0xdd, 0, 0, 0, 1, 0xc0,
        0xde, 0, 1, 0xa1, 'z', 0xc0, 0xdf, 0, 0, 0, 1, 0xa1, 'z', 0xc0,
        0xa0, 0x90, 0x80,
        /* DELTAS: key bin32, value str16, hlc uint64, origin uint32,
         * clock array16, explicit zero flags */
        0x85, 0xa1, 't', 20, 0xa1, 'v', 1, 0xa1, 's', 1, 0xa1, 'h', 1, 0xa1, 'e', 0xdc, 0, 1,
        0x86, 0xa1, 'k', 0xc6, 0, 0, 0, 2, 'k', 'k', 0xa1, 'd', 0xda, 0, 1, 'v',
        0xa1, 'h', 0xcf, 0, 0, 0, 0, 0, 0, 0, 5, 0xa1, 'o', 0xce, 0, 0, 0, 6,
        0xa1, 'c', 0xdc, 0, 2, 1, 1, 0xa1, 'f', 0xcc, 0,
        /* STATE: is_reply true, member name as bin8, addr as str32 */
        0x86, 0xa1, 't', 10, 0xa1, 'v', 1, 0xa1, 's', 1, 0xa1, 'h', 1, 0xa1, 'y', 0xc3,
        0xa1, 'l', 0x91, 0x85, 0xa1, 'i', 9, 0xa1, 'n', 0xc4, 2, 'n', '9',
        0xa1, 'a', 0xdb, 0, 0, 0, 3, 'a', ':', '1', 0xa1, 'c', 0xcd, 1, 0, 0xa1, 'x', 0xd0, 2,
    };
    memcpy(out, bytes, sizeof(bytes));
    return sizeof(bytes);
}

static void test_wire_accepts_every_msgpack_form(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t len = all_forms_datagram(buf);
    uint8_t *p = malloc(len);
    memcpy(p, buf, len);
    struct wire_msg *m = msg_new(0);
    size_t off = 0;
    int rc = wire_decode(p, len, &off, NULL, m);
    if (rc != 0)
        fail_msg("ping: %s", gkv_errname(rc));
    assert_int_equal(m->type, WIRE_PING);
    assert_int_equal(m->sender_id, 77);
    assert_int_equal(m->sender_hlc, 88);
    assert_int_equal(m->u.ping.seq, 1);
    assert_int_equal(m->u.ping.target_id, 2);
    assert_int_equal(m->u.ping.source_id, 3);

    assert_int_equal(wire_decode(p, len, &off, NULL, m), 0);
    assert_int_equal(m->type, WIRE_DELTAS);
    assert_int_equal(m->u.entries.n, 1);
    const struct entry *e = &m->u.entries.entries[0];
    assert_memory_equal(e->key, "kk", 2);
    assert_int_equal(e->value_len, 1);
    assert_int_equal(e->hlc, 5);
    assert_int_equal(e->origin, 6);
    assert_int_equal(e->flags, 0);
    assert_int_equal(e->vc.n, 1);

    assert_int_equal(wire_decode(p, len, &off, NULL, m), 0);
    assert_int_equal(m->type, WIRE_STATE);
    assert_true(m->u.state.is_reply);
    assert_int_equal(m->u.state.n, 1);
    assert_memory_equal(m->u.state.members[0].name, "n9", 2);
    assert_int_equal(m->u.state.members[0].addr_len, 3);
    assert_int_equal(m->u.state.members[0].incarnation, 256);
    assert_int_equal(m->u.state.members[0].state, WIRE_STATE_DEAD);
    assert_int_equal(off, len);
    free(m);
    free(p);
}

static void test_wire_unknown_type_is_skipped_next_decoded(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pk_head(&pk, 6, 99, WIRE_VERSION); /* type 99: from a newer node */
    pk_key(&pk, "q");
    pk_junk(&pk);
    pk_key(&pk, "e");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 0);
    pk_head(&pk, 5, WIRE_PING, 2); /* a known type in an unknown version */
    pk_key(&pk, "q");
    pk_junk(&pk);
    pk_head(&pk, 6, WIRE_ACK, WIRE_VERSION);
    pk_key(&pk, "q");
    msgpack_pack_uint32(&pk, 5);
    pk_key(&pk, "o");
    msgpack_pack_uint64(&pk, 6);

    struct wire_msg *m = msg_new(0);
    size_t off = 0;
    const uint8_t *buf = (const uint8_t *)sb.data;
    assert_int_equal(wire_decode(buf, sb.size, &off, NULL, m), GKV_EUNSUPPORTED);
    assert_int_equal(m->type, 99);
    assert_true(off > 0);
    size_t off1 = off;
    assert_int_equal(wire_decode(buf, sb.size, &off, NULL, m), GKV_EVERSION);
    assert_int_equal(m->version, 2);
    assert_true(off > off1);
    assert_int_equal(wire_decode(buf, sb.size, &off, NULL, m), 0);
    assert_int_equal(m->type, WIRE_ACK);
    assert_int_equal(m->u.ack.seq, 5);
    assert_int_equal(off, sb.size);

    /* An unknown type that is itself malformed is a decode error. */
    uint8_t bad[] = {0x83, 0xa1, 't', 99, 0xa1, 'v', 1, 0xa1, 'x', 0xdd};
    off = 0;
    assert_int_equal(wire_decode(bad, sizeof(bad), &off, NULL, m), GKV_EDECODE);
    assert_int_equal(off, 0);
    msgpack_sbuffer_destroy(&sb);
    free(m);
}

/* Well-formed msgpack that breaks a protocol rule. */
struct bad_case {
    const char *name;
    int want;
    uint8_t bytes[64];
    size_t len;
};

#define HEAD(type, pairs) (0x80 | (pairs)), 0xa1, 't', (type), 0xa1, 'v', 1, 0xa1, 's', 1, 0xa1, 'h', 1
#define BAD(name, want, ...)                                                                       \
    {                                                                                              \
        name, want, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})                               \
    }

static const struct bad_case g_bad[] = {
    BAD("ok ack (control)", 0, HEAD(3, 6), 0xa1, 'q', 1, 0xa1, 'o', 2),
    BAD("missing field", GKV_EDECODE, HEAD(3, 5), 0xa1, 'q', 1),
    BAD("missing sender", GKV_EDECODE, 0x84, 0xa1, 't', 3, 0xa1, 'v', 1, 0xa1, 'q', 1, 0xa1, 'o',
        1),
    BAD("duplicate field", GKV_EDECODE, HEAD(3, 7), 0xa1, 'q', 1, 0xa1, 'o', 2, 0xa1, 'q', 1),
    BAD("duplicate sender", GKV_EDECODE, HEAD(3, 7), 0xa1, 'q', 1, 0xa1, 'o', 2, 0xa1, 's', 1),
    BAD("v before t", GKV_EDECODE, 0x86, 0xa1, 'v', 1, 0xa1, 't', 3, 0xa1, 's', 1, 0xa1, 'h', 1,
        0xa1, 'q', 1, 0xa1, 'o', 2),
    BAD("not a map", GKV_EDECODE, 0x93, 1, 2, 3),
    BAD("map of one pair", GKV_EDECODE, 0x81, 0xa1, 't', 3),
    BAD("type > 255", GKV_EDECODE, 0x82, 0xa1, 't', 0xcd, 1, 0, 0xa1, 'v', 1),
    BAD("negative type", GKV_EDECODE, 0x82, 0xa1, 't', 0xff, 0xa1, 'v', 1),
    BAD("seq > u32", GKV_EDECODE, HEAD(3, 6), 0xa1, 'q', 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xa1, 'o',
        2),
    BAD("seq negative int8", GKV_EDECODE, HEAD(3, 6), 0xa1, 'q', 0xd0, 0x80, 0xa1, 'o', 2),
    BAD("seq as string", GKV_EDECODE, HEAD(3, 6), 0xa1, 'q', 0xa1, '1', 0xa1, 'o', 2),
    BAD("member state 4", GKV_EDECODE, HEAD(5, 6), 0xa1, 'f', 0, 0xa1, 'm', 0x85, 0xa1, 'i', 1,
        0xa1, 'n', 0xa0, 0xa1, 'a', 0xa0, 0xa1, 'c', 0, 0xa1, 'x', 4),
    BAD("member missing addr", GKV_EDECODE, HEAD(5, 6), 0xa1, 'f', 0, 0xa1, 'm', 0x84, 0xa1, 'i',
        1, 0xa1, 'n', 0xa0, 0xa1, 'c', 0, 0xa1, 'x', 0),
    BAD("is_reply not bool", GKV_EDECODE, HEAD(10, 6), 0xa1, 'y', 1, 0xa1, 'l', 0x90),
    BAD("empty key", GKV_EDECODE, HEAD(20, 5), 0xa1, 'e', 0x91, 0x84, 0xa1, 'k', 0xc4, 0, 0xa1,
        'd', 0xc4, 0, 0xa1, 'h', 1, 0xa1, 'o', 1),
    BAD("live without value", GKV_EDECODE, HEAD(20, 5), 0xa1, 'e', 0x91, 0x83, 0xa1, 'k', 0xc4,
        1, 'k', 0xa1, 'h', 1, 0xa1, 'o', 1),
    BAD("tombstone with value", GKV_EDECODE, HEAD(20, 5), 0xa1, 'e', 0x91, 0x85, 0xa1, 'k', 0xc4,
        1, 'k', 0xa1, 'f', 1, 0xa1, 'd', 0xc4, 0, 0xa1, 'h', 1, 0xa1, 'o', 1),
    BAD("unknown flag bit", GKV_EDECODE, HEAD(20, 5), 0xa1, 'e', 0x91, 0x85, 0xa1, 'k', 0xc4, 1,
        'k', 0xa1, 'f', 4, 0xa1, 'd', 0xc4, 0, 0xa1, 'h', 1, 0xa1, 'o', 1),
    BAD("vclock odd length", GKV_EDECODE, HEAD(20, 5), 0xa1, 'e', 0x91, 0x85, 0xa1, 'k', 0xc4, 1,
        'k', 0xa1, 'c', 0x93, 1, 1, 2, 0xa1, 'd', 0xc4, 0, 0xa1, 'h', 1, 0xa1, 'o', 1),
    BAD("vclock unsorted", GKV_EDECODE, HEAD(20, 5), 0xa1, 'e', 0x91, 0x85, 0xa1, 'k', 0xc4, 1,
        'k', 0xa1, 'c', 0x94, 2, 1, 1, 1, 0xa1, 'd', 0xc4, 0, 0xa1, 'h', 1, 0xa1, 'o', 1),
    BAD("vclock zero counter", GKV_EDECODE, HEAD(20, 5), 0xa1, 'e', 0x91, 0x85, 0xa1, 'k', 0xc4,
        1, 'k', 0xa1, 'c', 0x92, 1, 0, 0xa1, 'd', 0xc4, 0, 0xa1, 'h', 1, 0xa1, 'o', 1),
    BAD("vclock 9 pairs", GKV_ELIMIT, HEAD(20, 5), 0xa1, 'e', 0x91, 0x85, 0xa1, 'k', 0xc4, 1, 'k',
        0xa1, 'c', 0xdc, 0, 18, 1, 1, 2, 1, 3, 1, 4, 1, 5, 1, 6, 1, 7, 1, 8, 1, 9, 1, 0xa1, 'd',
        0xc4, 0, 0xa1, 'h', 1, 0xa1, 'o', 1),
    BAD("digest beyond its buckets", GKV_EDECODE, HEAD(30, 8), 0xa1, 'r', 0, 0xa1, 'b', 3, 0xa1,
        'w', 2, 0xa1, 'd', 0xc4, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    BAD("digest hashes not 8n", GKV_EDECODE, HEAD(30, 8), 0xa1, 'r', 0, 0xa1, 'b', 0, 0xa1, 'w',
        2, 0xa1, 'd', 0xc4, 3, 0, 0, 0),
    BAD("bucket bits > 24", GKV_ELIMIT, HEAD(30, 8), 0xa1, 'r', 0, 0xa1, 'b', 0, 0xa1, 'w', 25,
        0xa1, 'd', 0xc4, 0),
    BAD("bucket > u32", GKV_EDECODE, HEAD(31, 5), 0xa1, 'u', 0x91, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0),
    /* A one-letter key in a wider str form is the same key (msgpack-c
     * reads it so): it is the field, and a second copy is a duplicate. */
    BAD("str16 key is the field", 0, HEAD(3, 6), 0xda, 0, 1, 'q', 1, 0xa1, 'o', 2),
    BAD("duplicate field, str8 then fixstr", GKV_EDECODE, HEAD(3, 7), 0xd9, 1, 'q', 5, 0xa1, 'q',
        1, 0xa1, 'o', 2),
    BAD("0xc1 in unknown field", GKV_EDECODE, HEAD(3, 7), 0xa1, 'q', 1, 0xa1, 'o', 2, 0xa1, 'z',
        0xc1),
};

static void test_wire_rejects_protocol_violations(void **state)
{
    (void)state;
    struct wire_msg *m = msg_new(0);
    for (size_t i = 0; i < sizeof(g_bad) / sizeof(g_bad[0]); i++) {
        const struct bad_case *c = &g_bad[i];
        uint8_t *p = malloc(c->len);
        memcpy(p, c->bytes, c->len);
        size_t off = 0;
        int rc = wire_decode(p, c->len, &off, NULL, m);
        if (rc != c->want)
            fail_msg("%s: got %s, want %s", c->name, gkv_errname(rc), gkv_errname(c->want));
        assert_int_equal(off, rc == 0 ? c->len : 0);
        free(p);
    }
    free(m);
}

/* Lists longer than their caps are refused before any element is read. */
static void test_wire_list_caps(void **state)
{
    (void)state;
    struct {
        uint8_t type;
        char key;
        uint32_t cap;
        uint8_t elem[8];
        size_t elem_len;
    } lists[] = {
        {WIRE_STATE, 'l', WIRE_MAX_MEMBERS_MSG, {0x80}, 1},
        {WIRE_DELTAS, 'e', WIRE_MAX_ENTRIES_MSG, {0x80}, 1},
        {WIRE_BUCKET_REQ, 'u', WIRE_MAX_BUCKETS_MSG, {0x01}, 1},
    };
    struct wire_msg *m = msg_new(0);
    uint8_t *buf = malloc(64 + (WIRE_MAX_BUCKETS_MSG + 1) * 8);
    for (size_t i = 0; i < 3; i++) {
        uint8_t head[] = {HEAD(lists[i].type, 5), 0xa1, (uint8_t)lists[i].key, 0xdc,
                          (uint8_t)((lists[i].cap + 1) >> 8), (uint8_t)(lists[i].cap + 1)};
        memcpy(buf, head, sizeof(head));
        size_t len = sizeof(head);
        for (uint32_t k = 0; k < lists[i].cap + 1; k++) {
            memcpy(buf + len, lists[i].elem, lists[i].elem_len);
            len += lists[i].elem_len;
        }
        size_t off = 0;
        assert_int_equal(wire_decode(buf, len, &off, NULL, m), GKV_ELIMIT);
    }
    /* DIGEST: 1025 hashes. */
    uint8_t head[] = {HEAD(WIRE_DIGEST, 8), 0xa1, 'r', 0, 0xa1, 'b', 0, 0xa1, 'w', 12, 0xa1,
                      'd', 0xc5, (uint8_t)((8 * (WIRE_MAX_BUCKETS_MSG + 1)) >> 8),
                      (uint8_t)(8 * (WIRE_MAX_BUCKETS_MSG + 1))};
    memcpy(buf, head, sizeof(head));
    memset(buf + sizeof(head), 0, 8 * (WIRE_MAX_BUCKETS_MSG + 1));
    size_t off = 0;
    assert_int_equal(wire_decode(buf, sizeof(head) + 8 * (WIRE_MAX_BUCKETS_MSG + 1), &off, NULL,
                                 m),
                     GKV_ELIMIT);
    free(buf);
    free(m);
}

static void test_wire_frame_prefix(void **state)
{
    (void)state;
    uint8_t p[WIRE_FRAME_PREFIX_BYTES];
    uint32_t n;
    wire_frame_prefix_put(p, 0x00010203);
    assert_memory_equal(p, "\x00\x01\x02\x03", 4);
    assert_int_equal(wire_frame_prefix_get(p, &n), 0);
    assert_int_equal(n, 0x00010203);
    wire_frame_prefix_put(p, WIRE_MAX_FRAME);
    assert_int_equal(wire_frame_prefix_get(p, &n), 0);
    wire_frame_prefix_put(p, WIRE_MAX_FRAME + 1);
    assert_int_equal(wire_frame_prefix_get(p, &n), GKV_ELIMIT);
    wire_frame_prefix_put(p, 0);
    assert_int_equal(wire_frame_prefix_get(p, &n), GKV_EDECODE);
}

static void test_wire_type_names(void **state)
{
    (void)state;
    assert_string_equal(wire_type_name(WIRE_PING_REQ), "ping-req");
    assert_string_equal(wire_type_name(WIRE_REPAIR), "repair");
    assert_string_equal(wire_type_name(200), "unknown");
}

/* ============================================================ property */

/* A random slice of g_bytes of at most max bytes. */
static const uint8_t *random_bytes(struct gkv_rng *r, uint32_t *len, uint32_t max)
{
    *len = (uint32_t)gkv_rng_below(r, (uint64_t)max + 1);
    return g_bytes + gkv_rng_below(r, 4096);
}

static uint64_t random_u64(struct gkv_rng *r)
{
    /* Mostly small, sometimes each size class boundary. */
    static const uint64_t edges[] = {0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX,
                                     (uint64_t)UINT32_MAX + 1, UINT64_MAX};
    switch (gkv_rng_below(r, 4)) {
    case 0:
        return edges[gkv_rng_below(r, sizeof(edges) / sizeof(edges[0]))];
    case 1:
        return gkv_rng_below(r, 200);
    default:
        return gkv_rng_next(r) >> gkv_rng_below(r, 64);
    }
}

static void random_member(struct gkv_rng *r, struct wire_member *m)
{
    m->id = random_u64(r);
    m->name = (const char *)random_bytes(r, &m->name_len, WIRE_MAX_NAME);
    m->addr = (const char *)random_bytes(r, &m->addr_len, WIRE_MAX_ADDR);
    m->incarnation = random_u64(r);
    m->state = (uint8_t)gkv_rng_below(r, 4);
}

static void random_entry(struct gkv_rng *r, struct entry *e)
{
    memset(e, 0, sizeof(*e));
    e->key = random_bytes(r, &e->key_len, gkv_rng_below(r, 8) == 0 ? GKV_KEY_MAX : 40);
    if (e->key_len == 0)
        e->key_len = 1;
    if (gkv_rng_below(r, 4) == 0)
        e->flags = ENTRY_TOMBSTONE;
    else
        e->value = random_bytes(r, &e->value_len, gkv_rng_below(r, 8) == 0 ? 70000 : 100);
    e->hlc = random_u64(r);
    e->origin = random_u64(r);
    e->vc.n = (uint32_t)gkv_rng_below(r, GKV_VCLOCK_MAX + 1);
    uint64_t node = gkv_rng_below(r, 3);
    for (uint32_t i = 0; i < e->vc.n; i++) {
        e->vc.items[i].node = node;
        e->vc.items[i].counter = 1 + random_u64(r) / 2;
        node += 1 + gkv_rng_below(r, 1000);
    }
}

static void random_msg(struct gkv_rng *r, struct wire_msg *m)
{
    static const uint8_t types[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 31, 32};
    m->type = types[gkv_rng_below(r, sizeof(types))];
    m->version = WIRE_VERSION;
    m->sender_id = random_u64(r);
    m->sender_hlc = random_u64(r);
    switch (m->type) {
    case WIRE_PING:
        m->u.ping.seq = (uint32_t)random_u64(r);
        m->u.ping.target_id = random_u64(r);
        m->u.ping.source_id = random_u64(r);
        break;
    case WIRE_PING_REQ:
        m->u.ping_req.seq = (uint32_t)random_u64(r);
        m->u.ping_req.target_id = random_u64(r);
        m->u.ping_req.target_addr =
            (const char *)random_bytes(r, &m->u.ping_req.target_addr_len, WIRE_MAX_ADDR);
        m->u.ping_req.source_id = random_u64(r);
        break;
    case WIRE_ACK:
    case WIRE_NACK:
        m->u.ack.seq = (uint32_t)random_u64(r);
        m->u.ack.source_id = random_u64(r);
        break;
    case WIRE_JOIN:
    case WIRE_STATE:
        m->u.state.is_reply = gkv_rng_below(r, 2);
        m->u.state.n = (uint32_t)gkv_rng_below(r, WIRE_MAX_MEMBERS_MSG + 1);
        for (uint32_t i = 0; i < m->u.state.n; i++)
            random_member(r, &m->u.state.members[i]);
        break;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        m->u.entries.n = (uint32_t)gkv_rng_below(r, gkv_rng_below(r, 4) == 0 ? 257 : 20);
        for (uint32_t i = 0; i < m->u.entries.n; i++)
            random_entry(r, &m->u.entries.entries[i]);
        break;
    case WIRE_DIGEST:
        m->u.digest.root = random_u64(r);
        m->u.digest.bucket_bits = (uint32_t)gkv_rng_below(r, WIRE_MAX_BUCKET_BITS + 1);
        {
            uint64_t buckets = UINT64_C(1) << m->u.digest.bucket_bits;
            uint64_t n = gkv_rng_below(r, (buckets < WIRE_MAX_BUCKETS_MSG ? buckets
                                                                          : WIRE_MAX_BUCKETS_MSG) +
                                              1);
            m->u.digest.n = (uint32_t)n;
            m->u.digest.first_bucket = (uint32_t)gkv_rng_below(r, buckets - n + 1);
        }
        for (uint32_t i = 0; i < m->u.digest.n; i++)
            m->u.digest.hashes[i] = random_u64(r);
        break;
    case WIRE_BUCKET_REQ:
        m->u.bucket_req.n = (uint32_t)gkv_rng_below(r, WIRE_MAX_BUCKETS_MSG + 1);
        for (uint32_t i = 0; i < m->u.bucket_req.n; i++)
            m->u.bucket_req.buckets[i] = (uint32_t)random_u64(r);
        break;
    default:
        m->u.suspicion.from_id = random_u64(r);
        random_member(r, &m->u.suspicion.member);
        break;
    }
}

/* A random message encoded alone by wire_encode_prefix into buf, with a
 * datagram's budget or all of cap at random; m is trimmed to the prefix
 * that went in. Returns the encoded length, 0 if not even a prefix fit. */
static size_t random_encoded(struct gkv_rng *r, struct wire_msg *m, uint8_t *buf, size_t cap)
{
    memset(m, 0, sizeof(*m));
    random_msg(r, m);
    struct wire_encoder enc;
    wire_encoder_init(&enc, buf, gkv_rng_below(r, 2) ? WIRE_MTU_DEFAULT : cap);
    uint32_t taken;
    int rc = wire_encode_prefix(&enc, m, &taken);
    if (rc == GKV_ENOSPACE_MSG)
        return 0;
    assert_int_equal(rc, 0);
    if (m->type == WIRE_DELTAS || m->type == WIRE_REPAIR)
        m->u.entries.n = taken;
    else if (m->type == WIRE_JOIN || m->type == WIRE_STATE)
        m->u.state.n = taken;
    else if (m->type == WIRE_DIGEST)
        m->u.digest.n = taken;
    else if (m->type == WIRE_BUCKET_REQ)
        m->u.bucket_req.n = taken;
    return enc.len;
}

static void test_wire_random_messages_round_trip(void **state)
{
    (void)state;
    printf("seed %llu (GKV_SEED to replay)\n", (unsigned long long)g_seed);
    struct gkv_rng r;
    gkv_rng_seed(&r, g_seed);
    struct wire_msg *m = msg_new(0), *got = msg_new(0);
    size_t cap = 4u << 20;
    uint8_t *buf = malloc(cap);
    for (int iter = 0; iter < 3000; iter++) {
        /* The decoded message is the prefix that was taken. */
        size_t len = random_encoded(&r, m, buf, cap);
        if (len == 0)
            continue;
        assert_int_equal(wire_encoded_size(m), len);
        size_t off = 0;
        int rc = wire_decode(buf, len, &off, NULL, got);
        if (rc != 0)
            fail_msg("iter %d type %s: %s", iter, wire_type_name(m->type), gkv_errname(rc));
        assert_int_equal(off, len);
        if (!wire_msg_equal(m, got))
            fail_msg("iter %d type %s differs after round trip", iter, wire_type_name(m->type));
    }
    free(buf);
    free(got);
    free(m);
}

/* ======================================== differential: msgpack-c */

/* Random messages, encoded by msgpack-c's packer (wire_encode_prefix),
 * read back by both the bounded decoder and msgpack_unpack_next: both see
 * the message that was encoded. */
static void test_wire_random_messages_decode_the_same_with_msgpack_c(void **state)
{
    (void)state;
    printf("seed %llu (GKV_SEED to replay)\n", (unsigned long long)g_seed);
    struct gkv_rng r;
    gkv_rng_seed(&r, g_seed ^ 0x6d7367ull);
    struct wire_msg *m = msg_new(0), *a = msg_new(0), *b = msg_new(0);
    size_t cap = 4u << 20;
    uint8_t *buf = malloc(cap);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int checked = 0;
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = random_encoded(&r, m, buf, cap);
        if (len == 0)
            continue;
        size_t off = 0;
        int rc = wire_decode(buf, len, &off, NULL, a);
        if (rc != 0)
            fail_msg("iter %d %s: bounded decoder: %s", iter, wire_type_name(m->type),
                     gkv_errname(rc));
        if (!wire_ref_decode(&u, buf, len, b))
            fail_msg("iter %d %s: msgpack-c does not read it", iter, wire_type_name(m->type));
        if (!wire_msg_equal(m, a) || !wire_msg_equal(m, b))
            fail_msg("iter %d %s: bounded %d, msgpack-c %d", iter, wire_type_name(m->type),
                     wire_msg_equal(m, a), wire_msg_equal(m, b));
        checked++;
    }
    assert_true(checked > 1000);
    msgpack_unpacked_destroy(&u);
    free(buf);
    free(b);
    free(a);
    free(m);
}

/* Decode every message of buf[0..len) with the bounded decoder; each one it
 * accepts, msgpack-c must read as the same message from the same bytes.
 * Returns how many were compared. */
static int differential_all(const uint8_t *buf, size_t len, struct wire_msg *a,
                            struct wire_msg *b, msgpack_unpacked *u, const char *what)
{
    size_t off = 0;
    int compared = 0;
    for (uint32_t i = 0; i < WIRE_MAX_MSGS_DATAGRAM && off < len; i++) {
        size_t before = off;
        int rc = wire_decode(buf, len, &off, NULL, a);
        if (rc == GKV_EUNSUPPORTED || rc == GKV_EVERSION)
            continue;
        if (rc < 0)
            break;
        if (!wire_ref_decode(u, buf + before, off - before, b) || !wire_msg_equal(a, b)) {
            char hx[2 * 96 + 1];
            size_t n = off - before < 96 ? off - before : 96;
            hex(buf + before, n, hx);
            fail_msg("%s: the bounded decoder accepted a %s that msgpack-c reads otherwise: %s",
                     what, wire_type_name(a->type), hx);
        }
        compared++;
    }
    return compared;
}

/* Random byte strings, and valid datagrams with random bytes changed,
 * inserted or cut: whenever the bounded decoder accepts a message,
 * msgpack-c agrees on every value in it. */
static void test_wire_random_bytes_accepted_means_msgpack_c_agrees(void **state)
{
    (void)state;
    printf("seed %llu (GKV_SEED to replay)\n", (unsigned long long)g_seed);
    struct gkv_rng r;
    gkv_rng_seed(&r, g_seed ^ 0x646966ull);
    struct wire_msg *msgs[ALL_TYPES], *a = msg_new(0), *b = msg_new(0);
    size_t ends[ALL_TYPES], len;
    uint8_t *valid = datagram_all_types(&len, ends, msgs);
    uint8_t *buf = malloc(len + 64);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int compared = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n;
        if (iter % 4 == 0) { /* pure noise, with a map header now and then */
            n = 1 + gkv_rng_below(&r, 48);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)gkv_rng_next(&r);
            if (gkv_rng_below(&r, 2))
                buf[0] = (uint8_t)(0x80 | gkv_rng_below(&r, 16));
        } else { /* one message of the valid datagram, mutated */
            size_t k = gkv_rng_below(&r, ALL_TYPES), from = k ? ends[k - 1] : 0;
            n = ends[k] - from;
            memcpy(buf, valid + from, n);
            for (uint64_t c = 1 + gkv_rng_below(&r, 3); c > 0; c--) {
                size_t at = gkv_rng_below(&r, n);
                switch (gkv_rng_below(&r, 3)) {
                case 0:
                    buf[at] = (uint8_t)gkv_rng_next(&r);
                    break;
                case 1: /* insert a byte */
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (uint8_t)gkv_rng_next(&r);
                    n++;
                    break;
                default: /* cut a byte */
                    if (n > 1) {
                        memmove(buf + at, buf + at + 1, n - at - 1);
                        n--;
                    }
                    break;
                }
                if (n >= len + 60)
                    break;
            }
        }
        compared += differential_all(buf, n, a, b, &u, "random bytes");
    }
    printf("%d accepted messages compared\n", compared);
    assert_true(compared > 1000);
    msgpack_unpacked_destroy(&u);
    free(buf);
    free(valid);
    free(b);
    free(a);
    all_types_free(msgs);
}

/* ============================================================== corpus */

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(p, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* `test_wire --write-corpus DIR`: write tests/fuzz/corpus/wire's seed
 * files: one datagram per message type, a full multi-type datagram, an
 * MTU-full delta datagram, hand-built foreign messages and every bomb. A
 * tool, not a test: a failed write ends the process non-zero. */
static int write_fuzz_corpus(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *c = path + 1; *c; c++) { /* mkdir -p */
        if (*c == '/') {
            *c = '\0';
            mkdir(path, 0755);
            *c = '/';
        }
    }
    mkdir(path, 0755);
    char name[64];
    struct wire_msg *msgs[ALL_TYPES];
    all_types(msgs);
    msgs[13]->u.entries.entries[0].value_len = 10;
    msgs[10]->u.entries.entries[1].key_len = 40; /* keep the seeds small */
    for (int i = 0; i < ALL_TYPES; i++) {
        size_t len;
        uint8_t *b = encode_one(msgs[i], &len);
        snprintf(name, sizeof(name), "type-%s", wire_type_name(msgs[i]->type));
        write_file(dir, name, b, len);
        free(b);
    }
    size_t len, ends[ALL_TYPES];
    struct wire_msg *more[ALL_TYPES];
    uint8_t *b = datagram_all_types(&len, ends, more);
    write_file(dir, "datagram-all-types", b, len);
    free(b);
    all_types_free(more);

    uint8_t dg[WIRE_MTU_DEFAULT];
    write_file(dir, "datagram-deltas-mtu", dg, deltas_mtu(dg));

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pk_ping_with(&sb, pk_junk_cb, NULL);
    write_file(dir, "foreign-unknown-field", (const uint8_t *)sb.data, sb.size);
    msgpack_sbuffer_clear(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pk_head(&pk, 5, 99, WIRE_VERSION);
    pk_key(&pk, "q");
    pk_junk(&pk);
    pk_head(&pk, 5, WIRE_PING, 2);
    pk_key(&pk, "q");
    pk_junk(&pk);
    write_file(dir, "foreign-unknown-type-version", (const uint8_t *)sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);

    uint8_t forms[512];
    write_file(dir, "foreign-every-msgpack-form", forms, all_forms_datagram(forms));

    /* Entries whose key and value need 16-bit lengths, 16+ entries (array16). */
    struct wire_msg *big = msg_new(WIRE_REPAIR);
    big->u.entries.n = 17;
    for (uint32_t i = 0; i < 17; i++)
        entry_fill(&big->u.entries.entries[i], i, i == 0 ? 300 : 1, i == 0 ? 300 : 0, i == 5, i,
                   i, i % 3);
    uint8_t *bb = encode_one(big, &len);
    write_file(dir, "type-repair-wide-lengths", bb, len);
    free(bb);
    free(big);

    struct bomb bombs[32];
    size_t n = bombs_make(bombs);
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "bomb-%02zu-%s", i, bombs[i].name);
        write_file(dir, name, bombs[i].data, bombs[i].len);
        free((void *)bombs[i].data);
    }
    for (size_t i = 0; i < sizeof(g_bad) / sizeof(g_bad[0]); i++) {
        snprintf(name, sizeof(name), "bad-%02zu", i);
        write_file(dir, name, g_bad[i].bytes, g_bad[i].len);
    }
    all_types_free(msgs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_fuzz_corpus(argv[2]);
    g_seed = gkv_test_seed_quiet(g_seed); /* each randomized test prints it */
    if (alloc_counter_install() != 0) {
        fprintf(stderr, "cannot install allocation hooks\n");
        return 1;
    }
    for (uint32_t i = 0; i < sizeof(g_bytes); i++)
        g_bytes[i] = (uint8_t)(i * 131 + (i >> 8));
    memset(g_name128, 'n', WIRE_MAX_NAME);
    memset(g_addr64, '1', WIRE_MAX_ADDR);
    memcpy(g_addr64, "[fe80::1", 8);
    memcpy(g_addr64 + WIRE_MAX_ADDR - 6, "]:7946", 6);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_roundtrip_every_type),
        cmocka_unit_test(test_wire_entry_expiry_roundtrip_and_refusals),
        cmocka_unit_test(test_wire_output_is_standard_msgpack),
        cmocka_unit_test(test_wire_encoding_matches_pinned_bytes),
        cmocka_unit_test(test_wire_multiple_messages_per_datagram),
        cmocka_unit_test(test_wire_max_value_entry_fits_a_stream_frame),
        cmocka_unit_test(test_wire_counter_entries_roundtrip),
        cmocka_unit_test(test_wire_encode_entries_packs_as_many_as_fit),
        cmocka_unit_test(test_wire_entry_encoded_size_adds_up),
        cmocka_unit_test(test_wire_encode_entries_header_edge_15_16),
        cmocka_unit_test(test_wire_encoder_never_writes_past_cap_nor_allocates),
        cmocka_unit_test(test_wire_encoder_overflow_leaves_encoder_unchanged),
        cmocka_unit_test(test_wire_encoder_caps_messages_per_datagram),
        cmocka_unit_test(test_wire_encode_prefix_fills_mtu_with_members_and_hashes),
        cmocka_unit_test(test_wire_encode_rejects_what_can_never_decode),
        cmocka_unit_test(test_wire_every_truncation_decodes_complete_messages_only),
        cmocka_unit_test(test_wire_every_byte_change_decodes_cleanly_or_errors),
        cmocka_unit_test(test_wire_alloc_counter_sees_msgpack_c_allocate),
        cmocka_unit_test(test_wire_msgpack_bombs_fail_without_allocating),
        cmocka_unit_test(test_wire_depth_limit_is_exact),
        cmocka_unit_test(test_wire_unknown_fields_are_skipped),
        cmocka_unit_test(test_wire_accepts_every_msgpack_form),
        cmocka_unit_test(test_wire_unknown_type_is_skipped_next_decoded),
        cmocka_unit_test(test_wire_rejects_protocol_violations),
        cmocka_unit_test(test_wire_list_caps),
        cmocka_unit_test(test_wire_frame_prefix),
        cmocka_unit_test(test_wire_type_names),
        cmocka_unit_test(test_wire_random_messages_round_trip),
        cmocka_unit_test(test_wire_random_messages_decode_the_same_with_msgpack_c),
        cmocka_unit_test(test_wire_random_bytes_accepted_means_msgpack_c_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
