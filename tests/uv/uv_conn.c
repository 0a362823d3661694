/* The driver's connection rules, our client against our server on one
 * loop: messages both ways, every close path, calls from inside
 * callbacks (send, close, free), pausing, keepalive and timeouts. */
#include "uv_helpers.h"

/* What the callbacks saw. */
static struct {
  int s_open, c_open, s_close, c_close, s_msgs, c_msgs;
  wsk_uv_close_info_t s_info, c_info;
  char c_reason[128];
  char c_last[256];
  wsk_opcode_t c_last_op;
  int action;            /* what the server does on a message */
  wsk_uv_conn_t *s_conn;
  wsk_uv_client_t *cl;
  wsk_uv_server_t *srv;
  int done;
  int drains;
} R;

enum { DO_ECHO, FREE_IN_MSG, SEND_CLOSE_FREE, CLOSE_IN_OPEN, PAUSE_FIRST, CLOSE_4001 };

static void s_open(wsk_uv_conn_t *c) {
  R.s_open++;
  R.s_conn = c;
  if (R.action == CLOSE_IN_OPEN) wsk_uv_conn_close(c, 4001, "bye");
}

static void s_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  R.s_msgs++;
  switch (R.action) {
  case DO_ECHO:
    wsk_uv_conn_send(c, m->opcode, m->data, m->len);
    break;
  case FREE_IN_MSG:
    wsk_uv_conn_free(c);
    wsk_uv_conn_free(c); /* twice: still one on_close */
    break;
  case SEND_CLOSE_FREE:
    wsk_uv_conn_send(c, m->opcode, m->data, m->len);
    wsk_uv_conn_close(c, 1000, NULL);
    wsk_uv_conn_free(c);
    wsk_uv_conn_send(c, m->opcode, m->data, m->len); /* after free, inside the callback: ECLOSED */
    break;
  case PAUSE_FIRST:
    if (R.s_msgs == 1) wsk_uv_conn_pause(c);
    wsk_uv_conn_send(c, m->opcode, m->data, m->len);
    break;
  default:
    break;
  }
}

static void s_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  (void)c;
  R.s_close++;
  R.s_info = *i;
  R.s_info.reason = NULL;
  R.s_info.error = NULL;
  R.s_conn = NULL;
}

static void c_open(wsk_uv_conn_t *c) {
  R.c_open++;
  wsk_uv_conn_send(c, WSK_OP_TEXT, "hello", 5);
  wsk_uv_conn_send(c, WSK_OP_BINARY, "\x00\x01\x02", 3);
}

static void c_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  R.c_msgs++;
  R.c_last_op = m->opcode;
  size_t n = m->len < sizeof R.c_last - 1 ? m->len : sizeof R.c_last - 1;
  memcpy(R.c_last, m->data, n);
  R.c_last[n] = 0;
  if (R.c_msgs == 2 && R.action == DO_ECHO) wsk_uv_conn_close(c, 1000, "done");
}

static void c_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  (void)c;
  R.c_close++;
  R.c_info = *i;
  snprintf(R.c_reason, sizeof R.c_reason, "%s", i->reason);
  R.c_info.reason = NULL;
  R.c_info.error = NULL;
  R.done = 1;
}

static wsk_uv_callbacks_t scb = { .on_open = s_open, .on_message = s_msg, .on_close = s_close };
static wsk_uv_callbacks_t ccb = { .on_open = c_open, .on_message = c_msg, .on_close = c_close };

/* Start a server and a client; run until the client's on_close and both
 * sides are gone. */
