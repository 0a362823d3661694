/* First-message authentication (auth_timeout_ms), the message rate
 * limit (rate / rate_burst / rate_policy) and the per-connection
 * counters (wsk_conn_stats). */
#include "conn_helpers.h"

/* The reason of the close frame at the end of an endpoint's output. */
static const char *output_close_reason(wsk_conn_t *c) {
  static char reason[128];
  size_t n;
  const uint8_t *p = wsk_conn_output(c, &n);
  reason[0] = 0;
  while (n >= 2) {
    wsk_frame_header_t h;
    uint16_t cc;
    int hl = wsk_frame_header_decode(p, n, &h, &cc);
    if (hl <= 0 || n < (size_t)hl + h.len) break;
    if (h.opcode == WSK_OP_CLOSE && h.len >= 2) {
      memcpy(reason, p + hl + 2, (size_t)h.len - 2);
      reason[h.len - 2] = 0;
    }
    p += (size_t)hl + h.len;
    n -= (size_t)hl + h.len;
  }
  return reason;
}

static void pair_opts(wsk_conn_opts_t *so, wsk_conn_t **cli, wsk_conn_t **srv) {
  make_pair(NULL, so, cli, srv);
}

static size_t count_type(const evlog_t *l, wsk_event_type_t t) {
  size_t n = 0;
  for (int i = 0; i < l->n; i++) n += l->ev[i].type == t;
  return n;
}

/* ---- defaults ---- */

TEST(defaults_are_off) {
  wsk_conn_opts_t o;
  wsk_conn_opts_init(&o, WSK_ROLE_SERVER);
  CHECK_INT(o.auth_timeout_ms, 0);
  CHECK(o.rate == 0);
  CHECK(o.rate_burst == 0);
  CHECK_INT(o.rate_policy, WSK_RATE_ERROR);
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_authenticated(srv), 1);
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), WSK_ESTATE);
  CHECK_INT(wsk_conn_authenticate(srv, 0, NULL), WSK_ESTATE);
  wsk_conn_stats_t st;
  wsk_conn_stats(srv, &st);
  CHECK(st.messages_in == 0 && st.messages_out == 0 && st.bytes_in == 0 && st.bytes_out == 0 &&
        st.rate_limited == 0);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(invalid_rate_options_are_refused) {
  wsk_conn_opts_t o;
  int err;
  server_opts(&o);
  o.rate = -1;
  CHECK(wsk_conn_new(&o, 0, &err) == NULL);
  CHECK_INT(err, WSK_EINVAL);
  server_opts(&o);
  o.rate = 1;
  o.rate_burst = -2;
  CHECK(wsk_conn_new(&o, 0, &err) == NULL);
  server_opts(&o);
  o.rate_policy = 3;
  CHECK(wsk_conn_new(&o, 0, &err) == NULL);
  CHECK_INT(err, WSK_EINVAL);
}

/* ---- first-message authentication ---- */

static void auth_pair(uint32_t timeout, wsk_conn_t **cli, wsk_conn_t **srv) {
  wsk_conn_opts_t so;
  server_opts(&so);
  so.auth_timeout_ms = timeout;
  pair_opts(&so, cli, srv);
}

TEST(auth_first_message_then_nothing_until_judged) {
  wsk_conn_t *cli, *srv;
  auth_pair(1000, &cli, &srv);
  CHECK_INT(wsk_conn_authenticated(srv), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "token=abc", 9), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "second", 6), 0);
  CHECK_INT(wsk_conn_ping(cli, "p", 1), 1);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_BINARY, "third", 5), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_STR((char *)l.ev[0].data, "token=abc");
  CHECK(wsk_conn_input_pending(srv) > 0); /* the rest waits, unparsed */
  CHECK_INT(wsk_conn_output_len(srv), 0); /* the ping is not even answered */
  CHECK_INT(drain(srv, NULL), 0);
  log_clear(&l);
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), 0);
  CHECK_INT(wsk_conn_authenticated(srv), 1);
  drain(srv, &l);
  CHECK_INT(l.n, 3);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_STR((char *)l.ev[0].data, "second");
  CHECK_INT(l.ev[1].type, WSK_EV_PING);
  CHECK_INT(l.ev[2].type, WSK_EV_BINARY);
  CHECK_INT(wsk_conn_deadline(srv) == -1 || wsk_conn_deadline(srv) > 1000, 1);
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), WSK_ESTATE); /* judged once */
  log_clear(&l);
  /* later messages flow as usual */
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "x", 1), 0);
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

