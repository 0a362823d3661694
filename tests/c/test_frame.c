/* Frame headers: RFC 6455 5.7 examples byte for byte, the stateless
 * section 5 rules (each broken once, close code 1002), and decoding from
 * every split of the input. */
#include "wskit/frame.h"
#include "testlib.h"

#include <stdlib.h>

#define B(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

static const uint8_t rfc_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Decode from an exact-size heap copy so ASan catches any read past n.
 * Freed on the next call, since a failed CHECK longjmps out. */
static int decode_exact(const uint8_t *p, size_t n, wsk_frame_header_t *h, uint16_t *code) {
  static uint8_t *buf;
  free(buf);
  buf = malloc(n ? n : 1);
  if (!buf) TL_FAIL("malloc");
  memcpy(buf, p, n);
  return wsk_frame_header_decode(buf, n, h, code);
}

/* Decode a complete header, check every prefix wants more bytes, and that
 * trailing payload bytes are not consumed. */
static wsk_frame_header_t decode_ok(const uint8_t *p, size_t n) {
  wsk_frame_header_t h, h2;
  uint16_t code = 0;
  for (size_t k = 0; k < n; k++) CHECK_INT(decode_exact(p, k, &h, &code), 0);
  memset(&h, 0, sizeof h);
  CHECK_INT(decode_exact(p, n, &h, &code), (int)n);
  CHECK_INT(h.header_len, n);
  CHECK_INT(code, 0);
  uint8_t more[WSK_FRAME_MAX_HEADER + 8];
  memcpy(more, p, n);
  memset(more + n, 0xAB, 8);
  memset(&h2, 0, sizeof h2);
  CHECK_INT(decode_exact(more, n + 8, &h2, &code), (int)n);
  CHECK(h2.fin == h.fin && h2.opcode == h.opcode && h2.len == h.len && h2.masked == h.masked);
  CHECK_MEM(h2.mask, h.mask, 4);
  return h;
}

/* A header breaking a rule fails with 1002 once the bytes that decide it
 * are there (`decided_at`), and at every longer prefix. */
static void decode_bad(const uint8_t *p, size_t n, size_t decided_at) {
  wsk_frame_header_t h;
  for (size_t k = 0; k <= n; k++) {
    uint16_t code = 0;
    int r = decode_exact(p, k, &h, &code);
    if (k < decided_at) {
      if (r != 0) TL_FAIL("prefix %zu: %d, expected 0", k, r);
    } else {
      if (r != WSK_EPROTO) TL_FAIL("prefix %zu: %d, expected WSK_EPROTO", k, r);
      CHECK_INT(code, 1002);
    }
  }
}

static void encode_is(int fin, int rsv1, unsigned op, uint64_t len, const uint8_t *mask,
                      const uint8_t *want, size_t n) {
  uint8_t out[WSK_FRAME_MAX_HEADER + 2];
  memset(out, 0xCC, sizeof out);
  CHECK_INT(wsk_frame_header_encode(out, fin, rsv1, op, len, mask), n);
  CHECK_MEM(out, want, n);
  CHECK_INT(out[n], 0xCC);
}

/* ---- RFC 6455 section 5.7 examples ---- */