static void run_pair(int action, wsk_uv_server_opts_t *so, wsk_uv_client_opts_t *co) {
  memset(&R, 0, sizeof R);
  R.action = action;
  loop_begin(5000);
  wsk_uv_server_opts_t so0;
  wsk_uv_client_opts_t co0;
  if (!so) {
    wsk_uv_server_opts_init(&so0);
    so = &so0;
  }
  if (!co) {
    wsk_uv_client_opts_init(&co0);
    co = &co0;
  }
  so->callbacks = &scb;
  co->callbacks = &ccb;
  int port = 0;
  R.srv = server_on(so, &port);
  R.cl = client_to(port, "/", co);
  run_until(&R.done);
  wsk_uv_client_free(R.cl);
  /* let the server see its side end, then free it */
  for (int i = 0; i < 50 && R.s_open && !R.s_close && !timed_out; i++) uv_run(L, UV_RUN_ONCE);
  wsk_uv_server_free(R.srv);
  loop_end();
}

TEST(text_and_binary_round_trip_then_clean_close) {
  run_pair(DO_ECHO, NULL, NULL);
  CHECK(!timed_out);
  CHECK_INT(R.s_open, 1);
  CHECK_INT(R.c_open, 1);
  CHECK_INT(R.c_msgs, 2);
  CHECK_INT(R.c_last_op, WSK_OP_BINARY);
  CHECK_INT(R.c_close, 1);
  CHECK_INT(R.s_close, 1);
  CHECK_INT(R.c_info.code, 1000);
  CHECK_INT(R.c_info.clean, 1);
  CHECK_INT(R.s_info.code, 1000);
  CHECK_STR(R.c_reason, "");
  CHECK_INT(R.c_info.will_retry, 0);
}

TEST(echo_without_compression) {
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.conn.client.deflate.enabled = 0;
  run_pair(DO_ECHO, NULL, &co);
  CHECK_INT(R.c_msgs, 2);
  CHECK_INT(R.c_info.code, 1000);
}

TEST(free_inside_on_message_is_deferred_and_closes_once) {
  run_pair(FREE_IN_MSG, NULL, NULL);
  CHECK(!timed_out);
  CHECK_INT(R.s_close, 1);
  CHECK_INT(R.s_info.opened, 1);
  CHECK_INT(R.s_info.err, WSK_ECANCELED);
  CHECK_INT(R.c_close, 1);
  CHECK_INT(R.c_info.code, 1006); /* lost connection */
}

TEST(send_close_free_in_one_callback) {
  run_pair(SEND_CLOSE_FREE, NULL, NULL);
  CHECK(!timed_out);
  CHECK_INT(R.s_close, 1);
  CHECK_INT(R.c_close, 1);
}

TEST(close_inside_on_open_sends_code_and_reason) {
  run_pair(CLOSE_IN_OPEN, NULL, NULL);
  CHECK(!timed_out);
  CHECK_INT(R.c_info.code, 4001);
  CHECK_STR(R.c_reason, "bye");
  CHECK_INT(R.s_info.sent_code, 4001);
  CHECK_INT(R.s_info.clean, 1);
}

/* ---- pause / resume ---- */

static uv_timer_t resume_timer;
static void resume_cb(uv_timer_t *t) {
  (void)t;
  if (R.s_conn) {
    EXPECT(R.s_msgs == 1); /* nothing delivered while paused */
    wsk_uv_conn_resume(R.s_conn);
  }
}

static void pause_c_open(wsk_uv_conn_t *c) {
  R.c_open++;
  for (int i = 0; i < 3; i++) wsk_uv_conn_send(c, WSK_OP_TEXT, "m", 1);
}
static void pause_c_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  (void)m;
  if (++R.c_msgs == 3) wsk_uv_conn_close(c, 1000, NULL);
}
static void pause_s_open(wsk_uv_conn_t *c) {
  R.s_conn = c;
  uv_timer_start(&resume_timer, resume_cb, 100, 0);
}

