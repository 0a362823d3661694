/* Channel registry for fan-out. */
#include "testlib.h"

#include <stdlib.h>
#include <wskit/channels.h>

#include "../../csrc/proto/hash.h" /* internal: the table hash */

#define S(lit) (lit), (sizeof(lit) - 1) /* name and length of a literal */

static uint64_t rng_state;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * UINT64_C(2685821657736338717);
}
static size_t rnd_below(size_t n) { return (size_t)((rnd() >> 11) % n); }

static int conns[64]; /* connections are opaque pointers; any addresses do */
#define C(i) ((void *)&conns[i])

/* Collects names from wsk_channels_of. */
typedef struct {
  char names[32][WSK_CHANNEL_MAX_NAME];
  size_t lens[32];
  size_t n;
} names_t;

static void collect_name(void *ud, const char *name, size_t len) {
  names_t *c = ud;
  if (c->n < 32 && len <= WSK_CHANNEL_MAX_NAME) {
    memcpy(c->names[c->n], name, len);
    c->lens[c->n] = len;
  }
  c->n++;
}

static int has_name(const names_t *c, const char *name, size_t len) {
  for (size_t i = 0; i < c->n && i < 32; i++)
    if (c->lens[i] == len && memcmp(c->names[i], name, len) == 0) return 1;
  return 0;
}

TEST(hash_siphash24_reference_vectors) {
  uint64_t key[2];
  uint8_t k[16], msg[15];
  for (int i = 0; i < 16; i++) k[i] = (uint8_t)i;
  for (int i = 0; i < 15; i++) msg[i] = (uint8_t)i;
  key[0] = wsk_hash_le64(k);
  key[1] = wsk_hash_le64(k + 8);
  CHECK(wsk_hash_bytes(key, msg, 0) == UINT64_C(0x726fdb47dd0e0e31));
  CHECK(wsk_hash_bytes(key, msg, 15) == UINT64_C(0xa129ca6149be45e5));
}

TEST(channels_subscribe_adds_member) {
  wsk_channels_t *r = wsk_channels_new();
  CHECK(r != NULL);
  CHECK_INT(wsk_channels_size(r), 0);
  CHECK_INT(wsk_channels_subscribe(r, S("news"), C(0)), 1);
  CHECK_INT(wsk_channels_is_member(r, S("news"), C(0)), 1);
  CHECK_INT(wsk_channels_is_member(r, S("news"), C(1)), 0);
  CHECK_INT(wsk_channels_is_member(r, S("sport"), C(0)), 0);
  CHECK_INT(wsk_channels_count(r, S("news")), 1);
  CHECK_INT(wsk_channels_size(r), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("news"), C(1)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("sport"), C(0)), 1);
  CHECK_INT(wsk_channels_count(r, S("news")), 2);
  CHECK_INT(wsk_channels_count(r, S("sport")), 1);
  CHECK_INT(wsk_channels_size(r), 2);
  wsk_channels_free(r);
}

TEST(channels_duplicate_subscribe_returns_0) {
  wsk_channels_t *r = wsk_channels_new();
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(0)), 0);
  CHECK_INT(wsk_channels_count(r, S("a")), 1);
  CHECK_INT(wsk_channels_of(r, C(0), NULL, NULL), 1);
  wsk_channels_free(r);
}

TEST(channels_unsubscribe_removes_member) {
  wsk_channels_t *r = wsk_channels_new();
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(1)), 1);
  CHECK_INT(wsk_channels_unsubscribe(r, S("a"), C(0)), 1);
  CHECK_INT(wsk_channels_is_member(r, S("a"), C(0)), 0);
  CHECK_INT(wsk_channels_is_member(r, S("a"), C(1)), 1);
  CHECK_INT(wsk_channels_count(r, S("a")), 1);
  CHECK_INT(wsk_channels_unsubscribe(r, S("a"), C(0)), 0); /* twice */
  CHECK_INT(wsk_channels_of(r, C(0), NULL, NULL), 0);
  wsk_channels_free(r);
}

