/*
 * seal.h: the sealed envelope around every gossip datagram and stream frame.
 *
 * XChaCha20-Poly1305-IETF (libsodium). The cleartext header (version, suite,
 * flags, key id, label check, sender id, sender epoch, packet counter), the
 * receiver's node id (not sent; 0 = any receiver) and the cluster label are
 * bound as associated data; the 24-byte nonce is exactly
 * the header's last 24 bytes (sender, epoch, counter), unique without a
 * random draw per packet as long as a sender never reuses an (epoch, counter)
 * pair. An epoch is (seconds << 32 | 32 random bits), made by
 * seal_epoch_next at every start: the seconds never fall below the wall
 * clock nor the last persisted epoch's, and the random half makes a copied
 * data directory or a lost epoch file harmless (docs/ENVELOPE.md, "Epoch").
 * Layout, nonce, rotation, replay window: docs/ENVELOPE.md. Replay window:
 * RFC 6479 (gossip/replay.h).
 *
 * Insecure mode: a keyring with zero keys seals without encryption (same
 * header, label check, replay window, and a 16-byte unkeyed checksum in place
 * of the tag). It gives NO authenticity or secrecy: anyone can forge it.
 * A secure context refuses insecure packets and vice versa.
 *
 * Pure: no clock, no rand(). Keys live in sodium_malloc'd memory.
 * Not thread-safe: one seal_ctx per thread (node/ runs one loop thread).
 */
#ifndef GKV_GOSSIP_SEAL_H
#define GKV_GOSSIP_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_BYTES 32u
#define SEAL_KEYRING_MAX 4u
#define SEAL_LABEL_MAX 64u
#define SEAL_REPLAY_WINDOW 1024u /* counters per (sender, epoch) */
#define SEAL_MAX_SENDERS 16384u  /* replay state kept for this many senders */

/* Epoch layout: the high 32 bits are seconds since 1970 (good until 2106),
 * the low 32 bits are drawn at random by node/ at every start. */
#define SEAL_EPOCH_RANDOM_BITS 32u
/* A packet whose epoch's seconds are further ahead of our wall clock than
 * this is refused (SEAL_REFUSE_FUTURE_EPOCH), so one packet cannot pin a
 * sender's replay state at 2^64 - 1. A day covers clock skew between nodes
 * and the drift of a crash loop (each start adds at least 1 s). */
#define SEAL_EPOCH_AHEAD_MAX_S 86400u

/* Envelope layout (docs/ENVELOPE.md draws it). */
#define SEAL_VERSION 2u        /* header byte 0; bumped on any layout change (2: the
                                * receiver id is in the associated data) */
#define SEAL_FLAG_TO_ANY 0x01u /* header byte 2: sealed for any receiver (id 0) */
#define SEAL_SUITE_NONE 0u     /* insecure mode: plaintext + unkeyed checksum */
#define SEAL_SUITE_XCHACHA 1u  /* XChaCha20-Poly1305-IETF */
#define SEAL_HEADER_BYTES 36u  /* 1+1+2+4+4+8+8+8 */
#define SEAL_TAG_BYTES 16u     /* crypto_aead_xchacha20poly1305_ietf_ABYTES */
#define SEAL_OVERHEAD_BYTES (SEAL_HEADER_BYTES + SEAL_TAG_BYTES) /* = seal_overhead() */
/* Base64 text of one key with its NUL (sodium_base64_ENCODED_LEN(32, original)). */
#define SEAL_KEY_B64_BYTES 45u

struct seal_keyring; /* opaque; sodium_malloc'd key material */

/* Reasons a packet is refused; indexes into seal_stats.refused[]. */
enum seal_refusal {
    SEAL_REFUSE_TOO_SHORT,
    SEAL_REFUSE_TOO_LONG,
    SEAL_REFUSE_VERSION,
    SEAL_REFUSE_UNKNOWN_KEY,
    SEAL_REFUSE_BAD_LABEL,
    SEAL_REFUSE_BAD_TAG,
    SEAL_REFUSE_REPLAY,
    SEAL_REFUSE_OLD_EPOCH,
    SEAL_REFUSE_TOO_MANY_SENDERS,
    SEAL_REFUSE_TOO_OLD, /* counter below the replay window (GKV_EREPLAY) */
    SEAL_REFUSE_MODE,    /* insecure packet to a secure node or vice versa (GKV_EAUTH) */
    SEAL_REFUSE_FUTURE_EPOCH, /* epoch seconds past wall clock + SEAL_EPOCH_AHEAD_MAX_S */
    SEAL_REFUSE_COUNT,
};
/* Short snake_case name for INFO and logs ("bad_tag"); never NULL. */
const char *seal_refusal_name(enum seal_refusal r);

