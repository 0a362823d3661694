/* permessage-deflate codec: RFC 7692 7.2.3 examples, round trips in every
 * parameter combination, context takeover, the decompression size bound,
 * corrupt and odd streams, window bits 8. */
#include "wskit/deflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "testlib.h"

static const uint8_t HELLO_1[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };

static wsk_deflate_params_t params(int cbits, int sbits, int cnct, int snct) {
  wsk_deflate_params_t p;
  memset(&p, 0, sizeof p);
  p.enabled = 1;
  p.client_max_window_bits = cbits;
  p.server_max_window_bits = sbits;
  p.client_no_context_takeover = cnct;
  p.server_no_context_takeover = snct;
  return p;
}

static wsk_deflate_t *codec(int role, int cbits, int sbits, int cnct, int snct) {
  wsk_deflate_params_t p = params(cbits, sbits, cnct, snct);
  return wsk_deflate_new(&p, (wsk_role_t)role, 6, 8);
}

static int pending_is(const wsk_buf_t *b, const void *p, size_t n) {
  return wsk_buf_pending(b) == n && (n == 0 || memcmp(b->data + b->off, p, n) == 0);
}

/* Deterministic JSON-ish text, `n` bytes, varying with `seed`. */
static uint8_t *json_text(size_t n, unsigned seed) {
  static const char *const actions[] = { "update", "create", "delete", "subscribe", "ping" };
  static const char *const names[] = { "alice", "bob", "carol", "dave", "erin", "frank" };
  uint8_t *buf = malloc(n + 256);
  size_t len = 0;
  uint32_t x = seed * 2654435761u + 1;
  while (len < n) {
    x = x * 1664525u + 1013904223u;
    len += (size_t)snprintf((char *)buf + len, 256,
                            "{\"id\":%u,\"user\":\"%s_%u\",\"action\":\"%s\",\"ts\":%u,"
                            "\"score\":0.%03u,\"tags\":[\"t%u\",\"x\"],\"ok\":%s}\n",
                            (unsigned)(x >> 8) % 100000, names[(x >> 3) % 6], (x >> 12) % 1000,
                            actions[(x >> 5) % 5], 1690000000u + (x >> 16), (x >> 7) % 1000,
                            (x >> 20) % 50, (x & 1) ? "true" : "false");
  }
  return buf;
}

/* Compress one message sent in fragments of `frag` bytes (0 = one piece);
 * records where each fragment's output ends in `ends` (may be NULL). */
static int compress_msg(wsk_deflate_t *d, const uint8_t *m, size_t n, size_t frag,
                        wsk_buf_t *out, size_t *ends, size_t *nends) {
  size_t k = 0, pos = 0;
  do {
    size_t take = frag && n - pos > frag ? frag : n - pos;
    int rc = wsk_deflate_compress(d, m + pos, take, pos + take == n, out);
    if (rc) return rc;
    pos += take;
    if (ends) ends[k] = wsk_buf_pending(out);
    k++;
  } while (pos < n);
  if (nends) *nends = k;
  return 0;
}

/* Decompress a whole message handed over in one call. */
static int decompress_msg(wsk_deflate_t *d, const void *p, size_t n, size_t max_out,
                          wsk_buf_t *out) {
  return wsk_deflate_decompress(d, p, n, 1, max_out, out);
}

/* An independent receiver: plain zlib raw inflate with the RFC's 4 octets
 * appended, at the exact window size (8 included: zlib inflates raw
 * streams with 256-byte windows, it only refuses to deflate them). */
static int ref_inflate(z_stream *z, const uint8_t *p, size_t n, wsk_buf_t *out) {
  uint8_t tmp[4096];
  for (int part = 0; part < 2; part++) {
    z->next_in = part ? (Bytef *)(uintptr_t) "\x00\x00\xff\xff" : (Bytef *)(uintptr_t)p;
    z->avail_in = part ? 4 : (uInt)n;
    do {
      z->next_out = tmp;
      z->avail_out = sizeof tmp;
      int rc = inflate(z, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) return rc;
      if (wsk_buf_append(out, tmp, sizeof tmp - z->avail_out)) return Z_MEM_ERROR;
    } while (z->avail_out == 0 || z->avail_in > 0);
  }
  return Z_OK;
}

/* ---- RFC 7692 section 7.2.3 examples ---- */

