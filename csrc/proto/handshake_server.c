/* Server side of the opening handshake: validating the client's request
 * (RFC 6455 4.2.1), choosing a subprotocol and compression, and writing the
 * 101 response or a refusal. */
#include "wskit/handshake.h"
#include "http_internal.h"

#include <stdio.h>
#include <string.h>

void wsk_server_hs_opts_init(wsk_server_hs_opts_t *o) {
  memset(o, 0, sizeof *o);
  wsk_deflate_opts_init(&o->deflate);
}

static int any_list_has(const wsk_http_head_t *h, const char *name, const char *token) {
  for (size_t i = 0; i < h->nheaders; i++) {
    const wsk_http_header_t *f = &h->headers[i];
    if (wsk_http_ieq(f->name, f->name_len, name) && wsk_http_list_has(f->value, f->value_len, token) == 1)
      return 1;
  }
  return 0;
}

/* The first subprotocol in the client's order that we support. Returns 0,
 * or WSK_EHTTP when a Sec-WebSocket-Protocol value is malformed. */
static int choose_subprotocol(const wsk_server_hs_opts_t *o, const wsk_http_head_t *h,
                              const char **chosen) {
  *chosen = NULL;
  for (size_t i = 0; i < h->nheaders; i++) {
    const wsk_http_header_t *f = &h->headers[i];
    if (!wsk_http_ieq(f->name, f->name_len, "Sec-WebSocket-Protocol")) continue;
    wsk_http_element_t el;
    size_t pos = 0;
    int r;
    while ((r = wsk_http_list_next(f->value, f->value_len, &pos, &el, NULL)) == 1) {
      if (el.nparams) return WSK_EHTTP;
      for (size_t j = 0; j < o->nsubprotocols && !*chosen; j++) {
        const char *s = o->subprotocols[j];
        if (s && strlen(s) == el.token_len && memcmp(s, el.token, el.token_len) == 0) *chosen = s;
      }
    }
    if (r < 0) return r;
  }
  return 0;
}

static int origin_allowed(const wsk_server_hs_opts_t *o, const wsk_http_header_t *origin) {
  if (o->norigins == 0) return 1;
  for (size_t i = 0; i < o->norigins; i++) {
    /* A NULL entry admits requests without Origin (non-browser clients). */
    if (!o->origins[i] ? !origin : origin && wsk_http_ieq(origin->value, origin->value_len, o->origins[i]))
      return 1;
  }
  return 0;
}

/* Split "host[:port]" or "[v6]:port" into host (brackets removed) and
 * port (len 0 when absent). A bracketless host with several colons is a
 * bare IPv6 literal (allowlist entries may be written so). 0 if malformed. */
static int split_host(const char *s, size_t n, const char **host, size_t *hl, const char **port,
                      size_t *pl) {
  *port = NULL;
  *pl = 0;
  if (n && s[0] == '[') {
    const char *end = memchr(s, ']', n);
    if (!end || end == s + 1) return 0;
    *host = s + 1;
    *hl = (size_t)(end - s - 1);
    size_t rest = n - (size_t)(end - s) - 1;
    if (rest == 0) return 1;
    if (end[1] != ':' || rest < 2) return 0;
    *port = end + 2;
    *pl = rest - 1;
    return 1;
  }
  const char *colon = memchr(s, ':', n);
  *host = s;
  *hl = n;
  if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) {
    *hl = (size_t)(colon - s);
    *port = colon + 1;
    *pl = n - *hl - 1;
    if (*pl == 0) return 0;
  }
  return *hl > 0;
}

static int ieq_n(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn) return 0;
  for (size_t i = 0; i < an; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return 0;
  }
  return 1;
}

/* The Host allowlist (DNS rebinding): an entry without a port admits its
 * host on any port, one with a port only that port. */
int wsk_server_host_allowed(const wsk_server_hs_opts_t *o, const char *host, size_t len) {
  if (o->nhosts == 0) return 1;
  const char *h, *p;
  size_t hl, pl;
  if (!host || !split_host(host, len, &h, &hl, &p, &pl)) return 0;
  for (size_t i = 0; i < o->nhosts; i++) {
    const char *e = o->hosts[i], *eh, *ep;
    size_t ehl, epl;
    if (!e || !split_host(e, strlen(e), &eh, &ehl, &ep, &epl)) continue;
    if (!ieq_n(h, hl, eh, ehl)) continue;
    if (epl == 0 || (pl == epl && memcmp(p, ep, pl) == 0)) return 1;
  }
  return 0;
}

