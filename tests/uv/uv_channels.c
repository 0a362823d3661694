/* Channels on one loop, our client against our server (no backplane): the
 * JSON channel protocol through wsk_uv_client_subscribe/publish, raw
 * subscribers, a reconnecting client resuming exactly once, gaps, and
 * first-message authentication. */
#include "uv_helpers.h"

static struct {
  wsk_uv_server_t *srv;
  wsk_uv_client_t *cl;
  wsk_uv_conn_t *raw;        /* a raw subscriber on the server */
  wsk_uv_conn_t *last;       /* the last server connection opened */
  int opens, copens, subscribed, published, raw_msgs, auth_calls;
  uint64_t seqs[64];
  char data[64][16];
  int nmsgs;
  uint64_t gap_from, gap_to;
  char gap_reason[16];
  int gaps;
  int reply_gaps;            /* gap frames through on_channel_reply (no on_gap) */
  uint64_t reply_gap_from, reply_gap_to;
  int closes;
  unsigned close_code;
  int step;
} R;

static void s_open(wsk_uv_conn_t *c) {
  R.last = c;
  R.opens++;
}
static void s_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  if (m->len == 4 && !memcmp(m->data, "join", 4)) {
    EXPECT(wsk_uv_conn_subscribe(c, "news", 4) == 1);
    EXPECT(wsk_uv_conn_subscribe(c, "news", 4) == 0);
    R.raw = c;
  }
}
static const wsk_uv_callbacks_t scb = { .on_open = s_open, .on_message = s_msg };

static void c_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  (void)c;
  if (m->len == 2 && !memcmp(m->data, "hi", 2)) R.raw_msgs++;
}
static void c_chan(wsk_uv_conn_t *c, const wsk_uv_channel_message_t *m) {
  (void)c;
  if (R.nmsgs < 64) {
    R.seqs[R.nmsgs] = m->seq;
    snprintf(R.data[R.nmsgs], 16, "%.*s", (int)m->len, (const char *)m->data);
    R.nmsgs++;
  }
}
static void c_gap(wsk_uv_conn_t *c, const wsk_uv_gap_t *g) {
  (void)c;
  R.gaps++;
  R.gap_from = g->from;
  R.gap_to = g->to;
  snprintf(R.gap_reason, sizeof R.gap_reason, "%.*s", (int)g->reason_len, g->reason);
}
static void c_reply(wsk_uv_conn_t *c, const wsk_chan_frame_t *f) {
  (void)c;
  if (f->type == WSK_CHAN_SUBSCRIBED) R.subscribed++;
  if (f->type == WSK_CHAN_PUBLISHED) R.published++;
  if (f->type == WSK_CHAN_GAP) {
    R.reply_gaps++;
    R.reply_gap_from = f->from;
    R.reply_gap_to = f->to;
  }
}
static void c_open(wsk_uv_conn_t *c) {
  (void)c;
  R.copens++;
}
static void c_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  (void)c;
  R.closes++;
  R.close_code = i->code;
}
static const wsk_uv_callbacks_t ccb = { .on_open = c_open, .on_message = c_msg, .on_channel_message = c_chan,
                                        .on_gap = c_gap, .on_channel_reply = c_reply,
                                        .on_close = c_close };

/* the same without on_gap: a gap must then reach on_channel_reply */
static const wsk_uv_callbacks_t ccb_nogap = { .on_open = c_open, .on_message = c_msg,
                                              .on_channel_message = c_chan,
                                              .on_channel_reply = c_reply, .on_close = c_close };

static wsk_uv_client_t *connect_with(int port, const char *path, int reconnect,
                                     const wsk_uv_callbacks_t *cb) {
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = cb;
  co.reconnect = reconnect;
  co.backoff.initial_delay_ms = 10;
  co.backoff.min_delay_ms = 10;
  co.backoff.max_delay_ms = 50;
  return client_to(port, path, &co);
}

static wsk_uv_client_t *connect_to(int port, const char *path, int reconnect) {
  return connect_with(port, path, reconnect, &ccb);
}

static void wait_int(int *v, int n) {
  while (*v < n && !timed_out) uv_run(L, UV_RUN_ONCE);
}

static void publish(const char *text) {
  CHECK_INT(wsk_uv_server_publish_message(R.srv, "news", 4, WSK_PAYLOAD_TEXT, text, strlen(text),
                                          NULL, NULL),
            0);
}

