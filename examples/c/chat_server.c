/* chat_server PORT [WRITE_LIMIT] [--redis URL]: a chat room over WebSocket
 * on 127.0.0.1:PORT (0 picks a free port; the first line printed says
 * which).
 *
 * Channels: ws://.../channels speaks the JSON channel protocol
 * (docs/protocol.md: subscribe with resume, publish), GET
 * /events?channel=ROOM streams a room as Server-Sent Events, and with
 * --redis redis://HOST:PORT/DB several chat_server processes share their
 * rooms (and the rooms' history) through Redis. Other paths:
 *
 *   "/join ROOM"        subscribe to a channel
 *   "/leave ROOM"       unsubscribe
 *   "/say ROOM TEXT"    publish TEXT to a channel's subscribers
 *   anything else       broadcast to every connection
 *
 * It also answers JSON-RPC 2.0 requests: "echo" returns its params,
 * "count" the number of connections, "ignore" never answers (for timeout
 * tests). Broadcasts skip connections whose send buffer is full and print
 * "skipped N". SIGINT/SIGTERM: graceful shutdown with 1001 (SIGUSR1: 1012). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wskit/uv.h"

static wsk_uv_server_t *server;
static uv_signal_t sigs[3];

static void report(const wsk_uv_broadcast_result_t *r) {
  if (r->skipped) {
    printf("skipped %zu\n", r->skipped);
    fflush(stdout);
  }
}

static void on_message(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  const char *p = (const char *)m->data;
  size_t n = m->len;
  wsk_uv_broadcast_result_t res;
  if (m->opcode == WSK_OP_TEXT && n > 6 && !memcmp(p, "/join ", 6)) {
    wsk_uv_conn_subscribe(c, p + 6, n - 6);
    wsk_uv_conn_send(c, WSK_OP_TEXT, "joined", 6);
  } else if (m->opcode == WSK_OP_TEXT && n > 7 && !memcmp(p, "/leave ", 7)) {
    wsk_uv_conn_unsubscribe(c, p + 7, n - 7);
    wsk_uv_conn_send(c, WSK_OP_TEXT, "left", 4);
  } else if (m->opcode == WSK_OP_TEXT && n > 5 && !memcmp(p, "/say ", 5)) {
    const char *room = p + 5, *sp = memchr(room, ' ', n - 5);
    size_t rlen = sp ? (size_t)(sp - room) : n - 5;
    const char *text = sp ? sp + 1 : "";
    size_t tlen = sp ? n - 5 - rlen - 1 : 0;
    wsk_uv_server_publish(server, room, rlen, WSK_OP_TEXT, text, tlen, NULL, NULL, &res);
    report(&res);
  } else {
    wsk_uv_server_broadcast(server, m->opcode, m->data, m->len, NULL, 0, NULL, NULL, &res);
    report(&res);
  }
}

static void on_rpc(wsk_uv_conn_t *c, const wsk_uv_rpc_call_t *call) {
  if (!call->id) return; /* notifications need no answer */
  if (!strcmp(call->method, "echo")) {
    char *text = call->params ? json_dumps(call->params, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    wsk_uv_rpc_result(c, call->id, text, text ? strlen(text) : 0);
    free(text);
  } else if (!strcmp(call->method, "count")) {
    char num[32];
    snprintf(num, sizeof num, "%zu", wsk_uv_server_count(server));
    wsk_uv_rpc_result(c, call->id, num, strlen(num));
  } else if (strcmp(call->method, "ignore") != 0) {
    wsk_uv_rpc_error(c, call->id, -32601, NULL);
  }
}

static void closed_cb(uv_handle_t *h) { (void)h; }

static void on_done(wsk_uv_server_t *s, size_t aborted) {
  printf("shutdown aborted=%zu\n", aborted);
  fflush(stdout);
  wsk_uv_server_free(s);
  for (int i = 0; i < 3; i++) uv_close((uv_handle_t *)&sigs[i], closed_cb);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  for (int i = 0; i < 3; i++) uv_signal_stop(&sigs[i]);
  unsigned code = signum == SIGUSR1 ? WSK_CLOSE_SERVICE_RESTART : WSK_CLOSE_GOING_AWAY;
  wsk_uv_server_shutdown(server, code, 0, on_done);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT [WRITE_LIMIT] [--redis URL]\n", argv[0]);
    return 2;
  }
  static wsk_uv_callbacks_t cbs;
  cbs.on_message = on_message;
  cbs.on_rpc = on_rpc;
  wsk_uv_server_opts_t o;
  wsk_uv_server_opts_init(&o);
  o.callbacks = &cbs;
  o.channels_path = "/channels"; /* served by the server itself */
  o.sse_path = "/events";
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--redis") && i + 1 < argc)
      o.backplane = argv[++i];
    else
      o.conn.write_limit = (size_t)atol(argv[i]);
  }
  uv_loop_t *loop = wsk_uv_default_loop();
  int r = wsk_uv_server_new(loop, &o, &server);
  if (r == 0) r = wsk_uv_server_listen(server, "127.0.0.1", (unsigned)atoi(argv[1]));
  if (r < 0) {
    fprintf(stderr, "listen: %s (%s)\n", wsk_strerror(r), server ? wsk_uv_server_error(server) : "");
    wsk_uv_server_free(server);
    wsk_uv_run(loop);
    return 1;
  }
  printf("listening %d\n", wsk_uv_server_port(server));
  fflush(stdout);
  int nums[3] = { SIGINT, SIGTERM, SIGUSR1 };
  for (int i = 0; i < 3; i++) {
    uv_signal_init(loop, &sigs[i]);
    uv_signal_start(&sigs[i], on_signal, nums[i]);
  }
  wsk_uv_run(loop);
  uv_loop_close(loop);
  return 0;
}