/* The application closes while the first message awaits its judgement:
 * the peer's close is still read, but no later message is delivered
 * (found by fuzz_conn). */
TEST(auth_closing_while_judging_delivers_nothing_more) {
  wsk_conn_t *cli, *srv;
  auth_pair(1000, &cli, &srv);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "token=abc", 9), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "second", 6), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  log_clear(&l);
  CHECK_INT(wsk_conn_close(srv, 1001, "bye", 3), 0);
  CHECK_INT(wsk_conn_state(srv), WSK_STATE_CLOSING);
  drain(srv, &l);
  CHECK_INT(count_type(&l, WSK_EV_TEXT), 0);
  log_clear(&l);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_BINARY, "third", 5), 0);
  pump(srv, cli, NULL); /* our close reaches the client, which answers */
  pump(cli, srv, &l);
  CHECK_INT(count_type(&l, WSK_EV_TEXT) + count_type(&l, WSK_EV_BINARY), 0);
  CHECK_INT(count_type(&l, WSK_EV_CLOSE), 1);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auth_refused_closes_1008_with_reason) {
  wsk_conn_t *cli, *srv;
  auth_pair(1000, &cli, &srv);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "bad", 3), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "never seen", 10), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  log_clear(&l);
  CHECK_INT(wsk_conn_authenticate(srv, 0, "bad token"), 0);
  drain(srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[0].sent_code, 1008);
  CHECK_INT(output_close_code(srv), 1008);
  CHECK_STR(output_close_reason(srv), "bad token");
  CHECK_STR(wsk_conn_error(srv), "bad token");
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), WSK_ESTATE);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auth_refused_default_reason_and_bad_reasons) {
  wsk_conn_t *cli, *srv;
  auth_pair(1000, &cli, &srv);
  char longr[125];
  memset(longr, 'r', 124);
  longr[124] = 0;
  CHECK_INT(wsk_conn_authenticate(srv, 0, longr), WSK_EINVAL);
  CHECK_INT(wsk_conn_authenticate(srv, 0, "\xff"), WSK_EINVAL);
  longr[123] = 0; /* 123 bytes: the most a close frame carries */
  CHECK_INT(wsk_conn_state(srv), WSK_STATE_OPEN);
  CHECK_INT(wsk_conn_authenticate(srv, 0, NULL), 0);
  evlog_t l = { 0 };
  drain(srv, &l);
  CHECK_INT(last(&l)->type, WSK_EV_CLOSED);
  CHECK_STR(output_close_reason(srv), "authentication failed");
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);

  auth_pair(1000, &cli, &srv);
  CHECK_INT(wsk_conn_authenticate(srv, 0, longr), 0);
  drain(srv, &l);
  CHECK_INT(strlen(output_close_reason(srv)), 123);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auth_timeout_without_any_message) {
  wsk_conn_t *cli, *srv;
  auth_pair(500, &cli, &srv);
  CHECK_INT(wsk_conn_deadline(srv), 500);
  CHECK_INT(wsk_conn_tick(srv, 499), 500);
  evlog_t l = { 0 };
  drain(srv, &l);
  CHECK_INT(l.n, 0);
  CHECK_INT(wsk_conn_tick(srv, 500), -1);
  drain(srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[0].sent_code, 1008);
  CHECK_STR(output_close_reason(srv), "authentication timeout");
  /* the client sees the policy close */
  log_clear(&l);
  pump(srv, cli, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSE);
  CHECK_INT(l.ev[0].code, 1008);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auth_timeout_while_judging) {
  wsk_conn_t *cli, *srv;
  auth_pair(500, &cli, &srv);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "t", 1), 0);
  evlog_t l = { 0 };
  wsk_conn_tick(srv, 100);
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  log_clear(&l);
  CHECK_INT(wsk_conn_tick(srv, 500), -1); /* the judge took too long */
  drain(srv, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[0].sent_code, 1008);
  CHECK_STR(output_close_reason(srv), "authentication timeout");
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), WSK_ESTATE); /* too late */
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auth_accepted_before_any_message) {
  /* e.g. a handshake hook already authenticated it */
  wsk_conn_t *cli, *srv;
  auth_pair(500, &cli, &srv);
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), 0);
  CHECK_INT(wsk_conn_deadline(srv) != 500, 1);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "a", 1), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "b", 1), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 2);
  log_clear(&l);
  CHECK_INT(wsk_conn_tick(srv, 600) , wsk_conn_deadline(srv));
  CHECK_INT(wsk_conn_state(srv), WSK_STATE_OPEN);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auth_before_open) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  so.auth_timeout_ms = 500;
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL), *srv = wsk_conn_new(&so, 0, NULL);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_REQUEST);
  CHECK_INT(wsk_conn_authenticated(srv), 0);
  CHECK_INT(wsk_conn_authenticate(srv, 0, "no"), WSK_ESTATE); /* reject the request instead */
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), 0);           /* a hook vouched for it */
  CHECK_INT(wsk_conn_accept(srv, NULL), 0);
  log_clear(&l);
  drain(srv, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_OPEN);
  CHECK_INT(wsk_conn_authenticated(srv), 1);
  CHECK(wsk_conn_deadline(srv) != 500); /* no auth deadline */
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auth_holds_at_most_256k_unparsed) {
  wsk_conn_t *cli, *srv;
  auth_pair(5000, &cli, &srv);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "t", 1), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  log_clear(&l);
  uint8_t *chunk = malloc(64 * 1024);
  seq_random(NULL, chunk, 64 * 1024); /* incompressible */
  /* 4 messages of 64 KiB fit (with their headers just over 256 KiB: the
   * first three and a part), more does not */
  int closed = 0;
  for (int i = 0; i < 6 && !closed; i++) {
    CHECK_INT(wsk_conn_send(cli, WSK_OP_BINARY, chunk, 64 * 1024 - 100), 0);
    pump(cli, srv, &l);
    closed = wsk_conn_state(srv) == WSK_STATE_CLOSED;
    if (i < 3) CHECK(!closed);
  }
  CHECK(closed);
  CHECK_INT(last(&l)->type, WSK_EV_CLOSED);
  CHECK_INT(last(&l)->sent_code, 1008);
  CHECK_STR(output_close_reason(srv), "too much data before authentication");
  log_clear(&l);
  free(chunk);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auth_with_streamed_fragments_waits_after_the_last_piece) {
  wsk_conn_opts_t so;
  server_opts(&so);
  so.auth_timeout_ms = 1000;
  so.stream_fragments = 1;
  wsk_conn_t *cli, *srv;
  pair_opts(&so, &cli, &srv);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, "to", 2, 0), 0);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, "ken", 3, 1), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "next", 4), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[1].fin, 1);
  log_clear(&l);
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), 0);
  drain(srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_STR((char *)l.ev[0].data, "next");
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

/* ---- message rate ---- */

static void rate_pair(double rate, double burst, int policy, int deflate, wsk_conn_t **cli,
                      wsk_conn_t **srv) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  so.rate = rate;
  so.rate_burst = burst;
  so.rate_policy = policy;
  if (deflate) {
    co.client.deflate.enabled = 1;
    co.client.deflate.threshold = 0;
    so.server.deflate.enabled = 1;
  }
  make_pair(&co, &so, cli, srv);
}

