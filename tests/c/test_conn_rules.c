/* RFC 6455 section 5 rules, each broken once, with the close code the
 * server must answer, plus the UTF-8 and close-frame rules. */
#include "conn_helpers.h"

/* Feed raw bytes to an open server; expect it to fail with `code`. */
static void expect_fail(const uint8_t *bytes, size_t n, unsigned code, int deflate) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  co.client.deflate.enabled = deflate;
  so.server.deflate.enabled = deflate;
  wsk_conn_t *cli, *srv;
  make_pair(&co, &so, &cli, &srv);
  CHECK_INT(wsk_conn_deflate(srv)->enabled, deflate);
  evlog_t l = {0};
  feed(srv, bytes, n, &l);
  CHECK(l.n >= 1);
  CHECK_INT(last(&l)->type, WSK_EV_CLOSED);
  CHECK_INT(last(&l)->sent_code, code);
  CHECK_INT(last(&l)->code, 1006);
  CHECK_INT(last(&l)->clean, 0);
  CHECK_INT(last(&l)->len, 0); /* nothing of the bad frame leaks into CLOSED */
  CHECK_INT(output_close_code(srv), code);
  CHECK(strlen(wsk_conn_error(srv)) > 0);
  CHECK_INT(wsk_conn_state(srv), WSK_STATE_CLOSED);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

static void expect_fail_frame(int fin, int rsv, unsigned op, const void *p, size_t n,
                              unsigned code) {
  uint8_t buf[512];
  size_t len = cframe(buf, fin, rsv, op, p, n);
  expect_fail(buf, len, code, 0);
}

TEST(rsv1_without_extension_is_1002) { expect_fail_frame(1, 1, WSK_OP_TEXT, "a", 1, 1002); }
TEST(rsv2_is_1002) { expect_fail_frame(1, 2, WSK_OP_TEXT, "a", 1, 1002); }
TEST(rsv3_is_1002) { expect_fail_frame(1, 4, WSK_OP_BINARY, "a", 1, 1002); }

TEST(reserved_data_opcodes_are_1002) {
  for (unsigned op = 3; op <= 7; op++) expect_fail_frame(1, 0, op, "a", 1, 1002);
}
TEST(reserved_control_opcodes_are_1002) {
  for (unsigned op = 0xB; op <= 0xF; op++) expect_fail_frame(1, 0, op, "", 0, 1002);
}

TEST(control_frame_over_125_bytes_is_1002) {
  uint8_t payload[126] = {0};
  uint8_t buf[200];
  /* The encoder refuses nothing, so build it directly. */
  size_t len = cframe(buf, 1, 0, WSK_OP_PING, payload, sizeof payload);
  expect_fail(buf, len, 1002, 0);
}

TEST(fragmented_control_frame_is_1002) { expect_fail_frame(0, 0, WSK_OP_PING, "x", 1, 1002); }

TEST(unmasked_frame_from_client_is_1002) {
  uint8_t buf[16];
  size_t len = sframe(buf, 1, 0, WSK_OP_TEXT, "hi", 2);
  expect_fail(buf, len, 1002, 0);
}

