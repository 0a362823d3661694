/* Throughput of the whole receive path of wsk_conn: a server connection
 * parsing masked client frames (header decode, unmask, UTF-8 for text,
 * event) from large buffers, for 16 B, 1 KiB and 64 KiB messages. Each
 * figure runs about half a second; output is `name: value unit`. */
#include "wskit/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fixed_random(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  memset(out, 0x5a, n);
  return 0;
}

/* An open server connection, made through a real handshake in memory. */
static wsk_conn_t *open_server(void) {
  wsk_conn_opts_t co, so;
  wsk_conn_opts_init(&co, WSK_ROLE_CLIENT);
  wsk_conn_opts_init(&so, WSK_ROLE_SERVER);
  co.client.host = "bench";
  co.random = so.random = fixed_random;
  co.client.deflate.enabled = 0;
  so.max_message_size = 1 << 20;
  so.ping_interval_ms = 0;
  wsk_conn_t *cli = wsk_conn_new(&co, 0, NULL), *srv = wsk_conn_new(&so, 0, NULL);
  size_t n;
  const uint8_t *p = wsk_conn_output(cli, &n);
  uint8_t *req = malloc(n);
  memcpy(req, p, n);
  wsk_conn_feed(srv, req, n);
  wsk_event_t ev;
  while (wsk_conn_next_event(srv, &ev)) {}
  wsk_conn_accept(srv, NULL);
  while (wsk_conn_next_event(srv, &ev)) {}
  wsk_conn_output_consume(srv, wsk_conn_output_len(srv));
  free(req);
  wsk_conn_free(cli);
  return srv;
}

static void bench(const char *name, wsk_opcode_t op, size_t msg) {
  static const uint8_t mask[4] = {1, 2, 3, 4};
  size_t per = msg + 14, count = (4u << 20) / per + 1;
  uint8_t *frames = malloc(per * count), *work = malloc(per * count);
  uint8_t *payload = malloc(msg);
  memset(payload, 'a', msg);
  size_t len = 0;
  for (size_t i = 0; i < count; i++) {
    len += wsk_frame_header_encode(frames + len, 1, 0, op, msg, mask);
    wsk_mask_copy(frames + len, payload, msg, mask, 0);
    len += msg;
  }
  wsk_conn_t *srv = open_server();
  unsigned long events = 0;
  double t0 = now_s(), t, busy = 0;
  do {
    memcpy(work, frames, len); /* the core unmasks in place: feed a fresh copy */
    double a = now_s();
    wsk_conn_feed(srv, work, len);
    wsk_event_t ev;
    while (wsk_conn_next_event(srv, &ev)) events++;
    busy += now_s() - a;
    t = now_s() - t0;
  } while (t < 0.5);
  printf("%s: %.2f M frames/s (%.0f MB/s)\n", name, events / busy / 1e6,
         (double)events * msg / busy / 1e6);
  wsk_conn_free(srv);
  free(frames);
  free(work);
  free(payload);
}

int main(void) {
  bench("parse_binary_16B", WSK_OP_BINARY, 16);
  bench("parse_text_16B", WSK_OP_TEXT, 16);
  bench("parse_binary_1KiB", WSK_OP_BINARY, 1024);
  bench("parse_text_1KiB", WSK_OP_TEXT, 1024);
  bench("parse_binary_64KiB", WSK_OP_BINARY, 65536);
  return 0;
}
