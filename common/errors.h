/*
 * errors.h: the one error-code table of gossipkv.
 *
 * Every function that can fail returns int: 0 on success, one of the negative
 * GKV_E* codes below on failure. gkv_strerror() turns a code into a short
 * English phrase. Codes are stable: they may appear in logs and INFO.
 */
#ifndef GKV_COMMON_ERRORS_H
#define GKV_COMMON_ERRORS_H

#define GKV_ERRORS(X)                                                          \
    X(GKV_OK, 0, "success")                                                    \
    X(GKV_EINVAL, -1, "invalid argument")                                      \
    X(GKV_ENOMEM, -2, "out of memory")                                         \
    X(GKV_EIO, -3, "I/O error")                                                \
    X(GKV_ENOTFOUND, -4, "not found")                                          \
    X(GKV_EKEYSIZE, -5, "key length out of range")                             \
    X(GKV_EVALSIZE, -6, "value too large")                                     \
    X(GKV_ECLOCK, -7, "remote clock too far ahead")                            \
    X(GKV_ECORRUPT, -8, "corrupt data")                                        \
    X(GKV_EVERSION, -9, "unsupported format or protocol version")             \
    X(GKV_ELOCKED, -10, "data directory is locked by another process")        \
    X(GKV_EFULL, -11, "capacity limit reached")                                \
    X(GKV_ENOSPC, -12, "no space left on device")                              \
    X(GKV_ETRUNC, -13, "truncated input")                                      \
    X(GKV_EDECODE, -14, "malformed message")                                   \
    X(GKV_ELIMIT, -15, "limit exceeded")                                       \
    X(GKV_EAUTH, -16, "authentication failed")                                 \
    X(GKV_EREPLAY, -17, "replayed packet")                                     \
    X(GKV_EOLDEPOCH, -18, "packet from an older sender epoch")                 \
    X(GKV_EUNKNOWNKEY, -19, "unknown key id")                                  \
    X(GKV_ELABEL, -20, "cluster label mismatch")                               \
    X(GKV_ETOOSHORT, -21, "input too short")                                   \
    X(GKV_ETOOLONG, -22, "input too long")                                     \
    X(GKV_EKEYFILE, -23, "bad key file")                                       \
    X(GKV_EEXIST, -24, "already exists")                                       \
    X(GKV_EAGAIN, -25, "try again")                                            \
    X(GKV_ENOSPACE_MSG, -26, "does not fit")                                   \
    X(GKV_ESTATE, -27, "operation not valid in this state")                    \
    X(GKV_EUNSUPPORTED, -28, "unsupported")                                    \
    X(GKV_EPERM, -29, "permission denied")                                     \
    X(GKV_ECLOCKSKEW, -30, "this node's clock is off the cluster's")           \
    X(GKV_ENOTINT, -31, "value is not an integer")                             \
    X(GKV_ERANGE, -32, "result out of range")

enum gkv_err {
#define GKV_ERR_ENUM(name, value, text) name = value,
    GKV_ERRORS(GKV_ERR_ENUM)
#undef GKV_ERR_ENUM
};

/* A static string; never NULL (unknown codes give "unknown error"). */
const char *gkv_strerror(int code);

/* The symbolic name ("GKV_ECLOCK"); never NULL. */
const char *gkv_errname(int code);

#endif