static int refuse(wsk_server_hs_request_t *req, int status, const char *why) {
  req->status = status;
  req->error = why;
  req->subprotocol = NULL;
  req->deflate.enabled = 0;
  return 0;
}

int wsk_server_request_check(const wsk_server_hs_opts_t *o, const wsk_http_head_t *h,
                             wsk_server_hs_request_t *req) {
  memset(req, 0, sizeof *req);
  req->deflate.server_max_window_bits = req->deflate.client_max_window_bits = 15;
  if (!o || !h || h->kind != WSK_HTTP_REQUEST) return WSK_EINVAL;
  req->is_upgrade = any_list_has(h, "Upgrade", "websocket");
  const wsk_http_header_t *key = wsk_http_head_find(h, "Sec-WebSocket-Key");
  if (key) {
    req->key = key->value;
    req->key_len = key->value_len;
  }
  const wsk_http_header_t *origin = wsk_http_head_find(h, "Origin");
  if (origin) req->origin = origin->value;

  if (h->version_minor < 1) return refuse(req, 400, "HTTP/1.1 or later required");
  if (!h->method || strcmp(h->method, "GET") != 0) return refuse(req, 400, "method must be GET");
  if (wsk_http_head_count(h, "Host") != 1) return refuse(req, 400, "missing or repeated Host header");
  if (!req->is_upgrade) return refuse(req, 426, "not a WebSocket upgrade request");
  if (!any_list_has(h, "Connection", "upgrade"))
    return refuse(req, 400, "Connection header does not list upgrade");
  const wsk_http_header_t *ver = wsk_http_head_find(h, "Sec-WebSocket-Version");
  if (!ver || wsk_http_head_count(h, "Sec-WebSocket-Version") != 1 ||
      !wsk_http_ieq(ver->value, ver->value_len, "13"))
    return refuse(req, 426, "unsupported Sec-WebSocket-Version");
  if (!key || wsk_http_head_count(h, "Sec-WebSocket-Key") != 1 ||
      !wsk_key_valid(key->value, key->value_len))
    return refuse(req, 400, "missing or invalid Sec-WebSocket-Key");
  if (wsk_http_head_count(h, "Origin") > 1) return refuse(req, 400, "repeated Origin header");
  if (!origin_allowed(o, origin)) return refuse(req, 403, "Origin not allowed");
  const wsk_http_header_t *host = wsk_http_head_find(h, "Host");
  if (!wsk_server_host_allowed(o, host ? host->value : NULL, host ? host->value_len : 0))
    return refuse(req, 403, "Host not allowed");

  if (choose_subprotocol(o, h, &req->subprotocol) < 0)
    return refuse(req, 400, "malformed Sec-WebSocket-Protocol");
  if (o->deflate.enabled) {
    wsk_http_values_t ext;
    int r = wsk_http_values_collect(h, "Sec-WebSocket-Extensions", &ext);
    if (r < 0) return r;
    r = wsk_deflate_negotiate(&o->deflate, ext.v, ext.len, ext.n, &req->deflate);
    wsk_http_values_free(&ext);
    if (r == WSK_EHTTP) return refuse(req, 400, "malformed Sec-WebSocket-Extensions");
    if (r < 0) return r;
  }
  return 0;
}

int wsk_server_request_offers(const wsk_http_head_t *h, const char *subprotocol) {
  if (!subprotocol) return 0;
  size_t n = strlen(subprotocol);
  for (size_t i = 0; i < h->nheaders; i++) {
    const wsk_http_header_t *f = &h->headers[i];
    if (!wsk_http_ieq(f->name, f->name_len, "Sec-WebSocket-Protocol")) continue;
    wsk_http_element_t el;
    size_t pos = 0;
    while (wsk_http_list_next(f->value, f->value_len, &pos, &el, NULL) == 1)
      if (el.token_len == n && memcmp(el.token, subprotocol, n) == 0) return 1;
  }
  return 0;
}

