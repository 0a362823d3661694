/* Request/response correlation table. */
#include "testlib.h"

#include <stdlib.h>
#include <wskit/rpc.h>

#define UD(x) ((void *)(uintptr_t)(x))

static uint64_t rng_state;
static uint64_t rnd(void) {
  /* xorshift64*: fixed seed per test, so failures reproduce */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * UINT64_C(2685821657736338717);
}
static uint64_t rnd_below(uint64_t n) { return (rnd() >> 11) % n; }

/* Records every end callback. */
typedef struct {
  uint64_t id;
  void *ud;
  int reason;
} ended_t;

typedef struct {
  ended_t *v;
  size_t n, cap;
} log_t;

static void log_push(log_t *l, uint64_t id, void *ud, int reason) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v) abort();
  }
  l->v[l->n].id = id;
  l->v[l->n].ud = ud;
  l->v[l->n].reason = reason;
  l->n++;
}

static void log_cb(void *ctx, uint64_t id, void *ud, int reason) { log_push(ctx, id, ud, reason); }

TEST(rpc_add_then_resolve_returns_ud) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  CHECK(t != NULL);
  CHECK_INT(wsk_rpc_count(t), 0);
  CHECK_INT(wsk_rpc_add(t, 7, 1000, UD(70)), 0);
  CHECK_INT(wsk_rpc_add(t, 8, -1, UD(80)), 0);
  CHECK_INT(wsk_rpc_count(t), 2);
  void *ud = NULL;
  CHECK_INT(wsk_rpc_resolve(t, 7, &ud), 0);
  CHECK(ud == UD(70));
  CHECK_INT(wsk_rpc_resolve(t, 8, &ud), 0);
  CHECK(ud == UD(80));
  CHECK_INT(wsk_rpc_count(t), 0);
  CHECK_INT(wsk_rpc_next_deadline(t), -1);
  wsk_rpc_free(t);
}

TEST(rpc_resolve_with_null_ud_out) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  CHECK_INT(wsk_rpc_add(t, 1, 5, NULL), 0);
  CHECK_INT(wsk_rpc_resolve(t, 1, NULL), 0);
  CHECK_INT(wsk_rpc_count(t), 0);
  wsk_rpc_free(t);
}

TEST(rpc_duplicate_id_is_eexist) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  CHECK_INT(wsk_rpc_add(t, 42, 100, UD(1)), 0);
  CHECK_INT(wsk_rpc_add(t, 42, 50, UD(2)), WSK_EEXIST);
  CHECK_INT(wsk_rpc_count(t), 1);
  CHECK_INT(wsk_rpc_next_deadline(t), 100); /* the failed add left no trace */
  void *ud = NULL;
  CHECK_INT(wsk_rpc_resolve(t, 42, &ud), 0);
  CHECK(ud == UD(1));
  CHECK_INT(wsk_rpc_add(t, 42, 50, UD(2)), 0); /* free again once ended */
  wsk_rpc_free(t);
}

TEST(rpc_unknown_id_is_enotfound) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  void *ud = UD(123);
  CHECK_INT(wsk_rpc_resolve(t, 5, &ud), WSK_ENOTFOUND); /* empty table */
  CHECK_INT(wsk_rpc_add(t, 6, -1, UD(6)), 0);
  CHECK_INT(wsk_rpc_resolve(t, 5, &ud), WSK_ENOTFOUND);
  CHECK(ud == UD(123)); /* untouched */
  CHECK_INT(wsk_rpc_count(t), 1);
  wsk_rpc_free(t);
}

TEST(rpc_duplicate_reply_is_enotfound) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  CHECK_INT(wsk_rpc_add(t, 9, 10, UD(9)), 0);
  CHECK_INT(wsk_rpc_resolve(t, 9, NULL), 0);
  CHECK_INT(wsk_rpc_resolve(t, 9, NULL), WSK_ENOTFOUND);
  wsk_rpc_free(t);
}

TEST(rpc_late_reply_after_expiry_is_enotfound) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  log_t l = { 0 };
  CHECK_INT(wsk_rpc_add(t, 3, 100, UD(3)), 0);
  CHECK_INT(wsk_rpc_expire(t, 99, log_cb, &l), 0);
  CHECK_INT(wsk_rpc_expire(t, 100, log_cb, &l), 1);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.v[0].id, 3);
  CHECK(l.v[0].ud == UD(3));
  CHECK_INT(l.v[0].reason, WSK_ETIMEDOUT);
  CHECK_INT(wsk_rpc_resolve(t, 3, NULL), WSK_ENOTFOUND);
  free(l.v);
  wsk_rpc_free(t);
}

