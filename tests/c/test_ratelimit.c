/* Token bucket and per-address connection counter. */
#include "testlib.h"
#include "wskit/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>

TEST(bucket_starts_full_and_refuses_past_burst) {
  wsk_bucket_t b;
  wsk_bucket_init(&b, 10, 5, 1000);
  for (int i = 0; i < 5; i++) CHECK_INT(wsk_bucket_take(&b, 1000, 1), 1);
  CHECK_INT(wsk_bucket_take(&b, 1000, 1), 0); /* the 6th at the same instant */
  CHECK_INT(wsk_bucket_take(&b, 1099, 1), 0); /* 0.99 of a token */
  CHECK_INT(wsk_bucket_take(&b, 1100, 1), 1); /* 10/s: one token per 100 ms */
  CHECK_INT(wsk_bucket_take(&b, 1100, 1), 0);
}

TEST(bucket_refills_up_to_burst_only) {
  wsk_bucket_t b;
  wsk_bucket_init(&b, 10, 3, 0);
  for (int i = 0; i < 3; i++) CHECK_INT(wsk_bucket_take(&b, 0, 1), 1);
  /* a long idle time gives back the burst, not more */
  int taken = 0;
  for (int i = 0; i < 10; i++) taken += wsk_bucket_take(&b, 60000, 1);
  CHECK_INT(taken, 3);
}

TEST(bucket_default_burst_is_max_of_rate_and_one) {
  wsk_bucket_t b;
  wsk_bucket_init(&b, 0.5, 0, 0);
  CHECK(b.burst == 1.0);
  CHECK_INT(wsk_bucket_take(&b, 0, 1), 1);
  CHECK_INT(wsk_bucket_take(&b, 1999, 1), 0);
  CHECK_INT(wsk_bucket_take(&b, 2000, 1), 1);
  wsk_bucket_init(&b, 50, 0, 0);
  CHECK(b.burst == 50.0);
}

TEST(bucket_rate_zero_never_limits) {
  wsk_bucket_t b;
  wsk_bucket_init(&b, 0, 0, 0);
  for (int i = 0; i < 1000; i++) CHECK_INT(wsk_bucket_take(&b, 0, 1), 1);
  CHECK_INT(wsk_bucket_wait_ms(&b, 0, 1000), 0);
}

TEST(bucket_clock_going_back_adds_nothing) {
  wsk_bucket_t b;
  wsk_bucket_init(&b, 1, 1, 5000);
  CHECK_INT(wsk_bucket_take(&b, 5000, 1), 1);
  CHECK_INT(wsk_bucket_take(&b, 1000, 1), 0);
  CHECK_INT(wsk_bucket_take(&b, 5999, 1), 0);
  CHECK_INT(wsk_bucket_take(&b, 6000, 1), 1);
}

TEST(bucket_wait_ms) {
  wsk_bucket_t b;
  wsk_bucket_init(&b, 4, 2, 0); /* 250 ms per token */
  CHECK_INT(wsk_bucket_wait_ms(&b, 0, 1), 0);
  CHECK_INT(wsk_bucket_take(&b, 0, 2), 1);
  CHECK_INT(wsk_bucket_wait_ms(&b, 0, 1), 250);
  CHECK_INT(wsk_bucket_wait_ms(&b, 100, 1), 150);
  CHECK_INT(wsk_bucket_wait_ms(&b, 0, 2), 500);
  CHECK_INT(wsk_bucket_wait_ms(&b, 250, 1), 0);
  CHECK(wsk_bucket_wait_ms(&b, 0, 3) == INT64_MAX); /* more than the bucket holds */
  /* what wait_ms says is enough */
  int64_t w = wsk_bucket_wait_ms(&b, 10, 1);
  CHECK_INT(wsk_bucket_take(&b, 10 + w - 1, 1), 0);
  CHECK_INT(wsk_bucket_take(&b, 10 + w, 1), 1);
}

TEST(bucket_fractional_costs) {
  wsk_bucket_t b;
  wsk_bucket_init(&b, 10, 1, 0);
  for (int i = 0; i < 10; i++) CHECK_INT(wsk_bucket_take(&b, 0, 0.1), 1);
  CHECK_INT(wsk_bucket_take(&b, 0, 0.1), 0);
  CHECK_INT(wsk_bucket_take(&b, 10, 0.1), 1);
}

TEST(bucket_sustained_rate_over_a_simulated_minute) {
  wsk_bucket_t b;
  wsk_bucket_init(&b, 20, 5, 0);
  int got = 0;
  for (int64_t t = 0; t <= 60000; t += 7) /* a peer trying every 7 ms */
    got += wsk_bucket_take(&b, t, 1);
  /* burst + 20/s for 60 s */
  CHECK(got >= 1200 && got <= 1205);
}

