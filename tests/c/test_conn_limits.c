/* Each receive limit crossed (and met exactly), with and without
 * compression, plus streaming delivery of big messages. */
#include "conn_helpers.h"

static void pair_with(size_t max_msg, size_t max_frame, size_t max_frags, int deflate,
                      wsk_conn_t **cli, wsk_conn_t **srv) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  co.client.deflate.enabled = deflate;
  co.max_message_size = 0; /* the client is the sender here */
  co.client.deflate.threshold = 0;
  so.max_message_size = max_msg;
  so.max_frame_size = max_frame;
  so.max_fragments = max_frags;
  make_pair(&co, &so, cli, srv);
}

/* Send `len` bytes of 'a' from client to server in `frags` fragments. */
static void send_and_check(size_t max_msg, size_t max_frame, size_t max_frags, int deflate,
                           size_t len, size_t frags, int expect_code) {
  wsk_conn_t *cli, *srv;
  pair_with(max_msg, max_frame, max_frags, deflate, &cli, &srv);
  uint8_t *msg = malloc(len + 1);
  memset(msg, 'a', len);
  if (frags <= 1) {
    CHECK_INT(wsk_conn_send(cli, WSK_OP_TEXT, msg, len), 0);
  } else {
    size_t per = len / frags, off = 0;
    for (size_t i = 0; i < frags; i++) {
      size_t n = i + 1 == frags ? len - off : per;
      CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, msg + off, n, i + 1 == frags), 0);
      off += n;
    }
  }
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  if (expect_code) {
    CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
    CHECK_INT(l.ev[0].sent_code, expect_code);
    CHECK_INT(output_close_code(srv), expect_code);
  } else {
    CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
    CHECK_INT(l.ev[0].len, len);
  }
  log_clear(&l);
  free(msg);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(max_message_size_met_exactly) { send_and_check(1000, 0, 16, 0, 1000, 1, 0); }
TEST(max_message_size_crossed_is_1009) { send_and_check(1000, 0, 16, 0, 1001, 1, 1009); }
TEST(max_message_size_crossed_by_fragments_is_1009) { send_and_check(1000, 0, 16, 0, 1001, 4, 1009); }
TEST(max_message_size_met_by_fragments) { send_and_check(1000, 0, 16, 0, 1000, 4, 0); }
TEST(max_frame_size_crossed_is_1009) { send_and_check(0, 100, 100, 0, 101, 1, 1009); }
TEST(max_frame_size_met_exactly) { send_and_check(0, 100, 100, 0, 100, 1, 0); }
TEST(max_fragments_crossed_is_1009) { send_and_check(0, 0, 4, 0, 10, 5, 1009); }
TEST(max_fragments_met_exactly) { send_and_check(0, 0, 4, 0, 10, 4, 0); }
TEST(compressed_message_inflating_over_limit_is_1009) { send_and_check(1000, 0, 16, 1, 1001, 1, 1009); }
TEST(compressed_message_at_limit_is_accepted) { send_and_check(1000, 0, 16, 1, 1000, 1, 0); }

TEST(empty_fragments_count_toward_the_limit) {
  wsk_conn_t *cli, *srv;
  pair_with(0, 0, 3, 0, &cli, &srv);
  uint8_t buf[64];
  size_t n = cframe(buf, 0, 0, WSK_OP_BINARY, "", 0);
  n += cframe(buf + n, 0, 0, WSK_OP_CONT, "", 0);
  n += cframe(buf + n, 0, 0, WSK_OP_CONT, "", 0);
  n += cframe(buf + n, 1, 0, WSK_OP_CONT, "", 0);
  evlog_t l = {0};
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].sent_code, 1009);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(compression_bomb_stops_at_the_limit) {
  /* 1 MiB of zeros deflates to about 1 KiB; a 64 KiB limit must hold. */
  wsk_conn_t *cli, *srv;
  pair_with(64 * 1024, 0, 16, 1, &cli, &srv);
  size_t len = 1 << 20;
  uint8_t *zeros = calloc(1, len);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_BINARY, zeros, len), 0);
  CHECK(wsk_conn_output_len(cli) < 4096);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].sent_code, 1009);
  log_clear(&l);
  free(zeros);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(stream_fragments_delivers_pieces) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  co.client.deflate.enabled = 0;
  so.stream_fragments = 1;
  wsk_conn_t *cli, *srv;
  make_pair(&co, &so, &cli, &srv);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_BINARY, "abc", 3, 0), 0);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_BINARY, "", 0, 0), 0);
  CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_BINARY, "de", 2, 1), 0);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.n, 2); /* the empty middle fragment produces nothing */
  CHECK_INT(l.ev[0].type, WSK_EV_FRAGMENT);
  CHECK_INT(l.ev[0].opcode, WSK_OP_BINARY);
  CHECK_INT(l.ev[0].first, 1);
  CHECK_INT(l.ev[0].fin, 0);
  CHECK_STR((char *)l.ev[0].data, "abc");
  CHECK_INT(l.ev[1].first, 0);
  CHECK_INT(l.ev[1].fin, 1);
  CHECK_STR((char *)l.ev[1].data, "de");
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(stream_fragments_with_compression) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  so.stream_fragments = 1;
  co.client.deflate.threshold = 0;
  wsk_conn_t *cli, *srv;
  make_pair(&co, &so, &cli, &srv);
  size_t total = 0;
  char piece[1000];
  memset(piece, 'x', sizeof piece);
  for (int i = 0; i < 10; i++)
    CHECK_INT(wsk_conn_send_fragment(cli, WSK_OP_TEXT, piece, sizeof piece, i == 9), 0);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK(l.n >= 1);
  for (int i = 0; i < l.n; i++) {
    CHECK_INT(l.ev[i].type, WSK_EV_FRAGMENT);
    CHECK_INT(l.ev[i].first, i == 0);
    CHECK_INT(l.ev[i].fin, i == l.n - 1);
    total += l.ev[i].len;
  }
  CHECK_INT(total, 10000);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(sixteen_mib_message_round_trip) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  so.max_message_size = 16 << 20;
  wsk_conn_t *cli, *srv;
  make_pair(&co, &so, &cli, &srv);
  size_t len = 16 << 20;
  uint8_t *big = malloc(len);
  for (size_t i = 0; i < len; i++) big[i] = (uint8_t)(i * 2654435761u >> 13);
  CHECK_INT(wsk_conn_send(cli, WSK_OP_BINARY, big, len), 0);
  evlog_t l = {0};
  pump(cli, srv, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_BINARY);
  CHECK_INT(l.ev[0].len, len);
  CHECK_MEM(l.ev[0].data, big, len);
  log_clear(&l);
  free(big);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

int main(void) {
  RUN(max_message_size_met_exactly);
  RUN(max_message_size_crossed_is_1009);
  RUN(max_message_size_crossed_by_fragments_is_1009);
  RUN(max_message_size_met_by_fragments);
  RUN(max_frame_size_crossed_is_1009);
  RUN(max_frame_size_met_exactly);
  RUN(max_fragments_crossed_is_1009);
  RUN(max_fragments_met_exactly);
  RUN(compressed_message_inflating_over_limit_is_1009);
  RUN(compressed_message_at_limit_is_accepted);
  RUN(empty_fragments_count_toward_the_limit);
  RUN(compression_bomb_stops_at_the_limit);
  RUN(stream_fragments_delivers_pieces);
  RUN(stream_fragments_with_compression);
  RUN(sixteen_mib_message_round_trip);
  return test_summary();
}