static int build_101(const char *key, size_t key_len, const char *subprotocol,
                     const wsk_deflate_params_t *deflate, const wsk_http_header_t *headers,
                     size_t nheaders, wsk_buf_t *out) {
  static const char *const owned[] = {
    "Upgrade", "Connection", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions", "Content-Length", "Transfer-Encoding", NULL,
  };
  char accept[29];
  if (!key || !wsk_key_valid(key, key_len)) return WSK_EINVAL;
  if (nheaders && !headers) return WSK_EINVAL;
  if (subprotocol && *subprotocol && !wsk_http_token_valid(subprotocol, strlen(subprotocol)))
    return WSK_EINVAL;
  int r = wsk_accept_for_key(key, key_len, accept);
  if (r < 0) return r;
  if (wsk_buf_append_str(out, "HTTP/1.1 101 Switching Protocols\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: ") < 0 ||
      wsk_buf_append(out, accept, 28) < 0 || wsk_buf_append(out, "\r\n", 2) < 0)
    return WSK_ENOMEM;
  if (subprotocol && *subprotocol &&
      (r = wsk_http_field_append(out, "Sec-WebSocket-Protocol", 22, subprotocol, strlen(subprotocol))) < 0)
    return r;
  if (deflate && deflate->enabled) {
    if (wsk_buf_append_str(out, "Sec-WebSocket-Extensions: ") < 0) return WSK_ENOMEM;
    if ((r = wsk_deflate_response_build(deflate, out)) < 0) return r;
    if (wsk_buf_append(out, "\r\n", 2) < 0) return WSK_ENOMEM;
  }
  if ((r = wsk_http_fields_append(out, headers, nheaders, owned)) < 0) return r;
  return wsk_buf_append(out, "\r\n", 2) < 0 ? WSK_ENOMEM : 0;
}

int wsk_server_response_build(const char *key, size_t key_len, const char *subprotocol,
                              const wsk_deflate_params_t *deflate,
                              const wsk_http_header_t *headers, size_t nheaders, wsk_buf_t *out) {
  size_t mark = out->len;
  int r = build_101(key, key_len, subprotocol, deflate, headers, nheaders, out);
  if (r < 0) out->len = mark;
  return r;
}

static int build_reject(int status, const wsk_http_header_t *headers, size_t nheaders,
                        const void *body, size_t body_len, wsk_buf_t *out) {
  static const char *const owned[] = { "Connection", "Content-Length", "Transfer-Encoding", NULL };
  static const char *const owned426[] = {
    "Connection", "Content-Length", "Transfer-Encoding", "Upgrade", "Sec-WebSocket-Version", NULL,
  };
  char line[64];
  if (status < 200 || status > 999 || (nheaders && !headers) || (body_len && !body))
    return WSK_EINVAL;
  snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, wsk_http_reason(status));
  if (wsk_buf_append_str(out, line) < 0) return WSK_ENOMEM;
  int r = wsk_http_fields_append(out, headers, nheaders, status == 426 ? owned426 : owned);
  if (r < 0) return r;
  /* RFC 9110 15.5.22 and 7.8: a 426 names the protocol to upgrade to, and
   * whoever sends Upgrade lists "upgrade" in Connection. */
  const char *ours = status == 426 ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                     "Connection: Upgrade, close\r\n"
                                   : "Connection: close\r\n";
  if (wsk_buf_append_str(out, ours) < 0) return WSK_ENOMEM;
  if (body_len && !wsk_http_fields_have(headers, nheaders, "Content-Type") &&
      wsk_buf_append_str(out, "Content-Type: text/plain; charset=utf-8\r\n") < 0)
    return WSK_ENOMEM;
  snprintf(line, sizeof line, "Content-Length: %zu\r\n\r\n", body_len);
  if (wsk_buf_append_str(out, line) < 0 || wsk_buf_append(out, body, body_len) < 0)
    return WSK_ENOMEM;
  return 0;
}

int wsk_server_reject_build(int status, const wsk_http_header_t *headers, size_t nheaders,
                            const void *body, size_t body_len, wsk_buf_t *out) {
  size_t mark = out->len;
  int r = build_reject(status, headers, nheaders, body, body_len, out);
  if (r < 0) out->len = mark;
  return r;
}
