/* The same bytes fed whole, byte by byte, and split at every point (and
 * at random points) give identical events, in both roles, from the first
 * handshake byte through compressed, fragmented and control frames. */
#include "conn_helpers.h"

/* Random bytes from a per-connection seed, so two clients made with the
 * same seed send the same key and masks. */
static int seeded_random(void *ud, uint8_t *out, size_t n) {
  uint32_t *x = ud;
  for (size_t i = 0; i < n; i++) {
    *x = *x * 1103515245u + 12345u;
    out[i] = (uint8_t)(*x >> 16);
  }
  return 0;
}

static wsk_conn_t *new_conn(wsk_role_t role, uint32_t *seed) {
  wsk_conn_opts_t o;
  if (role == WSK_ROLE_CLIENT) client_opts(&o); else server_opts(&o);
  o.random = seeded_random;
  o.random_ud = seed;
  o.client.deflate.threshold = 8;
  o.server.deflate.threshold = 8;
  return wsk_conn_new(&o, 0, NULL);
}

/* Drain, accepting any request. */
static void drain_accept(wsk_conn_t *c, evlog_t *l) {
  drain(c, l);
  if (l->n && last(l)->type == WSK_EV_REQUEST && wsk_conn_state(c) == WSK_STATE_CONNECTING) {
    CHECK_INT(wsk_conn_accept(c, NULL), 0);
    drain(c, l);
  }
}

static void feed_split(wsk_conn_t *c, const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts,
                       evlog_t *l) {
  size_t prev = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : n;
    uint8_t *copy = malloc(end - prev + 1);
    memcpy(copy, s + prev, end - prev);
    CHECK_INT(wsk_conn_feed(c, copy, end - prev), 0);
    drain_accept(c, l);
    free(copy);
    prev = end;
  }
  wsk_conn_feed_eof(c); /* a client waits for the server's EOF after the close handshake */
  drain(c, l);
}

static void same_events(const evlog_t *a, const evlog_t *b) {
  CHECK_INT(a->n, b->n);
  for (int i = 0; i < a->n; i++) {
    const rec_t *x = &a->ev[i], *y = &b->ev[i];
    CHECK_INT(x->type, y->type);
    CHECK_INT(x->len, y->len);
    CHECK_MEM(x->data, y->data, x->len);
    CHECK_INT(x->code, y->code);
    CHECK_INT(x->sent_code, y->sent_code);
    CHECK_INT(x->status, y->status);
  }
}

/* Build what `sender` writes after the handshake into `stream`. */
static void script(wsk_conn_t *s) {
  static char big[3000];
  memset(big, 'z', sizeof big);
  CHECK_INT(wsk_conn_send(s, WSK_OP_TEXT, "hello \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 17), 0);
  CHECK_INT(wsk_conn_send(s, WSK_OP_BINARY, "\x00\x01\x02", 3), 0);
  CHECK(wsk_conn_ping(s, "ping!", 5) > 0);
  CHECK_INT(wsk_conn_send_fragment(s, WSK_OP_TEXT, "frag\xe2\x82", 6, 0), 0);
  CHECK_INT(wsk_conn_pong(s, "unsolicited", 11), 0);
  CHECK_INT(wsk_conn_send_fragment(s, WSK_OP_TEXT, "\xac-end", 5, 1), 0);
  CHECK_INT(wsk_conn_send(s, WSK_OP_TEXT, big, sizeof big), 0);
  CHECK_INT(wsk_conn_send(s, WSK_OP_BINARY, "", 0), 0);
  CHECK_INT(wsk_conn_close(s, 1000, "done", 4), 0);
}

/* Record one complete conversation as the bytes `role` receives. */
static size_t record(wsk_role_t role, uint8_t **out) {
  uint32_t cseed = 7, sseed = 9;
  wsk_conn_t *cli = new_conn(WSK_ROLE_CLIENT, &cseed), *srv = new_conn(WSK_ROLE_SERVER, &sseed);
  wsk_buf_t to_srv = {0}, to_cli = {0};
  size_t n;
  const uint8_t *p = wsk_conn_output(cli, &n);
  wsk_buf_append(&to_srv, p, n);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(wsk_conn_accept(srv, NULL), 0);
  p = wsk_conn_output(srv, &n);
  wsk_buf_append(&to_cli, p, n);
  pump(srv, cli, &l);
  CHECK_INT(wsk_conn_state(cli), WSK_STATE_OPEN);
  wsk_conn_t *sender = role == WSK_ROLE_SERVER ? cli : srv;
  wsk_buf_t *dst = role == WSK_ROLE_SERVER ? &to_srv : &to_cli;
  script(sender);
  p = wsk_conn_output(sender, &n);
  wsk_buf_append(dst, p, n);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
  wsk_buf_free(role == WSK_ROLE_SERVER ? &to_cli : &to_srv);
  *out = dst->data;
  return dst->len;
}

static void check_role(wsk_role_t role) {
  uint8_t *s;
  size_t n = record(role, &s);
  evlog_t whole = {0}, other = {0};
  uint32_t seed = role == WSK_ROLE_CLIENT ? 7 : 9;
  wsk_conn_t *c = new_conn(role, &seed);
  feed_split(c, s, n, NULL, 0, &whole);
  wsk_conn_free(c);
  CHECK(whole.n >= 9);
  CHECK_INT(last(&whole)->type, WSK_EV_CLOSED);

  size_t *cuts = malloc(n * sizeof *cuts);
  for (size_t i = 0; i + 1 < n; i++) cuts[i] = i + 1;
  seed = role == WSK_ROLE_CLIENT ? 7 : 9;
  c = new_conn(role, &seed);
  feed_split(c, s, n, cuts, n - 1, &other); /* byte by byte */
  wsk_conn_free(c);
  same_events(&whole, &other);
  log_clear(&other);

  for (size_t at = 1; at < n; at++) { /* every 2-way split */
    seed = role == WSK_ROLE_CLIENT ? 7 : 9;
    c = new_conn(role, &seed);
    feed_split(c, s, n, &at, 1, &other);
    wsk_conn_free(c);
    same_events(&whole, &other);
    log_clear(&other);
  }
  uint32_t r = 1;
  for (int round = 0; round < 200; round++) { /* random multi-way splits */
    size_t k = 0, pos = 0;
    while (k < 8) {
      r = r * 1103515245u + 12345u;
      pos += 1 + (r >> 16) % (n / 4 + 1);
      if (pos >= n) break;
      cuts[k++] = pos;
    }
    seed = role == WSK_ROLE_CLIENT ? 7 : 9;
    c = new_conn(role, &seed);
    feed_split(c, s, n, cuts, k, &other);
    wsk_conn_free(c);
    same_events(&whole, &other);
    log_clear(&other);
  }
  free(cuts);
  log_clear(&whole);
  free(s);
}

TEST(server_input_split_everywhere_gives_identical_events) { check_role(WSK_ROLE_SERVER); }
TEST(client_input_split_everywhere_gives_identical_events) { check_role(WSK_ROLE_CLIENT); }

int main(void) {
  RUN(server_input_split_everywhere_gives_identical_events);
  RUN(client_input_split_everywhere_gives_identical_events);
  return test_summary();
}