TEST(frame_rfc_single_frame_unmasked_text) {
  static const uint8_t wire[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
  wsk_frame_header_t h = decode_ok(wire, 2);
  CHECK_INT(h.fin, 1);
  CHECK_INT(h.opcode, WSK_OP_TEXT);
  CHECK_INT(h.masked, 0);
  CHECK_INT(h.len, 5);
  CHECK_MEM(h.mask, "\0\0\0\0", 4);
  CHECK(h.rsv1 == 0 && h.rsv2 == 0 && h.rsv3 == 0);
  uint16_t code;
  CHECK_INT(wsk_frame_header_decode(wire, sizeof wire, &h, &code), 2);
  CHECK_MEM(wire + 2, "Hello", 5);
  encode_is(1, 0, WSK_OP_TEXT, 5, NULL, wire, 2);
}

TEST(frame_rfc_single_frame_masked_text) {
  static const uint8_t wire[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                  0x7f, 0x9f, 0x4d, 0x51, 0x58 };
  wsk_frame_header_t h = decode_ok(wire, 6);
  CHECK_INT(h.fin, 1);
  CHECK_INT(h.opcode, WSK_OP_TEXT);
  CHECK_INT(h.masked, 1);
  CHECK_INT(h.len, 5);
  CHECK_MEM(h.mask, rfc_key, 4);
  uint8_t payload[5];
  wsk_mask_copy(payload, wire + 6, 5, h.mask, 0);
  CHECK_MEM(payload, "Hello", 5);
  encode_is(1, 0, WSK_OP_TEXT, 5, rfc_key, wire, 6);
}

TEST(frame_rfc_fragmented_unmasked_text) {
  static const uint8_t first[] = { 0x01, 0x03, 0x48, 0x65, 0x6c };
  static const uint8_t second[] = { 0x80, 0x02, 0x6c, 0x6f };
  wsk_frame_header_t h = decode_ok(first, 2);
  CHECK_INT(h.fin, 0);
  CHECK_INT(h.opcode, WSK_OP_TEXT);
  CHECK_INT(h.len, 3);
  CHECK_MEM(first + 2, "Hel", 3);
  encode_is(0, 0, WSK_OP_TEXT, 3, NULL, first, 2);
  h = decode_ok(second, 2);
  CHECK_INT(h.fin, 1);
  CHECK_INT(h.opcode, WSK_OP_CONT);
  CHECK_INT(h.len, 2);
  CHECK_MEM(second + 2, "lo", 2);
  encode_is(1, 0, WSK_OP_CONT, 2, NULL, second, 2);
}

TEST(frame_rfc_unmasked_ping) {
  static const uint8_t wire[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
  wsk_frame_header_t h = decode_ok(wire, 2);
  CHECK_INT(h.fin, 1);
  CHECK_INT(h.opcode, WSK_OP_PING);
  CHECK_INT(h.masked, 0);
  CHECK_INT(h.len, 5);
  encode_is(1, 0, WSK_OP_PING, 5, NULL, wire, 2);
}

TEST(frame_rfc_masked_ping_response) {
  /* 5.7 "Unmasked Ping request and masked Ping response": the response is
   * a Pong carrying the ping's "Hello". */
  static const uint8_t wire[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                  0x7f, 0x9f, 0x4d, 0x51, 0x58 };
  wsk_frame_header_t h = decode_ok(wire, 6);
  CHECK_INT(h.opcode, WSK_OP_PONG);
  CHECK_INT(h.masked, 1);
  CHECK_INT(h.len, 5);
  CHECK_MEM(h.mask, rfc_key, 4);
  encode_is(1, 0, WSK_OP_PONG, 5, rfc_key, wire, 6);
}

TEST(frame_masked_ping) {
  static const uint8_t wire[] = { 0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d };
  wsk_frame_header_t h = decode_ok(wire, 6);
  CHECK_INT(h.opcode, WSK_OP_PING);
  CHECK_INT(h.masked, 1);
  CHECK_INT(h.len, 5);
  encode_is(1, 0, WSK_OP_PING, 5, rfc_key, wire, 6);
}

TEST(frame_rfc_256_byte_binary_uses_16_bit_length) {
  static const uint8_t wire[] = { 0x82, 0x7E, 0x01, 0x00 };
  wsk_frame_header_t h = decode_ok(wire, sizeof wire);
  CHECK_INT(h.opcode, WSK_OP_BINARY);
  CHECK_INT(h.len, 256);
  encode_is(1, 0, WSK_OP_BINARY, 256, NULL, wire, sizeof wire);
}

TEST(frame_rfc_64k_binary_uses_64_bit_length) {
  static const uint8_t wire[] = { 0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 };
  wsk_frame_header_t h = decode_ok(wire, sizeof wire);
  CHECK_INT(h.opcode, WSK_OP_BINARY);
  CHECK_INT(h.len, 65536);
  CHECK_INT(h.header_len, 10);
  encode_is(1, 0, WSK_OP_BINARY, 65536, NULL, wire, sizeof wire);
}

/* ---- length forms and their edges ---- */

TEST(frame_length_form_edges) {
  encode_is(1, 0, 2, 125, NULL, B(0x82, 0x7D));
  encode_is(1, 0, 2, 126, NULL, B(0x82, 0x7E, 0x00, 0x7E));
  encode_is(1, 0, 2, 65535, NULL, B(0x82, 0x7E, 0xFF, 0xFF));
  encode_is(1, 0, 2, 65536, NULL, B(0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0));
  encode_is(1, 0, 2, UINT64_C(0x7FFFFFFFFFFFFFFF), NULL,
            B(0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF));
  CHECK_INT(decode_ok(B(0x82, 0x7D)).len, 125);
  CHECK_INT(decode_ok(B(0x82, 0x7E, 0x00, 0x7E)).len, 126);
  CHECK_INT(decode_ok(B(0x82, 0x7E, 0xFF, 0xFF)).len, 65535);
  CHECK(decode_ok(B(0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)).len ==
        UINT64_C(0x7FFFFFFFFFFFFFFF));
  CHECK_INT(decode_ok(B(0x82, 0x00)).len, 0);
}

TEST(frame_masked_64_bit_header_is_14_bytes) {
  static const uint8_t wire[] = { 0x02, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 };
  wsk_frame_header_t h = decode_ok(wire, sizeof wire);
  CHECK_INT(sizeof wire, WSK_FRAME_MAX_HEADER);
  CHECK_INT(h.fin, 0);
  CHECK(h.len == UINT64_C(0x100000000));
  CHECK_MEM(h.mask, "\x01\x02\x03\x04", 4);
  encode_is(0, 0, 2, UINT64_C(0x100000000), (const uint8_t *)"\x01\x02\x03\x04", wire,
            sizeof wire);
}

TEST(frame_rsv_bits_are_reported_not_rejected) {
  /* whether RSV bits are allowed depends on extensions: wsk_conn decides */
  wsk_frame_header_t h = decode_ok(B(0xC1, 0x00));
  CHECK(h.rsv1 == 1 && h.rsv2 == 0 && h.rsv3 == 0);
  h = decode_ok(B(0xA2, 0x00));
  CHECK(h.rsv1 == 0 && h.rsv2 == 1 && h.rsv3 == 0);
  h = decode_ok(B(0x90, 0x00));
  CHECK(h.rsv1 == 0 && h.rsv2 == 0 && h.rsv3 == 1);
  CHECK_INT(h.opcode, 0);
  encode_is(1, 1, WSK_OP_TEXT, 0, NULL, B(0xC1, 0x00));
}

TEST(frame_control_frame_with_125_byte_payload_is_valid) {
  CHECK_INT(decode_ok(B(0x88, 0x7D)).len, 125);
  CHECK_INT(decode_ok(B(0x89, 0xFD, 1, 2, 3, 4)).len, 125);
}

TEST(frame_every_defined_opcode_decodes) {
  static const unsigned ops[] = { 0x0, 0x1, 0x2, 0x8, 0x9, 0xA };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    uint8_t wire[2] = { (uint8_t)(0x80 | ops[i]), 0x03 };
    CHECK_INT(decode_ok(wire, 2).opcode, ops[i]);
  }
}

/* ---- each stateless rule broken once: 1002 ---- */

TEST(frame_reserved_data_opcodes_3_to_7_are_1002) {
  for (unsigned op = 0x3; op <= 0x7; op++) {
    uint8_t wire[2] = { (uint8_t)(0x80 | op), 0x00 };
    decode_bad(wire, 2, 1);
  }
}

TEST(frame_reserved_control_opcodes_b_to_f_are_1002) {
  for (unsigned op = 0xB; op <= 0xF; op++) {
    uint8_t wire[2] = { (uint8_t)(0x80 | op), 0x00 };
    decode_bad(wire, 2, 1);
  }
}

TEST(frame_fragmented_control_frame_is_1002) {
  decode_bad(B(0x08, 0x00), 1); /* close, fin=0 */
  decode_bad(B(0x09, 0x00), 1); /* ping */
  decode_bad(B(0x0A, 0x00), 1); /* pong */
}

TEST(frame_control_frame_over_125_bytes_is_1002) {
  decode_bad(B(0x89, 0x7E, 0x00, 0x7E), 2);
  decode_bad(B(0x88, 0x7E, 0x00, 0x7D), 2); /* 16-bit form at all is too long */
  decode_bad(B(0x8A, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0), 2);
  decode_bad(B(0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4), 2);
}

TEST(frame_non_minimal_16_bit_length_is_1002) {
  decode_bad(B(0x82, 0x7E, 0x00, 0x7D), 4);
  decode_bad(B(0x82, 0x7E, 0x00, 0x00), 4);
  decode_bad(B(0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4), 4);
}

TEST(frame_non_minimal_64_bit_length_is_1002) {
  decode_bad(B(0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF), 10);
  decode_bad(B(0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x00, 0x05), 10);
  decode_bad(B(0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4), 10);
}

TEST(frame_64_bit_length_with_top_bit_set_is_1002) {
  decode_bad(B(0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0), 3);
  decode_bad(B(0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), 3);
}

TEST(frame_close_code_may_be_null) {
  wsk_frame_header_t h;
  CHECK_INT(wsk_frame_header_decode((const uint8_t *)"\x83\x00", 2, &h, NULL), WSK_EPROTO);
}

/* ---- incremental input ---- */

TEST(frame_empty_input_needs_more) {
  wsk_frame_header_t h;
  uint16_t code = 0;
  CHECK_INT(wsk_frame_header_decode(NULL, 0, &h, &code), 0);
  CHECK_INT(code, 0);
}

/* Every header shape, split at every point: 0 until complete, then the
 * same header as decoded whole (decode_ok does the prefix walk). */
TEST(frame_decode_split_at_every_point_is_identical) {
  static const uint64_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, UINT64_C(0x123456789A) };
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
    for (int masked = 0; masked < 2; masked++)
      for (unsigned op = 0; op <= 2; op++) {
        uint8_t wire[WSK_FRAME_MAX_HEADER];
        size_t n = wsk_frame_header_encode(wire, 1, op == 1, op, lens[i],
                                           masked ? rfc_key : NULL);
        wsk_frame_header_t h = decode_ok(wire, n);
        CHECK(h.len == lens[i]);
        CHECK_INT(h.masked, masked);
        CHECK_INT(h.opcode, op);
        CHECK_INT(h.rsv1, op == 1);
        CHECK_MEM(h.mask, masked ? rfc_key : (const uint8_t *)"\0\0\0\0", 4);
        /* piece by piece: a fed buffer growing one byte at a time */
        for (size_t k = 1; k <= n; k++) {
          wsk_frame_header_t h2;
          uint16_t code = 0;
          int r = decode_exact(wire, k, &h2, &code);
          if (k < n) {
            CHECK_INT(r, 0);
          } else {
            CHECK_INT(r, (int)n);
            CHECK(h2.len == h.len && h2.opcode == h.opcode && h2.fin == h.fin &&
                  h2.rsv1 == h.rsv1 && h2.masked == h.masked && h2.header_len == n);
          }
        }
      }
}

