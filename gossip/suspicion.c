/*
 * suspicion.c: Lifeguard suspicion timers (Dasgupta et al., "Lifeguard:
 * Local Health Awareness for More Accurate Failure Detection", 2017; the
 * shape follows hashicorp/memberlist suspicion.go).
 *
 * When we first suspect a member (our probe failed, or a SUSPECT rumour
 * arrives) the timer starts at its maximum. Every further *independent*
 * accuser (a distinct node id, the first accuser excluded, at most k of
 * them) shortens it on a log curve toward the minimum:
 *
 *     timeout(n) = max(min, max - (max - min) * log(n + 1) / log(k + 1))
 *
 * so a member that many nodes fail to reach is declared dead quickly, while
 * a lone accuser (which may itself be the sick one) waits the full maximum,
 * leaving time for the suspect to hear the rumour and refute it.
 *
 *     min = suspicion_mult * max(1, log10(max(1, N))) * probe_interval
 *     max = suspicion_max_mult * min
 *     k   = suspicion_mult - 2, or 0 when fewer than k + 2 members exist
 *           (then the timer runs the minimum from the start)
 *
 * (memberlist: suspicionTimeout(), SuspicionMaxTimeoutMult, and k as in
 * state.go suspectNode). Pure arithmetic on now_ms: no timers are armed here,
 * gossip_tick compares now_ms with suspicion_deadline_ms().
 */
#include <math.h>

#include "gossip/gossip_int.h"

uint64_t suspicion_min_timeout_ms(uint32_t mult, size_t n, uint32_t interval_ms)
{
    double scale = log10(n > 1 ? (double)n : 1.0);
    if (scale < 1.0)
        scale = 1.0;
    /* whole milliseconds, rounded down as memberlist does */
    return (uint64_t)floor((double)mult * scale * (double)interval_ms);
}

void suspicion_start(struct gossip_suspicion *s, uint64_t from_id, uint32_t k, uint64_t min_ms,
                     uint64_t max_ms, uint64_t now_ms)
{
    s->start_ms = now_ms;
    s->min_ms = min_ms;
    s->max_ms = max_ms < min_ms ? min_ms : max_ms;
    s->k = k > GOSSIP_CONFIRM_MAX - 1 ? GOSSIP_CONFIRM_MAX - 1 : k;
    s->n = 0;
    s->nconf = 0;
    /* The first accuser is remembered so our own rumour echoed back to us
     * does not count as a confirmation. */
    s->confirmers[s->nconf++] = from_id;
}

bool suspicion_confirm(struct gossip_suspicion *s, uint64_t from_id)
{
    if (s->n >= s->k)
        return false; /* already at the minimum */
    for (uint32_t i = 0; i < s->nconf; i++)
        if (s->confirmers[i] == from_id)
            return false;
    if (s->nconf >= GOSSIP_CONFIRM_MAX)
        return false;
    s->confirmers[s->nconf++] = from_id;
    s->n++;
    return true;
}

uint64_t suspicion_deadline_ms(const struct gossip_suspicion *s)
{
    uint64_t timeout = s->max_ms;
    /* No confirmations can be expected in a tiny cluster: use the minimum
     * from the start (memberlist newSuspicion does the same). */
    if (s->k == 0)
        timeout = s->min_ms;
    else if (s->n > 0) {
        double frac = log((double)s->n + 1.0) / log((double)s->k + 1.0);
        double raw = (double)s->max_ms - frac * (double)(s->max_ms - s->min_ms);
        timeout = raw < (double)s->min_ms ? s->min_ms : (uint64_t)floor(raw);
    }
    return s->start_ms + timeout;
}
