/* Server features: handshake hooks (asynchronous accept, reject with any
 * status, auth from headers, query and cookies), listeners (Unix socket,
 * IPv6), broadcast and channels, graceful shutdown. */
#include "uv_helpers.h"

#define MAXC 8

static struct {
  int s_open, s_close, c_open, c_close, done;
  int c_msgs[MAXC];
  wsk_uv_close_info_t c_info[MAXC];
  char c_sub[MAXC][32];
  wsk_uv_client_t *cl[MAXC];
  wsk_uv_server_t *srv;
  wsk_uv_conn_t *pending;
  int shutdown_done;
  size_t aborted;
  int skips;
  char auth[64], cookie[64], token[64];
} R;

static int index_of(wsk_uv_conn_t *c) {
  wsk_uv_client_t *cl = wsk_uv_conn_client(c);
  for (int i = 0; i < MAXC; i++)
    if (R.cl[i] == cl) return i;
  return 0;
}

static void s_open(wsk_uv_conn_t *c) { (void)c; R.s_open++; }
static void s_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) { (void)c, (void)i; R.s_close++; }
static void c_open(wsk_uv_conn_t *c) {
  R.c_open++;
  snprintf(R.c_sub[index_of(c)], 32, "%s", wsk_conn_subprotocol(wsk_uv_conn_core(c)));
}
static void c_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) { (void)m; R.c_msgs[index_of(c)]++; }
static void c_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  int k = index_of(c);
  R.c_close++;
  R.c_info[k] = *i;
  R.c_info[k].reason = R.c_info[k].error = NULL;
}

static wsk_uv_callbacks_t scb = { .on_open = s_open, .on_close = s_close };
static wsk_uv_callbacks_t ccb = { .on_open = c_open, .on_message = c_msg, .on_close = c_close };

static void setup(wsk_uv_server_opts_t *so, const wsk_uv_callbacks_t *s, int *port) {
  memset(&R, 0, sizeof R);
  loop_begin(8000);
  wsk_uv_server_opts_init(so);
  so->callbacks = s;
  (void)port;
}

static wsk_uv_client_t *connect_n(int k, int port, const char *path, wsk_uv_client_opts_t *co) {
  wsk_uv_client_opts_t d;
  if (!co) {
    wsk_uv_client_opts_init(&d);
    co = &d;
  }
  co->callbacks = &ccb;
  R.cl[k] = client_to(port, path, co);
  return R.cl[k];
}

static void wait_for(int *counter, int n) {
  while (*counter < n && !timed_out) uv_run(L, UV_RUN_ONCE);
}

static void teardown(void) {
  for (int i = 0; i < MAXC; i++) wsk_uv_client_free(R.cl[i]);
  wsk_uv_server_free(R.srv);
  loop_end();
}

/* ---- hooks ---- */

static uv_timer_t later;
static void accept_later(uv_timer_t *t) {
  (void)t;
  EXPECT(wsk_uv_conn_accept(R.pending, "chat", NULL, 0) == 0);
}
static void async_request(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  EXPECT(r->status == 0 && r->is_upgrade);
  R.pending = c;
  uv_timer_start(&later, accept_later, 50, 0); /* answer from another callback */
}

TEST(async_hook_accepts_later_with_a_subprotocol) {
  wsk_uv_server_opts_t so;
  wsk_uv_callbacks_t s = scb;
  s.on_request = async_request;
  setup(&so, &s, NULL);
  static const char *offer[] = { "superchat", "chat" };
  static const char *support[] = { "superchat", "chat" };
  so.conn.server.subprotocols = support;
  so.conn.server.nsubprotocols = 2;
  uv_timer_init(L, &later);
  int port = 0;
  R.srv = server_on(&so, &port);
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.conn.client.subprotocols = offer;
  co.conn.client.nsubprotocols = 2;
  connect_n(0, port, "/", &co);
  wait_for(&R.c_open, 1);
  uv_close((uv_handle_t *)&later, noop_close);
  teardown();
  CHECK_INT(R.s_open, 1);
  CHECK_STR(R.c_sub[0], "chat"); /* the hook's choice, not the default */
}

static void auth_request(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  wsk_uv_request_header(r, "Authorization", R.auth, sizeof R.auth);
  wsk_uv_request_cookie(r, "session", R.cookie, sizeof R.cookie);
  wsk_uv_request_query(r, "token", R.token, sizeof R.token);
  static const wsk_http_header_t h = { "WWW-Authenticate", 16, "Basic", 5 };
  wsk_uv_conn_reject(c, 401, &h, 1, "who are you?", 12);
}

