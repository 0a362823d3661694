/* Micro-benchmarks for the per-byte hot paths of the core: unmasking,
 * UTF-8 validation (ASCII and mixed scripts) and frame header decoding.
 * Each figure runs for about half a second; output is one
 * `name: value unit` line per figure. MB = 10^6 bytes. */
#include "wskit/frame.h"
#include "wskit/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_SECONDS 0.5
#define PAYLOAD (64 * 1024) /* a typical large message, L2-resident */

static volatile uint64_t sink; /* keeps results observable */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Mixed text: Latin with accents, Cyrillic, CJK, emoji and ASCII between. */
static size_t fill_mixed(uint8_t *p, size_t n) {
  static const char *const words[] = {
    "Gr\xc3\xbc\xc3\x9f""e ", "caf\xc3\xa9 ", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 ",
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 ", "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c ",
    "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf ", "\xf0\x9f\x98\x80\xf0\x9f\x9a\x80 ",
    "hello ", "\xd0\xbc\xd0\xb8\xd1\x80 ", "na\xc3\xafve ",
  };
  size_t len = 0, w = 0;
  for (;;) {
    const char *s = words[w++ % (sizeof words / sizeof words[0])];
    size_t k = strlen(s);
    if (len + k > n) break;
    memcpy(p + len, s, k);
    len += k;
    w = w * 7 + 3; /* vary the order without a random source */
  }
  return len;
}

static void report_mbs(const char *name, size_t bytes_per_iter, void (*fn)(void *), void *arg) {
  unsigned long iters = 0, batch = 16;
  double t0 = now_s(), t;
  do {
    for (unsigned long i = 0; i < batch; i++) fn(arg);
    iters += batch;
    t = now_s() - t0;
  } while (t < MIN_SECONDS);
  printf("%s: %.0f MB/s\n", name, (double)bytes_per_iter * (double)iters / t / 1e6);
}

struct buf_arg {
  uint8_t *dst;
  const uint8_t *src;
  size_t n;
};

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

static void run_unmask(void *a) {
  struct buf_arg *b = a;
  wsk_mask(b->dst, b->n, key, 0);
  sink += b->dst[b->n - 1];
}

static void run_mask_copy(void *a) {
  struct buf_arg *b = a;
  wsk_mask_copy(b->dst, b->src, b->n, key, 1);
  sink += b->dst[b->n - 1];
}

static void run_utf8(void *a) {
  struct buf_arg *b = a;
  if (wsk_utf8_validate(b->src, b->n) != 0) {
    fprintf(stderr, "benchmark text is not valid UTF-8\n");
    exit(1);
  }
  sink++;
}

int main(void) {
  /* +1: payloads follow a 2..14 byte header, so they are rarely aligned */
  uint8_t *a = malloc(PAYLOAD + 64), *b = malloc(PAYLOAD + 64);
  if (!a || !b) return 1;
  for (size_t i = 0; i < PAYLOAD + 64; i++) a[i] = (uint8_t)(i * 31 + 7);

  struct buf_arg m = { a + 1, NULL, PAYLOAD };
  report_mbs("unmask_64k", PAYLOAD, run_unmask, &m);
  struct buf_arg mc = { b + 3, a + 1, PAYLOAD };
  report_mbs("mask_copy_64k", PAYLOAD, run_mask_copy, &mc);

  for (size_t i = 0; i < PAYLOAD + 64; i++) a[i] = (uint8_t)(' ' + i * 7 % 95);
  struct buf_arg u = { NULL, a + 1, PAYLOAD };
  report_mbs("utf8_ascii_64k", PAYLOAD, run_utf8, &u);

  size_t mixed = fill_mixed(a + 1, PAYLOAD);
  struct buf_arg um = { NULL, a + 1, mixed };
  report_mbs("utf8_mixed_64k", mixed, run_utf8, &um);

  /* A rotation of header shapes, as a server sees them: small masked text,
   * masked 16-bit and 64-bit lengths, unmasked ping. */
  uint8_t hdr[4][WSK_FRAME_MAX_HEADER];
  size_t hlen[4];
  hlen[0] = wsk_frame_header_encode(hdr[0], 1, 0, WSK_OP_TEXT, 17, key);
  hlen[1] = wsk_frame_header_encode(hdr[1], 1, 1, WSK_OP_BINARY, 1400, key);
  hlen[2] = wsk_frame_header_encode(hdr[2], 0, 0, WSK_OP_BINARY, 1u << 20, key);
  hlen[3] = wsk_frame_header_encode(hdr[3], 1, 0, WSK_OP_PING, 4, NULL);
  unsigned long iters = 0;
  uint64_t acc = 0;
  double t0 = now_s(), t;
  do {
    for (unsigned i = 0; i < 4096; i++) {
      wsk_frame_header_t h;
      uint16_t code;
      int r = wsk_frame_header_decode(hdr[i & 3], hlen[i & 3], &h, &code);
      acc += (uint64_t)r + h.len;
    }
    iters += 4096;
    t = now_s() - t0;
  } while (t < MIN_SECONDS);
  sink += acc;
  printf("frame_header_decode: %.1f M/s\n", (double)iters / t / 1e6);

  free(a);
  free(b);
  return 0;
}
