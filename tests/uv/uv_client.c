/* Client features: reconnecting with the core's backoff, the offline
 * queue and fail-fast sends, the open timeout, trying every address, and
 * request/response with timeouts and cancellation. */
#include "uv_helpers.h"

static struct {
  int s_open, s_close, s_msgs, c_open, c_close, c_connecting, done;
  wsk_uv_close_info_t c_info[8];
  char s_last[64];
  wsk_uv_client_t *cl;
  wsk_uv_server_t *srv;
  int port;
  int replies, reply_err[8];
  int64_t reply_code[8];
  char reply_result[8][64];
  int rpc_calls;
  int send_when_closed;
} R;

static void s_open(wsk_uv_conn_t *c) { (void)c; R.s_open++; }
static void s_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) { (void)c, (void)i; R.s_close++; }
static void s_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  (void)c;
  R.s_msgs++;
  snprintf(R.s_last, sizeof R.s_last, "%.*s", (int)m->len, (const char *)m->data);
}
static void c_connecting(wsk_uv_conn_t *c, unsigned attempt) {
  (void)c;
  R.c_connecting++;
  EXPECT(attempt >= 1);
}
static void c_open(wsk_uv_conn_t *c) { (void)c; R.c_open++; }
static void c_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  (void)c;
  if (R.c_close < 8) {
    R.c_info[R.c_close] = *i;
    R.c_info[R.c_close].reason = R.c_info[R.c_close].error = NULL;
  }
  R.c_close++;
  R.send_when_closed = wsk_uv_client_send(R.cl, WSK_OP_TEXT, "x", 1);
}

static wsk_uv_callbacks_t scb = { .on_open = s_open, .on_message = s_msg, .on_close = s_close };
static wsk_uv_callbacks_t ccb = { .on_connecting = c_connecting, .on_open = c_open, .on_close = c_close };

static void begin(void) {
  memset(&R, 0, sizeof R);
  loop_begin(8000);
}

static void wait_for(int *counter, int n) {
  while (*counter < n && !timed_out) uv_run(L, UV_RUN_ONCE);
}

static void finish(void) {
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  loop_end();
}

static wsk_uv_server_t *start_server(const wsk_uv_callbacks_t *cbs, int *port) {
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = cbs;
  return server_on(&so, port);
}

/* ---- reconnecting ---- */

static void restart_on_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  c_close(c, i);
  if (R.c_close == 1) { /* nobody listened: start the server now */
    int port = R.port;
    R.srv = start_server(&scb, &port);
  }
}

TEST(reconnects_after_refused_until_the_server_is_up) {
  begin();
  int port = 0;
  wsk_uv_server_t *tmp = start_server(&scb, &port); /* find a free port */
  wsk_uv_server_free(tmp);
  uv_run(L, UV_RUN_NOWAIT);
  R.port = port;
  wsk_uv_callbacks_t c = ccb;
  c.on_close = restart_on_close;
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &c;
  co.reconnect = 1;
  co.backoff.initial_delay_ms = 20;
  co.backoff.min_delay_ms = 20;
  R.cl = client_to(port, "/", &co);
  wait_for(&R.c_open, 1);
  CHECK_INT(wsk_uv_client_close(R.cl, 1000, NULL), 0);
  wait_for(&R.c_close, 2);
  finish();
  CHECK_INT(R.c_info[0].will_retry, 1);
  CHECK(R.c_info[0].retry_delay_ms >= 0 && R.c_info[0].retry_delay_ms <= 20);
  CHECK_INT(R.c_info[0].err, WSK_EIO);
  CHECK_INT(R.c_info[0].opened, 0);
  CHECK_INT(R.c_connecting, 2);
  CHECK_INT(R.c_info[1].code, 1000);
  CHECK_INT(R.c_info[1].will_retry, 0); /* closed by us: no more attempts */
  CHECK_INT(R.send_when_closed, WSK_ECLOSED);
}

static void kill_server_on_open(wsk_uv_conn_t *c) {
  c_open(c);
  if (R.c_open == 1) { /* the server dies: its connections drop (1006) */
    wsk_uv_server_free(R.srv);
    R.srv = start_server(&scb, &R.port); /* and comes back on the same port */
  }
}

