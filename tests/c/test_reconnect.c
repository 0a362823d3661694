/* Reconnect policy: backoff arithmetic and failure classification. */
#include "testlib.h"

#include <wskit/reconnect.h>

/* A random source that cycles through fixed 8-byte patterns, one per call. */
enum { R_HALF, R_ZERO, R_MAX };
typedef struct {
  const int *seq;
  size_t n, i;
  int calls;
} script_t;

static int script_random(void *ud, uint8_t *out, size_t n) {
  script_t *s = ud;
  int kind = s->seq[s->i++ % s->n];
  s->calls++;
  for (size_t k = 0; k < n; k++) {
    if (kind == R_HALF)
      out[k] = k == 0 ? 0x80 : 0x00; /* big-endian 0x8000... = 0.5 */
    else if (kind == R_ZERO)
      out[k] = 0x00;
    else
      out[k] = 0xff;
  }
  return 0;
}

/* A deterministic pseudo-random source (xorshift64*), for statistical tests. */
static int prng_random(void *ud, uint8_t *out, size_t n) {
  uint64_t *st = ud;
  for (size_t k = 0; k < n; k++) {
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    out[k] = (uint8_t)((*st * UINT64_C(2685821657736338717)) >> 56);
  }
  return 0;
}

static int failing_random(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  (void)out;
  (void)n;
  return WSK_ECRYPTO;
}

static void opts_fixed(wsk_backoff_opts_t *o, script_t *s) {
  wsk_backoff_opts_init(o);
  o->initial_delay_ms = 1000;
  o->min_delay_ms = 1000;
  o->factor = 2.0;
  o->max_delay_ms = 60000;
  o->jitter = 0.2;
  o->random = script_random;
  o->random_ud = s;
}

static void check_sequence(const int *rnd, size_t nrnd, const int64_t *want, size_t n) {
  script_t s = { rnd, nrnd, 0, 0 };
  wsk_backoff_opts_t o;
  opts_fixed(&o, &s);
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  for (size_t i = 0; i < n; i++) {
    int64_t d = wsk_backoff_next(&b);
    if (d != want[i]) TL_FAIL("delay %zu is %lld, expected %lld", i + 1, (long long)d, (long long)want[i]);
  }
}

TEST(backoff_opts_defaults) {
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  CHECK_INT(o.initial_delay_ms, 1000);
  CHECK_INT(o.min_delay_ms, 1000);
  CHECK(o.factor == 1.618);
  CHECK_INT(o.max_delay_ms, 60000);
  CHECK(o.jitter == 0.2);
  CHECK_INT(o.max_attempts, 0);
  CHECK_INT(o.reset_after_ms, 10000);
  CHECK(o.random == NULL);
}

TEST(backoff_sequence_exact_random_half) {
  static const int r[] = { R_HALF };
  static const int64_t want[] = { 500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };
  check_sequence(r, 1, want, sizeof want / sizeof want[0]);
}

TEST(backoff_sequence_exact_random_zero) {
  static const int r[] = { R_ZERO };
  static const int64_t want[] = { 0, 800, 1600, 3200, 6400, 12800, 25600, 48000, 48000 };
  check_sequence(r, 1, want, sizeof want / sizeof want[0]);
}

TEST(backoff_sequence_exact_random_max) {
  static const int r[] = { R_MAX };
  static const int64_t want[] = { 1000, 1200, 2400, 4800, 9600, 19200, 38400, 60000, 60000 };
  check_sequence(r, 1, want, sizeof want / sizeof want[0]);
}

TEST(backoff_sequence_exact_random_half_zero_max) {
  static const int r[] = { R_HALF, R_ZERO, R_MAX };
  /* u: .5 0 max .5 0 max .5 0 */
  static const int64_t want[] = { 500, 800, 2400, 4000, 6400, 19200, 32000, 48000 };
  check_sequence(r, 3, want, sizeof want / sizeof want[0]);
}

TEST(backoff_sequence_default_golden_factor) {
  static const int r[] = { R_HALF };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  o.random = script_random;
  o.random_ud = &s;
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  static const int64_t want[] = { 500, 1000, 1618, 2618, 4236, 6854, 11089 };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) CHECK_INT(wsk_backoff_next(&b), want[i]);
}