TEST(client_subscribes_publishes_and_resumes_exactly_once) {
  memset(&R, 0, sizeof R);
  loop_begin(8000);
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  so.channels_path = "/channels";
  so.history_size = 4;
  int port = 0;
  R.srv = server_on(&so, &port);
  CHECK(R.srv);
  R.cl = connect_to(port, "/channels", 1);
  CHECK_INT(wsk_uv_client_subscribe(R.cl, "news", 4), 0); /* before open: sent on open */
  wait_int(&R.subscribed, 1);
  CHECK_INT(wsk_uv_client_publish(R.cl, "news", 4, WSK_PAYLOAD_TEXT, "one", 3), 0);
  wait_int(&R.nmsgs, 1);
  wait_int(&R.published, 1);
  publish("two");
  wait_int(&R.nmsgs, 2);
  uint64_t seq = 0;
  CHECK_INT(wsk_uv_client_position(R.cl, "news", 4, &seq, NULL, NULL), 1);
  CHECK_INT(seq, 2);
  /* the server drops it (1012: retried); two messages meanwhile */
  wsk_uv_conn_close(R.last, WSK_CLOSE_SERVICE_RESTART, NULL);
  wait_int(&R.closes, 1);
  publish("three");
  publish("four");
  wait_int(&R.subscribed, 2);
  wait_int(&R.nmsgs, 4);
  publish("five");
  wait_int(&R.nmsgs, 5);
  /* away for longer than the history (4): told, never silent */
  wsk_uv_conn_close(R.last, WSK_CLOSE_SERVICE_RESTART, NULL);
  wait_int(&R.closes, 2);
  for (int i = 0; i < 6; i++) publish("x");
  wait_int(&R.gaps, 1);
  wait_int(&R.nmsgs, 9);
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK_INT(R.nmsgs, 9);
  static const char *want[] = { "one", "two", "three", "four", "five", "x", "x", "x", "x" };
  for (int i = 0; i < 9; i++) {
    CHECK_STR(R.data[i], want[i]);
    CHECK_INT(R.seqs[i], i < 5 ? i + 1 : i + 3); /* 6 and 7 are gone */
  }
  CHECK_INT(R.gaps, 1);
  CHECK_INT(R.gap_from, 6);
  CHECK_INT(R.gap_to, 7);
  CHECK_STR(R.gap_reason, "expired");
}

TEST(raw_subscriber_gets_payloads_and_count) {
  memset(&R, 0, sizeof R);
  loop_begin(8000);
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  int port = 0;
  R.srv = server_on(&so, &port);
  CHECK(R.srv);
  R.cl = connect_to(port, "/", 0);
  wait_int(&R.copens, 1);
  CHECK_INT(wsk_uv_client_send(R.cl, WSK_OP_TEXT, "join", 4), 0);
  while (!R.raw && !timed_out) uv_run(L, UV_RUN_ONCE);
  CHECK_INT(wsk_uv_server_channel_count(R.srv, "news", 4), 1);
  wsk_uv_broadcast_result_t res;
  CHECK_INT(wsk_uv_server_publish(R.srv, "news", 4, WSK_OP_TEXT, "hi", 2, NULL, NULL, &res), 0);
  CHECK_INT(res.sent, 1);
  CHECK_INT(wsk_uv_server_publish_message(R.srv, "news", 4, WSK_PAYLOAD_JSON, "{bad", 4, NULL, NULL),
            WSK_EINVAL);
  wait_int(&R.raw_msgs, 1);
  CHECK_INT(wsk_uv_conn_unsubscribe(R.raw, "news", 4), 1);
  CHECK_INT(wsk_uv_server_channel_count(R.srv, "news", 4), 0);
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK_INT(R.raw_msgs, 1);
}

static int first_message_auth(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  R.auth_calls++;
  static char user[] = "u1";
  if (m->len == 2 && !memcmp(m->data, "ok", 2)) {
    wsk_uv_conn_set_user(c, user);
    return 1;
  }
  return 0;
}

TEST(first_message_auth_closes_1008_on_a_bad_one) {
  memset(&R, 0, sizeof R);
  loop_begin(8000);
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  so.first_message_auth = first_message_auth;
  so.conn.auth_timeout_ms = 1000;
  int port = 0;
  R.srv = server_on(&so, &port);
  CHECK(R.srv);
  R.cl = connect_to(port, "/", 0);
  wait_int(&R.copens, 1);
  CHECK_INT(wsk_uv_client_send(R.cl, WSK_OP_TEXT, "no", 2), 0);
  CHECK_INT(wsk_uv_client_send(R.cl, WSK_OP_TEXT, "join", 4), 0); /* never processed */
  wait_int(&R.closes, 1);
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK_INT(R.close_code, 1008);
  CHECK_INT(R.auth_calls, 1);
  CHECK(R.raw == NULL);
}

/* uv.h: a gap is never silent; with on_gap NULL it is the gap frame on
 * on_channel_reply (and on_gap, when set, gets it instead: tested above). */
TEST(gap_without_on_gap_reaches_on_channel_reply) {
  memset(&R, 0, sizeof R);
  loop_begin(8000);
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  so.channels_path = "/channels";
  so.history_size = 2;
  int port = 0;
  R.srv = server_on(&so, &port);
  CHECK(R.srv);
  R.cl = connect_with(port, "/channels", 1, &ccb_nogap);
  CHECK_INT(wsk_uv_client_subscribe(R.cl, "news", 4), 0);
  wait_int(&R.subscribed, 1);
  publish("one");
  wait_int(&R.nmsgs, 1);
  wsk_uv_conn_close(R.last, WSK_CLOSE_SERVICE_RESTART, NULL);
  wait_int(&R.closes, 1);
  for (int i = 0; i < 4; i++) publish("x"); /* seqs 2..5; 4 and 5 kept */
  wait_int(&R.reply_gaps, 1);
  wait_int(&R.nmsgs, 3);
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK_INT(R.reply_gaps, 1);
  CHECK_INT(R.reply_gap_from, 2);
  CHECK_INT(R.reply_gap_to, 3);
  CHECK_INT(R.gaps, 0);
  CHECK_INT(R.nmsgs, 3);
  CHECK_INT(R.seqs[1], 4);
  CHECK_INT(R.seqs[2], 5);
}

int main(void) {
  RUN(client_subscribes_publishes_and_resumes_exactly_once);
  RUN(raw_subscriber_gets_payloads_and_count);
  RUN(first_message_auth_closes_1008_on_a_bad_one);
  RUN(gap_without_on_gap_reaches_on_channel_reply);
  return test_summary();
}
