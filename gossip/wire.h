/*
 * wire.h: the msgpack codec for every gossip message (sans-IO, pure).
 *
 * A datagram's plaintext (before sealing, seal.h) is a sequence of messages,
 * each a msgpack map { "t": type, "v": protocol version, ...fields }.
 * Unknown map fields are skipped; unknown types are counted and dropped.
 * Layout and field tables: docs/PROTOCOL.md.
 *
 * Decoding is bounded: no declared container count or length is trusted
 * before it is checked against the bytes that remain and the limits below,
 * so a hostile 5-byte input cannot make us allocate. Decoded messages point
 * into the input buffer (zero copy): they are borrowed until the buffer is
 * reused.
 */
#ifndef GKV_GOSSIP_WIRE_H
#define GKV_GOSSIP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/entry.h"

#define WIRE_VERSION 1
#define WIRE_MTU_DEFAULT 1400u    /* never rely on IP fragmentation */
#define WIRE_MAX_DEPTH 8          /* msgpack nesting */
#define WIRE_MAX_NAME 128u        /* member name bytes */
#define WIRE_MAX_ADDR 64u         /* "[v6]:port" text */
#define WIRE_MAX_MEMBERS_MSG 64u  /* members in one state-exchange message */
#define WIRE_MAX_ENTRIES_MSG 256u /* entries in one data/repair message */
#define WIRE_MAX_BUCKETS_MSG 1024u
#define WIRE_MAX_MSGS_DATAGRAM 256u
/* Sync streams (TCP) carry frames up to this size (a max value + key + slack). */
#define WIRE_MAX_FRAME (GKV_VALUE_MAX_DEFAULT + 64u * 1024u)
/* Anti-entropy trees have at most 2^24 buckets (store.h uses 2^10; 24 leaves
 * room to grow while 2^24 * 8-byte hashes = 128 MiB still bounds a tree). */
#define WIRE_MAX_BUCKET_BITS 24u
/* A sync-stream frame is a 4-byte big-endian length, then that many bytes
 * of sealed frame (docs/PROTOCOL.md, "Sync streams"). */
#define WIRE_FRAME_PREFIX_BYTES 4u

enum wire_type {
    /* membership (SWIM) */
    WIRE_PING = 1,
    WIRE_PING_REQ = 2, /* indirect probe: please ping target for me */
    WIRE_ACK = 3,
    WIRE_NACK = 4,
    WIRE_ALIVE = 5,
    WIRE_SUSPECT = 6,
    WIRE_DEAD = 7,
    WIRE_LEAVE = 8,
    WIRE_JOIN = 9,  /* a newcomer's hello: answered with WIRE_STATE */
    WIRE_STATE = 10, /* a batch of member records (push/pull) */
    /* data */
    WIRE_DELTAS = 20, /* a batch of entries: gossiped writes */
    /* anti-entropy */
    WIRE_DIGEST = 30,       /* root + a range of bucket hashes */
    WIRE_BUCKET_REQ = 31,   /* please send me these buckets' entries */
    WIRE_REPAIR = 32,       /* entries answering a bucket request */
};

enum wire_member_state {
    WIRE_STATE_ALIVE = 0,
    WIRE_STATE_SUSPECT = 1,
    WIRE_STATE_DEAD = 2,
    WIRE_STATE_LEFT = 3,
};

/* A member as gossiped. name/addr borrowed from the decoded buffer. */
struct wire_member {
    uint64_t id;
    const char *name; /* not NUL-terminated */
    uint32_t name_len;
    const char *addr; /* "host:port" or "[v6]:port", not NUL-terminated */
    uint32_t addr_len;
    uint64_t incarnation;
    uint8_t state; /* enum wire_member_state */
};

/* Clock-offset measurement (NTP's four timestamps from one round trip):
 * a PING carries the prober's wall time when sent (t1), the ACK echoes it
 * and adds the acker's wall time when it answered (t2 = t3: the core
 * answers within the call that received the PING). Optional fields: 0 =
 * absent (a peer without them is simply not measured). */
struct wire_ping {
    uint32_t seq;
    uint64_t target_id; /* who the sender believes it is pinging (0: unknown) */
    uint64_t source_id;
    uint64_t send_ms;   /* "k": t1, the prober's wall ms (0: absent) */
};
struct wire_ping_req {
    uint32_t seq;
    uint64_t target_id;
    const char *target_addr;
    uint32_t target_addr_len;
    uint64_t source_id;
};
struct wire_ack {
    uint32_t seq;
    uint64_t source_id; /* who acks */
    uint64_t echo_ms;   /* "k": the PING's send_ms, echoed (0: absent) */
    uint64_t reply_ms;  /* "j": the acker's wall ms when it answered (0: absent) */
};
struct wire_suspicion { /* ALIVE, SUSPECT, DEAD, LEAVE */
    struct wire_member member;
    uint64_t from_id; /* who raised it (SUSPECT/DEAD) */
};
struct wire_state {
    bool is_reply; /* reply to a JOIN/STATE push: do not answer again */
    uint32_t n;
    struct wire_member members[WIRE_MAX_MEMBERS_MSG];
};
struct wire_entries { /* DELTAS and REPAIR */
    uint32_t n;
    struct entry entries[WIRE_MAX_ENTRIES_MSG];
};
struct wire_digest {
    uint64_t root;
    uint32_t first_bucket; /* bucket index of hashes[0] */
    uint32_t n;
    uint64_t hashes[WIRE_MAX_BUCKETS_MSG];
    uint32_t bucket_bits; /* total buckets = 2^bucket_bits */
};
struct wire_bucket_req {
    uint32_t n;
    uint32_t buckets[WIRE_MAX_BUCKETS_MSG];
};