TEST(rate_error_reports_each_message_over_the_rate) {
  wsk_conn_t *cli, *srv;
  rate_pair(1, 2, WSK_RATE_ERROR, 0, &cli, &srv);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "m1", 2), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "m2", 2), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_BINARY, "m3", 2), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "m4", 2), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 4);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_INT(l.ev[1].type, WSK_EV_TEXT);
  CHECK_INT(l.ev[2].type, WSK_EV_RATE_LIMITED);
  CHECK_INT(l.ev[2].opcode, WSK_OP_BINARY);
  CHECK_STR((char *)l.ev[2].data, "m3");
  CHECK_INT(l.ev[3].type, WSK_EV_RATE_LIMITED);
  CHECK_INT(l.ev[3].opcode, WSK_OP_TEXT);
  CHECK_STR((char *)l.ev[3].data, "m4");
  wsk_conn_stats_t st;
  wsk_conn_stats(srv, &st);
  CHECK(st.messages_in == 4 && st.rate_limited == 2 && st.bytes_in == 8);
  log_clear(&l);
  /* a second later one token is back */
  wsk_conn_tick(srv, 1000);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "m5", 2), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "m6", 2), 0);
  pump(cli, srv, &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_INT(l.ev[1].type, WSK_EV_RATE_LIMITED);
  CHECK_INT(wsk_conn_state(srv), WSK_STATE_OPEN);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(rate_drop_discards_silently_fragmented_and_compressed_too) {
  for (int deflate = 0; deflate <= 1; deflate++) {
    wsk_conn_t *cli, *srv;
    rate_pair(10, 1, WSK_RATE_DROP, deflate, &cli, &srv);
    CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "keep-1", 6), 0);
    /* reassembled from fragments: the message buffer is emptied */
    CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, "drop", 4, 0), 0);
    CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, "ped", 3, 1), 0);
    CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "dropped-too", 11), 0);
    evlog_t l = { 0 };
    pump(cli, srv, &l);
    CHECK_INT(l.n, 1);
    CHECK_STR((char *)l.ev[0].data, "keep-1");
    log_clear(&l);
    wsk_conn_tick(srv, 100);
    CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, "keep", 4, 0), 0);
    CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, "-2", 2, 1), 0);
    pump(cli, srv, &l);
    CHECK_INT(l.n, 1);
    CHECK_STR((char *)l.ev[0].data, "keep-2"); /* nothing of the dropped ones mixed in */
    wsk_conn_stats_t st;
    wsk_conn_stats(srv, &st);
    CHECK(st.messages_in == 4 && st.rate_limited == 2);
    log_clear(&l);
    wsk_conn_free(cli);
    wsk_conn_free(srv);
  }
}