TEST(rpc_full_64bit_ids) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  uint64_t ids[] = { 0, 1, UINT64_MAX, UINT64_C(1) << 63, UINT64_C(1) << 32, (UINT64_C(1) << 32) + 1 };
  for (size_t i = 0; i < 6; i++) CHECK_INT(wsk_rpc_add(t, ids[i], -1, UD(i + 1)), 0);
  for (size_t i = 0; i < 6; i++) {
    void *ud;
    CHECK_INT(wsk_rpc_resolve(t, ids[i], &ud), 0);
    CHECK(ud == UD(i + 1));
  }
  wsk_rpc_free(t);
}

TEST(rpc_next_id_counts_up_from_one) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  CHECK_INT(wsk_rpc_next_id(t), 1);
  CHECK_INT(wsk_rpc_next_id(t), 2);
  CHECK_INT(wsk_rpc_next_id(t), 3);
  wsk_rpc_free(t);
}

TEST(rpc_next_id_skips_pending_ids) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  for (uint64_t id = 1; id <= 5; id++) CHECK_INT(wsk_rpc_add(t, id, -1, NULL), 0);
  CHECK_INT(wsk_rpc_add(t, 7, -1, NULL), 0);
  uint64_t a = wsk_rpc_next_id(t);
  uint64_t b = wsk_rpc_next_id(t);
  CHECK_INT(a, 6);
  CHECK_INT(b, 8);
  /* Never handed out again, even once 1..5 are no longer pending. */
  for (uint64_t id = 1; id <= 5; id++) CHECK_INT(wsk_rpc_resolve(t, id, NULL), 0);
  CHECK_INT(wsk_rpc_next_id(t), 9);
  wsk_rpc_free(t);
}

TEST(rpc_next_id_usable_for_add) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  for (int i = 0; i < 1000; i++) {
    uint64_t id = wsk_rpc_next_id(t);
    CHECK_INT(wsk_rpc_add(t, id, i, NULL), 0);
  }
  CHECK_INT(wsk_rpc_count(t), 1000);
  wsk_rpc_free(t);
}

TEST(rpc_expire_earliest_first) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  log_t l = { 0 };
  /* id -> deadline; ties end in the order they were added */
  CHECK_INT(wsk_rpc_add(t, 1, 30, UD(1)), 0);
  CHECK_INT(wsk_rpc_add(t, 2, 10, UD(2)), 0);
  CHECK_INT(wsk_rpc_add(t, 3, 20, UD(3)), 0);
  CHECK_INT(wsk_rpc_add(t, 4, 10, UD(4)), 0);
  CHECK_INT(wsk_rpc_add(t, 5, 0, UD(5)), 0);
  CHECK_INT(wsk_rpc_add(t, 6, 31, UD(6)), 0);
  CHECK_INT(wsk_rpc_expire(t, 30, log_cb, &l), 5);
  static const uint64_t want[] = { 5, 2, 4, 3, 1 };
  CHECK_INT(l.n, 5);
  for (size_t i = 0; i < 5; i++) {
    CHECK_INT(l.v[i].id, want[i]);
    CHECK(l.v[i].ud == UD(want[i]));
    CHECK_INT(l.v[i].reason, WSK_ETIMEDOUT);
  }
  CHECK_INT(wsk_rpc_count(t), 1);
  CHECK_INT(wsk_rpc_next_deadline(t), 31);
  free(l.v);
  wsk_rpc_free(t);
}

TEST(rpc_expire_without_callback) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  CHECK_INT(wsk_rpc_add(t, 1, 1, NULL), 0);
  CHECK_INT(wsk_rpc_add(t, 2, 2, NULL), 0);
  CHECK_INT(wsk_rpc_expire(t, 5, NULL, NULL), 2);
  CHECK_INT(wsk_rpc_count(t), 0);
  CHECK_INT(wsk_rpc_add(t, 3, -1, NULL), 0);
  CHECK_INT(wsk_rpc_cancel_all(t, NULL, NULL), 1);
  wsk_rpc_free(t);
}

