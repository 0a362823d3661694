/* Every call in every state, the close handshake in both directions,
 * and the timers (open, keepalive, close). */
#include "conn_helpers.h"

TEST(calls_while_connecting) {
  wsk_conn_opts_t o;
  client_opts(&o);
  wsk_conn_t *c = wsk_conn_new(&o, 0, NULL);
  CHECK(c != NULL);
  CHECK_INT(wsk_conn_state(c), WSK_STATE_CONNECTING);
  CHECK(wsk_conn_output_len(c) > 0); /* the request is written at once */
  CHECK_INT(wsk_conn_send(c, WSK_OP_TEXT, "x", 1), WSK_ESTATE);
  CHECK_INT(wsk_conn_send_fragment(c, WSK_OP_TEXT, "x", 1, 0), WSK_ESTATE);
  CHECK_INT(wsk_conn_ping(c, NULL, 0), WSK_ESTATE);
  CHECK_INT(wsk_conn_pong(c, NULL, 0), WSK_ESTATE);
  CHECK_INT(wsk_conn_accept(c, NULL), WSK_ESTATE);
  CHECK_INT(wsk_conn_reject(c, 403, NULL, 0, NULL, 0), WSK_ESTATE);
  /* closing a connecting client aborts it */
  CHECK_INT(wsk_conn_close(c, 1000, NULL, 0), 0);
  evlog_t l = {0};
  drain(c, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[0].code, 1006);
  log_clear(&l);
  wsk_conn_free(c);
}

TEST(server_accept_before_request_is_estate) {
  wsk_conn_opts_t o;
  server_opts(&o);
  wsk_conn_t *s = wsk_conn_new(&o, 0, NULL);
  CHECK_INT(wsk_conn_accept(s, NULL), WSK_ESTATE);
  CHECK_INT(wsk_conn_send(s, WSK_OP_BINARY, "x", 1), WSK_ESTATE);
  wsk_conn_free(s);
}

