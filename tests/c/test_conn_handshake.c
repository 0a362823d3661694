/* The opening handshake as driven through wsk_conn, both roles. */
#include "conn_helpers.h"

static wsk_conn_t *server(void) {
  wsk_conn_opts_t o;
  server_opts(&o);
  return wsk_conn_new(&o, 0, NULL);
}

static int output_starts_with(wsk_conn_t *c, const char *prefix) {
  size_t n;
  const uint8_t *p = wsk_conn_output(c, &n);
  return n >= strlen(prefix) && memcmp(p, prefix, strlen(prefix)) == 0;
}

static int output_contains(wsk_conn_t *c, const char *needle) {
  size_t n;
  const uint8_t *p = wsk_conn_output(c, &n);
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(p + i, needle, k) == 0) return 1;
  return 0;
}

TEST(plain_http_request_can_be_answered) {
  wsk_conn_t *s = server();
  const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  evlog_t l = {0};
  feed(s, req, strlen(req), &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_REQUEST);
  CHECK_INT(l.ev[0].status, 426);
  CHECK_INT(wsk_conn_accept(s, NULL), WSK_ESTATE);
  CHECK_INT(wsk_conn_reject(s, 200, NULL, 0, "ok", 2), 0);
  CHECK(output_starts_with(s, "HTTP/1.1 200 OK\r\n"));
  drain(s, &l);
  CHECK_INT(last(&l)->type, WSK_EV_CLOSED);
  CHECK_STR(wsk_conn_error(s), "");
  log_clear(&l);
  wsk_conn_free(s);
}

TEST(default_rejection_uses_the_core_status) {
  wsk_conn_t *s = server();
  const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
  evlog_t l = {0};
  feed(s, req, strlen(req), &l);
  CHECK_INT(l.ev[0].status, 426);
  CHECK_INT(wsk_conn_reject(s, 0, NULL, 0, NULL, 0), 0);
  CHECK(output_starts_with(s, "HTTP/1.1 426 "));
  CHECK(output_contains(s, "Sec-WebSocket-Version: 13\r\n"));
  log_clear(&l);
  wsk_conn_free(s);
}

TEST(origin_not_allowed_is_403) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  co.client.origin = "https://evil.example";
  server_opts(&so);
  static const char *const allowed[] = {"https://good.example"};
  so.server.origins = allowed;
  so.server.norigins = 1;
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL), *srv = wsk_conn_new(&so, 0, NULL);
  evlog_t l = {0}, lc = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_REQUEST);
  CHECK_INT(l.ev[0].status, 403);
  CHECK_INT(wsk_conn_reject(srv, 0, NULL, 0, NULL, 0), 0);
  drain(srv, &l);
  CHECK(strstr(wsk_conn_error(srv), "403") != NULL);
  pump(srv, cli, &lc);
  wsk_conn_feed_eof(cli);
  drain(cli, &lc);
  CHECK_INT(lc.n, 2);
  CHECK_INT(lc.ev[0].type, WSK_EV_REJECTED);
  CHECK_INT(lc.ev[0].status, 403);
  CHECK(lc.ev[0].len > 0);
  CHECK_INT(lc.ev[1].type, WSK_EV_CLOSED);
  CHECK(strstr(wsk_conn_error(cli), "403") != NULL);
  log_clear(&l);
  log_clear(&lc);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(malformed_request_gets_400) {
  wsk_conn_t *s = server();
  const char *req = "GET / HTTP/1.1\r\nHost : x\r\n\r\n";
  evlog_t l = {0};
  feed(s, req, strlen(req), &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK(output_starts_with(s, "HTTP/1.1 400 "));
  CHECK(strlen(wsk_conn_error(s)) > 0);
  log_clear(&l);
  wsk_conn_free(s);
}

TEST(oversized_head_gets_431) {
  wsk_conn_opts_t o;
  server_opts(&o);
  o.http.max_head = 256;
  wsk_conn_t *s = wsk_conn_new(&o, 0, NULL);
  char req[600];
  strcpy(req, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ");
  size_t k = strlen(req);
  memset(req + k, 'a', 400);
  strcpy(req + k + 400, "\r\n\r\n");
  evlog_t l = {0};
  feed(s, req, strlen(req), &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK(output_starts_with(s, "HTTP/1.1 431 "));
  log_clear(&l);
  wsk_conn_free(s);
}

TEST(rejection_body_reaches_the_client) {
  wsk_conn_t *cli;
  wsk_conn_opts_t co;
  client_opts(&co);
  cli = wsk_conn_new(&co, 0, NULL);
  const char *resp = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nWWW-Authenticate: Basic\r\n\r\n"
                     "who are you?";
  evlog_t l = {0};
  /* split inside the body */
  feed(cli, resp, strlen(resp) - 5, &l);
  CHECK_INT(l.n, 0);
  feed(cli, resp + strlen(resp) - 5, 5, &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].type, WSK_EV_REJECTED);
  CHECK_INT(l.ev[0].status, 401);
  CHECK_STR((char *)l.ev[0].data, "who are you?");
  CHECK_INT(l.ev[1].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[1].code, 1006);
  log_clear(&l);
  wsk_conn_free(cli);
}

TEST(rejection_body_until_eof) {
  wsk_conn_opts_t co;
  client_opts(&co);
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL);
  const char *resp = "HTTP/1.0 503 Service Unavailable\r\n\r\nbusy";
  evlog_t l = {0};
  feed(cli, resp, strlen(resp), &l);
  CHECK_INT(l.n, 0);
  wsk_conn_feed_eof(cli);
  drain(cli, &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].status, 503);
  CHECK_STR((char *)l.ev[0].data, "busy");
  log_clear(&l);
  wsk_conn_free(cli);
}