TEST(backoff_init_null_opts_uses_defaults) {
  wsk_backoff_t b;
  wsk_backoff_init(&b, NULL);
  CHECK_INT(b.opts.max_delay_ms, 60000);
  CHECK_INT(b.attempts, 0);
  CHECK_INT(b.opened_at, -1);
  int64_t d = wsk_backoff_next(&b); /* RAND_bytes */
  CHECK(d >= 0 && d <= 1000);
}

TEST(backoff_one_random_draw_per_delay) {
  static const int r[] = { R_HALF };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_opts_t o;
  opts_fixed(&o, &s);
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  for (int i = 0; i < 5; i++) wsk_backoff_next(&b);
  CHECK_INT(s.calls, 5);
}

TEST(backoff_first_delay_within_initial) {
  uint64_t st = UINT64_C(0x9e3779b97f4a7c15);
  int low = 0, high = 0;
  for (int i = 0; i < 2000; i++) {
    wsk_backoff_opts_t o;
    wsk_backoff_opts_init(&o);
    o.initial_delay_ms = 700;
    o.min_delay_ms = 5000;
    if (i % 2) {
      o.random = prng_random;
      o.random_ud = &st;
    } /* else RAND_bytes */
    wsk_backoff_t b;
    wsk_backoff_init(&b, &o);
    int64_t d = wsk_backoff_next(&b);
    CHECK(d >= 0 && d <= 700);
    if (d < 350) low++; else high++;
  }
  /* Uniform, not stuck at one end. */
  CHECK(low > 800 && high > 800);
}

TEST(backoff_first_delay_zero_initial) {
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  o.initial_delay_ms = 0;
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  CHECK_INT(wsk_backoff_next(&b), 0);
}

TEST(backoff_growth_and_cap) {
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  o.min_delay_ms = 100;
  o.factor = 3.0;
  o.max_delay_ms = 5000;
  o.jitter = 0.0;
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  int64_t first = wsk_backoff_next(&b);
  CHECK(first >= 0 && first <= 1000);
  static const int64_t want[] = { 100, 300, 900, 2700, 5000, 5000 };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) CHECK_INT(wsk_backoff_next(&b), want[i]);
  /* Many more attempts: the base stops at the cap instead of overflowing. */
  for (int i = 0; i < 5000; i++) CHECK_INT(wsk_backoff_next(&b), 5000);
  CHECK(b.base_ms == 5000.0);
}

TEST(backoff_cap_applies_after_jitter) {
  static const int r[] = { R_MAX };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_opts_t o;
  opts_fixed(&o, &s);
  o.min_delay_ms = 60000; /* already at the cap: 1.2x must still be capped */
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  wsk_backoff_next(&b);
  CHECK_INT(wsk_backoff_next(&b), 60000);
}

TEST(backoff_jitter_bounds) {
  uint64_t st = 12345;
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  o.min_delay_ms = 1000;
  o.factor = 1.5;
  o.max_delay_ms = 30000;
  o.jitter = 0.3;
  o.random = prng_random;
  o.random_ud = &st;
  int below = 0, above = 0;
  for (int run = 0; run < 200; run++) {
    wsk_backoff_t b;
    wsk_backoff_init(&b, &o);
    wsk_backoff_next(&b);
    double base = 1000.0;
    for (int k = 0; k < 15; k++) {
      int64_t d = wsk_backoff_next(&b);
      double lo = base * 0.7, hi = base * 1.3;
      if (hi > 30000.0) hi = 30000.0;
      CHECK((double)d >= lo - 0.5 && (double)d <= hi + 0.5);
      if ((double)d < base) below++;
      if ((double)d > base && base < 30000.0) above++;
      base *= 1.5;
      if (base > 30000.0) base = 30000.0;
    }
  }
  CHECK(below > 500 && above > 500);
}