TEST(hook_rejects_with_401_and_client_does_not_retry) {
  wsk_uv_server_opts_t so;
  wsk_uv_callbacks_t s = scb;
  s.on_request = auth_request;
  setup(&so, &s, NULL);
  int port = 0;
  R.srv = server_on(&so, &port);
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.reconnect = 1;
  static const wsk_http_header_t cookie = { "Cookie", 6, "a=1; session=\"s3cr3t\"; b=2", 26 };
  co.conn.client.headers = &cookie;
  co.conn.client.nheaders = 1;
  char url[128];
  snprintf(url, sizeof url, "ws://alice:pw@127.0.0.1:%d/x?token=t%%20k&y=1", port);
  co.callbacks = &ccb;
  CHECK_INT(wsk_uv_client_new(L, url, &co, &R.cl[0]), 0);
  wait_for(&R.c_close, 1);
  teardown();
  CHECK_INT(R.c_info[0].http_status, 401);
  CHECK_INT(R.c_info[0].will_retry, 0);
  CHECK_INT(R.c_info[0].err, WSK_EHANDSHAKE);
  CHECK_STR(R.auth, "Basic YWxpY2U6cHc="); /* userinfo as Basic auth */
  CHECK_STR(R.cookie, "s3cr3t");
  CHECK_STR(R.token, "t k");
  CHECK_INT(R.s_open, 0);
}

TEST(origin_allowlist_refuses_with_403) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  static const char *origins[] = { "https://good.example" };
  so.conn.server.origins = origins;
  so.conn.server.norigins = 1;
  int port = 0;
  R.srv = server_on(&so, &port);
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.conn.client.origin = "https://evil.example";
  connect_n(0, port, "/", &co);
  wsk_uv_client_opts_init(&co);
  co.conn.client.origin = "https://good.example";
  connect_n(1, port, "/", &co);
  wait_for(&R.c_close, 1);
  wait_for(&R.c_open, 1);
  teardown();
  CHECK_INT(R.c_info[0].http_status, 403);
  CHECK_INT(R.s_open, 1);
}

/* ---- listeners ---- */

static uv_pipe_t upipe;
static raw_t uraw;
static uv_write_t uwrite;

static void unix_connected(uv_connect_t *req, int status) {
  (void)req;
  if (status < 0) {
    uraw.eof = 1;
    return;
  }
  uv_read_start((uv_stream_t *)&upipe, raw_alloc, raw_read);
  uv_buf_t b = uv_buf_init((char *)UPGRADE_REQUEST, (unsigned)strlen(UPGRADE_REQUEST));
  uv_write(&uwrite, (uv_stream_t *)&upipe, &b, 1, NULL);
}

TEST(unix_socket_listener_answers_an_upgrade) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  char path[64];
  snprintf(path, sizeof path, "/tmp/wskit-uv-%d.sock", (int)uv_os_getpid());
  remove(path);
  CHECK_INT(wsk_uv_server_new(L, &so, &R.srv), 0);
  CHECK_INT(wsk_uv_server_listen_unix(R.srv, path), 0);
  static uv_connect_t req;
  memset(&uraw, 0, sizeof uraw);
  uv_pipe_init(L, &upipe, 0);
  upipe.data = &uraw;
  uv_pipe_connect(&req, &upipe, path, unix_connected);
  wait_for(&R.s_open, 1);
  while (!strstr(uraw.in, "\r\n\r\n") && !uraw.eof && !timed_out) uv_run(L, UV_RUN_ONCE);
  if (!uv_is_closing((uv_handle_t *)&upipe)) uv_close((uv_handle_t *)&upipe, noop_close);
  teardown();
  remove(path);
  CHECK_INT(R.s_open, 1);
  CHECK(strncmp(uraw.in, "HTTP/1.1 101", 12) == 0);
}

static int have_ipv6(void) {
  static uv_tcp_t t;
  struct sockaddr_in6 a;
  uv_ip6_addr("::1", 0, &a);
  uv_tcp_init(L, &t);
  int ok = uv_tcp_bind(&t, (const struct sockaddr *)&a, 0) == 0;
  uv_close((uv_handle_t *)&t, noop_close);
  return ok;
}

