/*
 * format.h: the on-disk layout of a data directory (internal to storage/).
 *
 * docs/FILE_FORMAT.md draws the same layouts as OFFSET SIZE DESCRIPTION
 * tables and states the crash-safety argument; keep the two in step. All
 * integers are little-endian (the only byte order gossipkv builds for: x86-64
 * and aarch64 Linux; see the static assert below).
 *
 * A data directory holds:
 *   LOCK             empty; flock()ed exclusively by the process that owns it
 *   header.gkv       two checksummed header copies (A at 0, B at 4096)
 *   table.<gen>.gkv  a slot array (one, or two while the table doubles)
 *   values.gkv       the record heap: key, vector clock and value of each slot
 */
#ifndef GKV_STORAGE_FORMAT_H
#define GKV_STORAGE_FORMAT_H

#include <assert.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gossipkv's file format is little-endian and is accessed in place"
#endif

/* Page size the layout is aligned to. 4096 is the smallest page size of the
 * platforms we build for; each header copy and each file prologue owns one
 * page so msync of one never drags the other along. */
#define FMT_PAGE 4096u

#define FMT_VERSION 1u

/* ---------------------------------------------------------- header.gkv */

#define FMT_HEADER_MAGIC "GKVHEAD1"  /* 8 bytes, no NUL stored */
#define FMT_HEADER_COPY_OFF(i) ((uint64_t)(i) * FMT_PAGE) /* A = 0, B = 1 */
#define FMT_HEADER_FILE_BYTES (2u * FMT_PAGE)

struct fmt_header {
    char magic[8];            /*   0 "GKVHEAD1" */
    uint32_t version;         /*   8 FMT_VERSION */
    uint32_t header_bytes;    /*  12 sizeof(struct fmt_header) */
    uint64_t seq;             /*  16 bumped on every header write */
    uint64_t node_id;         /*  24 */
    uint64_t incarnation;     /*  32 bumped on every unclean open */
    uint64_t hlc_bound;       /*  40 no HLC above this was ever issued */
    uint64_t table_gen;       /*  48 live table: table.<gen>.gkv */
    uint64_t table_capacity;  /*  56 its slots (power of two) */
    uint64_t grow_gen;        /*  64 0, or the table being filled by a doubling */
    uint64_t grow_capacity;   /*  72 its slots */
    uint64_t entries;         /*  80 live values at the last header write (advisory) */
    uint64_t tombstones;      /*  88 (advisory; recovery recounts) */
    uint64_t values_bytes;    /*  96 values.gkv size at the last header write (advisory) */
    uint32_t clean;           /* 104 1 = closed by store_close, 0 = open or crashed */
    uint32_t max_value_bytes; /* 108 the limit the store was created with (advisory) */
    uint8_t secret[16];       /* 112 SipHash key for slot placement */
    uint8_t reserved[64];     /* 128 zero */
    uint64_t checksum;        /* 192 store__checksum64(bytes 0..191, seed FMT_SEED_HEADER) */
};
static_assert(sizeof(struct fmt_header) == 200, "header layout");

/* ------------------------------------------------------ table.<gen>.gkv */

#define FMT_TABLE_MAGIC "GKVTABL1"

/* First page of a table file; slots start at FMT_PAGE. */
struct fmt_table_prologue {
    char magic[8];     /*  0 "GKVTABL1" */
    uint32_t version;  /*  8 FMT_VERSION */
    uint32_t slot_bytes; /* 12 sizeof(struct fmt_slot) */
    uint64_t gen;      /* 16 must equal the <gen> in the file name */
    uint64_t capacity; /* 24 slots, power of two */
    uint64_t checksum; /* 32 over bytes 0..31, seed FMT_SEED_TABLE */
};
static_assert(sizeof(struct fmt_table_prologue) == 40, "table prologue layout");

enum fmt_slot_state {
    FMT_SLOT_EMPTY = 0, /* all 64 bytes zero; ends a probe chain */
    FMT_SLOT_VALUE = 1, /* a live value */
    FMT_SLOT_TOMB = 2,  /* a tombstone (a delete that still needs gossiping) */
    FMT_SLOT_DEAD = 3,  /* deleted-but-occupied: probing continues past it */
};

/* One slot: 64 bytes, one cache line, 64 per page. The slot duplicates the
 * record's header fields so a probe and a get touch the record only to
 * compare key bytes and to return the value. */
