/* Server handshake hooks: hand the core's REQUEST event to on_request or
 * on_http, carry their answers back to the core, and small readers for
 * headers, query parameters and cookies that auth hooks need. */
#include "uv_internal.h"

#include <string.h>

void wsk__uv_server_request(wsk_uv_conn_t *c, const wsk_event_t *ev) {
  wsk_uv_request_t r;
  memset(&r, 0, sizeof r);
  r.head = ev->head;
  r.status = ev->status;
  r.is_upgrade = wsk_http_head_find(ev->head, "Upgrade") != NULL;
  const char *t = ev->head->target ? ev->head->target : "";
  const char *q = strchr(t, '?');
  r.path = t;
  r.path_len = q ? (size_t)(q - t) : strlen(t);
  if (q) {
    r.query = q + 1;
    r.query_len = strlen(q + 1);
  }
  if (wsk__uv_guard_request(c, &r)) return; /* per-IP limit, SSE */
  const wsk_uv_callbacks_t *cb = c->cbs;
  if (!r.is_upgrade && cb->on_http)
    cb->on_http(c, &r);
  else if (cb->on_request)
    cb->on_request(c, &r);
  else if (r.status == 0)
    wsk_conn_accept(c->ws, NULL);
  else
    wsk_conn_reject(c->ws, 0, NULL, 0, NULL, 0);
}

int wsk_uv_conn_accept(wsk_uv_conn_t *c, const char *subprotocol,
                       const wsk_http_header_t *headers, size_t nheaders) {
  if (!c->ws || (c->flags & WSK_UVF_CLOSED)) return WSK_ECLOSED;
  wsk_accept_t a;
  a.subprotocol = subprotocol;
  a.headers = headers;
  a.nheaders = nheaders;
  wsk__uv_enter(c);
  int r = !c->ws                       ? WSK_ECLOSED
          : (c->flags & WSK_UVF_SSE) ? wsk__uv_sse_accept(c) /* an event stream starts */
                                       : wsk_conn_accept(c->ws, &a);
  wsk__uv_leave(c);
  return r;
}

int wsk_uv_conn_reject(wsk_uv_conn_t *c, int status, const wsk_http_header_t *headers,
                       size_t nheaders, const void *body, size_t body_len) {
  if (!c->ws || (c->flags & WSK_UVF_CLOSED)) return WSK_ECLOSED;
  if (c->flags & WSK_UVF_SSE_ON) return WSK_ESTATE; /* streaming already */
  wsk__uv_enter(c);
  int r = c->ws ? wsk_conn_reject(c->ws, status, headers, nheaders, body, body_len) : WSK_ECLOSED;
  wsk__uv_leave(c);
  return r;
}

int wsk_uv_conn_http_respond(wsk_uv_conn_t *c, int status, const wsk_http_header_t *headers,
                             size_t nheaders, const void *body, size_t body_len) {
  if (status <= 0) return WSK_EINVAL;
  return wsk_uv_conn_reject(c, status, headers, nheaders, body, body_len);
}

/* ---- readers ---- */

static long copy_out(const char *v, size_t n, char *out, size_t cap) {
  if (cap) {
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(out, v, k);
    out[k] = 0;
  }
  return (long)n;
}

long wsk_uv_request_header(const wsk_uv_request_t *r, const char *name, char *out, size_t cap) {
  const wsk_http_header_t *h = wsk_http_head_find(r->head, name);
  if (!h) return WSK_ENOTFOUND;
  return copy_out(h->value, h->value_len, out, cap);
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Percent-decode (and '+' to space) into out; returns the decoded length. */
static long decode_into(const char *v, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = v[i];
    if (ch == '+') {
      ch = ' ';
    } else if (ch == '%' && i + 2 < n && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
      ch = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
      i += 2;
    }
    if (cap && o < cap - 1) out[o] = ch;
    o++;
  }
  if (cap) out[o < cap - 1 ? o : cap - 1] = 0;
  return (long)o;
}

long wsk_uv_request_query(const wsk_uv_request_t *r, const char *key, char *out, size_t cap) {
  size_t klen = strlen(key);
  const char *p = r->query, *end = r->query ? r->query + r->query_len : NULL;
  while (p && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    const char *kend = eq ? eq : stop;
    if ((size_t)(kend - p) == klen && memcmp(p, key, klen) == 0) {
      const char *v = eq ? eq + 1 : stop;
      return decode_into(v, (size_t)(stop - v), out, cap);
    }
    p = amp ? amp + 1 : NULL;
  }
  return WSK_ENOTFOUND;
}

/* Cookie: name=value pairs separated by "; " (RFC 6265 5.4), in any of
 * the Cookie headers. */
long wsk_uv_request_cookie(const wsk_uv_request_t *r, const char *name, char *out, size_t cap) {
  size_t nlen = strlen(name);
  for (size_t i = 0; i < r->head->nheaders; i++) {
    const wsk_http_header_t *h = &r->head->headers[i];
    if (!wsk_http_ieq(h->name, h->name_len, "Cookie")) continue;
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == ';')) p++;
      const char *semi = memchr(p, ';', (size_t)(end - p));
      const char *stop = semi ? semi : end;
      const char *eq = memchr(p, '=', (size_t)(stop - p));
      if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
        const char *v = eq + 1;
        size_t vlen = (size_t)(stop - v);
        if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
          v++;
          vlen -= 2;
        }
        return copy_out(v, vlen, out, cap);
      }
      p = stop;
    }
  }
  return WSK_ENOTFOUND;
}