TEST(rate_close_closes_1008) {
  wsk_conn_t *cli, *srv;
  rate_pair(2, 0, WSK_RATE_CLOSE, 0, &cli, &srv); /* burst defaults to 2 */
  for (int i = 0; i < 4; i++) CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "m", 1), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 3);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_INT(l.ev[1].type, WSK_EV_TEXT);
  CHECK_INT(l.ev[2].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[2].sent_code, 1008);
  CHECK_STR(output_close_reason(srv), "rate limit");
  wsk_conn_stats_t st;
  wsk_conn_stats(srv, &st);
  CHECK(st.rate_limited == 1);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(rate_counts_data_messages_not_control_frames) {
  wsk_conn_t *cli, *srv;
  rate_pair(1, 1, WSK_RATE_CLOSE, 0, &cli, &srv);
  for (int i = 0; i < 20; i++) CHECK(wsk_conn_ping(cli, NULL, 0) > 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "m", 1), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(count_type(&l, WSK_EV_PING), 20);
  CHECK_INT(count_type(&l, WSK_EV_TEXT), 1);
  CHECK_INT(wsk_conn_state(srv), WSK_STATE_OPEN);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(rate_error_with_streamed_fragments_reports_the_first_piece_only) {
  wsk_conn_opts_t so;
  server_opts(&so);
  so.rate = 1;
  so.rate_burst = 1;
  so.stream_fragments = 1;
  wsk_conn_t *cli, *srv;
  pair_opts(&so, &cli, &srv);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "ok", 2), 0);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_BINARY, "p1", 2, 0), 0);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_BINARY, "p2", 2, 0), 0);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_BINARY, "p3", 2, 1), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].type, WSK_EV_FRAGMENT);
  CHECK_INT(l.ev[1].type, WSK_EV_RATE_LIMITED);
  CHECK_INT(l.ev[1].opcode, WSK_OP_BINARY);
  CHECK_STR((char *)l.ev[1].data, "p1");
  log_clear(&l);
  wsk_conn_tick(srv, 1000);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "after", 5), 0);
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_FRAGMENT);
  CHECK_INT(l.ev[0].first, 1);
  CHECK_STR((char *)l.ev[0].data, "after");
  wsk_conn_stats_t st;
  wsk_conn_stats(srv, &st);
  CHECK(st.messages_in == 3 && st.rate_limited == 1 && st.bytes_in == 2 + 6 + 5);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(rate_and_auth_together) {
  wsk_conn_opts_t so;
  server_opts(&so);
  so.rate = 1;
  so.rate_burst = 1;
  so.auth_timeout_ms = 1000;
  wsk_conn_t *cli, *srv;
  pair_opts(&so, &cli, &srv);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "auth", 4), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "m", 1), 0);
  evlog_t l = { 0 };
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  log_clear(&l);
  CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), 0);
  drain(srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_RATE_LIMITED); /* the auth message used the token */
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

