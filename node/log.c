/* log.c: leveled logfmt lines on stderr (see log.h). */
#include "node/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"

static enum node_log_level g_level = NODE_LOG_INFO;
static bool g_json; /* --log-format json */

static const char *const names[] = {"debug", "info", "warn", "error"};

void node_log_set_level(enum node_log_level level)
{
    g_level = level;
}

void node_log_set_json(bool json)
{
    g_json = json;
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

/* s as a JSON string body (quotes not included) into out at *k. */
static void json_string(char *out, size_t out_len, size_t *k, const char *s, size_t len)
{
    for (size_t i = 0; i < len && *k + 8 < out_len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[(*k)++] = '\\';
            out[(*k)++] = (char)c;
        } else if (c < 0x20) {
            *k += (size_t)snprintf(out + *k, out_len - *k, "\\u%04x", c);
        } else {
            out[(*k)++] = (char)c;
        }
    }
}

/* The logfmt pairs of kv (as node_log_quote writes them: bare, or "quoted"
 * with \" and \\ escapes) as JSON members, every value a string. */
static void json_pairs(char *out, size_t out_len, size_t *k, const char *kv)
{
    const char *p = kv;
    while (*p && *k + 16 < out_len) {
        while (*p == ' ')
            p++;
        const char *key = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        size_t key_len = (size_t)(p - key);
        if (!key_len)
            break;
        char val[1024];
        size_t v = 0;
        if (*p == '=' && p[1] == '"') {
            for (p += 2; *p && *p != '"'; p++) {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                if (v + 1 < sizeof(val))
                    val[v++] = *p;
            }
            if (*p == '"')
                p++;
        } else if (*p == '=') {
            for (p++; *p && *p != ' '; p++)
                if (v + 1 < sizeof(val))
                    val[v++] = *p;
        }
        out[(*k)++] = ',';
        out[(*k)++] = '"';
        json_string(out, out_len, k, key, key_len);
        out[(*k)++] = '"';
        out[(*k)++] = ':';
        out[(*k)++] = '"';
        json_string(out, out_len, k, val, v);
        out[(*k)++] = '"';
    }
}

void node_log(enum node_log_level level, const char *msg, const char *kv_fmt, ...)
{
    if (level < g_level)
        return;
    char line[4096];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tstext[64];
    snprintf(tstext, sizeof(tstext), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    char kv[2048] = "";
    if (kv_fmt && *kv_fmt) {
        va_list ap;
        va_start(ap, kv_fmt);
        vsnprintf(kv, sizeof(kv), kv_fmt, ap);
        va_end(ap);
    }
    size_t n;
    if (g_json) {
        n = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"",
                             tstext, names[level]);
        json_string(line, sizeof(line), &n, msg, strlen(msg));
        line[n++] = '"';
        json_pairs(line, sizeof(line), &n, kv);
        line[n++] = '}';
    } else {
        char qmsg[512];
        n = (size_t)snprintf(line, sizeof(line) - 1, "ts=%s level=%s msg=%s%s%s", tstext,
                             names[level], node_log_quote(msg, qmsg, sizeof(qmsg)),
                             kv[0] ? " " : "", kv);
        if (n > sizeof(line) - 2)
            n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