/* Keyring: seal with the primary, open with the key the key id names. */
int seal_keyring_new(struct seal_keyring **out);
void seal_keyring_free(struct seal_keyring *kr);
/* install: add a key (not primary); GKV_EFULL past SEAL_KEYRING_MAX,
 * GKV_EEXIST if present. The first key installed becomes primary. */
int seal_keyring_install(struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES]);
/* use: make an installed key the primary. GKV_ENOTFOUND otherwise. */
int seal_keyring_use(struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES]);
/* remove: zero and drop a key; the primary cannot be removed (GKV_ESTATE). */
int seal_keyring_remove(struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES]);
uint32_t seal_keyring_count(const struct seal_keyring *kr);
/* Key ids are a hash prefix of the key, never the key (safe to log). */
uint32_t seal_key_id(const uint8_t key[SEAL_KEY_BYTES]);
/* The i-th key's id and whether it is primary (for KEYRING LIST). */
int seal_keyring_entry(const struct seal_keyring *kr, uint32_t i, uint32_t *key_id,
                       bool *primary);

/* A key file holds at most a few keys; anything bigger is not a key file. */
#define SEAL_KEYFILE_MAX_BYTES (64u * 1024u)
/* The keys of a key file's text, in file order (first = primary): one
 * base64 key per line, blank lines and '#' comments ignored. Reading the file
 * (and checking its mode) is node/'s job: node_keyfile_read. name (e.g. the
 * path) only labels messages. keys: caller memory for SEAL_KEYRING_MAX *
 * SEAL_KEY_BYTES bytes (sodium_malloc'd: it receives key material; wiped on
 * error); *nkeys set. Refused with GKV_EKEYFILE and a message naming the
 * file and line in err (err_len bytes) when a line is malformed or of the
 * wrong length, when the text is empty, longer than SEAL_KEYFILE_MAX_BYTES,
 * holds a duplicate or more than SEAL_KEYRING_MAX keys. */
int seal_keyfile_parse(const char *name, const char *text, size_t len, uint8_t *keys,
                       uint32_t *nkeys, char *err, size_t err_len);
/* Make the ring hold exactly keys[0..nkeys), keys[0] primary (a SIGHUP
 * reload). All or nothing: on any error (GKV_EINVAL for 0 or more than
 * SEAL_KEYRING_MAX keys, GKV_EEXIST for a duplicate, GKV_ENOMEM) the ring is
 * unchanged. A seal_ctx borrowing kr sees the new keys at once. */
int seal_keyring_replace(struct seal_keyring *kr, const uint8_t *keys, uint32_t nkeys);
/* Parse one base64 key (e.g. from GOSSIPKV_KEY); surrounding whitespace is
 * ignored. GKV_EINVAL if it is not base64 of exactly 32 bytes. */
int seal_key_parse(const char *b64, uint8_t key[SEAL_KEY_BYTES]);

/* The sealing and opening state of one node. */
struct seal_stats {
    uint64_t sealed, opened;
    uint64_t refused[SEAL_REFUSE_COUNT];
    uint64_t senders; /* senders whose replay window is held now */
    uint64_t senders_evicted;  /* idlest sender dropped to admit a new one */
    uint64_t senders_forgotten; /* dropped by seal_ctx_forget_sender (departed members) */
};

struct seal_ctx; /* opaque: keyring ref, label, our counter, replay windows */

/* kr is borrowed: it must outlive the context (node/ owns both); NULL or a
 * ring with zero keys means insecure mode. label: the cluster label (copied,
 * at most SEAL_LABEL_MAX bytes; NULL = ""). epoch must be new for this
 * sender id under this key: node/ takes it from seal_epoch_next. */
int seal_ctx_new(struct seal_keyring *kr, const char *label, uint64_t sender_id,
                 uint64_t epoch, struct seal_ctx **out);
