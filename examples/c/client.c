/* client URL [options]: connect to a ws:// or wss:// URL, send each line
 * of stdin as a text message, print what arrives. End of stdin closes
 * with 1000.
 *
 * Lines starting with '/' are commands: "/binary N" sends N bytes,
 * "/ping", "/close CODE", "/fragments N SIZE" sends N binary pieces,
 * "/rpc METHOD TIMEOUT_MS [PARAMS_JSON]" sends a JSON-RPC request and
 * prints "reply id=N err=NAME result=JSON" when it ends. Channels (the
 * server's JSON channel protocol, resumed across reconnects):
 * "/subscribe CH", "/unsubscribe CH", "/publish CH TEXT", printing
 * "channel CH seq=N epoch=E TEXT", "gap CH from=A to=B reason=R" and
 * "reply TYPE CH code=K seq=N".
 * Output lines: "connecting N", "open ...", "text PAYLOAD",
 * "binary len=N sum=S", "pong id=N", "close code=... will_retry=...",
 * "send-error NAME".
 *
 * Options: --reconnect, --no-deflate, --queue BYTES (queue while
 * disconnected), --subprotocol NAME, --max-size BYTES, --open-timeout MS.
 * wss: --ca FILE (trust only this CA), --insecure (no verification),
 * --cert FILE --key FILE (a client certificate). --proxy URL: an HTTP
 * CONNECT proxy ("" = none; without the option https_proxy, http_proxy
 * and no_proxy from the environment apply). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wskit/uv.h"

static wsk_uv_client_t *client;
static uv_pipe_t in;
static int in_open, in_done;
static char *line;
static size_t line_len, line_cap;

static void on_connecting(wsk_uv_conn_t *c, unsigned attempt) {
  (void)c;
  printf("connecting %u\n", attempt);
  fflush(stdout);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_open(wsk_uv_conn_t *c) {
  /* stdin is read from the first open on (later lines may be queued) */
  if (!in_open && !in_done && uv_pipe_init(uv_default_loop(), &in, 0) == 0) {
    in_open = 1;
    if (uv_pipe_open(&in, 0) != 0 || uv_read_start((uv_stream_t *)&in, alloc_cb, read_cb) != 0)
      printf("stdin: not a pipe\n");
  }
  wsk_conn_t *w = wsk_uv_conn_core(c);
  const wsk_deflate_params_t *d = wsk_conn_deflate(w);
  printf("open subprotocol=%s deflate=%d snct=%d cnct=%d sbits=%d cbits=%d\n",
         wsk_conn_subprotocol(w), d->enabled, d->server_no_context_takeover,
         d->client_no_context_takeover, d->server_max_window_bits, d->client_max_window_bits);
  fflush(stdout);
}

static void on_message(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  (void)c;
  if (m->opcode == WSK_OP_TEXT) {
    printf("text %.*s\n", (int)m->len, (const char *)m->data);
  } else {
    unsigned long sum = 0;
    for (size_t i = 0; i < m->len; i++) sum = sum * 31 + m->data[i];
    printf("binary len=%zu sum=%lu\n", m->len, sum);
  }
  fflush(stdout);
}

static void on_channel_message(wsk_uv_conn_t *c, const wsk_uv_channel_message_t *m) {
  (void)c;
  printf("channel %.*s seq=%llu epoch=%.*s %.*s\n", (int)m->channel_len, m->channel,
         (unsigned long long)m->seq, (int)m->epoch_len, m->epoch, (int)m->len,
         (const char *)m->data);
  fflush(stdout);
}

static void on_gap(wsk_uv_conn_t *c, const wsk_uv_gap_t *g) {
  (void)c;
  printf("gap %.*s from=%llu to=%llu reason=%.*s\n", (int)g->channel_len, g->channel,
         (unsigned long long)g->from, (unsigned long long)g->to, (int)g->reason_len, g->reason);
  fflush(stdout);
}