TEST(rpc_no_deadline_entries_never_expire) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  log_t l = { 0 };
  CHECK_INT(wsk_rpc_add(t, 1, -1, NULL), 0);
  CHECK_INT(wsk_rpc_add(t, 2, -1000, NULL), 0); /* any negative: none */
  CHECK_INT(wsk_rpc_add(t, 3, INT64_MIN, NULL), 0);
  CHECK_INT(wsk_rpc_next_deadline(t), -1);
  CHECK_INT(wsk_rpc_expire(t, 0, log_cb, &l), 0);
  CHECK_INT(wsk_rpc_expire(t, INT64_MAX, log_cb, &l), 0);
  CHECK_INT(l.n, 0);
  CHECK_INT(wsk_rpc_count(t), 3);
  CHECK_INT(wsk_rpc_add(t, 4, INT64_MAX, NULL), 0);
  CHECK_INT(wsk_rpc_expire(t, INT64_MAX, log_cb, &l), 1);
  CHECK_INT(l.v[0].id, 4);
  CHECK_INT(wsk_rpc_count(t), 3);
  free(l.v);
  wsk_rpc_free(t);
}

TEST(rpc_next_deadline_tracks_earliest) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  CHECK_INT(wsk_rpc_next_deadline(t), -1);
  CHECK_INT(wsk_rpc_add(t, 1, -1, NULL), 0);
  CHECK_INT(wsk_rpc_next_deadline(t), -1);
  CHECK_INT(wsk_rpc_add(t, 2, 500, NULL), 0);
  CHECK_INT(wsk_rpc_next_deadline(t), 500);
  CHECK_INT(wsk_rpc_add(t, 3, 200, NULL), 0);
  CHECK_INT(wsk_rpc_add(t, 4, 300, NULL), 0);
  CHECK_INT(wsk_rpc_next_deadline(t), 200);
  CHECK_INT(wsk_rpc_resolve(t, 3, NULL), 0);
  CHECK_INT(wsk_rpc_next_deadline(t), 300);
  CHECK_INT(wsk_rpc_expire(t, 300, NULL, NULL), 1);
  CHECK_INT(wsk_rpc_next_deadline(t), 500);
  CHECK_INT(wsk_rpc_resolve(t, 2, NULL), 0);
  CHECK_INT(wsk_rpc_next_deadline(t), -1);
  wsk_rpc_free(t);
}

TEST(rpc_cancel_all_ends_each_exactly_once) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  log_t l = { 0 };
  enum { N = 1000 };
  for (uint64_t id = 0; id < N; id++) CHECK_INT(wsk_rpc_add(t, id * 7919, id % 3 ? (int64_t)id : -1, UD(id)), 0);
  for (uint64_t id = 0; id < N; id += 10) CHECK_INT(wsk_rpc_resolve(t, id * 7919, NULL), 0);
  CHECK_INT(wsk_rpc_cancel_all(t, log_cb, &l), N - N / 10);
  CHECK_INT(l.n, N - N / 10);
  static int seen[N];
  memset(seen, 0, sizeof seen);
  for (size_t i = 0; i < l.n; i++) {
    CHECK_INT(l.v[i].reason, WSK_ECANCELED);
    CHECK_INT(l.v[i].id % 7919, 0);
    uint64_t k = l.v[i].id / 7919;
    CHECK(k < N && k % 10 != 0);
    CHECK(l.v[i].ud == UD(k));
    seen[k]++;
  }
  for (int k = 0; k < N; k++) CHECK_INT(seen[k], k % 10 ? 1 : 0);
  CHECK_INT(wsk_rpc_count(t), 0);
  CHECK_INT(wsk_rpc_next_deadline(t), -1);
  CHECK_INT(wsk_rpc_expire(t, INT64_MAX, log_cb, &l), 0);
  CHECK_INT(wsk_rpc_cancel_all(t, log_cb, &l), 0);
  CHECK_INT(wsk_rpc_resolve(t, 7919, NULL), WSK_ENOTFOUND);
  free(l.v);
  wsk_rpc_free(t);
}

/* ---- callbacks that change the table ---- */

typedef struct {
  wsk_rpc_table_t *t;
  log_t log;
  int64_t now;
  int64_t deadline_seen;
} mut_t;