TEST(channels_unsubscribe_not_subscribed_returns_0) {
  wsk_channels_t *r = wsk_channels_new();
  CHECK_INT(wsk_channels_unsubscribe(r, S("nothing"), C(0)), 0); /* empty registry */
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(0)), 1);
  CHECK_INT(wsk_channels_unsubscribe(r, S("b"), C(0)), 0); /* unknown channel */
  CHECK_INT(wsk_channels_unsubscribe(r, S("a"), C(1)), 0); /* not a member */
  CHECK_INT(wsk_channels_count(r, S("a")), 1);
  wsk_channels_free(r);
}

TEST(channels_empty_channel_is_deleted) {
  wsk_channels_t *r = wsk_channels_new();
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(1)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("b"), C(1)), 1);
  CHECK_INT(wsk_channels_size(r), 2);
  CHECK_INT(wsk_channels_unsubscribe(r, S("a"), C(0)), 1);
  CHECK_INT(wsk_channels_size(r), 2);
  CHECK_INT(wsk_channels_unsubscribe(r, S("a"), C(1)), 1);
  CHECK_INT(wsk_channels_size(r), 1);
  CHECK_INT(wsk_channels_count(r, S("a")), 0);
  void *out[4];
  CHECK_INT(wsk_channels_members(r, S("a"), out, 4), 0);
  CHECK_INT(wsk_channels_unsubscribe(r, S("b"), C(1)), 1);
  CHECK_INT(wsk_channels_size(r), 0);
  /* and can be created again */
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(2)), 1);
  CHECK_INT(wsk_channels_size(r), 1);
  wsk_channels_free(r);
}

TEST(channels_invalid_arguments_are_einval) {
  wsk_channels_t *r = wsk_channels_new();
  static char big[WSK_CHANNEL_MAX_NAME + 1];
  memset(big, 'x', sizeof big);
  CHECK_INT(wsk_channels_subscribe(r, "", 0, C(0)), WSK_EINVAL);
  CHECK_INT(wsk_channels_subscribe(r, NULL, 3, C(0)), WSK_EINVAL);
  CHECK_INT(wsk_channels_subscribe(r, S("a"), NULL), WSK_EINVAL);
  CHECK_INT(wsk_channels_subscribe(r, big, WSK_CHANNEL_MAX_NAME + 1, C(0)), WSK_EINVAL);
  CHECK_INT(wsk_channels_size(r), 0);
  CHECK_INT(wsk_channels_subscribe(r, big, WSK_CHANNEL_MAX_NAME, C(0)), 1); /* the limit itself is fine */
  CHECK_INT(wsk_channels_is_member(r, big, WSK_CHANNEL_MAX_NAME, C(0)), 1);
  CHECK_INT(wsk_channels_unsubscribe(r, "", 0, C(0)), WSK_EINVAL);
  CHECK_INT(wsk_channels_unsubscribe(r, big, WSK_CHANNEL_MAX_NAME + 1, C(0)), WSK_EINVAL);
  CHECK_INT(wsk_channels_unsubscribe(r, big, WSK_CHANNEL_MAX_NAME, NULL), WSK_EINVAL);
  /* queries with bad arguments just find nothing */
  CHECK_INT(wsk_channels_is_member(r, big, WSK_CHANNEL_MAX_NAME + 1, C(0)), 0);
  CHECK_INT(wsk_channels_is_member(r, big, WSK_CHANNEL_MAX_NAME, NULL), 0);
  CHECK_INT(wsk_channels_count(r, "", 0), 0);
  CHECK_INT(wsk_channels_drop(r, NULL), 0);
  CHECK_INT(wsk_channels_of(r, NULL, NULL, NULL), 0);
  CHECK_INT(wsk_channels_size(r), 1);
  wsk_channels_free(r);
}