static void on_channel_reply(wsk_uv_conn_t *c, const wsk_chan_frame_t *f) {
  static const char *names[] = { "?", "subscribe", "unsubscribe", "publish", "subscribed",
                                 "message", "gap", "unsubscribed", "published", "error" };
  (void)c;
  printf("reply %s %.*s code=%.*s seq=%llu recovered=%d\n",
         f->type <= WSK_CHAN_ERROR ? names[f->type] : "?", (int)f->channel_len,
         f->channel ? f->channel : "", (int)f->code_len, f->code ? f->code : "",
         (unsigned long long)f->seq, f->recovered);
  fflush(stdout);
}

static void on_pong(wsk_uv_conn_t *c, const wsk_uv_control_t *p) {
  (void)c;
  printf("pong id=%u\n", p->ping_id);
  fflush(stdout);
}

static void stdin_closed(uv_handle_t *h) { (void)h; }

static void on_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  (void)c;
  printf("close code=%u sent=%u clean=%d opened=%d status=%d will_retry=%d delay=%lld "
         "attempt=%u proxy_status=%d err=%s error=%s\n",
         i->code, i->sent_code, i->clean, i->opened, i->http_status, i->will_retry,
         (long long)i->retry_delay_ms, i->attempt, i->proxy_status, i->err ? wsk_err_name(i->err) : "0",
         i->error);
  fflush(stdout);
  if (!i->will_retry) {
    wsk_uv_client_free(client);
    client = NULL;
    in_done = 1;
    if (in_open) {
      in_open = 0;
      uv_close((uv_handle_t *)&in, stdin_closed);
    }
  }
}

static void report(int r) {
  if (r < 0) {
    printf("send-error %s\n", wsk_err_name(r));
    fflush(stdout);
  }
}