TEST(calls_while_open) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_accept(srv, NULL), WSK_ESTATE);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_CLOSE, "x", 1), WSK_EINVAL);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "\xff", 1), WSK_EUTF8);
  CHECK_INT(wsk_conn_ping(cli, "x", 126), WSK_EINVAL);
  CHECK_INT(wsk_conn_close(cli, 1005, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_conn_close(cli, 999, NULL, 0), WSK_EINVAL);
  CHECK_INT(wsk_conn_close(cli, 1000, "\xff", 1), WSK_EINVAL);
  char longreason[124];
  memset(longreason, 'a', sizeof longreason);
  CHECK_INT(wsk_conn_close(cli, 1000, longreason, 124), WSK_EINVAL);
  CHECK_INT(wsk_conn_state(cli), WSK_STATE_OPEN);
  /* a fragmented send blocks whole sends until it ends */
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, "ab", 2, 0), 0);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "x", 1), WSK_ESTATE);
  CHECK_INT(wsk_conn_ping(cli, "between", 7) > 0, 1);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_BINARY, "\xff", 1, 1), WSK_EUTF8); /* still text */
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_BINARY, "cd", 2, 1), 0);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].type, WSK_EV_PING);
  CHECK_INT(l.ev[1].type, WSK_EV_TEXT);
  CHECK_STR((char *)l.ev[1].data, "abcd");
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(close_handshake_started_by_client) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_close(cli, 1000, "bye", 3), 0);
  CHECK_INT(wsk_conn_state(cli), WSK_STATE_CLOSING);
  CHECK_INT(wsk_conn_close(cli, 1000, NULL, 0), 0); /* again: no-op */
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "x", 1), WSK_ECLOSED);
  CHECK_INT(wsk_conn_ping(cli, NULL, 0), WSK_ECLOSED);
  CHECK(wsk_conn_deadline(cli) == 10000);
  evlog_t ls = {0}, lc = {0};
  pump(cli, srv, &ls);
  CHECK_INT(ls.n, 2);
  CHECK_INT(ls.ev[0].type, WSK_EV_CLOSE);
  CHECK_INT(ls.ev[0].code, 1000);
  CHECK_STR((char *)ls.ev[0].data, "bye");
  CHECK_INT(ls.ev[1].type, WSK_EV_CLOSED);
  CHECK_INT(ls.ev[1].clean, 1);
  CHECK_INT(wsk_conn_state(srv), WSK_STATE_CLOSED);
  pump(srv, cli, &lc);
  /* the client has the echo but waits for the server to close TCP */
  CHECK_INT(lc.n, 1);
  CHECK_INT(lc.ev[0].type, WSK_EV_CLOSE);
  CHECK_INT(wsk_conn_state(cli), WSK_STATE_CLOSING);
  wsk_conn_feed_eof(cli);
  drain(cli, &lc);
  CHECK_INT(lc.n, 2);
  CHECK_INT(lc.ev[1].type, WSK_EV_CLOSED);
  CHECK_INT(lc.ev[1].code, 1000);
  CHECK_INT(lc.ev[1].sent_code, 1000);
  CHECK_INT(lc.ev[1].clean, 1);
  CHECK_INT(wsk_conn_feed(cli, (uint8_t *)"x", 1), WSK_ECLOSED);
  CHECK_INT(wsk_conn_close(cli, 1000, NULL, 0), 0);
  CHECK_INT(drain(cli, NULL), 0); /* CLOSED came once */
  log_clear(&ls);
  log_clear(&lc);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(close_handshake_started_by_server) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_close(srv, 1001, NULL, 0), 0);
  evlog_t ls = {0}, lc = {0};
  pump(srv, cli, &lc);
  CHECK_INT(lc.n, 1);
  CHECK_INT(lc.ev[0].type, WSK_EV_CLOSE);
  CHECK_INT(lc.ev[0].code, 1001);
  CHECK_INT(output_close_code(cli), 1001); /* echoed */
  pump(cli, srv, &ls);
  CHECK_INT(ls.n, 2);
  CHECK_INT(ls.ev[0].type, WSK_EV_CLOSE);
  CHECK_INT(ls.ev[1].type, WSK_EV_CLOSED);
  CHECK_INT(ls.ev[1].clean, 1);
  CHECK_INT(ls.ev[1].code, 1001);
  /* the client's close timer ends the wait if the server never closes TCP */
  CHECK_INT(wsk_conn_tick(cli, 9999), 10000);
  CHECK_INT(wsk_conn_tick(cli, 10000), -1);
  drain(cli, &lc);
  CHECK_INT(last(&lc)->type, WSK_EV_CLOSED);
  CHECK_INT(last(&lc)->clean, 1);
  log_clear(&ls);
  log_clear(&lc);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(close_without_code_gives_1005) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_close(cli, 0, NULL, 0), 0);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSE);
  CHECK_INT(l.ev[0].code, 1005);
  CHECK_INT(output_close_code(srv), 1005); /* echoed as an empty close frame */
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(close_timeout_without_answer) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  wsk_conn_tick(srv, 100);
  CHECK_INT(wsk_conn_close(srv, 1000, NULL, 0), 0);
  CHECK_INT(wsk_conn_deadline(srv), 10100);
  CHECK_INT(wsk_conn_tick(srv, 5000), 10100);
  evlog_t l = {0};
  CHECK_INT(drain(srv, &l), 0);
  wsk_conn_tick(srv, 10100);
  drain(srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[0].clean, 0);
  CHECK_INT(l.ev[0].code, 1006);
  CHECK_INT(l.ev[0].sent_code, 1000);
  CHECK(strstr(wsk_conn_error(srv), "timed out") != NULL);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(eof_without_close_is_1006) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  wsk_conn_feed_eof(srv);
  evlog_t l = {0};
  drain(srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[0].code, 1006);
  CHECK_INT(l.ev[0].sent_code, 0);
  CHECK_INT(l.ev[0].clean, 0);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_TEXT, "x", 1), WSK_ECLOSED);
  CHECK_INT(wsk_conn_ping(srv, NULL, 0), WSK_ECLOSED);
  CHECK_INT(wsk_conn_close(srv, 1000, NULL, 0), 0);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(data_after_close_sent_is_still_delivered) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, "late", 4), 0);
  CHECK_INT(wsk_conn_close(srv, 1000, NULL, 0), 0);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(frames_after_peer_close_are_ignored) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  uint8_t buf[64];
  size_t n = cframe(buf, 1, 0, WSK_OP_CLOSE, "\x03\xe8", 2);
  n += cframe(buf + n, 1, 0, WSK_OP_TEXT, "ignored", 7);
  evlog_t l = {0};
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSE);
  CHECK_INT(l.ev[1].type, WSK_EV_CLOSED);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(open_timeout) {
  wsk_conn_opts_t o;
  server_opts(&o);
  o.open_timeout_ms = 500;
  wsk_conn_t *s = wsk_conn_new(&o, 1000, NULL);
  CHECK_INT(wsk_conn_deadline(s), 1500);
  feed(s, "GET / HTTP/1.1\r\n", 16, NULL);
  CHECK_INT(wsk_conn_tick(s, 1499), 1500);
  CHECK_INT(wsk_conn_tick(s, 1500), -1);
  evlog_t l = {0};
  drain(s, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK(strstr(wsk_conn_error(s), "timed out") != NULL);
  log_clear(&l);
  wsk_conn_free(s);
}

TEST(keepalive_ping_and_pong) {
  wsk_conn_opts_t co;
  client_opts(&co);
  co.ping_interval_ms = 1000;
  co.ping_timeout_ms = 300;
  wsk_conn_t *cli, *srv;
  make_pair(&co, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_deadline(cli), 1000);
  CHECK_INT(wsk_conn_tick(cli, 1000), 1300); /* ping sent, pong due */
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_PING);
  log_clear(&l);
  wsk_conn_tick(cli, 1042);
  pump(srv, cli, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_PONG);
  CHECK(l.ev[0].ping_id > 0);
  CHECK_INT(l.ev[0].latency, 42);
  CHECK_INT(wsk_conn_deadline(cli), 2000);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(keepalive_timeout_is_1011) {
  wsk_conn_opts_t co;
  client_opts(&co);
  co.ping_interval_ms = 1000;
  co.ping_timeout_ms = 300;
  wsk_conn_t *cli, *srv;
  make_pair(&co, NULL, &cli, &srv);
  wsk_conn_tick(cli, 1000);
  wsk_conn_tick(cli, 1300);
  evlog_t l = {0};
  drain(cli, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[0].sent_code, 1011);
  CHECK_INT(output_close_code(cli), 1011);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(pong_acknowledges_earlier_pings) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  int a = wsk_conn_ping(cli, "a", 1), b = wsk_conn_ping(cli, "b", 1);
  CHECK(a > 0 && b > a);
  CHECK_INT(wsk_conn_ping(cli, "a", 1), WSK_EEXIST);
  /* the server answers only the second ping */
  CHECK_INT(wsk_conn_pong(srv, "b", 1), 0);
  evlog_t l = {0};
  pump(srv, cli, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_PONG);
  CHECK_INT(l.ev[0].ping_id, b);
  log_clear(&l);
  /* "a" was acknowledged too, so its payload is free again */
  CHECK(wsk_conn_ping(cli, "a", 1) > b);
  /* an unsolicited pong names no ping */
  CHECK_INT(wsk_conn_pong(srv, "zzz", 3), 0);
  pump(srv, cli, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_PONG);
  CHECK_INT(l.ev[0].ping_id, 0);
  CHECK_INT(l.ev[0].latency, -1);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(too_many_pending_pings_is_e2big) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  for (int i = 0; i < 128; i++) CHECK(wsk_conn_ping(cli, NULL, 0) > 0);
  CHECK_INT(wsk_conn_ping(cli, NULL, 0), WSK_E2BIG);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(auto_pong_can_be_disabled) {
  wsk_conn_opts_t so;
  server_opts(&so);
  so.auto_pong = 0;
  wsk_conn_t *cli, *srv;
  make_pair(NULL, &so, &cli, &srv);
  CHECK(wsk_conn_ping(cli, "x", 1) > 0);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_PING);
  CHECK_INT(wsk_conn_output_len(srv), 0);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(output_take_hands_over_the_buffer) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_BINARY, "abc", 3), 0);
  uint8_t *d;
  size_t n;
  CHECK_INT(wsk_conn_output_take(srv, &d, &n), 0);
  CHECK_INT(n, 5);
  CHECK_MEM(d, "\x82\x03" "abc", 5);
  CHECK_INT(wsk_conn_output_len(srv), 0);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_BINARY, "z", 1), 0);
  CHECK_INT(wsk_conn_output_len(srv), 3);
  wsk_free(d);
  CHECK_INT(wsk_conn_output_take(cli, &d, &n), 0);
  CHECK(d == NULL && n == 0);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(write_limit_reported) {
  wsk_conn_opts_t so;
  server_opts(&so);
  so.write_limit = 100;
  wsk_conn_t *cli, *srv;
  make_pair(NULL, &so, &cli, &srv);
  uint8_t big[101] = {0};
  CHECK_INT(wsk_conn_over_limit(srv), 0);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_BINARY, big, sizeof big), 0);
  CHECK_INT(wsk_conn_over_limit(srv), 1);
  wsk_conn_output_consume(srv, 50);
  CHECK_INT(wsk_conn_over_limit(srv), 0);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

int main(void) {
  RUN(calls_while_connecting);
  RUN(server_accept_before_request_is_estate);
  RUN(calls_while_open);
  RUN(close_handshake_started_by_client);
  RUN(close_handshake_started_by_server);
  RUN(close_without_code_gives_1005);
  RUN(close_timeout_without_answer);
  RUN(eof_without_close_is_1006);
  RUN(data_after_close_sent_is_still_delivered);
  RUN(frames_after_peer_close_are_ignored);
  RUN(open_timeout);
  RUN(keepalive_ping_and_pong);
  RUN(keepalive_timeout_is_1011);
  RUN(pong_acknowledges_earlier_pings);
  RUN(too_many_pending_pings_is_e2big);
  RUN(auto_pong_can_be_disabled);
  RUN(output_take_hands_over_the_buffer);
  RUN(write_limit_reported);
  return test_summary();
}
