/* Building HTTP/1.1 response heads, and the checks that keep caller
 * strings from splitting headers (CR, LF, NUL). */
#include "wskit/http.h"
#include "http_internal.h"

#include <stdio.h>
#include <string.h>

const char *wsk_http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

static int clean(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 0;
  return 1;
}

void wsk_http_header_lens(const wsk_http_header_t *h, size_t *nlen, size_t *vlen) {
  *nlen = h->name_len ? h->name_len : h->name ? strlen(h->name) : 0;
  *vlen = h->value_len ? h->value_len : h->value ? strlen(h->value) : 0;
}

int wsk_http_field_append(wsk_buf_t *out, const char *name, size_t nlen, const char *value,
                          size_t vlen) {
  if (!name || !wsk_http_token_valid(name, nlen)) return WSK_EINVAL;
  if (vlen && (!value || !clean(value, vlen))) return WSK_EINVAL;
  if (wsk_buf_append(out, name, nlen) < 0 || wsk_buf_append(out, ": ", 2) < 0 ||
      wsk_buf_append(out, value, vlen) < 0 || wsk_buf_append(out, "\r\n", 2) < 0)
    return WSK_ENOMEM;
  return 0;
}

int wsk_http_fields_have(const wsk_http_header_t *h, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++) {
    size_t nl, vl;
    wsk_http_header_lens(&h[i], &nl, &vl);
    if (h[i].name && wsk_http_ieq(h[i].name, nl, name)) return 1;
  }
  return 0;
}

int wsk_http_fields_append(wsk_buf_t *out, const wsk_http_header_t *h, size_t n,
                           const char *const *owned) {
  for (size_t i = 0; i < n; i++) {
    size_t nl, vl;
    wsk_http_header_lens(&h[i], &nl, &vl);
    if (!h[i].name) return WSK_EINVAL;
    for (const char *const *o = owned; o && *o; o++)
      if (wsk_http_ieq(h[i].name, nl, *o)) return WSK_EINVAL;
    int r = wsk_http_field_append(out, h[i].name, nl, h[i].value, vl);
    if (r < 0) return r;
  }
  return 0;
}

static int build(wsk_buf_t *out, int status, const char *reason, const wsk_http_header_t *headers,
                 size_t nheaders, const void *body, size_t body_len) {
  static const char *const owned[] = { "Content-Length", "Transfer-Encoding", NULL };
  if (status < 100 || status > 999) return WSK_EINVAL;
  if (!reason) reason = wsk_http_reason(status);
  if (!clean(reason, strlen(reason))) return WSK_EINVAL;
  /* 1xx and 204 responses have no body and must not carry Content-Length
   * (RFC 9110 8.6). */
  int bodiless = status < 200 || status == 204;
  if (bodiless && body_len) return WSK_EINVAL;
  if (body_len && !body) return WSK_EINVAL;
  char line[32];
  snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
  if (wsk_buf_append_str(out, line) < 0 || wsk_buf_append_str(out, reason) < 0 ||
      wsk_buf_append(out, "\r\n", 2) < 0)
    return WSK_ENOMEM;
  int r = wsk_http_fields_append(out, headers, nheaders, owned);
  if (r < 0) return r;
  if (!bodiless) {
    char cl[32];
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", body_len);
    if (wsk_buf_append_str(out, cl) < 0) return WSK_ENOMEM;
  }
  if (wsk_buf_append(out, "\r\n", 2) < 0 || wsk_buf_append(out, body, body_len) < 0)
    return WSK_ENOMEM;
  return 0;
}

int wsk_http_response_build(wsk_buf_t *out, int status, const char *reason,
                            const wsk_http_header_t *headers, size_t nheaders,
                            const void *body, size_t body_len) {
  size_t mark = out->len;
  int r = build(out, status, reason, headers, nheaders, body, body_len);
  if (r < 0) out->len = mark; /* leave no half-written head behind */
  return r;
}