TEST(backoff_jitter_out_of_range_is_clamped) {
  static const int r[] = { R_ZERO };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_opts_t o;
  opts_fixed(&o, &s);
  o.jitter = 5.0; /* treated as 1: u = 0 gives 0 */
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  wsk_backoff_next(&b);
  CHECK_INT(wsk_backoff_next(&b), 0);
  o.jitter = -1.0; /* treated as 0 */
  o.factor = 0.5;  /* treated as 1: no shrinking */
  wsk_backoff_init(&b, &o);
  wsk_backoff_next(&b);
  CHECK_INT(wsk_backoff_next(&b), 1000);
  CHECK_INT(wsk_backoff_next(&b), 1000);
}

TEST(backoff_deterministic_under_injected_random) {
  uint64_t s1 = 777, s2 = 777;
  wsk_backoff_opts_t o1, o2;
  wsk_backoff_opts_init(&o1);
  o1.random = prng_random;
  o1.random_ud = &s1;
  o2 = o1;
  o2.random_ud = &s2;
  wsk_backoff_t a, b;
  wsk_backoff_init(&a, &o1);
  wsk_backoff_init(&b, &o2);
  for (int i = 0; i < 50; i++) CHECK_INT(wsk_backoff_next(&a), wsk_backoff_next(&b));
}

TEST(backoff_random_failure_uses_midpoint) {
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  o.factor = 2.0;
  o.random = failing_random;
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  CHECK_INT(wsk_backoff_next(&b), 500);
  CHECK_INT(wsk_backoff_next(&b), 1000);
  CHECK_INT(wsk_backoff_next(&b), 2000);
}

TEST(backoff_max_attempts_returns_minus_one) {
  static const int r[] = { R_HALF };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_opts_t o;
  opts_fixed(&o, &s);
  o.max_attempts = 3;
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  CHECK_INT(wsk_backoff_next(&b), 500);
  CHECK_INT(wsk_backoff_next(&b), 1000);
  CHECK_INT(wsk_backoff_next(&b), 2000);
  CHECK_INT(wsk_backoff_next(&b), -1);
  CHECK_INT(wsk_backoff_next(&b), -1); /* stays given up */
  CHECK_INT(b.attempts, 3);
  wsk_backoff_reset(&b);
  CHECK_INT(wsk_backoff_next(&b), 500);
}

TEST(backoff_max_attempts_zero_never_gives_up) {
  wsk_backoff_opts_t o;
  wsk_backoff_opts_init(&o);
  o.max_attempts = 0;
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  for (int i = 0; i < 10000; i++) CHECK(wsk_backoff_next(&b) >= 0);
}

static wsk_backoff_t grown_backoff(script_t *s) {
  wsk_backoff_opts_t o;
  opts_fixed(&o, s);
  o.reset_after_ms = 5000;
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  wsk_backoff_next(&b); /* 500 */
  wsk_backoff_next(&b); /* 1000 */
  wsk_backoff_next(&b); /* 2000 */
  return b;
}

TEST(backoff_reset_after_staying_up) {
  static const int r[] = { R_HALF };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_t b = grown_backoff(&s);
  wsk_backoff_opened(&b, 100000);
  CHECK_INT(b.opened_at, 100000);
  wsk_backoff_closed(&b, 105000); /* exactly reset_after_ms */
  CHECK_INT(b.attempts, 0);
  CHECK_INT(b.opened_at, -1);
  CHECK_INT(wsk_backoff_next(&b), 500); /* the randomised first delay again */
  CHECK_INT(wsk_backoff_next(&b), 1000);
}

TEST(backoff_not_reset_when_up_shorter) {
  static const int r[] = { R_HALF };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_t b = grown_backoff(&s);
  wsk_backoff_opened(&b, 100000);
  wsk_backoff_closed(&b, 104999);
  CHECK_INT(b.attempts, 3);
  CHECK_INT(wsk_backoff_next(&b), 4000);
}