/* Every message also carries the sender's id and current HLC. */
struct wire_msg {
    uint8_t type; /* enum wire_type */
    uint8_t version;
    uint64_t sender_id;
    uint64_t sender_hlc;
    union {
        struct wire_ping ping;
        struct wire_ping_req ping_req;
        struct wire_ack ack;
        struct wire_suspicion suspicion;
        struct wire_state state; /* JOIN and STATE */
        struct wire_entries entries; /* DELTAS and REPAIR */
        struct wire_digest digest;
        struct wire_bucket_req bucket_req;
    } u;
};

/* Limits the decoder enforces (besides the compile-time caps above).
 * A NULL limits pointer means all defaults. Values above the hard caps are
 * clamped to them (GKV_VALUE_HARD_MAX, GKV_KEY_MAX). */
struct wire_limits {
    uint32_t max_value_bytes; /* 0 = GKV_VALUE_MAX_DEFAULT */
    uint32_t max_key_bytes;   /* 0 = GKV_KEY_MAX */
};

/* Encoder for one datagram (or one stream frame) into caller memory. */
struct wire_encoder {
    uint8_t *buf;
    size_t cap; /* the MTU budget for this datagram */
    size_t len;
    uint32_t msgs;
};

void wire_encoder_init(struct wire_encoder *enc, uint8_t *buf, size_t cap);

/* Append one message. Returns 0, or GKV_ENOSPACE_MSG if it does not fit in
 * what remains (the encoder is unchanged, so the caller can flush and retry),
 * or GKV_EINVAL for a message that can never be encoded (over limits). */
int wire_encode(struct wire_encoder *enc, const struct wire_msg *msg);

/* Append as many of entries[0..n) as fit as one DELTAS or REPAIR message;
 * *taken says how many went in (0 with GKV_ENOSPACE_MSG if none fit). At
 * most WIRE_MAX_ENTRIES_MSG are taken per call. n == 0 writes nothing and
 * returns 0. GKV_EINVAL: a bad type, or entries[*taken] can never be encoded
 * (empty or oversized key, unknown flag bits, invalid vector clock); the
 * encoder is then unchanged, so the caller can drop that entry and retry.
 * The entries are only read during the call (their bytes are copied). */
int wire_encode_entries(struct wire_encoder *enc, uint8_t type, uint64_t sender_id,
                        uint64_t sender_hlc, const struct entry *entries, uint32_t n,
                        uint32_t *taken);

/* Like wire_encode(), but for the messages that carry a list (JOIN/STATE
 * members, DELTAS/REPAIR entries, DIGEST hashes, BUCKET_REQ buckets) it
 * encodes the longest prefix of the list that fits and says how long in
 * *taken (a DIGEST prefix keeps first_bucket, so the rest can follow with
 * first_bucket + *taken). A list of 0 items is encoded as an empty list.
 * Other messages are all-or-nothing (*taken = 1 on success). GKV_ENOSPACE_MSG
 * (encoder unchanged, *taken = 0) when not even one item fits. */
int wire_encode_prefix(struct wire_encoder *enc, const struct wire_msg *msg, uint32_t *taken);

/* Size the encoding of msg would take; 0 if it can never be encoded. */
size_t wire_encoded_size(const struct wire_msg *msg);

/* The exact bytes one entry takes inside a DELTAS/REPAIR message (its map),
 * or 0 if it can never be encoded. A DELTAS/REPAIR message is at most
 * WIRE_ENTRIES_OVERHEAD_MAX bytes more than the sum of its entries: map
 * header 1 + "t" 3 + "v" 3 + "s" 11 + "h" 11 + "e" 2 + array16 header 3. */
size_t wire_entry_encoded_size(const struct entry *e);
#define WIRE_ENTRIES_OVERHEAD_MAX 34u

/* Decode the message starting at buf[*off]. On success fills *msg (borrowing
 * buf) and advances *off. Errors: GKV_EDECODE (malformed), GKV_ELIMIT (a
 * limit exceeded), GKV_EVERSION, GKV_EUNSUPPORTED (unknown type: *off is
 * still advanced past it so the caller can count it and go on).
 *
 * GKV_EVERSION also advances *off (msg->version says which version), so a
 * datagram mixing versions still yields the messages we understand. After
 * GKV_EDECODE or GKV_ELIMIT *off is unchanged and the rest of the buffer
 * cannot be resynchronised: drop it. The decoder never allocates; it uses
 * only *msg and a few hundred bytes of stack. Callers decode at most
 * WIRE_MAX_MSGS_DATAGRAM messages per datagram. Only what the message
 * carries is written: entries[i].vc.items past vc.n, members[] past n etc.
 * are left as they were. */
int wire_decode(const uint8_t *buf, size_t len, size_t *off, const struct wire_limits *lim,
                struct wire_msg *msg);

/* Field-by-field equality of two decoded or to-be-encoded messages (bytes
 * compared by content, not pointer; a tombstone's value is ignored). Used
 * by the round-trip tests and the fuzz target. */
bool wire_msg_equal(const struct wire_msg *a, const struct wire_msg *b);

const char *wire_type_name(uint8_t type);

/* Sync-stream framing: write / parse the 4-byte big-endian length that
 * precedes each sealed frame. wire_frame_prefix_get returns GKV_EDECODE for
 * a zero length and GKV_ELIMIT above WIRE_MAX_FRAME (close the stream). */
void wire_frame_prefix_put(uint8_t out[WIRE_FRAME_PREFIX_BYTES], uint32_t frame_len);
int wire_frame_prefix_get(const uint8_t in[WIRE_FRAME_PREFIX_BYTES], uint32_t *frame_len);

#endif