TEST(masked_frame_from_server_is_1002) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  uint8_t buf[16];
  size_t len = cframe(buf, 1, 0, WSK_OP_TEXT, "hi", 2);
  evlog_t l = {0};
  feed(cli, buf, len, &l);
  CHECK_INT(last(&l)->type, WSK_EV_CLOSED);
  CHECK_INT(last(&l)->sent_code, 1002);
  CHECK_INT(output_close_code(cli), 1002);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(non_minimal_16bit_length_is_1002) {
  uint8_t buf[] = {0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
  expect_fail(buf, sizeof buf, 1002, 0);
}

TEST(non_minimal_64bit_length_is_1002) {
  uint8_t buf[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4};
  expect_fail(buf, sizeof buf, 1002, 0);
}

TEST(length_with_top_bit_is_1002) {
  uint8_t buf[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 1, 2, 3, 4};
  expect_fail(buf, sizeof buf, 1002, 0);
}

TEST(continuation_without_start_is_1002) { expect_fail_frame(1, 0, WSK_OP_CONT, "a", 1, 1002); }

TEST(new_message_inside_fragmented_is_1002) {
  uint8_t buf[64];
  size_t n = cframe(buf, 0, 0, WSK_OP_TEXT, "ab", 2);
  n += cframe(buf + n, 1, 0, WSK_OP_BINARY, "cd", 2);
  expect_fail(buf, n, 1002, 0);
}

TEST(invalid_utf8_text_is_1007) { expect_fail_frame(1, 0, WSK_OP_TEXT, "\xC0\x80", 2, 1007); }

TEST(invalid_utf8_fails_fast_across_fragments) {
  /* "κόσμε" then ED A0 80 (a surrogate) spread over fragments: the server
   * must fail at the fragment holding A0, before the message ends. */
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  uint8_t buf[64];
  evlog_t l = {0};
  size_t n = cframe(buf, 0, 0, WSK_OP_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed", 12);
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 0);
  n = cframe(buf, 0, 0, WSK_OP_CONT, "\xa0", 1);
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_CLOSED);
  CHECK_INT(l.ev[0].sent_code, 1007);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(truncated_utf8_at_message_end_is_1007) {
  uint8_t buf[64];
  size_t n = cframe(buf, 0, 0, WSK_OP_TEXT, "ok\xe2\x82", 4);
  n += cframe(buf + n, 1, 0, WSK_OP_CONT, "", 0);
  expect_fail(buf, n, 1007, 0);
}

TEST(utf8_split_across_fragments_is_accepted) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  uint8_t buf[64];
  size_t n = cframe(buf, 0, 0, WSK_OP_TEXT, "\xe2", 1);
  n += cframe(buf + n, 0, 0, WSK_OP_CONT, "\x82", 1);
  n += cframe(buf + n, 1, 0, WSK_OP_CONT, "\xac", 1);
  evlog_t l = {0};
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_INT(l.ev[0].len, 3);
  CHECK_MEM(l.ev[0].data, "\xe2\x82\xac", 3);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(close_with_one_byte_payload_is_1002) { expect_fail_frame(1, 0, WSK_OP_CLOSE, "\x03", 1, 1002); }

TEST(close_with_invalid_codes_is_1002) {
  static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
    expect_fail_frame(1, 0, WSK_OP_CLOSE, p, 2, 1002);
  }
}

TEST(close_with_valid_codes_is_echoed) {
  static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    wsk_conn_t *cli, *srv;
    make_pair(NULL, NULL, &cli, &srv);
    uint8_t p[2] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i]}, buf[16];
    size_t n = cframe(buf, 1, 0, WSK_OP_CLOSE, p, 2);
    evlog_t l = {0};
    feed(srv, buf, n, &l);
    CHECK_INT(l.n, 2);
    CHECK_INT(l.ev[0].type, WSK_EV_CLOSE);
    CHECK_INT(l.ev[0].code, good[i]);
    CHECK_INT(l.ev[1].type, WSK_EV_CLOSED);
    CHECK_INT(l.ev[1].code, good[i]);
    CHECK_INT(l.ev[1].sent_code, good[i]);
    CHECK_INT(l.ev[1].clean, 1);
    CHECK_INT(output_close_code(srv), (int)good[i]);
    log_clear(&l);
    wsk_conn_free(cli);
    wsk_conn_free(srv);
  }
}

TEST(close_reason_invalid_utf8_is_1007) {
  expect_fail_frame(1, 0, WSK_OP_CLOSE, "\x03\xe8\xff", 3, 1007);
}

TEST(rsv1_on_continuation_is_1002_with_deflate) {
  uint8_t buf[64];
  size_t n = cframe(buf, 0, 0, WSK_OP_TEXT, "ab", 2);
  n += cframe(buf + n, 1, 1, WSK_OP_CONT, "cd", 2);
  expect_fail(buf, n, 1002, 1);
}

TEST(rsv1_on_control_is_1002_with_deflate) {
  uint8_t buf[64];
  size_t n = cframe(buf, 1, 1, WSK_OP_PING, "", 0);
  expect_fail(buf, n, 1002, 1);
}

TEST(corrupt_compressed_data_is_1007) {
  uint8_t buf[64];
  size_t n = cframe(buf, 1, 1, WSK_OP_BINARY, "\xff\xff\xff\xff", 4);
  expect_fail(buf, n, 1007, 1);
}

TEST(compressed_text_invalid_utf8_is_1007) {
  /* 0xFF stored in a raw deflate stored block: 01 01 00 fe ff ff */
  uint8_t buf[64];
  size_t n = cframe(buf, 1, 1, WSK_OP_TEXT, "\x01\x01\x00\xfe\xff\xff", 6);
  expect_fail(buf, n, 1007, 1);
}

