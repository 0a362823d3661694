/* echo_server PORT [options]: a WebSocket echo server on 127.0.0.1:PORT
 * (0 picks a free port; the first line printed says which). Every message
 * comes back with its type. Accepts permessage-deflate; messages up to
 * 64 MiB. GET /health (not an upgrade) answers 200 "ok". SIGINT/SIGTERM
 * close every connection with 1001 and exit.
 *
 * Options (for tests): --no-deflate, --open-timeout MS, --ping-interval MS,
 * --ping-timeout MS, --close-timeout MS, --write-limit BYTES,
 * --unix PATH (listen there too), --quiet (no per-connection lines).
 * wss: --cert FILE --key FILE (PEM chain and key), --client-ca FILE
 * (require client certificates signed by that CA). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wskit/uv.h"

static wsk_uv_server_t *server;
static uv_signal_t sigint, sigterm;
static int quiet;

static void on_message(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  wsk_uv_conn_send(c, m->opcode, m->data, m->len);
}

static void on_open(wsk_uv_conn_t *c) {
  if (quiet) return;
  const wsk_deflate_params_t *d = wsk_conn_deflate(wsk_uv_conn_core(c));
  printf("open deflate=%d\n", d->enabled);
  fflush(stdout);
}

static void on_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  (void)c;
  if (quiet) return;
  printf("close code=%u sent=%u clean=%d opened=%d error=%s\n", i->code, i->sent_code, i->clean,
         i->opened, i->error);
  fflush(stdout);
}

static void on_http(wsk_uv_conn_t *c, const wsk_uv_request_t *r) {
  static const wsk_http_header_t ct = { "Content-Type", 12, "text/plain", 10 };
  if (r->path_len == 7 && memcmp(r->path, "/health", 7) == 0)
    wsk_uv_conn_http_respond(c, 200, &ct, 1, "ok\n", 3);
  else
    wsk_uv_conn_http_respond(c, 404, &ct, 1, "not found\n", 10);
}

static void closed_cb(uv_handle_t *h) { (void)h; }

static void on_shutdown_done(wsk_uv_server_t *s, size_t aborted) {
  printf("shutdown aborted=%zu\n", aborted);
  fflush(stdout);
  wsk_uv_server_free(s);
  uv_close((uv_handle_t *)&sigint, closed_cb);
  uv_close((uv_handle_t *)&sigterm, closed_cb);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  uv_signal_stop(&sigint);
  uv_signal_stop(&sigterm);
  wsk_uv_server_shutdown(server, WSK_CLOSE_GOING_AWAY, 0, on_shutdown_done);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT [options]\n", argv[0]);
    return 2;
  }
  static wsk_uv_callbacks_t cbs;
  cbs.on_open = on_open;
  cbs.on_message = on_message;
  cbs.on_close = on_close;
  cbs.on_http = on_http;
  wsk_uv_server_opts_t o;
  wsk_uv_server_opts_init(&o);
  o.conn.max_message_size = 64u << 20;
  o.callbacks = &cbs;
  const char *unix_path = NULL;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "0";
    if (!strcmp(a, "--no-deflate")) o.conn.server.deflate.enabled = 0;
    else if (!strcmp(a, "--quiet")) quiet = 1;
    else if (!strcmp(a, "--open-timeout")) o.conn.open_timeout_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--ping-interval")) o.conn.ping_interval_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--ping-timeout")) o.conn.ping_timeout_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--close-timeout")) o.conn.close_timeout_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--write-limit")) o.conn.write_limit = (size_t)atol(v), i++;
    else if (!strcmp(a, "--unix")) unix_path = v, i++;
    else if (!strcmp(a, "--cert")) o.tls_cert_file = v, i++;
    else if (!strcmp(a, "--key")) o.tls_key_file = v, i++;
    else if (!strcmp(a, "--client-ca")) o.tls_client_ca_file = v, i++;
    else {
      fprintf(stderr, "unknown option %s\n", a);
      return 2;
    }
  }
  uv_loop_t *loop = wsk_uv_default_loop();
  int r = wsk_uv_server_new(loop, &o, &server);
  if (r == 0) r = wsk_uv_server_listen(server, "127.0.0.1", (unsigned)atoi(argv[1]));
  if (r == 0 && unix_path) r = wsk_uv_server_listen_unix(server, unix_path);
  if (r < 0) {
    fprintf(stderr, "listen: %s (%s)\n", wsk_strerror(r), server ? wsk_uv_server_error(server) : "");
    wsk_uv_server_free(server);
    wsk_uv_run(loop);
    return 1;
  }
  printf("listening %d\n", wsk_uv_server_port(server));
  fflush(stdout);
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  wsk_uv_run(loop);
  uv_loop_close(loop);
  return 0;
}