int main(void) {
  RUN(frame_rfc_single_frame_unmasked_text);
  RUN(frame_rfc_single_frame_masked_text);
  RUN(frame_rfc_fragmented_unmasked_text);
  RUN(frame_rfc_unmasked_ping);
  RUN(frame_rfc_masked_ping_response);
  RUN(frame_masked_ping);
  RUN(frame_rfc_256_byte_binary_uses_16_bit_length);
  RUN(frame_rfc_64k_binary_uses_64_bit_length);
  RUN(frame_length_form_edges);
  RUN(frame_masked_64_bit_header_is_14_bytes);
  RUN(frame_rsv_bits_are_reported_not_rejected);
  RUN(frame_control_frame_with_125_byte_payload_is_valid);
  RUN(frame_every_defined_opcode_decodes);
  RUN(frame_reserved_data_opcodes_3_to_7_are_1002);
  RUN(frame_reserved_control_opcodes_b_to_f_are_1002);
  RUN(frame_fragmented_control_frame_is_1002);
  RUN(frame_control_frame_over_125_bytes_is_1002);
  RUN(frame_non_minimal_16_bit_length_is_1002);
  RUN(frame_non_minimal_64_bit_length_is_1002);
  RUN(frame_64_bit_length_with_top_bit_set_is_1002);
  RUN(frame_close_code_may_be_null);
  RUN(frame_empty_input_needs_more);
  RUN(frame_decode_split_at_every_point_is_identical);
  return test_summary();
}
