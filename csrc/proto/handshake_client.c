/* Client side of the opening handshake: the GET request (RFC 6455 4.1)
 * and the checks on the server's 101 response. */
#include "wskit/handshake.h"
#include "http_internal.h"

#include <stdio.h>
#include <string.h>

void wsk_client_hs_opts_init(wsk_client_hs_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->resource = "/";
  o->port = 80;
  wsk_deflate_opts_init(&o->deflate);
}

static int visible(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return 0;
  return n > 0;
}

static int append_field(wsk_buf_t *out, const char *name, const char *value) {
  return wsk_http_field_append(out, name, strlen(name), value, strlen(value));
}

static int append_host(const wsk_client_hs_opts_t *o, wsk_buf_t *out) {
  size_t n = strlen(o->host);
  if (!visible(o->host, n)) return WSK_EINVAL;
  /* An IPv6 literal (it has colons) goes in brackets unless it has them. */
  int bracket = memchr(o->host, ':', n) && o->host[0] != '[';
  int default_port = o->port == 0 || o->port == (o->secure ? 443u : 80u);
  char port[16] = "";
  if (o->port > 65535) return WSK_EINVAL;
  if (!default_port) snprintf(port, sizeof port, ":%u", o->port);
  if (wsk_buf_append_str(out, "Host: ") < 0 || (bracket && wsk_buf_append(out, "[", 1) < 0) ||
      wsk_buf_append(out, o->host, n) < 0 || (bracket && wsk_buf_append(out, "]", 1) < 0) ||
      wsk_buf_append_str(out, port) < 0 || wsk_buf_append(out, "\r\n", 2) < 0)
    return WSK_ENOMEM;
  return 0;
}

/* Subprotocols must be distinct tokens short enough for the result. */
static int append_subprotocols(const wsk_client_hs_opts_t *o, wsk_buf_t *out) {
  if (!o->nsubprotocols) return 0;
  if (!o->subprotocols) return WSK_EINVAL;
  if (wsk_buf_append_str(out, "Sec-WebSocket-Protocol: ") < 0) return WSK_ENOMEM;
  for (size_t i = 0; i < o->nsubprotocols; i++) {
    const char *s = o->subprotocols[i];
    if (!s) return WSK_EINVAL;
    size_t n = strlen(s);
    if (n >= sizeof ((wsk_client_hs_result_t *)0)->subprotocol || !wsk_http_token_valid(s, n))
      return WSK_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(o->subprotocols[j], s) == 0) return WSK_EINVAL;
    if ((i && wsk_buf_append(out, ", ", 2) < 0) || wsk_buf_append(out, s, n) < 0)
      return WSK_ENOMEM;
  }
  return wsk_buf_append(out, "\r\n", 2) < 0 ? WSK_ENOMEM : 0;
}

static int build(const wsk_client_hs_opts_t *o, const char *key, wsk_buf_t *out) {
  static const char *const owned[] = {
    "Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
    "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
    "Content-Length", "Transfer-Encoding", NULL,
  };
  const char *resource = o->resource && *o->resource ? o->resource : "/";
  if (!o->host || !key || !wsk_key_valid(key, strlen(key)) || !visible(resource, strlen(resource)))
    return WSK_EINVAL;
  if (o->nheaders && !o->headers) return WSK_EINVAL;
  /* The options own these headers; a copy in the extra headers would be
   * sent twice. A User-Agent header replaces the default one. */
  if ((o->origin && wsk_http_fields_have(o->headers, o->nheaders, "Origin")) ||
      (o->authorization && wsk_http_fields_have(o->headers, o->nheaders, "Authorization")) ||
      (o->user_agent && *o->user_agent && wsk_http_fields_have(o->headers, o->nheaders, "User-Agent")))
    return WSK_EINVAL;
  int r;
  if (wsk_buf_append_str(out, "GET ") < 0 || wsk_buf_append_str(out, resource) < 0 ||
      wsk_buf_append_str(out, " HTTP/1.1\r\n") < 0)
    return WSK_ENOMEM;
  if ((r = append_host(o, out)) < 0) return r;
  if (wsk_buf_append_str(out, "Upgrade: websocket\r\nConnection: Upgrade\r\n") < 0)
    return WSK_ENOMEM;
  if ((r = append_field(out, "Sec-WebSocket-Key", key)) < 0) return r;
  if (wsk_buf_append_str(out, "Sec-WebSocket-Version: 13\r\n") < 0) return WSK_ENOMEM;
  if (o->origin && (r = append_field(out, "Origin", o->origin)) < 0) return r;
  if ((r = append_subprotocols(o, out)) < 0) return r;
  if (o->deflate.enabled) {
    if (wsk_buf_append_str(out, "Sec-WebSocket-Extensions: ") < 0) return WSK_ENOMEM;
    if ((r = wsk_deflate_offer_build(&o->deflate, out)) < 0) return r;
    if (wsk_buf_append(out, "\r\n", 2) < 0) return WSK_ENOMEM;
  }
  if (!o->user_agent && !wsk_http_fields_have(o->headers, o->nheaders, "User-Agent")) {
    if ((r = append_field(out, "User-Agent", "wskit/" WSK_VERSION_STRING)) < 0) return r;
  } else if (o->user_agent && *o->user_agent) {
    if ((r = append_field(out, "User-Agent", o->user_agent)) < 0) return r;
  }
  if (o->authorization && (r = append_field(out, "Authorization", o->authorization)) < 0) return r;
  if ((r = wsk_http_fields_append(out, o->headers, o->nheaders, owned)) < 0) return r;
  return wsk_buf_append(out, "\r\n", 2) < 0 ? WSK_ENOMEM : 0;
}