void seal_ctx_free(struct seal_ctx *c);

/* Overhead a sealed packet adds to its plaintext. */
size_t seal_overhead(void);

/* Seal plaintext pt[0..pt_len) for the node whose id is receiver_id into
 * out (cap out_cap >= pt_len + seal_overhead()); *out_len set. The packet
 * opens only at that node (its id is in the associated data). receiver_id 0
 * means "any receiver" (SEAL_FLAG_TO_ANY): for a JOIN or STATE to a seed
 * whose id is not known yet; the gossip core accepts nothing else sealed
 * that way (docs/ENVELOPE.md, "Receiver binding"). Uses and advances our
 * packet counter. pt may be out + SEAL_HEADER_BYTES (seal in place) but must
 * not overlap out otherwise. Errors: GKV_ENOSPACE_MSG (out_cap), GKV_ELIMIT
 * (counter exhausted: restart with a new epoch), GKV_EINVAL. */
int seal_seal(struct seal_ctx *c, uint64_t receiver_id, const uint8_t *pt, size_t pt_len,
              uint8_t *out, size_t out_cap, size_t *out_len);

/* Open a packet sealed for this node (the context's own id) or for any
 * receiver. On success writes plaintext to pt (cap >= len -
 * seal_overhead()), sets *pt_len, *sender_id and *to_any (true: sealed for
 * any receiver; both may be NULL), and advances that sender's replay
 * window. A packet sealed for another node fails the tag (bad_tag). On
 * refusal returns a negative code, counts it in stats, and sets *reason
 * (may be NULL); pt's contents are then unspecified. max_len
 * bounds accepted packets (datagram MTU or frame max; 0 = no bound besides
 * pt_cap). Codes: GKV_ETOOSHORT, GKV_ETOOLONG, GKV_EVERSION, GKV_EAUTH (bad
 * tag, mode), GKV_ELABEL, GKV_EUNKNOWNKEY, GKV_EREPLAY (duplicate, too old),
 * GKV_EOLDEPOCH, GKV_ECLOCK (future epoch), GKV_ENOMEM (replay state could
 * not grow, counted as too_many_senders). Reasons found before the tag
 * check are what the packet claims, not proof of who sent it. */
int seal_open(struct seal_ctx *c, const uint8_t *pkt, size_t len, size_t max_len, uint8_t *pt,
              size_t pt_cap, size_t *pt_len, uint64_t *sender_id, bool *to_any,
              enum seal_refusal *reason);

const struct seal_stats *seal_ctx_stats(const struct seal_ctx *c);

/* True when sealing encrypts (the keyring has a key). */
bool seal_ctx_secure(const struct seal_ctx *c);

/* Limit the senders whose replay state is kept (1..SEAL_MAX_SENDERS, the
 * default). When the table is full, an authenticated packet from an unknown
 * sender evicts the sender that has gone longest without an accepted packet
 * (counted in senders_evicted). A simulator of many nodes may lower it. */
int seal_ctx_set_max_senders(struct seal_ctx *c, uint32_t max_senders);

/* Drop one sender's replay state (the gossip core calls it when it reaps a
 * dead or departed member). Its captured old packets could be accepted once
 * more afterwards; docs/ENVELOPE.md says why that is acceptable.
 * 0 or GKV_ENOTFOUND. */
int seal_ctx_forget_sender(struct seal_ctx *c, uint64_t sender_id);

/* Tell the context the wall clock (ms since 1970), for the future-epoch
 * check; the gossip core calls it with the time node/ passes in. 0 (the
 * initial value) turns the check off. */
void seal_ctx_set_wall_ms(struct seal_ctx *c, uint64_t wall_ms);

/* The epoch for a new start of a sender: seconds = max(wall_s, seconds of
 * last_epoch + 1), low half = boot_random. last_epoch is the previous
 * start's epoch (0 = none). Pure: node/ supplies the wall clock and the
 * randomness. GKV_ELIMIT if the seconds would pass 2^32 - 1. */
int seal_epoch_next(uint64_t last_epoch, uint64_t wall_s, uint32_t boot_random,
                    uint64_t *epoch);
/* The seconds half of an epoch. */
uint64_t seal_epoch_seconds(uint64_t epoch);

#endif