TEST(ipv6_listener_and_ipv6_literal_url) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  if (!have_ipv6()) {
    printf("  (no IPv6 on this machine: skipped)\n");
    loop_end();
    return;
  }
  CHECK_INT(wsk_uv_server_new(L, &so, &R.srv), 0);
  CHECK_INT(wsk_uv_server_listen(R.srv, "::1", 0), 0);
  char url[64];
  snprintf(url, sizeof url, "ws://[::1]:%d/", wsk_uv_server_port(R.srv));
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &ccb;
  CHECK_INT(wsk_uv_client_new(L, url, &co, &R.cl[0]), 0);
  wait_for(&R.c_open, 1);
  teardown();
  CHECK_INT(R.s_open, 1);
}

TEST(listen_on_a_busy_port_fails_with_eio_and_text) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  int port = 0;
  R.srv = server_on(&so, &port);
  wsk_uv_server_t *other;
  CHECK_INT(wsk_uv_server_new(L, &so, &other), 0);
  int r = wsk_uv_server_listen(other, "127.0.0.1", (unsigned)port);
  int has_text = strstr(wsk_uv_server_error(other), "address already in use") != NULL;
  wsk_uv_server_free(other);
  teardown();
  CHECK_INT(r, WSK_EIO);
  CHECK(has_text);
}

TEST(reuseport_lets_two_servers_share_a_port) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  so.reuseport = 1;
  int port = 0;
  R.srv = server_on(&so, &port);
  wsk_uv_server_t *other = server_on(&so, &port);
  int ok = other != NULL;
  wsk_uv_server_free(other);
  teardown();
  CHECK(ok);
}

/* ---- broadcast and channels ---- */

static void join_request(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  /* read the request first: answering it frees the head */
  int join = r->path_len == 5 && !memcmp(r->path, "/join", 5);
  EXPECT(wsk_uv_conn_accept(c, NULL, NULL, 0) == 0);
  if (join) EXPECT(wsk_uv_conn_subscribe(c, "room", 4) == 1);
}

TEST(publish_reaches_subscribers_and_broadcast_reaches_all) {
  wsk_uv_server_opts_t so;
  wsk_uv_callbacks_t s = scb;
  s.on_request = join_request;
  setup(&so, &s, NULL);
  int port = 0;
  R.srv = server_on(&so, &port);
  for (int i = 0; i < 3; i++) connect_n(i, port, i < 2 ? "/join" : "/", NULL);
  wait_for(&R.c_open, 3);
  wait_for(&R.s_open, 3);
  CHECK_INT(wsk_uv_server_channel_count(R.srv, "room", 4), 2);
  wsk_uv_broadcast_result_t res;
  CHECK_INT(wsk_uv_server_publish(R.srv, "room", 4, WSK_OP_TEXT, "to room", 7, NULL, NULL, &res), 0);
  CHECK_INT(res.sent, 2);
  CHECK_INT(wsk_uv_server_broadcast(R.srv, WSK_OP_TEXT, "to all", 6, NULL, 0, NULL, NULL, &res), 0);
  CHECK_INT(res.sent, 3);
  CHECK_INT(wsk_uv_server_broadcast(R.srv, WSK_OP_TEXT, "\xff", 1, NULL, 0, NULL, NULL, &res),
            WSK_EUTF8);
  int total = 0;
  while (total < 5 && !timed_out) {
    uv_run(L, UV_RUN_ONCE);
    total = R.c_msgs[0] + R.c_msgs[1] + R.c_msgs[2];
  }
  /* a closed connection leaves its channels */
  wsk_uv_client_close(R.cl[0], 1000, NULL);
  wait_for(&R.s_close, 1);
  size_t left = wsk_uv_server_channel_count(R.srv, "room", 4);
  teardown();
  CHECK_INT(total, 5);
  CHECK_INT(left, 1);
}

static void on_skip(void *ud, wsk_uv_conn_t *c) {
  (void)ud, (void)c;
  R.skips++;
}
static void pause_open(wsk_uv_conn_t *c) {
  R.c_open++;
  if (index_of(c) == 0) wsk_uv_conn_pause(c); /* a client that stops reading */
}

