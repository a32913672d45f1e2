/*
 * mpack.c: the out-of-line part of the bounded msgpack reader (mpack.h):
 * skipping values we do not understand (unknown fields, unknown message
 * types) without recursion and without allocation.
 */
#include "gossip/mpack.h"

/* Bytes of payload after the type byte for fixed-size scalars, or -1 for
 * everything that is not a fixed-size scalar. */
static int scalar_payload(uint8_t b)
{
    if (b <= 0x7f || b >= 0xe0)
        return 0; /* fixints */
    switch (b) {
    case 0xc0: /* nil */
    case 0xc2: /* false */
    case 0xc3: /* true */
        return 0;
    case 0xcc:
    case 0xd0:
        return 1;
    case 0xcd:
    case 0xd1:
        return 2;
    case 0xca: /* float32 */
    case 0xce:
    case 0xd2:
        return 4;
    case 0xcb: /* float64 */
    case 0xcf:
    case 0xd3:
        return 8;
    case 0xd4: /* fixext 1..16: type byte + data */
        return 1 + 1;
    case 0xd5:
        return 1 + 2;
    case 0xd6:
        return 1 + 4;
    case 0xd7:
        return 1 + 8;
    case 0xd8:
        return 1 + 16;
    default:
        return -1;
    }
}

int mpack_skip(struct mpack_reader *r, uint64_t count, unsigned max_depth)
{
    /* pending[i]: objects still to skip at nesting level i (0 = the level
     * the caller is at). Counts are bounded by the input length because of
     * the container checks, so uint64_t never overflows. */
    uint64_t pending[MPACK_SKIP_MAX_DEPTH + 1];
    unsigned top = 0;

    if (max_depth > MPACK_SKIP_MAX_DEPTH)
        max_depth = MPACK_SKIP_MAX_DEPTH;
    if (count > mpack_left(r))
        return GKV_EDECODE;
    pending[0] = count;

    for (;;) {
        while (pending[top] == 0) {
            if (top == 0)
                return 0;
            top--;
        }
        pending[top]--;

        size_t left = mpack_left(r);
        if (left == 0)
            return GKV_EDECODE;
        uint8_t b = r->p[0];

        int fixed = scalar_payload(b);
        if (fixed >= 0) {
            if (left < 1 + (size_t)fixed)
                return GKV_EDECODE;
            r->p += 1 + fixed;
            continue;
        }

        uint32_t n;
        const uint8_t *data;
        if ((b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf)) {
            uint64_t items;
            int rc;
            if (b <= 0x8f || b >= 0xde) {
                rc = mpack_read_map(r, &n);
                items = (uint64_t)n * 2;
            } else {
                rc = mpack_read_array(r, &n);
                items = n;
            }
            if (rc < 0)
                return rc;
            /* Even an empty container is a level of nesting. */
            if (top + 1 > max_depth)
                return GKV_ELIMIT;
            if (items > 0)
                pending[++top] = items;
            continue;
        }
        if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xc4 && b <= 0xc6) || (b >= 0xd9 && b <= 0xdb)) {
            int rc = mpack_read_bytes(r, &data, &n);
            if (rc < 0)
                return rc;
            continue;
        }
        if (b >= 0xc7 && b <= 0xc9) { /* ext8/16/32: length, type byte, data */
            size_t hdr = b == 0xc7 ? 2 : b == 0xc8 ? 3 : 5;
            if (left < hdr + 1)
                return GKV_EDECODE;
            n = b == 0xc7 ? r->p[1] : b == 0xc8 ? mpack_be16(r->p + 1) : mpack_be32(r->p + 1);
            if ((uint64_t)n > left - hdr - 1)
                return GKV_EDECODE;
            r->p += hdr + 1 + n;
            continue;
        }
        return GKV_EDECODE; /* 0xc1: never used */
    }
}
