/* Rate limits: a token bucket (per connection message rate, see also
 * wsk_conn_opts.rate) and a per-address connection counter for servers. */
#ifndef WSKIT_RATELIMIT_H
#define WSKIT_RATELIMIT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* `rate` tokens per second refill up to `burst`; it starts full. */
typedef struct wsk_bucket {
  double rate, burst, tokens;
  int64_t last_ms;
} wsk_bucket_t;

void wsk_bucket_init(wsk_bucket_t *b, double rate, double burst, int64_t now_ms);
/* Take `cost` tokens: 1 when taken, 0 when there are not enough (nothing
 * is taken). rate <= 0 means no limit (always 1). */
int wsk_bucket_take(wsk_bucket_t *b, int64_t now_ms, double cost);
/* Milliseconds until `cost` tokens are there (0 = now). */
int64_t wsk_bucket_wait_ms(const wsk_bucket_t *b, int64_t now_ms, double cost);

/* Open connections per client address (any byte string: the textual IP).
 * O(1) on average; an address is forgotten when its count drops to 0. */
typedef struct wsk_iplimit wsk_iplimit_t;

/* max_per_addr 0 = no limit (counting still works). NULL when out of memory. */
wsk_iplimit_t *wsk_iplimit_new(size_t max_per_addr);
void wsk_iplimit_free(wsk_iplimit_t *l);
/* Count one more connection: 1 when admitted, 0 when the address is at
 * its limit (not counted), WSK_ENOMEM. */
int wsk_iplimit_acquire(wsk_iplimit_t *l, const char *addr, size_t len);
/* One connection from addr ended (no-op when it had none). */
void wsk_iplimit_release(wsk_iplimit_t *l, const char *addr, size_t len);
size_t wsk_iplimit_count(const wsk_iplimit_t *l, const char *addr, size_t len);
/* Distinct addresses with at least one connection. */
size_t wsk_iplimit_size(const wsk_iplimit_t *l);

#ifdef __cplusplus
}
#endif
#endif