TEST(broadcast_skips_and_reports_connections_over_their_limit) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  so.conn.write_limit = 16384;
  so.pause_when_full = 0;
  int port = 0;
  R.srv = server_on(&so, &port);
  wsk_uv_callbacks_t c = ccb;
  c.on_open = pause_open;
  wsk_uv_client_opts_t co;
  for (int i = 0; i < 2; i++) {
    wsk_uv_client_opts_init(&co);
    co.callbacks = &c;
    co.conn.client.deflate.enabled = 0;
    R.cl[i] = client_to(port, "/", &co);
  }
  wait_for(&R.c_open, 2);
  wait_for(&R.s_open, 2);
  static uint8_t big[8192];
  size_t sent1 = 0;
  for (int round = 0; round < 5000 && !R.skips && !timed_out; round++) {
    wsk_uv_broadcast_result_t res;
    wsk_uv_server_broadcast(R.srv, WSK_OP_BINARY, big, sizeof big, NULL, 0, on_skip, NULL, &res);
    sent1 += res.sent;
    uv_run(L, UV_RUN_NOWAIT);
  }
  teardown();
  CHECK(R.skips >= 1); /* the paused one, reported */
  CHECK(sent1 > 2);
}

/* ---- graceful shutdown ---- */

static void on_done(wsk_uv_server_t *s, size_t aborted) {
  R.shutdown_done++;
  R.aborted = aborted;
  wsk_uv_server_free(s); /* allowed from here */
  R.srv = NULL;
}

TEST(shutdown_closes_every_connection_with_1001) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  int port = 0;
  R.srv = server_on(&so, &port);
  for (int i = 0; i < 3; i++) connect_n(i, port, "/", NULL);
  wait_for(&R.c_open, 3);
  wait_for(&R.s_open, 3);
  CHECK_INT(wsk_uv_server_count(R.srv), 3);
  CHECK_INT(wsk_uv_server_shutdown(R.srv, 1001, 0, on_done), 0);
  wait_for(&R.c_close, 3);
  wait_for(&R.shutdown_done, 1);
  teardown();
  CHECK_INT(R.shutdown_done, 1);
  CHECK_INT(R.aborted, 0);
  for (int i = 0; i < 3; i++) CHECK_INT(R.c_info[i].code, 1001);
}

TEST(shutdown_aborts_what_does_not_close_in_time) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  int port = 0;
  R.srv = server_on(&so, &port);
  wsk_uv_callbacks_t c = ccb;
  c.on_open = pause_open; /* client 0 never reads the close frame */
  wsk_uv_client_opts_t co;
  for (int i = 0; i < 2; i++) {
    wsk_uv_client_opts_init(&co);
    co.callbacks = &c;
    R.cl[i] = client_to(port, "/", &co);
  }
  wait_for(&R.c_open, 2);
  wait_for(&R.s_open, 2);
  uint64_t t0 = uv_now(L);
  CHECK_INT(wsk_uv_server_shutdown(R.srv, 1012, 200, on_done), 0);
  wait_for(&R.shutdown_done, 1);
  uint64_t took = uv_now(L) - t0;
  teardown();
  CHECK_INT(R.shutdown_done, 1);
  CHECK_INT(R.aborted, 1);
  CHECK(took >= 190 && took < 3000);
  CHECK_INT(R.c_info[1].code, 1012);
}

TEST(free_runs_a_pending_shutdown_callback_once) {
  wsk_uv_server_opts_t so;
  setup(&so, &scb, NULL);
  int port = 0;
  wsk_uv_server_t *s = server_on(&so, &port);
  connect_n(0, port, "/", NULL);
  wait_for(&R.s_open, 1);
  CHECK_INT(wsk_uv_server_shutdown(s, 1001, 5000, NULL), 0);
  R.srv = s;
  teardown(); /* frees the server mid-shutdown */
  CHECK_INT(R.s_close, 1);
}

int main(void) {
  RUN(async_hook_accepts_later_with_a_subprotocol);
  RUN(hook_rejects_with_401_and_client_does_not_retry);
  RUN(origin_allowlist_refuses_with_403);
  RUN(unix_socket_listener_answers_an_upgrade);
  RUN(ipv6_listener_and_ipv6_literal_url);
  RUN(listen_on_a_busy_port_fails_with_eio_and_text);
  RUN(reuseport_lets_two_servers_share_a_port);
  RUN(publish_reaches_subscribers_and_broadcast_reaches_all);
  RUN(broadcast_skips_and_reports_connections_over_their_limit);
  RUN(shutdown_closes_every_connection_with_1001);
  RUN(shutdown_aborts_what_does_not_close_in_time);
  RUN(free_runs_a_pending_shutdown_callback_once);
  return test_summary();
}