/* ---- random sequences ---- */

static uint32_t rs = 1;
static unsigned rnd(unsigned n) {
  rs ^= rs << 13;
  rs ^= rs >> 17;
  rs ^= rs << 5;
  return rs % n;
}

typedef struct tally {
  int whole, limited, closed, sent_code;
} tally_t;

/* Pull every event, judging the first message at once when auth is on. */
static void pull(wsk_conn_t *srv, tally_t *t) {
  wsk_event_t ev;
  while (wsk_conn_next_event(srv, &ev)) {
    int done = ev.type == WSK_EV_TEXT || ev.type == WSK_EV_BINARY ||
               (ev.type == WSK_EV_FRAGMENT && ev.fin);
    if (done) t->whole++;
    if (ev.type == WSK_EV_RATE_LIMITED) t->limited++;
    if (ev.type == WSK_EV_CLOSED) {
      t->closed = 1;
      t->sent_code = (int)ev.sent_code;
    }
    if ((done || ev.type == WSK_EV_RATE_LIMITED) && !wsk_conn_authenticated(srv))
      CHECK_INT(wsk_conn_authenticate(srv, 1, NULL), 0);
  }
}

TEST(random_sequences_with_rate_auth_and_splits) {
  for (uint32_t seed = 1; seed <= 200; seed++) {
    rs = seed * 2654435761u;
    wsk_conn_opts_t co, so;
    client_opts(&co);
    server_opts(&so);
    static const double rates[] = { 0, 1, 3 }, bursts[] = { 0, 1, 2 };
    so.rate = rates[rnd(3)];
    so.rate_burst = bursts[rnd(3)];
    so.rate_policy = (int)rnd(3);
    so.auth_timeout_ms = rnd(2) ? 1000 : 0;
    so.stream_fragments = (int)rnd(2);
    so.ping_interval_ms = 0;
    co.ping_interval_ms = 0;
    co.client.deflate.enabled = (int)rnd(2);
    co.client.deflate.threshold = 0;
    wsk_conn_t *cli, *srv;
    make_pair(&co, &so, &cli, &srv);
    tally_t t = { 0 };
    int sent = 0, n = 1 + (int)rnd(30);
    int64_t now = 0;
    uint8_t msg[300];
    for (int i = 0; i < n && !t.closed; i++) {
      now += rnd(400);
      wsk_conn_tick(cli, now);
      wsk_conn_tick(srv, now);
      pull(srv, &t);
      if (t.closed) break;
      size_t len = rnd(sizeof msg);
      memset(msg, 'a' + i % 26, len);
      int op = rnd(2) ? WSK_OP_TEXT : WSK_OP_BINARY;
      if (rnd(3) == 0 && len >= 2) {
        size_t cut = 1 + rnd((unsigned)len - 1);
        CHECK_INT(wsk_conn_send_fragment(cli, op, msg, cut, 0), 0);
        CHECK_INT(wsk_conn_send_fragment(cli, op, msg + cut, len - cut, 1), 0);
      } else {
        CHECK_INT(wsk_conn_send(cli, op, msg, len), 0);
      }
      sent++;
      /* the bytes arrive in random pieces */
      size_t total;
      const uint8_t *out = wsk_conn_output(cli, &total);
      uint8_t *copy = malloc(total ? total : 1);
      memcpy(copy, out, total);
      wsk_conn_output_consume(cli, total);
      for (size_t at = 0; at < total && !t.closed;) {
        size_t piece = 1 + rnd((unsigned)(total - at));
        CHECK_INT(wsk_conn_feed(srv, copy + at, piece), 0);
        pull(srv, &t);
        at += piece;
      }
      free(copy);
    }
    wsk_conn_stats_t st;
    wsk_conn_stats(srv, &st);
    if (t.closed) {
      /* only the CLOSE policy ends it here */
      CHECK_INT(so.rate_policy, WSK_RATE_CLOSE);
      CHECK_INT(t.sent_code, 1008);
      CHECK(st.rate_limited == 1);
    } else {
      CHECK(st.messages_in == (uint64_t)sent);
      if (so.rate == 0) CHECK(st.rate_limited == 0);
      if (so.rate_policy == WSK_RATE_ERROR) CHECK_INT(t.limited, (int)st.rate_limited);
      else CHECK_INT(t.limited, 0);
      /* delivered, reported or dropped: every message exactly one way */
      uint64_t dropped = so.rate_policy == WSK_RATE_DROP ? st.rate_limited : 0;
      CHECK((uint64_t)t.whole + (uint64_t)t.limited + dropped == (uint64_t)sent);
      CHECK_INT(wsk_conn_authenticated(srv), 1);
    }
    wsk_conn_free(cli);
    wsk_conn_free(srv);
  }
}