static void on_reply(wsk_uv_conn_t *c, void *ud, const wsk_uv_reply_t *r) {
  (void)c, (void)ud;
  char *res = r->result ? json_dumps(r->result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  printf("reply id=%llu err=%s is_error=%d code=%lld result=%s\n", (unsigned long long)r->id,
         r->err ? wsk_err_name(r->err) : "0", r->is_error, (long long)r->code, res ? res : "-");
  free(res);
  fflush(stdout);
}

static void command(const char *s, size_t n) {
  if (!client) return;
  wsk_uv_conn_t *c = wsk_uv_client_conn(client);
  if (n > 8 && !strncmp(s, "/binary ", 8)) {
    size_t len = (size_t)atol(s + 8);
    uint8_t *b = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) b[i] = (uint8_t)(i * 7 + 3);
    report(wsk_uv_client_send(client, WSK_OP_BINARY, b, len));
    free(b);
  } else if (n > 11 && !strncmp(s, "/fragments ", 11)) {
    unsigned count = 0;
    size_t size = 0;
    sscanf(s + 11, "%u %zu", &count, &size);
    uint8_t *b = malloc(size ? size : 1);
    size_t k = 0;
    for (unsigned f = 0; f < count; f++) {
      for (size_t i = 0; i < size; i++, k++) b[i] = (uint8_t)(k * 7 + 3);
      report(c ? wsk_uv_conn_send_fragment(c, WSK_OP_BINARY, b, size, f + 1 == count)
               : WSK_ECLOSED);
    }
    free(b);
  } else if (n > 5 && !strncmp(s, "/rpc ", 5)) {
    char method[64] = "";
    unsigned timeout = 0;
    int used = 0;
    sscanf(s + 5, "%63s %u %n", method, &timeout, &used);
    const char *params = used ? s + 5 + used : NULL;
    size_t plen = params ? n - 5 - (size_t)used : 0;
    uint64_t id = 0;
    int r = wsk_uv_client_request(client, method, plen ? params : NULL, plen, timeout, on_reply,
                                  NULL, &id);
    if (r < 0)
      report(r);
    else
      printf("request id=%llu\n", (unsigned long long)id);
    fflush(stdout);
  } else if (n > 11 && !strncmp(s, "/subscribe ", 11)) {
    report(wsk_uv_client_subscribe(client, s + 11, n - 11));
  } else if (n > 13 && !strncmp(s, "/unsubscribe ", 13)) {
    report(wsk_uv_client_unsubscribe(client, s + 13, n - 13));
  } else if (n > 9 && !strncmp(s, "/publish ", 9)) {
    const char *ch = s + 9, *sp = memchr(ch, ' ', n - 9);
    size_t clen = sp ? (size_t)(sp - ch) : n - 9;
    const char *text = sp ? sp + 1 : "";
    report(wsk_uv_client_publish(client, ch, clen, WSK_PAYLOAD_TEXT, text, sp ? n - 9 - clen - 1 : 0));
  } else if (n == 5 && !strncmp(s, "/ping", 5)) {
    int r = c ? wsk_uv_conn_ping(c, NULL, 0) : WSK_ECLOSED;
    report(r < 0 ? r : 0);
  } else if (n > 7 && !strncmp(s, "/close ", 7)) {
    wsk_uv_client_close(client, (unsigned)atoi(s + 7), "bye");
  } else {
    report(wsk_uv_client_send(client, WSK_OP_TEXT, s, n));
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  static char b[65536];
  (void)suggested;
  *buf = uv_buf_init(b, sizeof b);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)s;
  if (n < 0) { /* end of stdin: close for good */
    if (in_open) {
      in_open = 0;
      in_done = 1;
      uv_close((uv_handle_t *)&in, stdin_closed);
    }
    if (client) wsk_uv_client_close(client, 1000, NULL);
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    char ch = buf->base[i];
    if (ch == '\n') {
      if (line) line[line_len] = 0; /* commands are parsed with sscanf */
      command(line ? line : "", line_len);
      line_len = 0;
      continue;
    }
    if (line_len + 1 >= line_cap) {
      line_cap = line_cap ? line_cap * 2 : 256;
      line = realloc(line, line_cap);
    }
    line[line_len++] = ch;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s ws://host:port/path [options]\n", argv[0]);
    return 2;
  }
  static wsk_uv_callbacks_t cbs;
  cbs.on_connecting = on_connecting;
  cbs.on_open = on_open;
  cbs.on_message = on_message;
  cbs.on_pong = on_pong;
  cbs.on_close = on_close;
  cbs.on_channel_message = on_channel_message;
  cbs.on_gap = on_gap;
  cbs.on_channel_reply = on_channel_reply;
  static const char *protos[1];
  wsk_uv_client_opts_t o;
  wsk_uv_client_opts_init(&o);
  o.callbacks = &cbs;
  o.conn.max_message_size = 64u << 20;
  o.backoff.initial_delay_ms = 100;
  o.backoff.min_delay_ms = 200;
  o.backoff.max_delay_ms = 1000;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--reconnect")) o.reconnect = 1;
    else if (!strcmp(a, "--no-deflate")) o.conn.client.deflate.enabled = 0;
    else if (!strcmp(a, "--insecure")) o.tls_insecure = 1;
    else if (!strcmp(a, "--ca")) o.tls_ca_file = v, i++;
    else if (!strcmp(a, "--cert")) o.tls_cert_file = v, i++;
    else if (!strcmp(a, "--key")) o.tls_key_file = v, i++;
    else if (!strcmp(a, "--proxy")) o.proxy = v, i++;
    else if (!strcmp(a, "--queue")) o.offline_queue_bytes = (size_t)atol(v), i++;
    else if (!strcmp(a, "--max-size")) o.conn.max_message_size = (size_t)atol(v), i++;
    else if (!strcmp(a, "--open-timeout")) o.conn.open_timeout_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--subprotocol")) {
      protos[0] = v;
      o.conn.client.subprotocols = protos;
      o.conn.client.nsubprotocols = 1;
      i++;
    } else {
      fprintf(stderr, "unknown option %s\n", a);
      return 2;
    }
  }
  uv_loop_t *loop = wsk_uv_default_loop();
  int r = wsk_uv_client_new(loop, argv[1], &o, &client);
  if (r < 0) {
    fprintf(stderr, "client: %s%s\n", wsk_strerror(r),
            r == WSK_EURL ? " (in the URL or the proxy URL)" : "");
    return 1;
  }
  wsk_uv_run(loop);
  free(line);
  uv_loop_close(loop);
  return 0;
}