TEST(rfc7692_hello_example_received) {
  wsk_conn_opts_t co, so;
  client_opts(&co);
  server_opts(&so);
  wsk_conn_t *cli, *srv;
  make_pair(&co, &so, &cli, &srv);
  CHECK_INT(wsk_conn_deflate(srv)->enabled, 1);
  uint8_t buf[64];
  size_t n = cframe(buf, 1, 1, WSK_OP_TEXT, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
  evlog_t l = {0};
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_INT(l.ev[0].len, 5);
  CHECK_MEM(l.ev[0].data, "Hello", 5);
  log_clear(&l);
  /* RFC 7692 7.2.3.2: a second "Hello" using the first as context. */
  n = cframe(buf, 1, 1, WSK_OP_TEXT, "\xf2\x00\x11\x00\x01\x00", 6);
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 1);
  CHECK_MEM(l.ev[0].data, "Hello", 5);
  log_clear(&l);
  /* 7.2.3.3: a stored (uncompressed) block. */
  n = cframe(buf, 1, 1, WSK_OP_TEXT, "\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00", 11);
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 1);
  CHECK_MEM(l.ev[0].data, "Hello", 5);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(rfc7692_fragmented_compressed_message) {
  /* 7.2.3.1 example split in two fragments; only the first has RSV1. */
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  uint8_t buf[64];
  size_t n = cframe(buf, 0, 1, WSK_OP_TEXT, "\xf2\x48\xcd", 3);
  n += cframe(buf + n, 1, 0, WSK_OP_CONT, "\xc9\xc9\x07\x00", 4);
  evlog_t l = {0};
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_MEM(l.ev[0].data, "Hello", 5);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(control_frames_between_fragments_are_delivered) {
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  uint8_t buf[64];
  size_t n = cframe(buf, 0, 0, WSK_OP_TEXT, "Hel", 3);
  n += cframe(buf + n, 1, 0, WSK_OP_PING, "p", 1);
  n += cframe(buf + n, 1, 0, WSK_OP_CONT, "lo", 2);
  evlog_t l = {0};
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 2);
  CHECK_INT(l.ev[0].type, WSK_EV_PING);
  CHECK_INT(l.ev[1].type, WSK_EV_TEXT);
  CHECK_MEM(l.ev[1].data, "Hello", 5);
  /* the automatic pong carries the ping's payload */
  size_t on;
  const uint8_t *o = wsk_conn_output(srv, &on);
  CHECK_INT(on, 3);
  CHECK_INT(o[0], 0x8A);
  CHECK_INT(o[1], 1);
  CHECK_INT(o[2], 'p');
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

TEST(empty_compressed_message_is_delivered) {
  /* RFC 7692 7.2.3.6: an empty message compresses to the single byte 0x00 */
  wsk_conn_t *cli, *srv;
  make_pair(NULL, NULL, &cli, &srv);
  uint8_t buf[16];
  size_t n = cframe(buf, 1, 1, WSK_OP_TEXT, "\x00", 1);
  evlog_t l = {0};
  feed(srv, buf, n, &l);
  CHECK_INT(l.n, 1);
  CHECK_INT(l.ev[0].type, WSK_EV_TEXT);
  CHECK_INT(l.ev[0].len, 0);
  log_clear(&l);
  wsk_conn_free(cli);
  wsk_conn_free(srv);
}

int main(void) {
  RUN(rsv1_without_extension_is_1002);
  RUN(rsv2_is_1002);
  RUN(rsv3_is_1002);
  RUN(reserved_data_opcodes_are_1002);
  RUN(reserved_control_opcodes_are_1002);
  RUN(control_frame_over_125_bytes_is_1002);
  RUN(fragmented_control_frame_is_1002);
  RUN(unmasked_frame_from_client_is_1002);
  RUN(masked_frame_from_server_is_1002);
  RUN(non_minimal_16bit_length_is_1002);
  RUN(non_minimal_64bit_length_is_1002);
  RUN(length_with_top_bit_is_1002);
  RUN(continuation_without_start_is_1002);
  RUN(new_message_inside_fragmented_is_1002);
  RUN(invalid_utf8_text_is_1007);
  RUN(invalid_utf8_fails_fast_across_fragments);
  RUN(truncated_utf8_at_message_end_is_1007);
  RUN(utf8_split_across_fragments_is_accepted);
  RUN(close_with_one_byte_payload_is_1002);
  RUN(close_with_invalid_codes_is_1002);
  RUN(close_with_valid_codes_is_echoed);
  RUN(close_reason_invalid_utf8_is_1007);
  RUN(rsv1_on_continuation_is_1002_with_deflate);
  RUN(rsv1_on_control_is_1002_with_deflate);
  RUN(corrupt_compressed_data_is_1007);
  RUN(compressed_text_invalid_utf8_is_1007);
  RUN(rfc7692_hello_example_received);
  RUN(rfc7692_fragmented_compressed_message);
  RUN(control_frames_between_fragments_are_delivered);
  RUN(empty_compressed_message_is_delivered);
  return test_summary();
}