TEST(pause_stops_messages_until_resume) {
  memset(&R, 0, sizeof R);
  R.action = PAUSE_FIRST;
  loop_begin(5000);
  uv_timer_init(L, &resume_timer);
  wsk_uv_callbacks_t s = scb, c = ccb;
  s.on_open = pause_s_open;
  c.on_open = pause_c_open;
  c.on_message = pause_c_msg;
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &s;
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &c;
  int port = 0;
  R.srv = server_on(&so, &port);
  R.cl = client_to(port, "/", &co);
  run_until(&R.done);
  uv_close((uv_handle_t *)&resume_timer, noop_close);
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK(!timed_out);
  CHECK_INT(R.s_msgs, 3);
  CHECK_INT(R.c_msgs, 3);
  CHECK_INT(R.c_info.code, 1000);
}

/* ---- keepalive: a peer that stops reading never answers our pings ---- */

static void ka_c_open(wsk_uv_conn_t *c) {
  R.c_open++;
  wsk_uv_conn_pause(c); /* stops reading: pings go unanswered */
}

TEST(keepalive_without_pong_closes_with_1011) {
  memset(&R, 0, sizeof R);
  loop_begin(5000);
  wsk_uv_callbacks_t c = ccb;
  c.on_open = ka_c_open;
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  so.conn.ping_interval_ms = 50;
  so.conn.ping_timeout_ms = 50;
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &c;
  co.conn.ping_interval_ms = 0;
  int port = 0;
  R.srv = server_on(&so, &port);
  R.cl = client_to(port, "/", &co);
  run_until(&R.s_close);
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK(!timed_out);
  CHECK_INT(R.s_info.sent_code, 1011);
  CHECK_INT(R.s_info.err, WSK_ETIMEDOUT);
  CHECK_INT(R.c_close, 1);
}

/* ---- open timeout against a silent TCP client ---- */

TEST(open_timeout_closes_a_silent_client) {
  memset(&R, 0, sizeof R);
  loop_begin(5000);
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  so.conn.open_timeout_ms = 100;
  int port = 0;
  R.srv = server_on(&so, &port);
  static raw_t raw;
  raw_open(&raw, port, NULL);
  uint64_t t0 = uv_now(L);
  run_until(&raw.eof);
  uint64_t took = uv_now(L) - t0;
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK(!timed_out);
  CHECK_INT(R.s_close, 1);
  CHECK_INT(R.s_info.opened, 0);
  CHECK_INT(R.s_info.err, WSK_ETIMEDOUT);
  CHECK(took >= 90 && took < 2000);
}

/* ---- a plain HTTP request with and without the hook ---- */

static void http_hook(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  EXPECT(r->path_len == 7 && !memcmp(r->path, "/health", 7));
  char v[32];
  if (wsk_uv_request_query(r, "x", v, sizeof v) == 3 && !strcmp(v, "a b"))
    wsk_uv_conn_http_respond(c, 200, NULL, 0, "ok", 2);
  else
    wsk_uv_conn_http_respond(c, 500, NULL, 0, "bad", 3);
}

TEST(plain_http_get_is_answered_by_the_hook) {
  memset(&R, 0, sizeof R);
  loop_begin(5000);
  wsk_uv_callbacks_t s = scb;
  s.on_http = http_hook;
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &s;
  int port = 0;
  R.srv = server_on(&so, &port);
  static raw_t raw;
  raw_open(&raw, port, "GET /health?x=a+b HTTP/1.1\r\nHost: x\r\n\r\n");
  run_until(&raw.eof);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK(!timed_out);
  CHECK(strncmp(raw.in, "HTTP/1.1 200", 12) == 0);
  CHECK(strstr(raw.in, "\r\n\r\nok") != NULL);
}

