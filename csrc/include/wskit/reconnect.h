/* Reconnect policy: exponential backoff with jitter, and which failures
 * are worth retrying. Pure arithmetic on injected time and randomness, so
 * every driver reconnects the same way and tests are deterministic. */
#ifndef WSKIT_RECONNECT_H
#define WSKIT_RECONNECT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Delays, counting calls to wsk_backoff_next since the last reset:
 *   call 1:       uniform in [0, initial_delay_ms]
 *   call k >= 2:  min_delay_ms * factor^(k-2), the base stopping at
 *                 max_delay_ms, times a uniform factor in [1-jitter, 1+jitter]
 * every delay then capped at max_delay_ms and rounded to whole ms. */
typedef struct wsk_backoff_opts {
  uint32_t initial_delay_ms; /* the first delay is uniform in [0, initial]; default 1000 */
  uint32_t min_delay_ms;     /* later delays start here; default 1000 */
  double factor;             /* growth per attempt, default 1.618; below 1 counts as 1 */
  uint32_t max_delay_ms;     /* cap, default 60000 */
  double jitter;             /* each later delay is scaled by [1-jitter, 1+jitter]
                                (then capped); 0..1 (clamped), default 0.2 */
  uint32_t max_attempts;     /* give up after this many consecutive failed attempts:
                                wsk_backoff_next returns a delay max_attempts times,
                                then -1; 0 = never give up (default) */
  uint32_t reset_after_ms;   /* a connection that stayed open this long resets the
                                attempt count; default 10000 (0: any open resets) */
  wsk_random_fn random;      /* NULL = RAND_bytes. 8 bytes per delay, read as a
                                big-endian integer whose top 53 bits give a uniform
                                double in [0,1): 80 00.. is 0.5. If it fails, the
                                delay uses the midpoint (0.5) */
  void *random_ud;
} wsk_backoff_opts_t;

void wsk_backoff_opts_init(wsk_backoff_opts_t *o);

typedef struct wsk_backoff {
  wsk_backoff_opts_t opts;
  uint32_t attempts;   /* consecutive failures so far */
  double base_ms;      /* un-jittered delay of the next attempt after the first */
  int64_t opened_at;   /* -1 when not connected */
} wsk_backoff_t;

/* Copy the options (NULL: defaults) and start with no failures. */
void wsk_backoff_init(wsk_backoff_t *b, const wsk_backoff_opts_t *o);

/* After a failure or a disconnect: the delay before the next attempt in
 * ms, or -1 when max_attempts is exhausted (and on every call after that,
 * until a reset). Counts one attempt; a -1 counts none. */
int64_t wsk_backoff_next(wsk_backoff_t *b);
/* The connection opened at `now`. */
void wsk_backoff_opened(wsk_backoff_t *b, int64_t now);
/* The connection closed at `now`: if it had stayed up reset_after_ms or
 * longer, the attempt count starts over. */
void wsk_backoff_closed(wsk_backoff_t *b, int64_t now);
/* Start over (e.g. the user asked to reconnect now). */
void wsk_backoff_reset(wsk_backoff_t *b);

/* Why a connection attempt or a connection ended. */
typedef enum {
  WSK_FAIL_REFUSED = 1,     /* connection refused / unreachable / reset while connecting */
  WSK_FAIL_TIMEOUT,         /* open timeout, DNS timeout */
  WSK_FAIL_DNS,             /* name did not resolve */
  WSK_FAIL_TLS_VERIFY,      /* certificate or hostname verification failed */
  WSK_FAIL_TLS,             /* other TLS failure */
  WSK_FAIL_HTTP_STATUS,     /* handshake answered with a non-101 status (detail) */
  WSK_FAIL_HANDSHAKE,       /* invalid 101 response */
  WSK_FAIL_CLOSED,          /* an open connection closed with code (detail) */
  WSK_FAIL_IO               /* other I/O error on an open connection */
} wsk_fail_kind_t;

typedef struct wsk_failure {
  wsk_fail_kind_t kind;
  int detail; /* HTTP status or close code */
} wsk_failure_t;

/* Let the user override a decision: return 1 to retry, 0 not to.
 * `dflt` is the default decision. */
typedef int (*wsk_retry_fn)(void *ud, const wsk_failure_t *f, int dflt);

/* Default classification: retry refused, timeout, DNS, other TLS, I/O,
 * 5xx statuses, 429, closes 1001/1006/1011/1012/1013/1014; do not retry
 * TLS verification failures, other 4xx and 3xx statuses, invalid
 * handshakes, 1000 and the other close codes. */
int wsk_failure_retryable(const wsk_failure_t *f);
/* The default decision passed through `fn` when not NULL. */
int wsk_failure_should_retry(const wsk_failure_t *f, wsk_retry_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