static void mutating_expire_cb(void *ctx, uint64_t id, void *ud, int reason) {
  mut_t *m = ctx;
  log_push(&m->log, id, ud, reason);
  /* The entry is already gone: re-adding its own id works. */
  if (id == 1) {
    if (wsk_rpc_resolve(m->t, 2, NULL) != 0) abort(); /* also due: must not end twice */
    if (wsk_rpc_add(m->t, 1, m->now + 100, UD(1001)) != 0) abort();
  }
  if (id == 3) {
    /* Already due: left for the next expire, not this one. */
    if (wsk_rpc_add(m->t, 100, m->now - 5, UD(100)) != 0) abort();
    /* Enough to grow (move) the pool while expire walks it. */
    for (uint64_t k = 0; k < 2000; k++)
      if (wsk_rpc_add(m->t, 1000 + k, m->now - (int64_t)(k % 7), UD(1000 + k)) != 0) abort();
    m->deadline_seen = wsk_rpc_next_deadline(m->t);
  }
  if (id == 4) {
    if (wsk_rpc_resolve(m->t, 1005, NULL) != 0) abort(); /* one of the parked ones */
    if (wsk_rpc_add(m->t, 4, m->now, UD(4004)) != 0) abort();
  }
}

TEST(rpc_expire_callback_may_add_and_resolve) {
  mut_t m = { wsk_rpc_new(), { 0 }, 50, 0 };
  wsk_rpc_table_t *t = m.t;
  CHECK_INT(wsk_rpc_add(t, 1, 10, UD(1)), 0);
  CHECK_INT(wsk_rpc_add(t, 2, 10, UD(2)), 0);
  CHECK_INT(wsk_rpc_add(t, 3, 20, UD(3)), 0);
  CHECK_INT(wsk_rpc_add(t, 4, 30, UD(4)), 0);
  CHECK_INT(wsk_rpc_add(t, 5, 40, UD(5)), 0);
  CHECK_INT(wsk_rpc_add(t, 6, 60, UD(6)), 0);
  CHECK_INT(wsk_rpc_expire(t, 50, mutating_expire_cb, &m), 4);
  static const uint64_t want[] = { 1, 3, 4, 5 };
  CHECK_INT(m.log.n, 4);
  for (size_t i = 0; i < 4; i++) CHECK_INT(m.log.v[i].id, want[i]);
  CHECK(m.deadline_seen >= 0 && m.deadline_seen <= 50); /* parked entries still count */
  /* pending: 1 (150), 6 (60), 100 (45), 1000..2999 minus 1005, 4 (50) */
  CHECK_INT(wsk_rpc_count(t), 1 + 1 + 1 + 1999 + 1);
  CHECK_INT(wsk_rpc_next_deadline(t), 44);
  m.log.n = 0;
  CHECK_INT(wsk_rpc_expire(t, 50, log_cb, &m.log), 1 + 1999 + 1);
  int saw100 = 0, saw4 = 0;
  for (size_t i = 0; i < m.log.n; i++) {
    CHECK(m.log.v[i].id != 1005);
    if (m.log.v[i].id == 100) saw100++;
    if (m.log.v[i].id == 4) {
      saw4++;
      CHECK(m.log.v[i].ud == UD(4004));
    }
  }
  CHECK_INT(saw100, 1);
  CHECK_INT(saw4, 1);
  CHECK_INT(wsk_rpc_count(t), 2);
  void *ud;
  CHECK_INT(wsk_rpc_resolve(t, 1, &ud), 0);
  CHECK(ud == UD(1001));
  free(m.log.v);
  wsk_rpc_free(t);
}

TEST(rpc_expire_order_after_parking) {
  /* Entries parked during one expire come back in deadline order. */
  wsk_rpc_table_t *t = wsk_rpc_new();
  for (uint64_t k = 0; k < 500; k++) CHECK_INT(wsk_rpc_add(t, k, (int64_t)((k * 37) % 101), NULL), 0);
  log_t l = { 0 };
  CHECK_INT(wsk_rpc_expire(t, 1000, log_cb, &l), 500);
  for (size_t i = 1; i < l.n; i++) CHECK((l.v[i - 1].id * 37) % 101 <= (l.v[i].id * 37) % 101);
  free(l.v);
  wsk_rpc_free(t);
}

static void cancel_adds_cb(void *ctx, uint64_t id, void *ud, int reason) {
  mut_t *m = ctx;
  log_push(&m->log, id, ud, reason);
  /* A retry queued while cancelling must survive the cancel. */
  if (wsk_rpc_add(m->t, 10000 + id, -1, NULL) != 0) abort();
  /* Resolving a not yet cancelled one: it must not be cancelled too. */
  if (id == 0) (void)wsk_rpc_resolve(m->t, 63, NULL);
}

