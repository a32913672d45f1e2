#include "common/errors.h"

const char *gkv_strerror(int code)
{
    switch (code) {
#define GKV_ERR_TEXT(name, value, text)                                        \
    case value:                                                                \
        return text;
        GKV_ERRORS(GKV_ERR_TEXT)
#undef GKV_ERR_TEXT
    default:
        return "unknown error";
    }
}

const char *gkv_errname(int code)
{
    switch (code) {
#define GKV_ERR_NAME(name, value, text)                                        \
    case value:                                                                \
        return #name;
        GKV_ERRORS(GKV_ERR_NAME)
#undef GKV_ERR_NAME
    default:
        return "GKV_E?";
    }
}