int wsk_client_request_build(const wsk_client_hs_opts_t *o, const char *key, wsk_buf_t *out) {
  size_t mark = out->len;
  int r = build(o, key, out);
  if (r < 0) out->len = mark;
  return r;
}

/* Every Upgrade element is "websocket" and there is at least one. */
static int upgrade_ok(const wsk_http_head_t *h) {
  int seen = 0;
  for (size_t i = 0; i < h->nheaders; i++) {
    const wsk_http_header_t *f = &h->headers[i];
    if (!wsk_http_ieq(f->name, f->name_len, "Upgrade")) continue;
    wsk_http_element_t el;
    size_t pos = 0;
    int r;
    while ((r = wsk_http_list_next(f->value, f->value_len, &pos, &el, NULL)) == 1) {
      if (!wsk_http_ieq(el.token, el.token_len, "websocket") || el.nparams) return 0;
      seen = 1;
    }
    if (r < 0) return 0;
  }
  return seen;
}

static int connection_ok(const wsk_http_head_t *h) {
  for (size_t i = 0; i < h->nheaders; i++) {
    const wsk_http_header_t *f = &h->headers[i];
    if (wsk_http_ieq(f->name, f->name_len, "Connection") &&
        wsk_http_list_has(f->value, f->value_len, "upgrade") == 1)
      return 1;
  }
  return 0;
}

/* The server may choose one of our subprotocols, exactly as we sent it. */
static const char *check_subprotocol(const wsk_client_hs_opts_t *o, const wsk_http_head_t *h,
                                     wsk_client_hs_result_t *res) {
  size_t count = wsk_http_head_count(h, "Sec-WebSocket-Protocol");
  if (count == 0) return NULL;
  if (count > 1) return "more than one Sec-WebSocket-Protocol header";
  const wsk_http_header_t *f = wsk_http_head_find(h, "Sec-WebSocket-Protocol");
  for (size_t i = 0; i < o->nsubprotocols; i++) {
    const char *s = o->subprotocols[i];
    if (s && strlen(s) == f->value_len && memcmp(s, f->value, f->value_len) == 0 &&
        f->value_len < sizeof res->subprotocol) {
      memcpy(res->subprotocol, f->value, f->value_len);
      res->subprotocol[f->value_len] = '\0';
      return NULL;
    }
  }
  return "server chose a subprotocol that was not offered";
}

static int refuse(wsk_client_hs_result_t *res, const char *why) {
  res->error = why;
  res->subprotocol[0] = '\0';
  res->deflate.enabled = 0;
  return WSK_EHANDSHAKE;
}

int wsk_client_response_check(const wsk_client_hs_opts_t *o, const char *key,
                              const wsk_http_head_t *head, wsk_client_hs_result_t *res) {
  memset(res, 0, sizeof *res);
  res->deflate.server_max_window_bits = res->deflate.client_max_window_bits = 15;
  if (!o || !key || !head || head->kind != WSK_HTTP_RESPONSE) return WSK_EINVAL;
  res->status = head->status;
  if (head->status != 101) return refuse(res, "server did not switch protocols");
  if (head->version_minor < 1) return refuse(res, "101 response in HTTP/1.0");
  if (!upgrade_ok(head)) return refuse(res, "missing or wrong Upgrade header");
  if (!connection_ok(head)) return refuse(res, "Connection header does not list upgrade");
  const wsk_http_header_t *acc = wsk_http_head_find(head, "Sec-WebSocket-Accept");
  if (!acc) return refuse(res, "missing Sec-WebSocket-Accept");
  char want[29];
  int r = wsk_accept_for_key(key, strlen(key), want);
  if (r < 0) return r;
  if (wsk_http_head_count(head, "Sec-WebSocket-Accept") != 1 || acc->value_len != 28 ||
      memcmp(acc->value, want, 28) != 0)
    return refuse(res, "wrong Sec-WebSocket-Accept");
  const char *why = check_subprotocol(o, head, res);
  if (why) return refuse(res, why);
  wsk_http_values_t ext;
  if ((r = wsk_http_values_collect(head, "Sec-WebSocket-Extensions", &ext)) < 0) return r;
  wsk_deflate_opts_t off = o->deflate;
  r = wsk_deflate_check_response(&off, ext.v, ext.len, ext.n, &res->deflate);
  wsk_http_values_free(&ext);
  if (r < 0) {
    if (r != WSK_EHANDSHAKE) return r;
    return refuse(res, "server answered with an extension or parameter that was not offered");
  }
  return 0;
}