TEST(rfc7692_7_2_3_1_hello_compresses_to_rfc_bytes) {
  wsk_deflate_t *d = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
  CHECK(d);
  wsk_buf_t out = { 0 };
  CHECK_INT(wsk_deflate_compress(d, (const uint8_t *)"Hello", 5, 1, &out), 0);
  CHECK(pending_is(&out, HELLO_1, sizeof HELLO_1));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(rfc7692_7_2_3_1_hello_decompresses) {
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, HELLO_1, sizeof HELLO_1, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(rfc7692_7_2_3_1_fragments_of_3_and_4_octets) {
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(wsk_deflate_decompress(d, HELLO_1, 3, 0, 0, &out), 0);
  CHECK_INT(wsk_deflate_decompress(d, HELLO_1 + 3, 4, 1, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(rfc7692_7_2_3_2_context_takeover_second_hello) {
  static const uint8_t rfc_second[] = { 0xf2, 0x00, 0x11, 0x00, 0x00 };
  /* The same message with another valid encoding of the tail. */
  static const uint8_t alt_second[] = { 0xf2, 0x00, 0x11, 0x00, 0x01, 0x00 };
  /* Our compressor reproduces the RFC's bytes. */
  wsk_deflate_t *c = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(wsk_deflate_compress(c, (const uint8_t *)"Hello", 5, 1, &out), 0);
  CHECK(pending_is(&out, HELLO_1, sizeof HELLO_1));
  out.len = out.off = 0;
  CHECK_INT(wsk_deflate_compress(c, (const uint8_t *)"Hello", 5, 1, &out), 0);
  CHECK(pending_is(&out, rfc_second, sizeof rfc_second));
  wsk_deflate_free(c);
  /* And the server decompresses both forms with the first message's window. */
  for (int k = 0; k < 2; k++) {
    wsk_deflate_t *s = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
    out.len = out.off = 0;
    CHECK_INT(decompress_msg(s, HELLO_1, sizeof HELLO_1, 0, &out), 0);
    CHECK(pending_is(&out, "Hello", 5));
    out.len = out.off = 0;
    CHECK_INT(k ? decompress_msg(s, alt_second, sizeof alt_second, 0, &out)
                : decompress_msg(s, rfc_second, sizeof rfc_second, 0, &out), 0);
    CHECK(pending_is(&out, "Hello", 5));
    wsk_deflate_free(s);
  }
  wsk_buf_free(&out);
}

TEST(rfc7692_7_2_3_2_no_context_takeover_repeats_bytes) {
  wsk_deflate_t *c = codec(WSK_ROLE_CLIENT, 15, 15, 1, 0);
  wsk_buf_t out = { 0 };
  for (int i = 0; i < 3; i++) {
    out.len = out.off = 0;
    CHECK_INT(wsk_deflate_compress(c, (const uint8_t *)"Hello", 5, 1, &out), 0);
    CHECK(pending_is(&out, HELLO_1, sizeof HELLO_1));
  }
  /* The server side of the same agreement decompresses each on its own. */
  wsk_deflate_t *s = codec(WSK_ROLE_SERVER, 15, 15, 1, 0);
  for (int i = 0; i < 3; i++) {
    out.len = out.off = 0;
    CHECK_INT(decompress_msg(s, HELLO_1, sizeof HELLO_1, 0, &out), 0);
    CHECK(pending_is(&out, "Hello", 5));
  }
  wsk_buf_free(&out);
  wsk_deflate_free(c);
  wsk_deflate_free(s);
}

TEST(rfc7692_7_2_3_3_uncompressed_block) {
  static const uint8_t msg[] = { 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00 };
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, msg, sizeof msg, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(rfc7692_7_2_3_4_bfinal_block) {
  static const uint8_t msg[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00 };
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, msg, sizeof msg, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(rfc7692_7_2_3_5_two_deflate_blocks) {
  static const uint8_t msg[] = { 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
                                 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00 };
  wsk_deflate_t *d = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, msg, sizeof msg, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  /* Split between the blocks, as two frames. */
  wsk_deflate_t *d2 = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
  out.len = out.off = 0;
  CHECK_INT(wsk_deflate_decompress(d2, msg, 8, 0, 0, &out), 0);
  CHECK(pending_is(&out, "He", 2));
  CHECK_INT(wsk_deflate_decompress(d2, msg + 8, sizeof msg - 8, 1, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
  wsk_deflate_free(d2);
}

/* RFC 7692 7.2.3.6: an empty block with no compression, 00 00 00 ff ff,
 * stripped of its last 4 octets, is the single octet 0x00. We send it for
 * every empty message and for an empty last fragment. */
TEST(rfc7692_7_2_3_6_empty_message_is_single_zero_octet) {
  static const uint8_t zero = 0x00;
  wsk_buf_t out = { 0 };
  for (int nct = 0; nct < 2; nct++) {
    wsk_deflate_t *c = codec(WSK_ROLE_CLIENT, 15, 15, nct, 0);
    wsk_deflate_t *s = codec(WSK_ROLE_SERVER, 15, 15, nct, 0);
    /* Fresh stream, after a message, and twice in a row. */
    for (int i = 0; i < 4; i++) {
      out.len = out.off = 0;
      if (i == 1) {
        wsk_buf_t hello = { 0 };
        CHECK_INT(wsk_deflate_compress(c, (const uint8_t *)"Hello", 5, 1, &out), 0);
        CHECK_INT(decompress_msg(s, out.data, out.len, 0, &hello), 0);
        CHECK(pending_is(&hello, "Hello", 5));
        wsk_buf_free(&hello);
        out.len = out.off = 0;
      }
      CHECK_INT(wsk_deflate_compress(c, NULL, 0, 1, &out), 0);
      CHECK(pending_is(&out, &zero, 1));
      wsk_buf_t plain = { 0 };
      CHECK_INT(decompress_msg(s, out.data, out.len, 0, &plain), 0);
      CHECK_INT(wsk_buf_pending(&plain), 0);
      wsk_buf_free(&plain);
    }
    /* Empty last fragment after a flushed one: 0x00 again, and the stream
     * stays in step for the next message. */
    out.len = out.off = 0;
    CHECK_INT(wsk_deflate_compress(c, (const uint8_t *)"Hel", 3, 0, &out), 0);
    size_t first = out.len;
    CHECK_INT(wsk_deflate_compress(c, NULL, 0, 1, &out), 0);
    CHECK_INT(out.len - first, 1);
    CHECK_INT(out.data[first], 0x00);
    wsk_buf_t plain = { 0 };
    CHECK_INT(wsk_deflate_decompress(s, out.data, first, 0, 0, &plain), 0);
    CHECK_INT(wsk_deflate_decompress(s, out.data + first, 1, 1, 0, &plain), 0);
    CHECK(pending_is(&plain, "Hel", 3));
    out.len = out.off = plain.len = plain.off = 0;
    CHECK_INT(wsk_deflate_compress(c, (const uint8_t *)"Hello", 5, 1, &out), 0);
    CHECK_INT(decompress_msg(s, out.data, out.len, 0, &plain), 0);
    CHECK(pending_is(&plain, "Hello", 5));
    wsk_buf_free(&plain);
    wsk_deflate_free(c);
    wsk_deflate_free(s);
  }
  out.len = out.off = 0;
  CHECK_INT(wsk_deflate_compress_once(NULL, 0, 15, 6, 8, &out), 0);
  CHECK(pending_is(&out, &zero, 1));
  wsk_buf_free(&out);
}

/* ---- fragmentation and round trips ---- */

TEST(fragmented_message_decompresses_per_fragment) {
  size_t n = 5000;
  uint8_t *msg = json_text(n, 1);
  wsk_deflate_t *c = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
  wsk_buf_t wire = { 0 }, out = { 0 };
  CHECK_INT(compress_msg(c, msg, n, 0, &wire, NULL, NULL), 0);
  /* Every split point into two frames, and three frames with an empty one. */
  for (size_t cut = 0; cut <= wire.len; cut++) {
    wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
    out.len = out.off = 0;
    CHECK_INT(wsk_deflate_decompress(d, wire.data, cut, 0, 0, &out), 0);
    CHECK_INT(wsk_deflate_decompress(d, NULL, 0, 0, 0, &out), 0);
    CHECK_INT(wsk_deflate_decompress(d, wire.data + cut, wire.len - cut, 1, 0, &out), 0);
    CHECK(pending_is(&out, msg, n));
    wsk_deflate_free(d);
  }
  /* One byte per frame. */
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  out.len = out.off = 0;
  for (size_t i = 0; i < wire.len; i++)
    CHECK_INT(wsk_deflate_decompress(d, wire.data + i, 1, i + 1 == wire.len, 0, &out), 0);
  CHECK(pending_is(&out, msg, n));
  wsk_deflate_free(d);
  wsk_deflate_free(c);
  wsk_buf_free(&wire);
  wsk_buf_free(&out);
  free(msg);
}

TEST(fragmented_compression_round_trips) {
  size_t n = 20000;
  uint8_t *msg = json_text(n, 2);
  size_t sizes[] = { 1, 7, 100, 4096, 19999 };
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    wsk_deflate_t *c = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
    wsk_deflate_t *s = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
    wsk_buf_t wire = { 0 }, out = { 0 };
    size_t ends[20001], nends = 0;
    for (int m = 0; m < 2; m++) { /* twice: the second leans on the first */
      wire.len = wire.off = out.len = out.off = 0;
      CHECK_INT(compress_msg(c, msg, n, sizes[k], &wire, ends, &nends), 0);
      size_t prev = 0;
      for (size_t f = 0; f < nends; f++) {
        /* Non-final fragments end flushed, with the marker kept. */
        if (f + 1 < nends) CHECK(ends[f] - prev >= 4 && !memcmp(wire.data + ends[f] - 4, "\0\0\xff\xff", 4));
        CHECK_INT(wsk_deflate_decompress(s, wire.data + prev, ends[f] - prev, f + 1 == nends, 0, &out), 0);
        prev = ends[f];
      }
      CHECK(pending_is(&out, msg, n));
    }
    wsk_buf_free(&wire);
    wsk_buf_free(&out);
    wsk_deflate_free(c);
    wsk_deflate_free(s);
  }
  free(msg);
}

/* Send three messages (one fragmented, one empty, one repeated) from
 * `role` to its peer; check our receiver and plain zlib at the sender's
 * exact window size both get them back. */
static void round_trip(int role, int cbits, int sbits, int cnct, int snct, const uint8_t *text,
                       size_t n) {
  wsk_deflate_t *tx = codec(role, cbits, sbits, cnct, snct);
  wsk_deflate_t *rx = codec(!role, cbits, sbits, cnct, snct);
  CHECK(tx && rx);
  int bits = role == WSK_ROLE_CLIENT ? cbits : sbits;
  int nct = role == WSK_ROLE_CLIENT ? cnct : snct;
  z_stream ref;
  memset(&ref, 0, sizeof ref);
  CHECK_INT(inflateInit2(&ref, -bits), Z_OK);
  wsk_buf_t wire = { 0 }, out = { 0 }, refout = { 0 };
  size_t ends[64], nends;
  const struct { size_t off, len, frag; } msgs[] = {
    { 0, n, 0 }, { 0, 0, 0 }, { 100, n - 100, n / 3 }, { 0, n, 0 }, { 7, 13, 5 },
  };
  for (size_t m = 0; m < sizeof msgs / sizeof msgs[0]; m++) {
    wire.len = wire.off = out.len = out.off = refout.len = refout.off = 0;
    const uint8_t *p = text + msgs[m].off;
    CHECK_INT(compress_msg(tx, p, msgs[m].len, msgs[m].frag, &wire, ends, &nends), 0);
    size_t prev = 0;
    for (size_t f = 0; f < nends; f++) {
      CHECK_INT(wsk_deflate_decompress(rx, wire.data + prev, ends[f] - prev, f + 1 == nends, 0, &out), 0);
      prev = ends[f];
    }
    CHECK(pending_is(&out, p, msgs[m].len));
    CHECK_INT(ref_inflate(&ref, wire.data, wire.len, &refout), Z_OK);
    CHECK(pending_is(&refout, p, msgs[m].len));
    if (nct) inflateReset(&ref);
  }
  inflateEnd(&ref);
  wsk_buf_free(&wire);
  wsk_buf_free(&out);
  wsk_buf_free(&refout);
  wsk_deflate_free(tx);
  wsk_deflate_free(rx);
}

TEST(round_trips_in_every_role_takeover_and_window_combination) {
  size_t n = 3000;
  uint8_t *text = json_text(n, 3);
  for (int role = 0; role < 2; role++)
    for (int cnct = 0; cnct < 2; cnct++)
      for (int snct = 0; snct < 2; snct++)
        for (int cbits = 8; cbits <= 15; cbits++)
          for (int sbits = 8; sbits <= 15; sbits++) round_trip(role, cbits, sbits, cnct, snct, text, n);
  free(text);
}

TEST(round_trips_at_every_level) {
  size_t n = 70000; /* more than one 64 KiB output step at level 0 */
  uint8_t *text = json_text(n, 4);
  for (int level = -1; level <= 9; level++) {
    wsk_deflate_params_t p = params(15, 15, 0, 0);
    wsk_deflate_t *c = wsk_deflate_new(&p, WSK_ROLE_CLIENT, level, level < 0 ? 8 : 1 + level % 9);
    wsk_deflate_t *s = wsk_deflate_new(&p, WSK_ROLE_SERVER, 6, 8);
    wsk_buf_t wire = { 0 }, out = { 0 };
    for (int m = 0; m < 2; m++) {
      wire.len = out.len = 0;
      CHECK_INT(wsk_deflate_compress(c, text, n, 1, &wire), 0);
      CHECK_INT(decompress_msg(s, wire.data, wire.len, 0, &out), 0);
      CHECK(pending_is(&out, text, n));
    }
    wsk_buf_free(&wire);
    wsk_buf_free(&out);
    wsk_deflate_free(c);
    wsk_deflate_free(s);
  }
  free(text);
}

TEST(context_takeover_shrinks_a_repeated_message) {
  size_t n = 2000;
  uint8_t *msg = json_text(n, 5);
  wsk_deflate_t *c = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
  wsk_buf_t a = { 0 }, b = { 0 };
  CHECK_INT(wsk_deflate_compress(c, msg, n, 1, &a), 0);
  CHECK_INT(wsk_deflate_compress(c, msg, n, 1, &b), 0);
  CHECK(b.len * 10 < a.len); /* the second is little more than one match */
  wsk_buf_free(&a);
  wsk_buf_free(&b);
  wsk_deflate_free(c);
  free(msg);
}

TEST(no_context_takeover_gives_identical_output) {
  size_t n = 2000;
  uint8_t *msg = json_text(n, 5);
  for (int role = 0; role < 2; role++) {
    /* Only our own side's flag matters for what we send. */
    wsk_deflate_t *c = codec(role, 15, 15, role == WSK_ROLE_CLIENT, role == WSK_ROLE_SERVER);
    wsk_buf_t a = { 0 }, b = { 0 }, once = { 0 };
    CHECK_INT(wsk_deflate_compress(c, msg, n, 1, &a), 0);
    CHECK_INT(wsk_deflate_compress(c, msg, n, 1, &b), 0);
    CHECK_INT(a.len, b.len);
    CHECK_MEM(a.data, b.data, a.len);
    /* compress_once is the same stream, for broadcasts. */
    CHECK_INT(wsk_deflate_compress_once(msg, n, 15, 6, 8, &once), 0);
    CHECK(pending_is(&once, a.data, a.len));
    wsk_buf_free(&a);
    wsk_buf_free(&b);
    wsk_buf_free(&once);
    wsk_deflate_free(c);
  }
  free(msg);
}

TEST(peer_flag_does_not_reset_our_compressor) {
  size_t n = 2000;
  uint8_t *msg = json_text(n, 5);
  /* Client with server_no_context_takeover: client still keeps its context. */
  wsk_deflate_t *c = codec(WSK_ROLE_CLIENT, 15, 15, 0, 1);
  wsk_buf_t a = { 0 }, b = { 0 };
  CHECK_INT(wsk_deflate_compress(c, msg, n, 1, &a), 0);
  CHECK_INT(wsk_deflate_compress(c, msg, n, 1, &b), 0);
  CHECK(b.len < a.len);
  wsk_buf_free(&a);
  wsk_buf_free(&b);
  wsk_deflate_free(c);
  free(msg);
}

TEST(peer_no_context_takeover_resets_our_decompressor) {
  /* A peer that agreed to client_no_context_takeover may not refer to its
   * previous message: the RFC's second "Hello" then points before the
   * start of the window. */
  static const uint8_t second[] = { 0xf2, 0x00, 0x11, 0x00, 0x00 };
  wsk_deflate_t *s = codec(WSK_ROLE_SERVER, 15, 15, 1, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(s, HELLO_1, sizeof HELLO_1, 0, &out), 0);
  CHECK_INT(decompress_msg(s, second, sizeof second, 0, &out), WSK_EZLIB);
  /* Our own flag does not reset what we receive. */
  wsk_deflate_t *c = codec(WSK_ROLE_CLIENT, 15, 15, 1, 0);
  out.len = 0;
  CHECK_INT(decompress_msg(c, HELLO_1, sizeof HELLO_1, 0, &out), 0);
  CHECK_INT(decompress_msg(c, second, sizeof second, 0, &out), 0);
  CHECK(pending_is(&out, "HelloHello", 10));
  wsk_buf_free(&out);
  wsk_deflate_free(s);
  wsk_deflate_free(c);
}

/* ---- the size bound ---- */

static void bomb(size_t n, wsk_buf_t *wire) {
  uint8_t *zeros = calloc(1, n);
  wsk_deflate_t *c = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  memset(wire, 0, sizeof *wire);
  wsk_deflate_compress(c, zeros, n, 1, wire);
  wsk_deflate_free(c);
  free(zeros);
}

TEST(bomb_stops_at_the_limit_without_allocating_past_it) {
  wsk_buf_t wire;
  bomb((size_t)1 << 20, &wire);
  CHECK(wire.len < 2048); /* ~1 KiB of input */
  size_t limits[] = { 65536, 50000, 1, 1000 };
  for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
    wsk_deflate_t *s = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
    wsk_buf_t out = { 0 };
    CHECK_INT(decompress_msg(s, wire.data, wire.len, limits[k], &out), WSK_E2BIG);
    CHECK(wsk_buf_pending(&out) <= limits[k]);
    CHECK(out.cap <= limits[k]); /* allocation, not just length */
    wsk_buf_free(&out);
    wsk_deflate_free(s);
  }
  wsk_buf_free(&wire);
}

TEST(bomb_across_fragments_counts_the_whole_message) {
  wsk_buf_t wire;
  bomb((size_t)1 << 20, &wire);
  wsk_deflate_t *s = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  size_t limit = 65536;
  int rc = 0;
  size_t i;
  for (i = 0; i < wire.len && rc == 0; i += 16) {
    size_t take = wire.len - i < 16 ? wire.len - i : 16;
    rc = wsk_deflate_decompress(s, wire.data + i, take, i + take == wire.len, limit, &out);
    CHECK(wsk_buf_pending(&out) <= limit);
    CHECK(out.cap <= limit);
  }
  CHECK_INT(rc, WSK_E2BIG);
  CHECK(i < wire.len); /* caught early, not at the end */
  wsk_buf_free(&out);
  wsk_buf_free(&wire);
  wsk_deflate_free(s);
}

TEST(limit_exactly_the_message_size_fits) {
  size_t n = 10000;
  uint8_t *msg = json_text(n, 6);
  wsk_buf_t wire = { 0 }, out = { 0 };
  CHECK_INT(wsk_deflate_compress_once(msg, n, 15, 6, 8, &wire), 0);
  wsk_deflate_t *s = codec(WSK_ROLE_CLIENT, 15, 15, 0, 1);
  CHECK_INT(decompress_msg(s, wire.data, wire.len, n, &out), 0);
  CHECK(pending_is(&out, msg, n));
  CHECK(out.cap <= n);
  out.len = out.off = 0;
  CHECK_INT(decompress_msg(s, wire.data, wire.len, n - 1, &out), WSK_E2BIG);
  CHECK(wsk_buf_pending(&out) <= n - 1);
  /* The codec starts over after the error. */
  out.len = out.off = 0;
  CHECK_INT(decompress_msg(s, wire.data, wire.len, n, &out), 0);
  CHECK(pending_is(&out, msg, n));
  wsk_buf_free(&wire);
  wsk_buf_free(&out);
  wsk_deflate_free(s);
  free(msg);
}

TEST(limit_counts_bytes_already_pending_in_out) {
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(wsk_buf_append(&out, "0123456789", 10), 0);
  wsk_buf_consume(&out, 4, SIZE_MAX); /* 6 pending, 4 consumed */
  CHECK_INT(decompress_msg(d, HELLO_1, sizeof HELLO_1, 10, &out), WSK_E2BIG);
  CHECK(pending_is(&out, "456789", 6)); /* nothing of the failed message left */
  wsk_deflate_free(d);
  d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  CHECK_INT(decompress_msg(d, HELLO_1, sizeof HELLO_1, 11, &out), 0);
  CHECK(pending_is(&out, "456789Hello", 11));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

/* ---- corrupt and unusual streams ---- */

TEST(corrupt_input_is_ezlib) {
  static const struct { const char *p; size_t n; } bad[] = {
    { "\x07", 1 },                     /* BTYPE 11, reserved */
    { "\x01\x05\x00\x00\x00", 5 },     /* stored block, NLEN not ~LEN */
    { "\xfc\xff\xff\xff", 4 },         /* dynamic block, too many code lengths */
    { "\x02\x01\x00", 3 },             /* fixed block, distance before any output */
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 1);
    wsk_buf_t out = { 0 };
    CHECK_INT(decompress_msg(d, bad[k].p, bad[k].n, 0, &out), WSK_EZLIB);
    CHECK_INT(wsk_buf_pending(&out), 0);
    /* The next message decodes from a clean state. */
    CHECK_INT(decompress_msg(d, HELLO_1, sizeof HELLO_1, 0, &out), 0);
    CHECK(pending_is(&out, "Hello", 5));
    wsk_buf_free(&out);
    wsk_deflate_free(d);
  }
}

TEST(message_ending_inside_a_block_is_ezlib) {
  /* Cut short: the receiver would read the next message from mid-block. */
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, HELLO_1, 3, 0, &out), WSK_EZLIB);
  /* An unstripped marker leaves the appended one as a half stored block. */
  static const uint8_t unstripped[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff };
  CHECK_INT(decompress_msg(d, unstripped, sizeof unstripped, 0, &out), WSK_EZLIB);
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

/* A final block (BFINAL=1) ends zlib's stream, but RFC 7692 7.2.1 lets more
 * blocks follow in the same window, so the codec keeps decoding: data after
 * it must be valid DEFLATE blocks. A message that simply ends with a final
 * block (as senders using Z_FINISH produce) is accepted. */
TEST(final_block_without_trailer_is_accepted) {
  static const uint8_t finish_hello[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
  static const uint8_t finish_empty[] = { 0x03, 0x00 };
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, finish_hello, sizeof finish_hello, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  out.len = 0;
  CHECK_INT(decompress_msg(d, finish_empty, sizeof finish_empty, 0, &out), 0);
  CHECK_INT(out.len, 0);
  /* Same bytes with an empty last frame. */
  CHECK_INT(wsk_deflate_decompress(d, finish_hello, sizeof finish_hello, 0, 0, &out), 0);
  CHECK_INT(wsk_deflate_decompress(d, NULL, 0, 1, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(blocks_after_a_final_block_keep_the_window) {
  /* "Hello" in a final block, then the RFC's second "Hello", which copies
   * the first from the window, in the same message and in the next one. */
  static const uint8_t one_msg[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
                                     0xf2, 0x00, 0x11, 0x00, 0x00 };
  static const uint8_t second[] = { 0xf2, 0x00, 0x11, 0x00, 0x00 };
  static const uint8_t rfc_form[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00 };
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, one_msg, sizeof one_msg, 0, &out), 0);
  CHECK(pending_is(&out, "HelloHello", 10));
  out.len = 0;
  CHECK_INT(decompress_msg(d, rfc_form, sizeof rfc_form, 0, &out), 0); /* RFC 7.2.3.4 */
  CHECK(pending_is(&out, "Hello", 5));
  out.len = 0;
  CHECK_INT(decompress_msg(d, second, sizeof second, 0, &out), 0);
  CHECK(pending_is(&out, "Hello", 5));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(garbage_after_a_final_block_is_ezlib) {
  static const uint8_t msg[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x07, 0x42 };
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, msg, sizeof msg, 0, &out), WSK_EZLIB);
  CHECK_INT(wsk_buf_pending(&out), 0);
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(many_final_blocks_in_one_message_is_ezlib) {
  /* Each continuation copies the window; a run of empty final blocks
   * (03 00) must not buy unbounded work. Eight are allowed. */
  uint8_t msg[2 * 9];
  for (size_t i = 0; i < sizeof msg; i += 2) msg[i] = 0x03, msg[i + 1] = 0x00;
  wsk_deflate_t *d = codec(WSK_ROLE_CLIENT, 15, 15, 0, 0);
  wsk_buf_t out = { 0 };
  CHECK_INT(decompress_msg(d, msg, 16, 0, &out), 0);
  CHECK_INT(decompress_msg(d, msg, 18, 0, &out), WSK_EZLIB);
  CHECK_INT(decompress_msg(d, msg, 16, 0, &out), 0); /* the count is per message */
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

/* ---- window bits 8 ---- */

/* A tiny fixed-Huffman encoder, to build a stream with a distance of
 * exactly 256 that zlib's deflate would never produce. */
typedef struct { uint8_t buf[1024]; size_t len; unsigned acc, nacc; } bitw_t;

static void put_bits(bitw_t *w, unsigned v, unsigned n) {
  w->acc |= v << w->nacc;
  w->nacc += n;
  while (w->nacc >= 8) {
    w->buf[w->len++] = (uint8_t)w->acc;
    w->acc >>= 8;
    w->nacc -= 8;
  }
}

static void put_code(bitw_t *w, unsigned code, unsigned n) { /* Huffman codes go MSB first */
  for (unsigned i = n; i-- > 0;) put_bits(w, (code >> i) & 1, 1);
}

static void put_literal(bitw_t *w, unsigned c) {
  if (c < 144) put_code(w, 0x30 + c, 8);
  else put_code(w, 0x190 + c - 144, 9);
}

TEST(window_bits_8_decompresses_distance_256) {
  bitw_t w;
  memset(&w, 0, sizeof w);
  uint8_t expect[266];
  put_bits(&w, 0, 1); /* BFINAL 0 */
  put_bits(&w, 1, 2); /* BTYPE 01, fixed */
  for (unsigned i = 0; i < 256; i++) {
    expect[i] = (uint8_t)(i * 7 + 3);
    put_literal(&w, expect[i]);
  }
  put_code(&w, 264 - 256, 7); /* length 10 */
  put_code(&w, 15, 5);        /* distance 193..256 */
  put_bits(&w, 256 - 193, 6); /* ... 256 */
  for (unsigned i = 0; i < 10; i++) expect[256 + i] = expect[i];
  put_code(&w, 0, 7);  /* end of block */
  put_bits(&w, 0, 3);  /* empty stored block header, its LEN/NLEN stripped */
  put_bits(&w, 0, 7);  /* pad to a byte */
  for (int role = 0; role < 2; role++) {
    wsk_deflate_t *d = codec(role, 8, 8, 0, 0);
    wsk_buf_t out = { 0 };
    CHECK_INT(decompress_msg(d, w.buf, w.len, 0, &out), 0);
    CHECK(pending_is(&out, expect, sizeof expect));
    wsk_buf_free(&out);
    wsk_deflate_free(d);
  }
  /* And the stream is what we think: zlib's own 256-byte window takes it. */
  z_stream z;
  memset(&z, 0, sizeof z);
  CHECK_INT(inflateInit2(&z, -8), Z_OK);
  wsk_buf_t ref = { 0 };
  CHECK_INT(ref_inflate(&z, w.buf, w.len, &ref), Z_OK);
  CHECK(pending_is(&ref, expect, sizeof expect));
  inflateEnd(&z);
  wsk_buf_free(&ref);
}

TEST(window_bits_8_compression_fits_a_256_byte_window) {
  /* Repeats at distances 250..400: with window 8 (run as 9) deflate must
   * not reach past 256; a real 256-byte-window inflate checks it. */
  size_t n = 40000;
  uint8_t *msg = malloc(n);
  uint32_t x = 7;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    size_t back = 250 + (x >> 16) % 150;
    msg[i] = i >= back && (x >> 8) % 4 ? msg[i - back] : (uint8_t)(x >> 24);
  }
  for (int role = 0; role < 2; role++) {
    wsk_deflate_t *c = codec(role, 8, 8, 0, 0);
    wsk_deflate_t *s = codec(!role, 8, 8, 0, 0);
    z_stream z;
    memset(&z, 0, sizeof z);
    CHECK_INT(inflateInit2(&z, -8), Z_OK);
    wsk_buf_t wire = { 0 }, out = { 0 }, ref = { 0 };
    for (int m = 0; m < 2; m++) {
      wire.len = out.len = ref.len = 0;
      CHECK_INT(wsk_deflate_compress(c, msg, n, 1, &wire), 0);
      CHECK_INT(ref_inflate(&z, wire.data, wire.len, &ref), Z_OK);
      CHECK(pending_is(&ref, msg, n));
      CHECK_INT(decompress_msg(s, wire.data, wire.len, 0, &out), 0);
      CHECK(pending_is(&out, msg, n));
    }
    wire.len = ref.len = 0;
    CHECK_INT(wsk_deflate_compress_once(msg, n, 8, 9, 9, &wire), 0);
    inflateReset(&z);
    CHECK_INT(ref_inflate(&z, wire.data, wire.len, &ref), Z_OK);
    CHECK(pending_is(&ref, msg, n));
    inflateEnd(&z);
    wsk_buf_free(&wire);
    wsk_buf_free(&out);
    wsk_buf_free(&ref);
    wsk_deflate_free(c);
    wsk_deflate_free(s);
  }
  free(msg);
}

/* ---- arguments, memory ---- */

TEST(new_rejects_invalid_parameters) {
  wsk_deflate_params_t p = params(15, 15, 0, 0);
  CHECK(wsk_deflate_new(NULL, WSK_ROLE_CLIENT, 6, 8) == NULL);
  CHECK(wsk_deflate_new(&p, WSK_ROLE_CLIENT, 10, 8) == NULL);
  CHECK(wsk_deflate_new(&p, WSK_ROLE_CLIENT, 6, -1) == NULL);
  CHECK(wsk_deflate_new(&p, WSK_ROLE_CLIENT, 6, 10) == NULL);
  CHECK(wsk_deflate_new(&p, (wsk_role_t)2, 6, 8) == NULL);
  p.client_max_window_bits = 7;
  CHECK(wsk_deflate_new(&p, WSK_ROLE_SERVER, 6, 8) == NULL);
  p.client_max_window_bits = 16;
  CHECK(wsk_deflate_new(&p, WSK_ROLE_SERVER, 6, 8) == NULL);
  /* 0 = not negotiated = 15; level -1 = zlib's default. */
  p.client_max_window_bits = 0;
  wsk_deflate_t *d = wsk_deflate_new(&p, WSK_ROLE_SERVER, -1, 9);
  CHECK(d != NULL);
  wsk_buf_t out = { 0 };
  CHECK_INT(wsk_deflate_compress(d, NULL, 5, 1, &out), WSK_EINVAL);
  CHECK_INT(wsk_deflate_decompress(d, NULL, 5, 1, 0, &out), WSK_EINVAL);
  CHECK_INT(wsk_deflate_compress(d, HELLO_1, 1, 1, NULL), WSK_EINVAL);
  CHECK_INT(wsk_deflate_compress_once(HELLO_1, 1, 7, 6, 8, &out), WSK_EINVAL);
  CHECK_INT(wsk_deflate_compress_once(HELLO_1, 1, 15, 6, 10, &out), WSK_EINVAL);
  CHECK_INT(out.len, 0);
  wsk_deflate_free(d);
  wsk_deflate_free(NULL);
  /* Zeroed options: level 0 (stored) and memLevel 0, zlib's default 8. */
  d = wsk_deflate_new(&p, WSK_ROLE_CLIENT, 0, 0);
  CHECK(d != NULL);
  CHECK_INT(wsk_deflate_compress(d, (const uint8_t *)"Hello", 5, 1, &out), 0);
  static const uint8_t stored[] = { 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00 };
  CHECK(pending_is(&out, stored, sizeof stored)); /* RFC 7692 7.2.3.3's bytes */
  out.len = 0;
  CHECK_INT(wsk_deflate_compress_once((const uint8_t *)"Hello", 5, 0, 0, 0, &out), 0);
  CHECK(pending_is(&out, stored, sizeof stored));
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

TEST(idle_codec_allocates_no_zlib_streams) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  size_t base = mallinfo2().uordblks;
  wsk_deflate_t *d = codec(WSK_ROLE_SERVER, 15, 15, 0, 0);
  size_t idle = mallinfo2().uordblks - base;
  wsk_buf_t out = { 0 };
  CHECK_INT(wsk_deflate_compress(d, (const uint8_t *)"Hello", 5, 1, &out), 0);
  size_t busy = mallinfo2().uordblks - base;
  if (busy == 0) { /* this allocator (e.g. ASan's) does not report */
    wsk_buf_free(&out);
    wsk_deflate_free(d);
    return;
  }
  CHECK(idle < 4096); /* the inflate state alone is ~7 KiB */
  CHECK(busy > 100 * 1024); /* deflate with window 15 holds ~256 KiB */
  wsk_buf_free(&out);
  wsk_deflate_free(d);
#endif
}

int main(void) {
  RUN(rfc7692_7_2_3_1_hello_compresses_to_rfc_bytes);
  RUN(rfc7692_7_2_3_1_hello_decompresses);
  RUN(rfc7692_7_2_3_1_fragments_of_3_and_4_octets);
  RUN(rfc7692_7_2_3_2_context_takeover_second_hello);
  RUN(rfc7692_7_2_3_2_no_context_takeover_repeats_bytes);
  RUN(rfc7692_7_2_3_3_uncompressed_block);
  RUN(rfc7692_7_2_3_4_bfinal_block);
  RUN(rfc7692_7_2_3_5_two_deflate_blocks);
  RUN(rfc7692_7_2_3_6_empty_message_is_single_zero_octet);
  RUN(fragmented_message_decompresses_per_fragment);
  RUN(fragmented_compression_round_trips);
  RUN(round_trips_in_every_role_takeover_and_window_combination);
  RUN(round_trips_at_every_level);
  RUN(context_takeover_shrinks_a_repeated_message);
  RUN(no_context_takeover_gives_identical_output);
  RUN(peer_flag_does_not_reset_our_compressor);
  RUN(peer_no_context_takeover_resets_our_decompressor);
  RUN(bomb_stops_at_the_limit_without_allocating_past_it);
  RUN(bomb_across_fragments_counts_the_whole_message);
  RUN(limit_exactly_the_message_size_fits);
  RUN(limit_counts_bytes_already_pending_in_out);
  RUN(corrupt_input_is_ezlib);
  RUN(message_ending_inside_a_block_is_ezlib);
  RUN(final_block_without_trailer_is_accepted);
  RUN(blocks_after_a_final_block_keep_the_window);
  RUN(garbage_after_a_final_block_is_ezlib);
  RUN(many_final_blocks_in_one_message_is_ezlib);
  RUN(window_bits_8_decompresses_distance_256);
  RUN(window_bits_8_compression_fits_a_256_byte_window);
  RUN(new_rejects_invalid_parameters);
  RUN(idle_codec_allocates_no_zlib_streams);
  return test_summary();
}