/* ---- counters ---- */

TEST(stats_count_messages_and_bytes_both_ways) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_TEXT, "hello", 5), 0);
  CHECK_INT(wsk_conn_send_fragment(srv, WSK_OP_BINARY, "ab", 2, 0), 0);
  CHECK_INT(wsk_conn_send_fragment(srv, WSK_OP_BINARY, "cde", 3, 1), 0);
  int err;
  wsk_broadcast_t *b = wsk_broadcast_new(WSK_OP_TEXT, "bcast", 5, &err);
  CHECK_INT(wsk_conn_send_broadcast(srv, b), 0);
  CHECK_INT(wsk_conn_send_broadcast(cli, b), 0);
  wsk_broadcast_unref(b);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_TEXT, "\xff", 1), WSK_EUTF8); /* not counted */
  CHECK_INT(wsk_conn_ping(srv, "p", 1), 1); /* control frames are not counted */
  wsk_conn_stats_t st;
  wsk_conn_stats(srv, &st);
  CHECK(st.messages_out == 3 && st.bytes_out == 15);
  evlog_t l = { 0 };
  pump(srv, cli, &l);
  pump(cli, srv, &l);
  wsk_conn_stats(cli, &st);
  CHECK(st.messages_in == 3 && st.bytes_in == 15);
  CHECK(st.messages_out == 1 && st.bytes_out == 5);
  wsk_conn_stats(srv, &st);
  CHECK(st.messages_in == 1 && st.bytes_in == 5 && st.rate_limited == 0);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

int main(void) {
  RUN(defaults_are_off);
  RUN(invalid_rate_options_are_refused);
  RUN(auth_first_message_then_nothing_until_judged);
  RUN(auth_closing_while_judging_delivers_nothing_more);
  RUN(auth_refused_closes_1008_with_reason);
  RUN(auth_refused_default_reason_and_bad_reasons);
  RUN(auth_timeout_without_any_message);
  RUN(auth_timeout_while_judging);
  RUN(auth_accepted_before_any_message);
  RUN(auth_before_open);
  RUN(auth_holds_at_most_256k_unparsed);
  RUN(auth_with_streamed_fragments_waits_after_the_last_piece);
  RUN(rate_error_reports_each_message_over_the_rate);
  RUN(rate_drop_discards_silently_fragmented_and_compressed_too);
  RUN(rate_close_closes_1008);
  RUN(rate_counts_data_messages_not_control_frames);
  RUN(rate_error_with_streamed_fragments_reports_the_first_piece_only);
  RUN(rate_and_auth_together);
  RUN(stats_count_messages_and_bytes_both_ways);
  RUN(random_sequences_with_rate_auth_and_splits);
  return test_summary();
}
