/* libFuzzer target for the permessage-deflate codec.
 *
 * Input: 5 control bytes, then a payload.
 *   [0] bit 0 role, bit 1 client_no_context_takeover,
 *       bit 2 server_no_context_takeover, bits 3-5 client window bits - 8
 *   [1..2] max_out, little endian (0 = no limit)
 *   [3] where to split the payload into two frames, in 255ths
 *   [4] bits 0-2 server window bits - 8, bits 3-7 compression level (% 10)
 *
 * 1. The payload as a compressed message, in two frames: whatever it
 *    holds, out's pending size and its capacity never pass max_out, and
 *    errors are only E2BIG / EZLIB. Then once more as one frame.
 * 2. The payload as plain text: compressed (in two fragments, twice, to
 *    use context takeover) and decompressed by the peer it comes back
 *    unchanged; so does wsk_deflate_compress_once's output. */
#include "wskit/deflate.h"

#include <stdlib.h>
#include <string.h>

#define ORACLE(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decompress(wsk_deflate_t *d, const uint8_t *p, size_t n, size_t cut,
                             size_t max_out) {
  wsk_buf_t out = { 0 };
  int rc = wsk_deflate_decompress(d, p, cut, 0, max_out, &out);
  ORACLE(rc == 0 || rc == WSK_E2BIG || rc == WSK_EZLIB);
  ORACLE(!max_out || (wsk_buf_pending(&out) <= max_out && out.cap <= max_out));
  if (rc == 0) {
    rc = wsk_deflate_decompress(d, p + cut, n - cut, 1, max_out, &out);
    ORACLE(rc == 0 || rc == WSK_E2BIG || rc == WSK_EZLIB);
    ORACLE(!max_out || (wsk_buf_pending(&out) <= max_out && out.cap <= max_out));
  }
  wsk_buf_free(&out);
}

static void check_round_trip(const wsk_deflate_params_t *p, int role, int level,
                             const uint8_t *m, size_t n, size_t cut) {
  wsk_deflate_t *tx = wsk_deflate_new(p, (wsk_role_t)role, level, 8);
  wsk_deflate_t *rx = wsk_deflate_new(p, (wsk_role_t)!role, 6, 8);
  ORACLE(tx && rx);
  wsk_buf_t wire = { 0 }, out = { 0 };
  for (int round = 0; round < 2; round++) {
    wire.len = wire.off = out.len = out.off = 0;
    ORACLE(wsk_deflate_compress(tx, m, cut, 0, &wire) == 0);
    size_t first = wire.len;
    ORACLE(wsk_deflate_compress(tx, m + cut, n - cut, 1, &wire) == 0);
    ORACLE(wsk_deflate_decompress(rx, wire.data, first, 0, 0, &out) == 0);
    ORACLE(wsk_deflate_decompress(rx, wire.data + first, wire.len - first, 1, n, &out) == 0);
    ORACLE(wsk_buf_pending(&out) == n && (n == 0 || memcmp(out.data, m, n) == 0));
  }
  /* Broadcast path: one fresh stream, read by a fresh receiver. */
  int bits = role == WSK_ROLE_CLIENT ? p->client_max_window_bits : p->server_max_window_bits;
  wire.len = out.len = 0;
  ORACLE(wsk_deflate_compress_once(m, n, bits, level, 8, &wire) == 0);
  wsk_deflate_t *rx2 = wsk_deflate_new(p, (wsk_role_t)!role, 6, 8);
  ORACLE(rx2);
  ORACLE(wsk_deflate_decompress(rx2, wire.data, wire.len, 1, n, &out) == 0);
  ORACLE(wsk_buf_pending(&out) == n && (n == 0 || memcmp(out.data, m, n) == 0));
  wsk_deflate_free(rx2);
  wsk_buf_free(&wire);
  wsk_buf_free(&out);
  wsk_deflate_free(tx);
  wsk_deflate_free(rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  int role = data[0] & 1;
  wsk_deflate_params_t p;
  memset(&p, 0, sizeof p);
  p.enabled = 1;
  p.client_no_context_takeover = (data[0] >> 1) & 1;
  p.server_no_context_takeover = (data[0] >> 2) & 1;
  p.client_max_window_bits = 8 + ((data[0] >> 3) & 7);
  p.server_max_window_bits = 8 + (data[4] & 7);
  size_t max_out = (size_t)data[1] | (size_t)data[2] << 8;
  int level = (data[4] >> 3) % 10;
  const uint8_t *m = data + 5;
  size_t n = size - 5;
  size_t cut = n * data[3] / 255;

  wsk_deflate_t *d = wsk_deflate_new(&p, (wsk_role_t)role, 6, 8);
  ORACLE(d);
  check_decompress(d, m, n, cut, max_out);
  check_decompress(d, m, n, n, max_out);
  wsk_deflate_free(d);

  check_round_trip(&p, role, level, m, n, cut);
  return 0;
}