TEST(rpc_cancel_all_callback_may_add_and_resolve) {
  mut_t m = { wsk_rpc_new(), { 0 }, 0, 0 };
  for (uint64_t id = 0; id < 64; id++) CHECK_INT(wsk_rpc_add(m.t, id, (int64_t)id, NULL), 0);
  size_t n = wsk_rpc_cancel_all(m.t, cancel_adds_cb, &m);
  CHECK_INT(n, 63);
  CHECK_INT(m.log.n, 63);
  for (size_t i = 0; i < m.log.n; i++) CHECK(m.log.v[i].id < 63);
  CHECK_INT(wsk_rpc_count(m.t), 63);
  for (uint64_t id = 0; id < 63; id++) CHECK_INT(wsk_rpc_resolve(m.t, 10000 + id, NULL), 0);
  free(m.log.v);
  wsk_rpc_free(m.t);
}

static void cancel_from_expire_cb(void *ctx, uint64_t id, void *ud, int reason) {
  mut_t *m = ctx;
  log_push(&m->log, id, ud, reason);
  /* "a request timed out: the connection is dead, cancel the rest" */
  if (reason == WSK_ETIMEDOUT) wsk_rpc_cancel_all(m->t, cancel_from_expire_cb, m);
}

TEST(rpc_cancel_all_inside_expire_callback) {
  mut_t m = { wsk_rpc_new(), { 0 }, 0, 0 };
  for (uint64_t id = 0; id < 50; id++) CHECK_INT(wsk_rpc_add(m.t, id, id < 40 ? (int64_t)id : -1, NULL), 0);
  CHECK_INT(wsk_rpc_expire(m.t, 100, cancel_from_expire_cb, &m), 1);
  CHECK_INT(m.log.n, 50);
  static int seen[50];
  memset(seen, 0, sizeof seen);
  for (size_t i = 0; i < m.log.n; i++) {
    seen[m.log.v[i].id]++;
    CHECK_INT(m.log.v[i].reason, i == 0 ? WSK_ETIMEDOUT : WSK_ECANCELED);
  }
  CHECK_INT(m.log.v[0].id, 0);
  for (int k = 0; k < 50; k++) CHECK_INT(seen[k], 1);
  CHECK_INT(wsk_rpc_count(m.t), 0);
  free(m.log.v);
  wsk_rpc_free(m.t);
}

static void nested_expire_cb(void *ctx, uint64_t id, void *ud, int reason) {
  mut_t *m = ctx;
  log_push(&m->log, id, ud, reason);
  if (id < 1000 && id % 5 == 0 && wsk_rpc_add(m->t, 1000 + id, m->now, NULL) != 0) abort();
  if (id % 3 == 0) wsk_rpc_expire(m->t, m->now, nested_expire_cb, m);
}

TEST(rpc_expire_inside_expire_callback) {
  mut_t m = { wsk_rpc_new(), { 0 }, 100, 0 };
  for (uint64_t id = 1; id <= 60; id++) CHECK_INT(wsk_rpc_add(m.t, id, (int64_t)id, NULL), 0);
  size_t total = 0;
  for (int round = 0; round < 10 && wsk_rpc_count(m.t) > 0; round++) total += wsk_rpc_expire(m.t, 100, nested_expire_cb, &m);
  CHECK_INT(wsk_rpc_count(m.t), 0);
  static int seen[3000];
  memset(seen, 0, sizeof seen);
  for (size_t i = 0; i < m.log.n; i++) {
    CHECK(m.log.v[i].id < 3000);
    seen[m.log.v[i].id]++;
  }
  for (int k = 0; k < 3000; k++) CHECK(seen[k] <= 1);
  for (int k = 1; k <= 60; k++) CHECK_INT(seen[k], 1);
  for (int k = 1; k <= 60; k++) CHECK_INT(seen[1000 + k], k % 5 == 0);
  CHECK(total >= 1 && total <= 60 + 12); /* nested calls count their own */
  CHECK_INT(m.log.n, 60 + 12);
  free(m.log.v);
  wsk_rpc_free(m.t);
}

/* ---- model check ---- */

