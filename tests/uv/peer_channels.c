/* peer_channels PORT [options]: a C server for tests/uv/test_channels_peers.py,
 * on 127.0.0.1:PORT (0 picks one; "listening PORT" says which).
 *
 * Options: --channels PATH, --sse PATH, --redis URL, --prefix P,
 * --history N, --ttl MS, --heartbeat MS, --no-client-publish,
 * --deny PREFIX (authorize refuses channels starting with it),
 * --auth query|cookie|header|first (token "good" -> user "alice"),
 * --auth-timeout MS, --close-timeout MS, --rate R --burst B --policy error|drop|close,
 * --max-per-ip N --ip-policy reject|close, --host NAME (allowlist entry).
 *
 * Application connections (paths other than the channel path): "/join CH"
 * subscribes raw, "whoami" answers the user set by auth, "stats" answers
 * messages_in and rate_limited, anything else is echoed.
 * stdin: "publish CH t|b|j DATA" -> "published seq=N" / "publish-error NAME",
 * "count CH", "ipcount IP". Logs and requests (target redacted) go to stdout. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wskit/uv.h"

static wsk_uv_server_t *server;
static uv_signal_t sigs[2];
static uv_pipe_t in;
static int in_open;
static char line[65536];
static size_t line_len;
static const char *auth_mode = "";
static const char *deny;
static char alice[] = "alice";

static void say(const char *fmt, const char *a, size_t alen) {
  printf(fmt, (int)alen, a);
  putchar('\n');
  fflush(stdout);
}

static void log_cb(wsk_uv_server_t *s, const char *text) {
  (void)s;
  printf("log %s\n", text);
  fflush(stdout);
}

static int authorize(wsk_uv_conn_t *c, const char *action, const char *ch, size_t len) {
  (void)c;
  (void)action;
  return !deny || len < strlen(deny) || strncmp(ch, deny, strlen(deny)) != 0;
}

/* ---- handshake auth: one token, three places ---- */
static void on_request(wsk_uv_conn_t *c, const wsk_uv_request_t *req) {
  wsk_buf_t t;
  memset(&t, 0, sizeof t);
  const char *target = req->head->target;
  if (wsk_http_redact_target(&t, target, strlen(target)) == 0)
    say("request %.*s", (const char *)t.data + t.off, wsk_buf_pending(&t));
  wsk_buf_free(&t);
  if (req->status != 0) {
    wsk_uv_conn_reject(c, 0, NULL, 0, NULL, 0);
    return;
  }
  char v[128];
  int ok = 1;
  if (!strcmp(auth_mode, "query"))
    ok = wsk_uv_request_query(req, "token", v, sizeof v) >= 0 && !strcmp(v, "good");
  else if (!strcmp(auth_mode, "cookie"))
    ok = wsk_uv_request_cookie(req, "session", v, sizeof v) >= 0 && !strcmp(v, "good");
  else if (!strcmp(auth_mode, "header"))
    ok = wsk_uv_request_header(req, "Authorization", v, sizeof v) >= 0 && !strcmp(v, "Bearer good");
  if (!ok) {
    static const wsk_http_header_t h[] = { { "WWW-Authenticate", 16, "Bearer", 6 } };
    wsk_uv_conn_reject(c, 401, h, 1, "unauthorized\n", 13);
    return;
  }
  if (strcmp(auth_mode, "") && strcmp(auth_mode, "first")) wsk_uv_conn_set_user(c, alice);
  wsk_uv_conn_accept(c, NULL, NULL, 0);
}

/* first-message auth: "auth good" */
static int first_message_auth(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  if (m->len == 9 && !memcmp(m->data, "auth good", 9)) {
    wsk_uv_conn_set_user(c, alice);
    wsk_uv_conn_send(c, WSK_OP_TEXT, "welcome", 7);
    return 1;
  }
  return 0;
}

static void on_message(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  const char *p = (const char *)m->data;
  size_t n = m->len;
  char out[128];
  if (m->opcode == WSK_OP_TEXT && n > 6 && !memcmp(p, "/join ", 6)) {
    int r = wsk_uv_conn_subscribe(c, p + 6, n - 6);
    snprintf(out, sizeof out, "joined %d", r);
    wsk_uv_conn_send(c, WSK_OP_TEXT, out, strlen(out));
  } else if (m->opcode == WSK_OP_TEXT && n == 6 && !memcmp(p, "whoami", 6)) {
    const char *u = wsk_uv_conn_user(c);
    snprintf(out, sizeof out, "user %s", u ? u : "-");
    wsk_uv_conn_send(c, WSK_OP_TEXT, out, strlen(out));
  } else if (m->opcode == WSK_OP_TEXT && n == 5 && !memcmp(p, "stats", 5)) {
    wsk_conn_stats_t st;
    wsk_uv_conn_stats(c, &st);
    snprintf(out, sizeof out, "stats in=%llu limited=%llu", (unsigned long long)st.messages_in,
             (unsigned long long)st.rate_limited);
    wsk_uv_conn_send(c, WSK_OP_TEXT, out, strlen(out));
  } else {
    wsk_uv_conn_send(c, m->opcode, m->data, m->len);
  }
}

static void on_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  printf("closed kind=%d code=%u sent=%u\n", wsk_uv_conn_kind(c), i->code, i->sent_code);
  fflush(stdout);
}

/* ---- stdin commands ---- */
static void published(wsk_uv_server_t *s, void *ud, int err, uint64_t seq) {
  (void)s, (void)ud;
  if (err)
    printf("publish-error %s\n", wsk_err_name(err));
  else
    printf("published seq=%llu\n", (unsigned long long)seq);
  fflush(stdout);
}