struct fmt_slot {
    uint64_t hash;      /*  0 SipHash-2-4(key, header secret) */
    uint64_t hlc;       /*  8 */
    uint64_t origin;    /* 16 */
    uint64_t rec_off;   /* 24 offset of the current record in values.gkv */
    uint64_t prev_off;  /* 32 last record known durable (power-loss fallback), 0 = none */
    uint32_t value_len; /* 40 */
    uint32_t epoch;     /* 44 sync epoch (low 32 bits) of the last write */
    uint16_t key_len;   /* 48 1..1024 */
    uint16_t bucket;    /* 50 entry_bucket(key, STORE_BUCKET_BITS) */
    uint8_t state;      /* 52 enum fmt_slot_state */
    uint8_t vc_n;       /* 53 vector clock items in the record */
    uint16_t reserved;  /* 54 zero */
    uint64_t checksum;  /* 56 over bytes 0..55, seeded with (gen, slot index) */
};
static_assert(sizeof(struct fmt_slot) == 64, "slot layout");

/* ----------------------------------------------------------- values.gkv */

#define FMT_VALUES_MAGIC "GKVVALS1"
/* values.gkv's own version (the prologue's; FMT_VERSION stays the header's
 * and the tables'). 2: blocks of the size classes with 16-byte steps up to
 * 256 bytes (storage/heap.c). Records and their layout did not change, but
 * a build with the version-1 classes (64..128 in 16-byte steps, then 160,
 * 192, 224, 256) counts each record's block as its own class, so in a
 * version-2 heap it sees neighbours overlap (inspect: DAMAGED) and, once it
 * frees such a block, could reuse bytes a live record holds. A read-write
 * open upgrades a version-1 file in place (its wider blocks simply leave
 * gaps); a version-1 build refuses a version-2 file with GKV_EVERSION. */
/* 3: a record may carry an expiry (FMT_REC_EXPIRES). A version-1 or -2
 * file holds none, so it opens as it is (every expiry 0) and a read-write
 * open stamps it 3; a build that knows only version 2 refuses a version-3
 * file with GKV_EVERSION instead of misreading an expiring record. */
#define FMT_VALUES_VERSION 3u
#define FMT_VALUES_VERSION_MIN 1u

struct fmt_values_prologue {
    char magic[8];    /*  0 "GKVVALS1" */
    uint32_t version; /*  8 FMT_VALUES_VERSION */
    uint32_t granule; /* 12 FMT_GRANULE */
    uint64_t checksum; /* 16 over bytes 0..15, seed FMT_SEED_VALUES */
};
static_assert(sizeof(struct fmt_values_prologue) == 24, "values prologue layout");

/* Records start at multiples of FMT_GRANULE; 16 keeps the 8-byte fields of
 * the record header aligned and wastes at most 15 bytes per record before
 * size-class rounding. */
#define FMT_GRANULE 16u

#define FMT_RECORD_MAGIC 0x52564b47u /* "GKVR" read as little-endian u32 */

/* A record: self-describing, so a slot can be rebuilt from it. Followed by
 * vc_n * 16 bytes of vector clock (node u64, counter u64), then the key,
 * then the value, then (only with FMT_REC_EXPIRES) 8 bytes of expire_ms
 * (u64, unaligned). The expiry trails the value so that the key and value
 * stay where every reader looks for them, and a record without an expiry
 * is byte for byte what it was before expiry existed. */
struct fmt_record {
    uint32_t magic;     /*  0 FMT_RECORD_MAGIC */
    uint16_t key_len;   /*  4 */
    uint8_t flags;      /*  6 ENTRY_TOMBSTONE | FMT_REC_EXPIRES */
    uint8_t vc_n;       /*  7 */
    uint32_t value_len; /*  8 */
    uint32_t reserved;  /* 12 zero */
    uint64_t hlc;       /* 16 */
    uint64_t origin;    /* 24 */
    uint64_t vhash;     /* 32 entry_version_hash() of this version (cached) */
    uint64_t checksum;  /* 40 over bytes 0..39 and 48..end, seeded with the offset */
};
static_assert(sizeof(struct fmt_record) == 48, "record layout");

/* Record flag: an expiry trails the value. A high bit, apart from the
 * entry flags (entry.h) that records store in the same byte. */
#define FMT_REC_EXPIRES 0x80u
#define FMT_REC_EXPIRE_BYTES(flags) (((flags) & FMT_REC_EXPIRES) ? 8u : 0u)

#define FMT_RECORD_BYTES(flags, vc_n, key_len, value_len)                                 \
    ((uint64_t)sizeof(struct fmt_record) + 16u * (uint64_t)(vc_n) + (uint64_t)(key_len) + \
     (uint64_t)(value_len) + FMT_REC_EXPIRE_BYTES(flags))

/* Checksum seeds: distinct per structure so a block copied to the wrong kind
 * of place never verifies (arbitrary odd constants). */
#define FMT_SEED_HEADER 0x6a09e667f3bcc909ull
#define FMT_SEED_TABLE 0xbb67ae8584caa73bull
#define FMT_SEED_VALUES 0x3c6ef372fe94f82bull
#define FMT_SEED_SLOT 0xa54ff53a5f1d36f1ull
#define FMT_SEED_RECORD 0x510e527fade682d1ull

#endif
