/* Pre-encoded broadcast frames: framed once, compressed once per window
 * size for no-context-takeover peers, skipped for slow connections. */
#include "conn_helpers.h"

static void pair_deflate(int enabled, int no_ctx, wsk_conn_t **cli, wsk_conn_t **srv) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  co.client.deflate.enabled = enabled;
  co.client.deflate.server_no_context_takeover = no_ctx;
  so.server.deflate.threshold = 0;
  make_pair(&co, &so, cli, srv);
}

TEST(broadcast_writes_identical_frames) {
  wsk_conn_t *c[3], *s[3];
  for (int i = 0; i < 3; i++) pair_deflate(0, 0, &c[i], &s[i]);
  int err;
  wsk_broadcast_t *b = wsk_broadcast_new(WSK_OP_TEXT, "to all", 6, &err);
  CHECK(b != NULL);
  for (int i = 0; i < 3; i++) CHECK_INT(wsk_conn_send_broadcast(s[i], b), 0);
  wsk_broadcast_unref(b);
  size_t n0, n;
  const uint8_t *p0 = wsk_conn_output(s[0], &n0);
  CHECK_INT(n0, 8);
  CHECK_MEM(p0, "\x81\x06to all", 8);
  for (int i = 1; i < 3; i++) {
    const uint8_t *p = wsk_conn_output(s[i], &n);
    CHECK_INT(n, n0);
    CHECK_MEM(p, p0, n);
  }
  for (int i = 0; i < 3; i++) {
    evlog_t l = {0};
    pump(s[i], c[i], &l);
    CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
    CHECK_STR((char *)l.ev[0].data, "to all");
    log_clear(&l);
    wsk_conn_free(c[i]);
    wsk_conn_free(s[i]);
  }
}

TEST(broadcast_is_compressed_for_no_context_takeover) {
  wsk_conn_t *cli, *srv;
  pair_deflate(1, 1, &cli, &srv);
  CHECK_INT(wsk_conn_deflate(srv)->server_no_context_takeover, 1);
  char text[2000];
  memset(text, 'q', sizeof text);
  wsk_broadcast_t *b = wsk_broadcast_new(WSK_OP_TEXT, text, sizeof text, NULL);
  for (int k = 0; k < 2; k++) CHECK_INT(wsk_conn_send_broadcast(srv, b), 0);
  size_t n;
  const uint8_t *p = wsk_conn_output(srv, &n);
  CHECK(n < 200);
  CHECK_INT(p[0], 0xC1); /* FIN + RSV1 + text */
  evlog_t l = {0};
  pump(srv, cli, &l);
  CHECK_INT(l.n, 2);
  for (int k = 0; k < 2; k++) {
    CHECK_INT(l.ev[k].len, sizeof text);
    CHECK_MEM(l.ev[k].data, text, sizeof text);
  }
  log_clear(&l);
  wsk_broadcast_unref(b);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(broadcast_is_plain_with_context_takeover) {
  wsk_conn_t *cli, *srv;
  pair_deflate(1, 0, &cli, &srv);
  CHECK_INT(wsk_conn_deflate(srv)->enabled, 1);
  CHECK_INT(wsk_conn_deflate(srv)->server_no_context_takeover, 0);
  /* a message through the per-connection compressor first, so the
   * context is in use */
  char text[500];
  memset(text, 'r', sizeof text);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_TEXT, text, sizeof text), 0);
  wsk_broadcast_t *b = wsk_broadcast_new(WSK_OP_TEXT, text, sizeof text, NULL);
  CHECK_INT(wsk_conn_send_broadcast(srv, b), 0);
  CHECK_INT(wsk_conn_send(srv, WSK_OP_TEXT, text, sizeof text), 0);
  evlog_t l = {0};
  pump(srv, cli, &l);
  CHECK_INT(l.n, 3);
  for (int k = 0; k < 3; k++) CHECK_MEM(l.ev[k].data, text, sizeof text);
  log_clear(&l);
  wsk_broadcast_unref(b);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(broadcast_skips_connections_over_the_write_limit) {
  wsk_conn_opts_t so;
  server_opts(&so);
  so.write_limit = 10;
  wsk_conn_t *cli, *srv;
  make_pair(NULL, &so, &cli, &srv);
  wsk_broadcast_t *b = wsk_broadcast_new(WSK_OP_BINARY, "0123456789ab", 12, NULL);
  CHECK_INT(wsk_conn_send_broadcast(srv, b), 0); /* under the limit before */
  size_t before = wsk_conn_output_len(srv);
  CHECK_INT(wsk_conn_send_broadcast(srv, b), WSK_EBUSY);
  CHECK_INT(wsk_conn_output_len(srv), before);
  wsk_broadcast_unref(b);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(broadcast_rejects_bad_input) {
  int err = 0;
  CHECK(wsk_broadcast_new(WSK_OP_TEXT, "\xff", 1, &err) == NULL);
  CHECK_INT(err, WSK_EUTF8);
  CHECK(wsk_broadcast_new(WSK_OP_PING, "x", 1, &err) == NULL);
  CHECK_INT(err, WSK_EINVAL);
}

TEST(broadcast_from_a_client_is_masked) {
  wsk_conn_t *cli, *srv;
  pair_deflate(0, 0, &cli, &srv);
  wsk_broadcast_t *b = wsk_broadcast_new(WSK_OP_TEXT, "up", 2, NULL);
  wsk_broadcast_ref(b);
  CHECK_INT(wsk_conn_send_broadcast(cli, b), 0);
  wsk_broadcast_unref(b);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_STR((char *)l.ev[0].data, "up");
  log_clear(&l);
  wsk_broadcast_unref(b);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(broadcast_to_closed_connection_is_eclosed) {
  wsk_conn_t *cli, *srv;
  pair_deflate(0, 0, &cli, &srv);
  wsk_broadcast_t *b = wsk_broadcast_new(WSK_OP_TEXT, "x", 1, NULL);
  CHECK_INT(wsk_conn_close(srv, 1001, NULL, 0), 0);
  CHECK_INT(wsk_conn_send_broadcast(srv, b), WSK_ECLOSED);
  wsk_broadcast_unref(b);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

int main(void) {
  RUN(broadcast_writes_identical_frames);
  RUN(broadcast_is_compressed_for_no_context_takeover);
  RUN(broadcast_is_plain_with_context_takeover);
  RUN(broadcast_skips_connections_over_the_write_limit);
  RUN(broadcast_rejects_bad_input);
  RUN(broadcast_from_a_client_is_masked);
  RUN(broadcast_to_closed_connection_is_eclosed);
  return test_summary();
}
