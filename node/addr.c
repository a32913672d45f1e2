/* addr.c: address text <-> sockaddr (see addr.h). */
#include "node/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

bool node_addr_is_loopback(const char *text)
{
    char host[NODE_ADDR_TEXT_MAX];
    int port;
    if (node_addr_split(text, host, sizeof(host), &port) != 0)
        return false;
    if (!strcmp(host, "localhost"))
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return false;
}

int node_addr_split(const char *text, char *host, size_t host_len, int *port)
{
    const char *colon;
    const char *h = text;
    size_t hl;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return GKV_EINVAL;
        h = text + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return GKV_EINVAL;
        hl = (size_t)(colon - text);
        if (memchr(text, ':', hl))
            return GKV_EINVAL; /* bare IPv6 needs brackets */
    }
    if (hl == 0 || hl >= host_len)
        return GKV_EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == 0 || *end != 0 || p < 0 || p > 65535)
        return GKV_EINVAL;
    *port = (int)p;
    return 0;
}

int node_addr_parse(const char *text, struct sockaddr_storage *out)
{
    char host[NODE_ADDR_TEXT_MAX];
    int port;
    if (node_addr_split(text, host, sizeof(host), &port) != 0)
        return GKV_EINVAL;
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return GKV_EINVAL;
}

int node_addr_resolve(const char *text, struct sockaddr_storage *out)
{
    if (node_addr_parse(text, out) == 0)
        return 0;
    char host[NODE_ADDR_TEXT_MAX];
    int port;
    if (node_addr_split(text, host, sizeof(host), &port) != 0)
        return GKV_EINVAL;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return GKV_EINVAL;
    memset(out, 0, sizeof(*out));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

int node_addr_format(const struct sockaddr *sa, char *out, size_t out_len)
{
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
        snprintf(out, out_len, "%s:%u", ip, ntohs(in4->sin_port));
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(out, out_len, "[%s]:%u", ip, ntohs(in6->sin6_port));
        return 0;
    }
    snprintf(out, out_len, "?");
    return GKV_EINVAL;
}
