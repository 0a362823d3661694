/* permessage-deflate codec throughput on JSON-ish text messages of ~16 KiB
 * and ~1 KiB, level 6, memLevel 8, window 15. MB/s counts uncompressed
 * bytes. Messages differ from each other (ids, names, numbers), as on a
 * real connection; with context takeover each one may refer to the ones
 * before it. Prints one `name: value unit` line per figure. */
#include "wskit/deflate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NMSG 32
#define SECONDS 0.5

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *json_text(size_t n, unsigned seed) {
  static const char *const actions[] = { "update", "create", "delete", "subscribe", "ping" };
  static const char *const names[] = { "alice", "bob", "carol", "dave", "erin", "frank" };
  uint8_t *buf = malloc(n + 256);
  size_t len = 0;
  uint32_t x = seed * 2654435761u + 1;
  if (!buf) exit(1);
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

static wsk_deflate_t *codec(wsk_role_t role, int nct) {
  wsk_deflate_params_t p;
  memset(&p, 0, sizeof p);
  p.enabled = 1;
  p.client_max_window_bits = p.server_max_window_bits = 15;
  p.server_no_context_takeover = p.client_no_context_takeover = nct;
  wsk_deflate_t *d = wsk_deflate_new(&p, role, 6, 8);
  if (!d) exit(1);
  return d;
}

static void bench_compress(const char *name, uint8_t **msgs, size_t size, int nct) {
  wsk_deflate_t *d = codec(WSK_ROLE_SERVER, nct);
  wsk_buf_t out = { 0 };
  for (int i = 0; i < NMSG; i++) { /* warm up */
    out.len = 0;
    if (wsk_deflate_compress(d, msgs[i], size, 1, &out)) exit(1);
  }
  size_t bytes = 0, wire = 0;
  double t0 = now(), t;
  unsigned long i = 0;
  do {
    for (int k = 0; k < 16; k++, i++) {
      out.len = 0;
      if (wsk_deflate_compress(d, msgs[i % NMSG], size, 1, &out)) exit(1);
      bytes += size;
      wire += out.len;
    }
  } while ((t = now() - t0) < SECONDS);
  printf("%s: %.1f MB/s\n", name, (double)bytes / 1e6 / t);
  printf("%s_ratio: %.3f wire/plain\n", name, (double)wire / (double)bytes);
  wsk_buf_free(&out);
  wsk_deflate_free(d);
}

static void bench_decompress(const char *name, uint8_t **msgs, size_t size, int nct) {
  /* Compress the sequence once; replaying it in order is valid with
   * context takeover because message 0 refers to nothing before it. */
  wsk_deflate_t *c = codec(WSK_ROLE_SERVER, nct), *d = codec(WSK_ROLE_CLIENT, nct);
  wsk_buf_t wire[NMSG], out = { 0 };
  memset(wire, 0, sizeof wire);
  for (int i = 0; i < NMSG; i++) {
    if (wsk_deflate_compress(c, msgs[i], size, 1, &wire[i])) exit(1);
    out.len = 0;
    if (wsk_deflate_decompress(d, wire[i].data, wire[i].len, 1, 0, &out)) exit(1);
    if (out.len != size || memcmp(out.data, msgs[i], size) != 0) {
      fprintf(stderr, "%s: round trip mismatch\n", name);
      exit(1);
    }
  }
  size_t bytes = 0;
  double t0 = now(), t;
  unsigned long i = 0;
  do {
    for (int k = 0; k < 16; k++, i++) {
      wsk_buf_t *w = &wire[i % NMSG];
      out.len = 0;
      if (wsk_deflate_decompress(d, w->data, w->len, 1, (size_t)1 << 20, &out)) exit(1);
      bytes += out.len;
    }
  } while ((t = now() - t0) < SECONDS);
  printf("%s: %.1f MB/s\n", name, (double)bytes / 1e6 / t);
  for (int k = 0; k < NMSG; k++) wsk_buf_free(&wire[k]);
  wsk_buf_free(&out);
  wsk_deflate_free(c);
  wsk_deflate_free(d);
}

int main(void) {
  static const size_t sizes[] = { 16384, 1024 };
  static const char *const tags[] = { "16k", "1k" };
  for (int s = 0; s < 2; s++) {
    uint8_t *msgs[NMSG];
    for (int i = 0; i < NMSG; i++) msgs[i] = json_text(sizes[s], (unsigned)(s * NMSG + i + 1));
    char name[64];
    snprintf(name, sizeof name, "deflate_compress_%s", tags[s]);
    bench_compress(name, msgs, sizes[s], 0);
    snprintf(name, sizeof name, "deflate_decompress_%s", tags[s]);
    bench_decompress(name, msgs, sizes[s], 0);
    snprintf(name, sizeof name, "deflate_compress_%s_no_context_takeover", tags[s]);
    bench_compress(name, msgs, sizes[s], 1);
    snprintf(name, sizeof name, "deflate_decompress_%s_no_context_takeover", tags[s]);
    bench_decompress(name, msgs, sizes[s], 1);
    for (int i = 0; i < NMSG; i++) free(msgs[i]);
  }
  return 0;
}
