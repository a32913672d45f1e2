/* log.c: leveled logfmt lines on stderr (see log.h). */
#include "node/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"

static enum node_log_level g_level = NODE_LOG_INFO;

static const char *const names[] = {"debug", "info", "warn", "error"};

void node_log_set_level(enum node_log_level level)
{
    g_level = level;
}

bool node_log_enabled(enum node_log_level level)
{
    return level >= g_level;
}

int node_log_parse_level(const char *s, enum node_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum node_log_level)i;
            return 0;
        }
    if (strcmp(s, "warning") == 0) {
        *out = NODE_LOG_WARN;
        return 0;
    }
    return GKV_EINVAL;
}

const char *node_log_level_name(enum node_log_level level)
{
    return level <= NODE_LOG_ERROR ? names[level] : "?";
}

const char *node_log_quote(const char *s, char *out, size_t out_len)
{
    bool need = *s == 0;
    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
            need = true;
    if (!need) {
        snprintf(out, out_len, "%s", s);
        return out;
    }
    size_t k = 0;
    if (out_len < 3) {
        if (out_len)
            out[0] = 0;
        return out;
    }
    out[k++] = '"';
    for (const char *p = s; *p && k + 3 < out_len; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char)c;
        } else if (c < 0x20) {
            out[k++] = ' ';
        } else {
            out[k++] = (char)c;
        }
    }
    out[k++] = '"';
    out[k] = 0;
    return out;
}

void node_log(enum node_log_level level, const char *msg, const char *kv_fmt, ...)
{
    if (level < g_level)
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char qmsg[512];
    size_t n = (size_t)snprintf(line, sizeof(line),
                                "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level],
                                node_log_quote(msg, qmsg, sizeof(qmsg)));
    if (kv_fmt && *kv_fmt && n < sizeof(line) - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        int k = vsnprintf(line + n, sizeof(line) - n, kv_fmt, ap);
        va_end(ap);
        if (k > 0)
            n += (size_t)k < sizeof(line) - n ? (size_t)k : sizeof(line) - n - 1;
    }
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