TEST(backoff_max_attempts_counts_across_short_connections) {
  static const int r[] = { R_HALF };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_opts_t o;
  opts_fixed(&o, &s);
  o.max_attempts = 2;
  o.reset_after_ms = 5000;
  wsk_backoff_t b;
  wsk_backoff_init(&b, &o);
  CHECK(wsk_backoff_next(&b) >= 0);
  wsk_backoff_opened(&b, 0);
  wsk_backoff_closed(&b, 10); /* flapping connection */
  CHECK(wsk_backoff_next(&b) >= 0);
  wsk_backoff_opened(&b, 20);
  wsk_backoff_closed(&b, 30);
  CHECK_INT(wsk_backoff_next(&b), -1);
}

TEST(backoff_closed_without_opened_does_not_reset) {
  static const int r[] = { R_HALF };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_t b = grown_backoff(&s);
  wsk_backoff_closed(&b, 1000000);
  CHECK_INT(b.attempts, 3);
}

TEST(backoff_reset_starts_over) {
  static const int r[] = { R_HALF };
  script_t s = { r, 1, 0, 0 };
  wsk_backoff_t b = grown_backoff(&s);
  wsk_backoff_reset(&b);
  CHECK_INT(b.attempts, 0);
  CHECK_INT(wsk_backoff_next(&b), 500);
  CHECK_INT(wsk_backoff_next(&b), 1000);
}

/* ---- classification ---- */

static int retry(wsk_fail_kind_t kind, int detail) {
  wsk_failure_t f = { kind, detail };
  return wsk_failure_retryable(&f);
}

TEST(retry_connection_refused) { CHECK_INT(retry(WSK_FAIL_REFUSED, 0), 1); }
TEST(retry_timeout) { CHECK_INT(retry(WSK_FAIL_TIMEOUT, 0), 1); }
TEST(retry_dns_failure) { CHECK_INT(retry(WSK_FAIL_DNS, 0), 1); }
TEST(retry_other_tls_failure) { CHECK_INT(retry(WSK_FAIL_TLS, 0), 1); }
TEST(retry_io_error) { CHECK_INT(retry(WSK_FAIL_IO, 0), 1); }
TEST(no_retry_tls_verification_failure) { CHECK_INT(retry(WSK_FAIL_TLS_VERIFY, 0), 0); }
TEST(no_retry_invalid_handshake) { CHECK_INT(retry(WSK_FAIL_HANDSHAKE, 0), 0); }

TEST(retry_http_5xx) {
  static const int codes[] = { 500, 502, 503, 504, 599 };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) CHECK_INT(retry(WSK_FAIL_HTTP_STATUS, codes[i]), 1);
}

TEST(retry_http_429) { CHECK_INT(retry(WSK_FAIL_HTTP_STATUS, 429), 1); }

TEST(no_retry_http_other_4xx) {
  static const int codes[] = { 400, 401, 403, 404, 408, 426, 428, 430, 499 };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) CHECK_INT(retry(WSK_FAIL_HTTP_STATUS, codes[i]), 0);
}

TEST(no_retry_http_3xx) {
  static const int codes[] = { 300, 301, 302, 307, 308 };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) CHECK_INT(retry(WSK_FAIL_HTTP_STATUS, codes[i]), 0);
}

TEST(no_retry_http_other_status) {
  static const int codes[] = { 100, 200, 204, 600, 0, -1 };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) CHECK_INT(retry(WSK_FAIL_HTTP_STATUS, codes[i]), 0);
}

TEST(retry_close_codes_1001_1006_1011_1012_1013_1014) {
  static const int codes[] = { 1001, 1006, 1011, 1012, 1013, 1014 };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) CHECK_INT(retry(WSK_FAIL_CLOSED, codes[i]), 1);
}

TEST(no_retry_close_1000) { CHECK_INT(retry(WSK_FAIL_CLOSED, 1000), 0); }

TEST(no_retry_other_close_codes) {
  static const int codes[] = { 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1015, 3000, 4000, 4999, 0 };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) CHECK_INT(retry(WSK_FAIL_CLOSED, codes[i]), 0);
}

TEST(no_retry_unknown_kind) {
  wsk_failure_t f = { (wsk_fail_kind_t)99, 0 };
  CHECK_INT(wsk_failure_retryable(&f), 0);
}