TEST(channels_drop_removes_conn_everywhere) {
  wsk_channels_t *r = wsk_channels_new();
  char name[16];
  for (int i = 0; i < 100; i++) {
    int n = snprintf(name, sizeof name, "ch%d", i);
    CHECK_INT(wsk_channels_subscribe(r, name, (size_t)n, C(0)), 1);
    if (i % 2 == 0) CHECK_INT(wsk_channels_subscribe(r, name, (size_t)n, C(1)), 1);
  }
  CHECK_INT(wsk_channels_size(r), 100);
  CHECK_INT(wsk_channels_drop(r, C(0)), 100);
  CHECK_INT(wsk_channels_size(r), 50); /* the odd ones had only C(0) */
  CHECK_INT(wsk_channels_of(r, C(0), NULL, NULL), 0);
  CHECK_INT(wsk_channels_of(r, C(1), NULL, NULL), 50);
  for (int i = 0; i < 100; i++) {
    int n = snprintf(name, sizeof name, "ch%d", i);
    CHECK_INT(wsk_channels_is_member(r, name, (size_t)n, C(0)), 0);
    CHECK_INT(wsk_channels_is_member(r, name, (size_t)n, C(1)), i % 2 == 0);
    CHECK_INT(wsk_channels_count(r, name, (size_t)n), i % 2 == 0);
  }
  CHECK_INT(wsk_channels_drop(r, C(0)), 0); /* twice */
  CHECK_INT(wsk_channels_drop(r, C(5)), 0); /* never subscribed */
  CHECK_INT(wsk_channels_drop(r, C(1)), 50);
  CHECK_INT(wsk_channels_size(r), 0);
  wsk_channels_free(r);
}

TEST(channels_members_is_a_snapshot) {
  wsk_channels_t *r = wsk_channels_new();
  for (int i = 0; i < 10; i++) CHECK_INT(wsk_channels_subscribe(r, S("room"), C(i)), 1);
  void *out[16];
  size_t n = wsk_channels_members(r, S("room"), out, 16);
  CHECK_INT(n, 10);
  int seen[10] = { 0 };
  /* Unsubscribe every member while walking the copy. */
  for (size_t i = 0; i < n; i++) {
    int k = (int)((int *)out[i] - conns);
    CHECK(k >= 0 && k < 10);
    seen[k]++;
    CHECK_INT(wsk_channels_unsubscribe(r, S("room"), out[i]), 1);
  }
  for (int k = 0; k < 10; k++) CHECK_INT(seen[k], 1);
  CHECK_INT(wsk_channels_size(r), 0);
  wsk_channels_free(r);
}

TEST(channels_members_returns_total_beyond_max) {
  wsk_channels_t *r = wsk_channels_new();
  for (int i = 0; i < 10; i++) CHECK_INT(wsk_channels_subscribe(r, S("room"), C(i)), 1);
  void *out[4] = { NULL, NULL, NULL, NULL };
  CHECK_INT(wsk_channels_members(r, S("room"), out, 3), 10);
  for (int i = 0; i < 3; i++) CHECK(out[i] != NULL);
  CHECK(out[3] == NULL); /* not written past max */
  CHECK_INT(wsk_channels_members(r, S("room"), NULL, 0), 10);
  CHECK_INT(wsk_channels_members(r, S("nope"), out, 4), 0);
  wsk_channels_free(r);
}