TEST(reconnects_after_losing_an_open_connection) {
  begin();
  R.srv = start_server(&scb, &R.port);
  wsk_uv_callbacks_t c = ccb;
  c.on_open = kill_server_on_open;
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &c;
  co.reconnect = 1;
  co.backoff.initial_delay_ms = 10;
  R.cl = client_to(R.port, "/", &co);
  wait_for(&R.c_open, 2);
  finish();
  CHECK_INT(R.c_info[0].code, 1006);
  CHECK_INT(R.c_info[0].opened, 1);
  CHECK_INT(R.c_info[0].will_retry, 1);
  CHECK_INT(R.c_open, 2);
}

/* ---- sends while disconnected ---- */

TEST(sends_while_disconnected_fail_fast_or_queue) {
  begin();
  R.srv = start_server(&scb, &R.port);
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &ccb;
  R.cl = client_to(R.port, "/", &co);
  CHECK_INT(wsk_uv_client_send(R.cl, WSK_OP_TEXT, "early", 5), WSK_ECLOSED);
  wsk_uv_client_t *q;
  co.offline_queue_bytes = 8;
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", R.port);
  CHECK_INT(wsk_uv_client_new(L, url, &co, &q), 0);
  CHECK_INT(wsk_uv_client_send(q, WSK_OP_TEXT, "queued", 6), 0);
  CHECK_INT(wsk_uv_client_send(q, WSK_OP_TEXT, "toolong", 7), WSK_EBUSY);
  CHECK_INT(wsk_uv_client_send(q, WSK_OP_TEXT, "\xff", 1), WSK_EUTF8);
  wait_for(&R.s_msgs, 1);
  wsk_uv_client_free(q);
  finish();
  CHECK_STR(R.s_last, "queued");
}

/* ---- open timeout and addresses ---- */

static uv_tcp_t silent;
static uv_tcp_t silent_peer;
static void silent_accept(uv_stream_t *s, int status) {
  if (status == 0) {
    uv_tcp_init(L, &silent_peer);
    uv_accept(s, (uv_stream_t *)&silent_peer); /* and never answer */
  }
}

TEST(open_timeout_against_a_silent_server) {
  begin();
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(L, &silent);
  uv_tcp_bind(&silent, (const struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&silent, 8, silent_accept);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&silent, (struct sockaddr *)&ss, &len);
  int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &ccb;
  co.conn.open_timeout_ms = 150;
  R.cl = client_to(port, "/", &co);
  uint64_t t0 = uv_now(L);
  wait_for(&R.c_close, 1);
  uint64_t took = uv_now(L) - t0;
  uv_close((uv_handle_t *)&silent, noop_close);
  finish();
  CHECK_INT(R.c_info[0].err, WSK_ETIMEDOUT);
  CHECK(took >= 140 && took < 3000);
}

TEST(localhost_tries_each_address) {
  begin();
  R.srv = start_server(&scb, &R.port); /* 127.0.0.1 only; ::1 may come first */
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &ccb;
  char url[64];
  snprintf(url, sizeof url, "ws://localhost:%d/", R.port);
  CHECK_INT(wsk_uv_client_new(L, url, &co, &R.cl), 0);
  wait_for(&R.c_open, 1);
  finish();
  CHECK_INT(R.c_open, 1);
}

TEST(bad_urls_are_refused) {
  begin();
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  wsk_uv_client_t *cl = NULL;
  CHECK_INT(wsk_uv_client_new(L, "http://x/", &co, &cl), WSK_EURL);
  CHECK_INT(wsk_uv_client_new(L, "ws://x/#frag", &co, &cl), WSK_EURL);
  CHECK(cl == NULL);
  loop_end();
}

/* ---- free from inside the client's own callbacks ---- */

static void free_on_open(wsk_uv_conn_t *c) {
  c_open(c);
  wsk_uv_client_free(R.cl);
  wsk_uv_client_free(R.cl); /* twice: harmless */
}

TEST(client_free_inside_on_open_then_one_on_close) {
  begin();
  R.srv = start_server(&scb, &R.port);
  wsk_uv_callbacks_t c = ccb;
  c.on_open = free_on_open;
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &c;
  co.reconnect = 1;
  R.cl = client_to(R.port, "/", &co);
  wait_for(&R.c_close, 1);
  R.cl = NULL;
  wait_for(&R.s_close, 1);
  finish();
  CHECK_INT(R.c_close, 1);
  CHECK_INT(R.c_info[0].will_retry, 0);
  CHECK_INT(R.c_info[0].err, WSK_ECANCELED);
}

/* ---- request / response ---- */

