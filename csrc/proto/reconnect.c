/* Reconnect policy: backoff arithmetic and failure classification. */
#include "wskit/reconnect.h"

#include <string.h>

void wsk_backoff_opts_init(wsk_backoff_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->initial_delay_ms = 1000;
  o->min_delay_ms = 1000;
  o->factor = 1.618;
  o->max_delay_ms = 60000;
  o->jitter = 0.2;
  o->max_attempts = 0;
  o->reset_after_ms = 10000;
  o->random = NULL;
  o->random_ud = NULL;
}

void wsk_backoff_init(wsk_backoff_t *b, const wsk_backoff_opts_t *o) {
  if (o)
    b->opts = *o;
  else
    wsk_backoff_opts_init(&b->opts);
  b->opened_at = -1;
  wsk_backoff_reset(b);
}

void wsk_backoff_reset(wsk_backoff_t *b) {
  b->attempts = 0;
  b->base_ms = (double)b->opts.min_delay_ms;
}

/* A uniform double in [0, 1): the top 53 bits of 8 random bytes read
 * big-endian, so every value is exactly representable and 1.0 is never
 * reached. If the source fails, take the midpoint: the delay is then
 * simply un-jittered, which beats giving up on reconnecting. */
static double uniform01(const wsk_backoff_opts_t *o) {
  uint8_t r[8];
  wsk_random_fn fn = o->random ? o->random : wsk_random_default;
  if (fn(o->random_ud, r, sizeof r) != 0) return 0.5;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | r[i];
  return (double)(v >> 11) * 0x1p-53;
}

/* Round half up to whole ms; x is already within [0, UINT32_MAX]. */
static int64_t to_ms(double x) { return (int64_t)(x + 0.5); }

int64_t wsk_backoff_next(wsk_backoff_t *b) {
  const wsk_backoff_opts_t *o = &b->opts;
  if (o->max_attempts != 0 && b->attempts >= o->max_attempts) return -1;
  double cap = (double)o->max_delay_ms;
  double u = uniform01(o);
  double d;
  if (b->attempts == 0) {
    /* Spread the first retry of many clients dropped at once. */
    d = u * (double)o->initial_delay_ms;
  } else {
    /* Options are sanitised here rather than at init so that a caller
     * editing b->opts later cannot push the arithmetic out of range. */
    double j = o->jitter;
    if (!(j >= 0.0)) j = 0.0; /* also catches NaN */
    if (j > 1.0) j = 1.0;
    double f = o->factor;
    if (!(f >= 1.0)) f = 1.0;
    double base = b->base_ms;
    if (!(base >= 0.0)) base = 0.0;
    if (base > cap) base = cap;
    d = base * (1.0 - j + 2.0 * j * u);
    base *= f;
    b->base_ms = base > cap ? cap : base; /* stop growing at the cap (and before inf) */
  }
  if (d > cap) d = cap;
  b->attempts++;
  return to_ms(d);
}

void wsk_backoff_opened(wsk_backoff_t *b, int64_t now) { b->opened_at = now; }

void wsk_backoff_closed(wsk_backoff_t *b, int64_t now) {
  if (b->opened_at >= 0 && now - b->opened_at >= (int64_t)b->opts.reset_after_ms)
    wsk_backoff_reset(b);
  b->opened_at = -1;
}

int wsk_failure_retryable(const wsk_failure_t *f) {
  switch (f->kind) {
  case WSK_FAIL_REFUSED:
  case WSK_FAIL_TIMEOUT:
  case WSK_FAIL_DNS:
  case WSK_FAIL_TLS:
  case WSK_FAIL_IO:
    return 1;
  case WSK_FAIL_TLS_VERIFY: /* will fail the same way until someone fixes it */
  case WSK_FAIL_HANDSHAKE:
    return 0;
  case WSK_FAIL_HTTP_STATUS:
    /* 5xx and 429 are the server asking us to come back later; other
     * statuses (auth, not found, redirects) will not change by retrying. */
    return (f->detail >= 500 && f->detail <= 599) || f->detail == 429;
  case WSK_FAIL_CLOSED:
    switch (f->detail) {
    case WSK_CLOSE_GOING_AWAY:
    case WSK_CLOSE_ABNORMAL:
    case WSK_CLOSE_INTERNAL_ERROR:
    case WSK_CLOSE_SERVICE_RESTART:
    case WSK_CLOSE_TRY_AGAIN_LATER:
    case WSK_CLOSE_BAD_GATEWAY:
      return 1;
    default:
      return 0;
    }
  }
  return 0;
}

int wsk_failure_should_retry(const wsk_failure_t *f, wsk_retry_fn fn, void *ud) {
  int dflt = wsk_failure_retryable(f);
  if (!fn) return dflt;
  return fn(ud, f, dflt) ? 1 : 0;
}