TEST(invalid_accept_is_rejected) {
  wsk_conn_opts_t co;
  client_opts(&co);
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL);
  const char *resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  evlog_t l = {0};
  feed(cli, resp, strlen(resp), &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].type, WSK_EV_REJECTED);
  CHECK_INT(l.ev[0].status, 101);
  CHECK_INT(l.ev[1].type, WSK_EV_CLOSED);
  CHECK(strstr(wsk_conn_error(cli), "invalid handshake response") != NULL);
  log_clear(&l);
  wsk_conn_free(cli);
}

TEST(frames_with_the_101_response_are_kept) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL), *srv = wsk_conn_new(&so, 0, NULL);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(wsk_conn_accept(srv, NULL), 0);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_TEXT, "first", 5), 0);
  log_clear(&l);
  pump(srv, cli, &l); /* the 101 and a frame in one read */
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].type, WSK_EV_OPEN);
  CHECK_INT(l.ev[1].type, WSK_EV_TEXT);
  CHECK_STR((char *)l.ev[1].data, "first");
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(frames_sent_before_accept_wait_for_it) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  co.client.deflate.enabled = 0;
  server_opts(&so);
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL), *srv = wsk_conn_new(&so, 0, NULL);
  uint8_t frame[32];
  size_t fl = cframe(frame, 1, 0, WSK_OP_TEXT, "eager", 5);
  size_t n;
  const uint8_t *p = wsk_conn_output(cli, &n);
  uint8_t *both = malloc(n + fl);
  memcpy(both, p, n);
  memcpy(both + n, frame, fl);
  evlog_t l = {0};
  feed(srv, both, n + fl, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_REQUEST);
  CHECK_INT(wsk_conn_accept(srv, NULL), 0);
  drain(srv, &l);
  CHECK_INT(l.n, 3);
  CHECK_INT(l.ev[1].type, WSK_EV_OPEN);
  CHECK_INT(l.ev[2].type, WSK_EV_TEXT);
  CHECK_STR((char *)l.ev[2].data, "eager");
  free(both);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(subprotocol_choice) {
  static const char *const offered[] = {"chat", "superchat"};
  static const char *const supported[] = {"superchat", "chat"};
  for (int mode = 0; mode < 4; mode++) {
    wsk_conn_opts_t co, so;
    client_opts(&co);
    co.client.subprotocols = offered;
    co.client.nsubprotocols = 2;
    server_opts(&so);
    so.server.subprotocols = supported;
    so.server.nsubprotocols = 2;
    wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL), *srv = wsk_conn_new(&so, 0, NULL);
    evlog_t l = {0};
    pump(cli, srv, &l);
    wsk_accept_t a = {0};
    if (mode == 1) a.subprotocol = "superchat";
    if (mode == 2) a.subprotocol = "";
    if (mode == 3) {
      a.subprotocol = "nope";
      CHECK_INT(wsk_conn_accept(srv, &a), WSK_EINVAL);
      a.subprotocol = NULL;
    }
    CHECK_INT(wsk_conn_accept(srv, &a), 0);
    pump(srv, cli, &l);
    const char *want = mode == 1 ? "superchat" : mode == 2 ? "" : "chat";
    CHECK_STR(wsk_conn_subprotocol(srv), want);
    CHECK_STR(wsk_conn_subprotocol(cli), want);
    CHECK_INT(wsk_conn_state(cli), WSK_STATE_OPEN);
    log_clear(&l);
    wsk_conn_free(cli);
    wsk_conn_free(srv);
  }
}

TEST(accept_adds_extra_headers) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL), *srv = wsk_conn_new(&so, 0, NULL);
  evlog_t l = {0};
  pump(cli, srv, &l);
  wsk_http_header_t h = {"X-Served-By", 11, "wskit", 5};
  wsk_accept_t a = {NULL, &h, 1};
  CHECK_INT(wsk_conn_accept(srv, &a), 0);
  CHECK(output_contains(srv, "X-Served-By: wskit\r\n"));
  log_clear(&l);
  pump(srv, cli, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_OPEN);
  /* the OPEN event hands the client the response head */
  wsk_conn_free(cli);
  log_clear(&l);
  wsk_conn_free(srv);
}

TEST(eof_during_handshake_is_closed) {
  wsk_conn_t *s = server();
  feed(s, "GET / HT", 8, NULL);
  wsk_conn_feed_eof(s);
  evlog_t l = {0};
  drain(s, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK(strstr(wsk_conn_error(s), "handshake") != NULL);
  log_clear(&l);
  wsk_conn_free(s);
}

TEST(close_while_server_decides_sends_503) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL), *srv = wsk_conn_new(&so, 0, NULL);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(wsk_conn_close(srv, 1001, NULL, 0), 0);
  CHECK(output_starts_with(srv, "HTTP/1.1 503 "));
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

int main(void) {
  RUN(plain_http_request_can_be_answered);
  RUN(default_rejection_uses_the_core_status);
  RUN(origin_not_allowed_is_403);
  RUN(malformed_request_gets_400);
  RUN(oversized_head_gets_431);
  RUN(rejection_body_reaches_the_client);
  RUN(rejection_body_until_eof);
  RUN(invalid_accept_is_rejected);
  RUN(frames_with_the_101_response_are_kept);
  RUN(frames_sent_before_accept_wait_for_it);
  RUN(subprotocol_choice);
  RUN(accept_adds_extra_headers);
  RUN(eof_during_handshake_is_closed);
  RUN(close_while_server_decides_sends_503);
  return test_summary();
}