typedef struct {
  uint64_t id;
  int64_t deadline;
  uint64_t seq;
  void *ud;
} model_ent_t;

static int cmp_model(const void *a, const void *b) {
  const model_ent_t *x = a, *y = b;
  if (x->deadline != y->deadline) return x->deadline < y->deadline ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_ended_id(const void *a, const void *b) {
  const ended_t *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_model_id(const void *a, const void *b) {
  const model_ent_t *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

#define ID_SPACE 3000

TEST(rpc_model_check_random_operations) {
  rng_state = UINT64_C(0x243f6a8885a308d3);
  wsk_rpc_table_t *t = wsk_rpc_new();
  static model_ent_t model[ID_SPACE + 1], due[ID_SPACE + 1];
  size_t mn = 0;
  uint64_t seq = 0, token = 1;
  int64_t now = 0;
  log_t l = { 0 };
  size_t expired_total = 0;
  for (int op = 0; op < 20000; op++) {
    unsigned r = (unsigned)rnd_below(100);
    if (r < 45) {
      uint64_t id = rnd_below(ID_SPACE);
      int64_t dl = rnd_below(5) == 0 ? -1 : now + (int64_t)rnd_below(1500) - 20;
      if (dl < -1) dl = -1;
      void *ud = UD(token++);
      size_t k;
      for (k = 0; k < mn && model[k].id != id; k++) {}
      int rc = wsk_rpc_add(t, id, dl, ud);
      if (k < mn) {
        CHECK_INT(rc, WSK_EEXIST);
      } else {
        CHECK_INT(rc, 0);
        model[mn].id = id;
        model[mn].deadline = dl;
        model[mn].seq = seq++;
        model[mn].ud = ud;
        mn++;
      }
    } else if (r < 75) {
      /* mostly pending ids, so removals from the middle of the heap are common */
      uint64_t id = mn > 0 && rnd_below(4) != 0 ? model[rnd_below(mn)].id : rnd_below(ID_SPACE);
      size_t k;
      for (k = 0; k < mn && model[k].id != id; k++) {}
      void *ud = NULL;
      int rc = wsk_rpc_resolve(t, id, &ud);
      if (k < mn) {
        CHECK_INT(rc, 0);
        CHECK(ud == model[k].ud);
        model[k] = model[--mn];
      } else {
        CHECK_INT(rc, WSK_ENOTFOUND);
      }
    } else if (r < 87) {
      now += (int64_t)rnd_below(40);
      size_t dn = 0;
      for (size_t k = 0; k < mn;) {
        if (model[k].deadline >= 0 && model[k].deadline <= now) {
          due[dn++] = model[k];
          model[k] = model[--mn];
        } else {
          k++;
        }
      }
      qsort(due, dn, sizeof due[0], cmp_model);
      l.n = 0;
      CHECK_INT(wsk_rpc_expire(t, now, log_cb, &l), dn);
      CHECK_INT(l.n, dn);
      for (size_t k = 0; k < dn; k++) {
        CHECK_INT(l.v[k].id, due[k].id);
        CHECK(l.v[k].ud == due[k].ud);
        CHECK_INT(l.v[k].reason, WSK_ETIMEDOUT);
      }
      expired_total += dn;
    } else if (r < 88 && rnd_below(4) == 0) {
      l.n = 0;
      CHECK_INT(wsk_rpc_cancel_all(t, log_cb, &l), mn);
      CHECK_INT(l.n, mn);
      qsort(l.v, l.n, sizeof l.v[0], cmp_ended_id);
      qsort(model, mn, sizeof model[0], cmp_model_id);
      for (size_t k = 0; k < mn; k++) {
        CHECK_INT(l.v[k].id, model[k].id);
        CHECK(l.v[k].ud == model[k].ud);
        CHECK_INT(l.v[k].reason, WSK_ECANCELED);
      }
      mn = 0;
    } else {
      uint64_t id = wsk_rpc_next_id(t);
      for (size_t k = 0; k < mn; k++) CHECK(model[k].id != id);
    }
    CHECK_INT(wsk_rpc_count(t), mn);
    int64_t want = -1;
    for (size_t k = 0; k < mn; k++)
      if (model[k].deadline >= 0 && (want < 0 || model[k].deadline < want)) want = model[k].deadline;
    CHECK_INT(wsk_rpc_next_deadline(t), want);
  }
  CHECK(expired_total > 1000); /* the run exercised expiry */
  free(l.v);
  wsk_rpc_free(t);
}

TEST(rpc_grows_to_100000_entries) {
  rng_state = 99;
  enum { N = 100000 };
  wsk_rpc_table_t *t = wsk_rpc_new();
  static int64_t dl[N];
  for (uint64_t i = 0; i < N; i++) {
    uint64_t id = wsk_rpc_next_id(t);
    CHECK_INT(id, i + 1);
    dl[i] = (int64_t)rnd_below(1000000);
    CHECK_INT(wsk_rpc_add(t, id, dl[i], UD(id)), 0);
  }
  CHECK_INT(wsk_rpc_count(t), N);
  for (uint64_t i = 0; i < N; i += 2) {
    void *ud;
    CHECK_INT(wsk_rpc_resolve(t, i + 1, &ud), 0);
    CHECK(ud == UD(i + 1));
  }
  CHECK_INT(wsk_rpc_count(t), N / 2);
  for (uint64_t i = 0; i < N; i++) {
    void *ud;
    CHECK_INT(wsk_rpc_resolve(t, N + 1 + i, &ud), WSK_ENOTFOUND);
  }
  log_t l = { 0 };
  size_t first = wsk_rpc_expire(t, 500000, log_cb, &l);
  CHECK_INT(first, l.n);
  CHECK_INT(wsk_rpc_expire(t, INT64_MAX, log_cb, &l), N / 2 - first);
  CHECK_INT(l.n, N / 2);
  for (size_t i = 0; i < l.n; i++) {
    uint64_t id = l.v[i].id;
    CHECK(id % 2 == 0);
    if (i > 0) CHECK(dl[l.v[i - 1].id - 1] <= dl[id - 1]);
    CHECK((i < first) == (dl[id - 1] <= 500000));
  }
  CHECK_INT(wsk_rpc_count(t), 0);
  free(l.v);
  wsk_rpc_free(t);
}

TEST(rpc_free_with_pending_entries) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  for (uint64_t i = 0; i < 5000; i++) CHECK_INT(wsk_rpc_add(t, i, i % 2 ? (int64_t)i : -1, NULL), 0);
  wsk_rpc_free(t); /* no callbacks; the leak checker verifies the memory */
  wsk_rpc_free(NULL);
}

TEST(rpc_churn_reuses_memory) {
  /* Long-lived table with steady traffic: add/resolve cycles keep working. */
  wsk_rpc_table_t *t = wsk_rpc_new();
  for (int round = 0; round < 200000; round++) {
    uint64_t id = wsk_rpc_next_id(t);
    CHECK_INT(wsk_rpc_add(t, id, round, NULL), 0);
    if (round >= 10) CHECK_INT(wsk_rpc_resolve(t, id - 10, NULL), 0);
  }
  CHECK_INT(wsk_rpc_count(t), 10);
  CHECK_INT(wsk_rpc_expire(t, INT64_MAX, NULL, NULL), 10);
  wsk_rpc_free(t);
}

int main(void) {
  RUN(rpc_add_then_resolve_returns_ud);
  RUN(rpc_resolve_with_null_ud_out);
  RUN(rpc_duplicate_id_is_eexist);
  RUN(rpc_unknown_id_is_enotfound);
  RUN(rpc_duplicate_reply_is_enotfound);
  RUN(rpc_late_reply_after_expiry_is_enotfound);
  RUN(rpc_full_64bit_ids);
  RUN(rpc_next_id_counts_up_from_one);
  RUN(rpc_next_id_skips_pending_ids);
  RUN(rpc_next_id_usable_for_add);
  RUN(rpc_expire_earliest_first);
  RUN(rpc_expire_without_callback);
  RUN(rpc_no_deadline_entries_never_expire);
  RUN(rpc_next_deadline_tracks_earliest);
  RUN(rpc_cancel_all_ends_each_exactly_once);
  RUN(rpc_expire_callback_may_add_and_resolve);
  RUN(rpc_expire_order_after_parking);
  RUN(rpc_cancel_all_callback_may_add_and_resolve);
  RUN(rpc_cancel_all_inside_expire_callback);
  RUN(rpc_expire_inside_expire_callback);
  RUN(rpc_model_check_random_operations);
  RUN(rpc_grows_to_100000_entries);
  RUN(rpc_free_with_pending_entries);
  RUN(rpc_churn_reuses_memory);
  return test_summary();
}