static void command(char *s) {
  char ch[256], kind[8];
  int used = 0;
  if (sscanf(s, "publish %255s %7s %n", ch, kind, &used) == 2 && used) {
    const char *data = s + used;
    int r = wsk_uv_server_publish_message(server, ch, strlen(ch), (wsk_payload_kind_t)kind[0],
                                          data, strlen(data), published, NULL);
    if (r < 0) {
      printf("publish-error %s\n", wsk_err_name(r));
      fflush(stdout);
    }
  } else if (sscanf(s, "count %255s", ch) == 1) {
    printf("count %zu\n", wsk_uv_server_channel_count(server, ch, strlen(ch)));
    fflush(stdout);
  } else if (sscanf(s, "ipcount %255s", ch) == 1) {
    printf("ipcount %zu\n", wsk_uv_server_ip_count(server, ch));
    fflush(stdout);
  } else if (!strcmp(s, "backplane")) {
    printf("backplane up=%d\n", wsk_uv_server_backplane_up(server));
    fflush(stdout);
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char b[65536];
  (void)h, (void)suggested;
  *buf = uv_buf_init(b, sizeof b);
}

static void nothing(uv_handle_t *h) { (void)h; }

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  (void)st;
  if (n < 0) {
    if (in_open) uv_close((uv_handle_t *)&in, nothing);
    in_open = 0;
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    if (buf->base[i] == '\n') {
      line[line_len] = 0;
      command(line);
      line_len = 0;
    } else if (line_len + 1 < sizeof line) {
      line[line_len++] = buf->base[i];
    }
  }
}

static void on_done(wsk_uv_server_t *s, size_t aborted) {
  (void)aborted;
  wsk_uv_server_free(s);
  for (int i = 0; i < 2; i++) uv_close((uv_handle_t *)&sigs[i], nothing);
  if (in_open) uv_close((uv_handle_t *)&in, nothing);
  in_open = 0;
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h, (void)signum;
  for (int i = 0; i < 2; i++) uv_signal_stop(&sigs[i]);
  wsk_uv_server_shutdown(server, WSK_CLOSE_GOING_AWAY, 2000, on_done);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT [options]\n", argv[0]);
    return 2;
  }
  static wsk_uv_callbacks_t cbs;
  cbs.on_request = on_request;
  cbs.on_message = on_message;
  cbs.on_close = on_close;
  static const char *hosts[8];
  wsk_uv_server_opts_t o;
  wsk_uv_server_opts_init(&o);
  o.callbacks = &cbs;
  o.log = log_cb;
  o.authorize = authorize;
  o.backplane_backoff.initial_delay_ms = 200;
  o.backplane_backoff.min_delay_ms = 200;
  o.backplane_backoff.max_delay_ms = 1000;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--channels")) o.channels_path = v, i++;
    else if (!strcmp(a, "--sse")) o.sse_path = v, i++;
    else if (!strcmp(a, "--redis")) o.backplane = v, i++;
    else if (!strcmp(a, "--prefix")) o.backplane_prefix = v, i++;
    else if (!strcmp(a, "--history")) o.history_size = (size_t)atol(v), i++;
    else if (!strcmp(a, "--ttl")) o.history_ttl_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--heartbeat")) o.sse_heartbeat_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--no-client-publish")) o.client_publish = 0;
    else if (!strcmp(a, "--deny")) deny = v, i++;
    else if (!strcmp(a, "--auth")) auth_mode = v, i++;
    else if (!strcmp(a, "--auth-timeout")) o.conn.auth_timeout_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--close-timeout")) o.conn.close_timeout_ms = (uint32_t)atol(v), i++;
    else if (!strcmp(a, "--rate")) o.conn.rate = atof(v), i++;
    else if (!strcmp(a, "--burst")) o.conn.rate_burst = atof(v), i++;
    else if (!strcmp(a, "--policy")) {
      o.conn.rate_policy = !strcmp(v, "drop") ? WSK_RATE_DROP : !strcmp(v, "close") ? WSK_RATE_CLOSE
                                                                                     : WSK_RATE_ERROR;
      i++;
    } else if (!strcmp(a, "--max-per-ip")) o.max_connections_per_ip = (size_t)atol(v), i++;
    else if (!strcmp(a, "--ip-policy")) o.ip_limit_policy = !strcmp(v, "close"), i++;
    else if (!strcmp(a, "--host") && o.conn.server.nhosts < 8) {
      hosts[o.conn.server.nhosts++] = v;
      o.conn.server.hosts = hosts;
      i++;
    } else {
      fprintf(stderr, "unknown option %s\n", a);
      return 2;
    }
  }
  if (!strcmp(auth_mode, "first")) {
    o.first_message_auth = first_message_auth;
    if (!o.conn.auth_timeout_ms) o.conn.auth_timeout_ms = 2000;
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
  int nums[2] = { SIGINT, SIGTERM };
  for (int i = 0; i < 2; i++) {
    uv_signal_init(loop, &sigs[i]);
    uv_signal_start(&sigs[i], on_signal, nums[i]);
  }
  if (uv_pipe_init(loop, &in, 0) == 0) {
    in_open = 1;
    if (uv_pipe_open(&in, 0) != 0 || uv_read_start((uv_stream_t *)&in, alloc_cb, read_cb) != 0) {
      uv_close((uv_handle_t *)&in, nothing); /* no commands (stdin is not a pipe) */
      in_open = 0;
    }
  }
  wsk_uv_run(loop);
  uv_loop_close(loop);
  return 0;
}