TEST(plain_http_get_without_hook_gets_426) {
  memset(&R, 0, sizeof R);
  loop_begin(5000);
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  int port = 0;
  R.srv = server_on(&so, &port);
  static raw_t raw;
  raw_open(&raw, port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  run_until(&raw.eof);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK(strncmp(raw.in, "HTTP/1.1 426", 12) == 0);
}

/* ---- a peer sending garbage gets 1002 ---- */

TEST(garbage_frame_gets_1002) {
  memset(&R, 0, sizeof R);
  loop_begin(5000);
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  int port = 0;
  R.srv = server_on(&so, &port);
  static raw_t raw;
  /* the upgrade, then an unmasked frame with RSV2 set */
  raw_open(&raw, port, UPGRADE_REQUEST "\xa1\x01x");
  run_until(&raw.eof);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK(!timed_out);
  CHECK(strncmp(raw.in, "HTTP/1.1 101", 12) == 0);
  const char *body = strstr(raw.in, "\r\n\r\n");
  CHECK(body && (uint8_t)body[4] == 0x88 && (uint8_t)body[6] == 0x03 && (uint8_t)body[7] == 0xea);
  CHECK_INT(R.s_info.sent_code, 1002);
}

/* ---- backpressure: the write queue's high and low water marks ---- */

static uv_timer_t bp_timer;
static void bp_resume(uv_timer_t *t) {
  (void)t;
  wsk_uv_client_t *cl = R.cl;
  if (wsk_uv_client_conn(cl)) wsk_uv_conn_resume(wsk_uv_client_conn(cl));
}
static void bp_s_open(wsk_uv_conn_t *c) {
  R.s_conn = c;
  static uint8_t chunk[16384];
  /* queue well past the limit: the peer is paused, the kernel buffers fill */
  for (int i = 0; i < 400 && !wsk_uv_conn_over_limit(c); i++)
    wsk_uv_conn_send(c, WSK_OP_BINARY, chunk, sizeof chunk);
  for (int i = 0; i < 400 && wsk_uv_conn_over_limit(c); i++)
    wsk_uv_conn_send(c, WSK_OP_BINARY, chunk, sizeof chunk); /* still accepted: queued */
  R.s_msgs = wsk_uv_conn_over_limit(c);
  uv_timer_start(&bp_timer, bp_resume, 100, 0);
}
static void bp_drain(wsk_uv_conn_t *c) {
  R.drains++;
  EXPECT(wsk_uv_conn_buffered(c) <= 8192);
  wsk_uv_conn_close(c, 1000, NULL);
}
static void bp_c_open(wsk_uv_conn_t *c) { wsk_uv_conn_pause(c); }
static void bp_c_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) { (void)c, (void)m; R.c_msgs++; }

TEST(write_queue_over_high_water_drains_below_low_water) {
  memset(&R, 0, sizeof R);
  loop_begin(8000);
  uv_timer_init(L, &bp_timer);
  wsk_uv_callbacks_t s = scb, c = ccb;
  s.on_open = bp_s_open;
  s.on_drain = bp_drain;
  c.on_open = bp_c_open;
  c.on_message = bp_c_msg;
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &s;
  so.conn.write_limit = 32768;
  so.low_water = 8192;
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &c;
  co.conn.client.deflate.enabled = 0;
  int port = 0;
  R.srv = server_on(&so, &port);
  R.cl = client_to(port, "/", &co);
  run_until(&R.done);
  uv_close((uv_handle_t *)&bp_timer, noop_close);
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  loop_end();
  CHECK(!timed_out);
  CHECK_INT(R.s_msgs, 1); /* went over the limit */
  CHECK_INT(R.drains, 1);
  CHECK(R.c_msgs > 2);
  CHECK_INT(R.c_info.code, 1000);
}

int main(void) {
  RUN(text_and_binary_round_trip_then_clean_close);
  RUN(echo_without_compression);
  RUN(free_inside_on_message_is_deferred_and_closes_once);
  RUN(send_close_free_in_one_callback);
  RUN(close_inside_on_open_sends_code_and_reason);
  RUN(pause_stops_messages_until_resume);
  RUN(keepalive_without_pong_closes_with_1011);
  RUN(open_timeout_closes_a_silent_client);
  RUN(plain_http_get_is_answered_by_the_hook);
  RUN(plain_http_get_without_hook_gets_426);
  RUN(garbage_frame_gets_1002);
  RUN(write_queue_over_high_water_drains_below_low_water);
  return test_summary();
}