TEST(channels_of_lists_conn_channels) {
  wsk_channels_t *r = wsk_channels_new();
  CHECK_INT(wsk_channels_subscribe(r, S("alpha"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("beta"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("gamma"), C(1)), 1);
  names_t got;
  got.n = 0;
  CHECK_INT(wsk_channels_of(r, C(0), collect_name, &got), 2);
  CHECK_INT(got.n, 2);
  CHECK(has_name(&got, S("alpha")));
  CHECK(has_name(&got, S("beta")));
  CHECK(!has_name(&got, S("gamma")));
  CHECK_INT(wsk_channels_of(r, C(0), NULL, NULL), 2); /* fn NULL: just count */
  got.n = 0;
  CHECK_INT(wsk_channels_of(r, C(7), collect_name, &got), 0);
  CHECK_INT(got.n, 0);
  wsk_channels_free(r);
}

TEST(channels_binary_names_with_nul_bytes) {
  wsk_channels_t *r = wsk_channels_new();
  CHECK_INT(wsk_channels_subscribe(r, S("a\0b"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("a\0c"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("a"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("\0"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("\0\0"), C(0)), 1);
  CHECK_INT(wsk_channels_subscribe(r, S("\xff\xfe"), C(0)), 1);
  CHECK_INT(wsk_channels_size(r), 6);
  CHECK_INT(wsk_channels_is_member(r, S("a\0b"), C(0)), 1);
  CHECK_INT(wsk_channels_is_member(r, S("a\0d"), C(0)), 0);
  CHECK_INT(wsk_channels_unsubscribe(r, S("a\0b"), C(0)), 1);
  CHECK_INT(wsk_channels_is_member(r, S("a\0c"), C(0)), 1);
  CHECK_INT(wsk_channels_is_member(r, S("a"), C(0)), 1);
  names_t got;
  got.n = 0;
  CHECK_INT(wsk_channels_of(r, C(0), collect_name, &got), 5);
  CHECK(has_name(&got, S("a\0c")));
  CHECK(has_name(&got, S("\0\0")));
  CHECK(!has_name(&got, S("a\0b")));
  wsk_channels_free(r);
}

TEST(channels_names_are_copied) {
  wsk_channels_t *r = wsk_channels_new();
  char buf[8] = "topic";
  CHECK_INT(wsk_channels_subscribe(r, buf, 5, C(0)), 1);
  memcpy(buf, "XXXXX", 5);
  CHECK_INT(wsk_channels_is_member(r, S("topic"), C(0)), 1);
  CHECK_INT(wsk_channels_is_member(r, buf, 5, C(0)), 0);
  names_t got;
  got.n = 0;
  wsk_channels_of(r, C(0), collect_name, &got);
  CHECK(has_name(&got, S("topic")));
  wsk_channels_free(r);
}

TEST(channels_many_connections_and_channels) {
  enum { NC = 20000, NCH = 300, PER = 8 };
  wsk_channels_t *r = wsk_channels_new();
  int *cs = calloc(NC, sizeof *cs);
  CHECK(cs != NULL);
  char name[16];
  rng_state = 4242;
  size_t subs = 0;
  for (int i = 0; i < NC; i++) {
    for (int k = 0; k < PER; k++) {
      int n = snprintf(name, sizeof name, "c%zu", rnd_below(NCH));
      int rc = wsk_channels_subscribe(r, name, (size_t)n, &cs[i]);
      CHECK(rc == 0 || rc == 1);
      subs += (size_t)rc;
    }
  }
  size_t total = 0;
  for (int c = 0; c < NCH; c++) {
    int n = snprintf(name, sizeof name, "c%d", c);
    total += wsk_channels_count(r, name, (size_t)n);
  }
  CHECK_INT(total, subs);
  size_t dropped = 0;
  for (int i = 0; i < NC; i += 2) dropped += wsk_channels_drop(r, &cs[i]);
  total = 0;
  for (int c = 0; c < NCH; c++) {
    int n = snprintf(name, sizeof name, "c%d", c);
    total += wsk_channels_count(r, name, (size_t)n);
  }
  CHECK_INT(total, subs - dropped);
  for (int i = 1; i < NC; i += 2) dropped += wsk_channels_drop(r, &cs[i]);
  CHECK_INT(dropped, subs);
  CHECK_INT(wsk_channels_size(r), 0);
  free(cs);
  wsk_channels_free(r);
}

TEST(channels_free_with_members) {
  wsk_channels_t *r = wsk_channels_new();
  char name[16];
  for (int i = 0; i < 500; i++) {
    int n = snprintf(name, sizeof name, "n%d", i % 37);
    CHECK(wsk_channels_subscribe(r, name, (size_t)n, C(i % 64)) >= 0);
  }
  wsk_channels_free(r); /* the leak checker verifies */
  wsk_channels_free(NULL);
}

/* ---- model check ---- */

enum { M_CONNS = 40, M_NAMES = 30 };
static char m_names[M_NAMES][24];
static size_t m_lens[M_NAMES];

static void make_names(void) {
  for (int i = 0; i < M_NAMES; i++) {
    /* short, long, and binary names including NUL bytes and shared prefixes */
    size_t len = 1 + rnd_below(sizeof m_names[i]);
    for (size_t k = 0; k < len; k++) m_names[i][k] = (char)(i % 3 == 0 ? rnd_below(3) : 'a' + rnd_below(3));
    m_lens[i] = len;
    for (int j = 0; j < i; j++)
      if (m_lens[j] == len && memcmp(m_names[j], m_names[i], len) == 0) {
        /* keep names distinct: make it unique by its index */
        m_names[i][0] = (char)(0x80 + i);
      }
  }
}

static int name_index(const char *name, size_t len) {
  for (int i = 0; i < M_NAMES; i++)
    if (m_lens[i] == len && memcmp(m_names[i], name, len) == 0) return i;
  return -1;
}

typedef struct {
  int hit[M_NAMES];
  int bad;
} name_hits_t;

static void model_name_cb(void *ud, const char *name, size_t len) {
  name_hits_t *h = ud;
  int i = name_index(name, len);
  if (i < 0) h->bad = 1;
  else h->hit[i]++;
}

TEST(channels_model_check_random_operations) {
  rng_state = UINT64_C(0x13198a2e03707344);
  make_names();
  static unsigned char m[M_CONNS][M_NAMES];
  memset(m, 0, sizeof m);
  wsk_channels_t *r = wsk_channels_new();
  for (int op = 0; op < 20000; op++) {
    size_t c = rnd_below(M_CONNS), nm = rnd_below(M_NAMES);
    const char *name = m_names[nm];
    size_t len = m_lens[nm];
    unsigned k = (unsigned)rnd_below(100);
    if (k < 45) {
      CHECK_INT(wsk_channels_subscribe(r, name, len, C(c)), !m[c][nm]);
      m[c][nm] = 1;
    } else if (k < 80) {
      CHECK_INT(wsk_channels_unsubscribe(r, name, len, C(c)), m[c][nm]);
      m[c][nm] = 0;
    } else if (k < 83) {
      size_t want = 0;
      for (int j = 0; j < M_NAMES; j++) want += m[c][j];
      CHECK_INT(wsk_channels_drop(r, C(c)), want);
      memset(m[c], 0, sizeof m[c]);
    } else if (k < 90) {
      void *out[M_CONNS];
      size_t want = 0;
      for (int j = 0; j < M_CONNS; j++) want += m[j][nm];
      size_t got = wsk_channels_members(r, name, len, out, M_CONNS);
      CHECK_INT(got, want);
      int seen[M_CONNS] = { 0 };
      for (size_t i = 0; i < got; i++) {
        ptrdiff_t ci = (int *)out[i] - conns;
        CHECK(ci >= 0 && ci < M_CONNS);
        CHECK(m[ci][nm]);
        CHECK_INT(seen[ci]++, 0);
      }
    } else if (k < 95) {
      name_hits_t h;
      memset(&h, 0, sizeof h);
      size_t want = 0;
      for (int j = 0; j < M_NAMES; j++) want += m[c][j];
      CHECK_INT(wsk_channels_of(r, C(c), model_name_cb, &h), want);
      CHECK(!h.bad);
      for (int j = 0; j < M_NAMES; j++) CHECK_INT(h.hit[j], m[c][j]);
    } else {
      CHECK_INT(wsk_channels_is_member(r, name, len, C(c)), m[c][nm]);
    }
    /* invariants after every step */
    size_t cnt = 0;
    for (int j = 0; j < M_CONNS; j++) cnt += m[j][nm];
    CHECK_INT(wsk_channels_count(r, name, len), cnt);
    size_t live = 0;
    for (int i = 0; i < M_NAMES; i++) {
      int any = 0;
      for (int j = 0; j < M_CONNS; j++) any |= m[j][i];
      live += (size_t)any;
    }
    CHECK_INT(wsk_channels_size(r), live);
  }
  /* full comparison at the end */
  for (int c = 0; c < M_CONNS; c++)
    for (int i = 0; i < M_NAMES; i++) CHECK_INT(wsk_channels_is_member(r, m_names[i], m_lens[i], C(c)), m[c][i]);
  wsk_channels_free(r);
}

int main(void) {
  RUN(hash_siphash24_reference_vectors);
  RUN(channels_subscribe_adds_member);
  RUN(channels_duplicate_subscribe_returns_0);
  RUN(channels_unsubscribe_removes_member);
  RUN(channels_unsubscribe_not_subscribed_returns_0);
  RUN(channels_empty_channel_is_deleted);
  RUN(channels_invalid_arguments_are_einval);
  RUN(channels_drop_removes_conn_everywhere);
  RUN(channels_members_is_a_snapshot);
  RUN(channels_members_returns_total_beyond_max);
  RUN(channels_of_lists_conn_channels);
  RUN(channels_binary_names_with_nul_bytes);
  RUN(channels_names_are_copied);
  RUN(channels_many_connections_and_channels);
  RUN(channels_free_with_members);
  RUN(channels_model_check_random_operations);
  return test_summary();
}