static void on_rpc(wsk_uv_conn_t *c, const wsk_uv_rpc_call_t *call) {
  R.rpc_calls++;
  if (!strcmp(call->method, "add")) {
    json_int_t a = json_integer_value(json_array_get(call->params, 0));
    json_int_t b = json_integer_value(json_array_get(call->params, 1));
    char out[32];
    snprintf(out, sizeof out, "%lld", (long long)(a + b));
    wsk_uv_rpc_result(c, call->id, out, strlen(out));
  } else if (!strcmp(call->method, "fail")) {
    wsk_uv_rpc_error(c, call->id, -32000, "nope");
  } else if (!strcmp(call->method, "drop")) {
    wsk_uv_conn_free(c); /* the server goes away with requests pending */
  } /* "slow": never answered */
}

static void on_reply(wsk_uv_conn_t *c, void *ud, const wsk_uv_reply_t *r) {
  (void)c;
  int k = (int)(intptr_t)ud;
  R.replies++;
  R.reply_err[k] = r->err ? r->err : 1;
  R.reply_code[k] = r->code;
  if (r->result) {
    char *t = json_dumps(r->result, JSON_ENCODE_ANY);
    snprintf(R.reply_result[k], 64, "%s", t);
    free(t);
  }
}

static void rpc_open(wsk_uv_conn_t *c) {
  c_open(c);
  uint64_t id;
  EXPECT(wsk_uv_request(c, "add", "[2,3]", 5, 1000, on_reply, (void *)0, &id) == 0);
  EXPECT(wsk_uv_request(c, "fail", NULL, 0, 1000, on_reply, (void *)1, NULL) == 0);
  EXPECT(wsk_uv_request(c, "slow", NULL, 0, 100, on_reply, (void *)2, NULL) == 0);
  static const char raw[] = "{\"jsonrpc\":\"2.0\",\"id\":777,\"method\":\"add\",\"params\":[40,2]}";
  EXPECT(wsk_uv_request_raw(c, 777, raw, sizeof raw - 1, 1000, on_reply, (void *)3) == 0);
  EXPECT(wsk_uv_request_raw(c, 777, raw, sizeof raw - 1, 1000, on_reply, (void *)7) == WSK_EEXIST);
  EXPECT(wsk_uv_request(c, "drop", NULL, 0, 0, on_reply, (void *)4, NULL) == 0);
  EXPECT(wsk_uv_pending_requests(c) == 5);
}

TEST(requests_resolve_time_out_and_cancel_exactly_once) {
  begin();
  wsk_uv_callbacks_t s = scb, c = ccb;
  s.on_rpc = on_rpc;
  c.on_open = rpc_open;
  R.srv = start_server(&s, &R.port);
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &c;
  R.cl = client_to(R.port, "/", &co);
  wait_for(&R.c_close, 1);
  for (int i = 0; i < 20 && !timed_out; i++) uv_run(L, UV_RUN_NOWAIT);
  finish();
  CHECK_INT(R.replies, 5);
  CHECK_INT(R.reply_err[0], 1);
  CHECK_STR(R.reply_result[0], "5");
  CHECK_INT(R.reply_err[1], 1);
  CHECK_INT(R.reply_code[1], -32000);
  CHECK_INT(R.reply_err[3], 1);
  CHECK_STR(R.reply_result[3], "42");
  /* "slow" timed out or was cancelled by the drop, whichever came first */
  CHECK(R.reply_err[2] == WSK_ETIMEDOUT || R.reply_err[2] == WSK_ECANCELED);
  CHECK_INT(R.reply_err[4], WSK_ECANCELED);
  CHECK_INT(R.reply_err[7], 0);
}

TEST(request_before_open_fails_without_callback) {
  begin();
  R.srv = start_server(&scb, &R.port);
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &ccb;
  R.cl = client_to(R.port, "/", &co);
  CHECK_INT(wsk_uv_client_request(R.cl, "x", NULL, 0, 10, on_reply, NULL, NULL), WSK_ECLOSED);
  finish();
  CHECK_INT(R.replies, 0);
}

int main(void) {
  RUN(reconnects_after_refused_until_the_server_is_up);
  RUN(reconnects_after_losing_an_open_connection);
  RUN(sends_while_disconnected_fail_fast_or_queue);
  RUN(open_timeout_against_a_silent_server);
  RUN(localhost_tries_each_address);
  RUN(bad_urls_are_refused);
  RUN(client_free_inside_on_open_then_one_on_close);
  RUN(requests_resolve_time_out_and_cancel_exactly_once);
  RUN(request_before_open_fails_without_callback);
  return test_summary();
}