typedef struct {
  int calls;
  int last_dflt;
} override_t;

/* Retries 401 (say, after refreshing a token) and gives up on 503. */
static int override_fn(void *ud, const wsk_failure_t *f, int dflt) {
  override_t *o = ud;
  o->calls++;
  o->last_dflt = dflt;
  if (f->kind == WSK_FAIL_HTTP_STATUS && f->detail == 401) return 1;
  if (f->kind == WSK_FAIL_HTTP_STATUS && f->detail == 503) return 0;
  return dflt ? 7 : 0; /* any non-zero means yes */
}

TEST(retry_override_by_callback) {
  override_t ov = { 0, -1 };
  wsk_failure_t f401 = { WSK_FAIL_HTTP_STATUS, 401 };
  wsk_failure_t f503 = { WSK_FAIL_HTTP_STATUS, 503 };
  wsk_failure_t f1006 = { WSK_FAIL_CLOSED, 1006 };
  wsk_failure_t f1000 = { WSK_FAIL_CLOSED, 1000 };
  CHECK_INT(wsk_failure_should_retry(&f401, override_fn, &ov), 1);
  CHECK_INT(ov.last_dflt, 0);
  CHECK_INT(wsk_failure_should_retry(&f503, override_fn, &ov), 0);
  CHECK_INT(ov.last_dflt, 1);
  CHECK_INT(wsk_failure_should_retry(&f1006, override_fn, &ov), 1);
  CHECK_INT(wsk_failure_should_retry(&f1000, override_fn, &ov), 0);
  CHECK_INT(ov.calls, 4);
}

TEST(retry_without_callback_is_default) {
  wsk_failure_t f401 = { WSK_FAIL_HTTP_STATUS, 401 };
  wsk_failure_t f503 = { WSK_FAIL_HTTP_STATUS, 503 };
  CHECK_INT(wsk_failure_should_retry(&f401, NULL, NULL), 0);
  CHECK_INT(wsk_failure_should_retry(&f503, NULL, NULL), 1);
}

int main(void) {
  RUN(backoff_opts_defaults);
  RUN(backoff_sequence_exact_random_half);
  RUN(backoff_sequence_exact_random_zero);
  RUN(backoff_sequence_exact_random_max);
  RUN(backoff_sequence_exact_random_half_zero_max);
  RUN(backoff_sequence_default_golden_factor);
  RUN(backoff_init_null_opts_uses_defaults);
  RUN(backoff_one_random_draw_per_delay);
  RUN(backoff_first_delay_within_initial);
  RUN(backoff_first_delay_zero_initial);
  RUN(backoff_growth_and_cap);
  RUN(backoff_cap_applies_after_jitter);
  RUN(backoff_jitter_bounds);
  RUN(backoff_jitter_out_of_range_is_clamped);
  RUN(backoff_deterministic_under_injected_random);
  RUN(backoff_random_failure_uses_midpoint);
  RUN(backoff_max_attempts_returns_minus_one);
  RUN(backoff_max_attempts_zero_never_gives_up);
  RUN(backoff_reset_after_staying_up);
  RUN(backoff_not_reset_when_up_shorter);
  RUN(backoff_max_attempts_counts_across_short_connections);
  RUN(backoff_closed_without_opened_does_not_reset);
  RUN(backoff_reset_starts_over);
  RUN(retry_connection_refused);
  RUN(retry_timeout);
  RUN(retry_dns_failure);
  RUN(retry_other_tls_failure);
  RUN(retry_io_error);
  RUN(no_retry_tls_verification_failure);
  RUN(no_retry_invalid_handshake);
  RUN(retry_http_5xx);
  RUN(retry_http_429);
  RUN(no_retry_http_other_4xx);
  RUN(no_retry_http_3xx);
  RUN(no_retry_http_other_status);
  RUN(retry_close_codes_1001_1006_1011_1012_1013_1014);
  RUN(no_retry_close_1000);
  RUN(no_retry_other_close_codes);
  RUN(no_retry_unknown_kind);
  RUN(retry_override_by_callback);
  RUN(retry_without_callback_is_default);
  return test_summary();
}