TEST(iplimit_counts_per_address_and_refuses_over_max) {
  wsk_iplimit_t *l = wsk_iplimit_new(2);
  CHECK(l != NULL);
  CHECK_INT(wsk_iplimit_acquire(l, "10.0.0.1", 8), 1);
  CHECK_INT(wsk_iplimit_acquire(l, "10.0.0.1", 8), 1);
  CHECK_INT(wsk_iplimit_acquire(l, "10.0.0.1", 8), 0); /* third: refused, not counted */
  CHECK_INT(wsk_iplimit_count(l, "10.0.0.1", 8), 2);
  CHECK_INT(wsk_iplimit_acquire(l, "10.0.0.2", 8), 1);
  CHECK_INT(wsk_iplimit_acquire(l, "::1", 3), 1);
  CHECK_INT(wsk_iplimit_size(l), 3);
  wsk_iplimit_release(l, "10.0.0.1", 8);
  CHECK_INT(wsk_iplimit_count(l, "10.0.0.1", 8), 1);
  CHECK_INT(wsk_iplimit_acquire(l, "10.0.0.1", 8), 1); /* room again */
  wsk_iplimit_release(l, "10.0.0.1", 8);
  wsk_iplimit_release(l, "10.0.0.1", 8);
  CHECK_INT(wsk_iplimit_count(l, "10.0.0.1", 8), 0);
  CHECK_INT(wsk_iplimit_size(l), 2); /* forgotten at 0 */
  wsk_iplimit_release(l, "10.0.0.1", 8); /* none left: no-op */
  wsk_iplimit_release(l, "10.9.9.9", 8);
  CHECK_INT(wsk_iplimit_size(l), 2);
  /* addresses are compared whole, byte for byte */
  CHECK_INT(wsk_iplimit_count(l, "10.0.0.2", 7), 0);
  wsk_iplimit_free(l);
}

TEST(iplimit_zero_max_counts_without_limit) {
  wsk_iplimit_t *l = wsk_iplimit_new(0);
  for (int i = 0; i < 1000; i++) CHECK_INT(wsk_iplimit_acquire(l, "1.2.3.4", 7), 1);
  CHECK_INT(wsk_iplimit_count(l, "1.2.3.4", 7), 1000);
  wsk_iplimit_free(l); /* frees with counts left */
}

TEST(iplimit_many_addresses_grow_and_shrink) {
  wsk_iplimit_t *l = wsk_iplimit_new(1);
  char a[32];
  for (int i = 0; i < 5000; i++) {
    int n = snprintf(a, sizeof a, "192.168.%d.%d", i / 256, i % 256);
    CHECK_INT(wsk_iplimit_acquire(l, a, (size_t)n), 1);
    CHECK_INT(wsk_iplimit_acquire(l, a, (size_t)n), 0);
  }
  CHECK_INT(wsk_iplimit_size(l), 5000);
  for (int i = 0; i < 5000; i += 2) {
    int n = snprintf(a, sizeof a, "192.168.%d.%d", i / 256, i % 256);
    wsk_iplimit_release(l, a, (size_t)n);
  }
  CHECK_INT(wsk_iplimit_size(l), 2500);
  for (int i = 0; i < 5000; i++) {
    int n = snprintf(a, sizeof a, "192.168.%d.%d", i / 256, i % 256);
    CHECK_INT(wsk_iplimit_count(l, a, (size_t)n), i % 2);
    wsk_iplimit_release(l, a, (size_t)n);
  }
  CHECK_INT(wsk_iplimit_size(l), 0);
  CHECK_INT(wsk_iplimit_acquire(l, "", 0), 1); /* an empty address is an address */
  CHECK_INT(wsk_iplimit_count(l, NULL, 0), 1);
  wsk_iplimit_free(l);
}

int main(void) {
  RUN(bucket_starts_full_and_refuses_past_burst);
  RUN(bucket_refills_up_to_burst_only);
  RUN(bucket_default_burst_is_max_of_rate_and_one);
  RUN(bucket_rate_zero_never_limits);
  RUN(bucket_clock_going_back_adds_nothing);
  RUN(bucket_wait_ms);
  RUN(bucket_fractional_costs);
  RUN(bucket_sustained_rate_over_a_simulated_minute);
  RUN(iplimit_counts_per_address_and_refuses_over_max);
  RUN(iplimit_zero_max_counts_without_limit);
  RUN(iplimit_many_addresses_grow_and_shrink);
  return test_summary();
}
