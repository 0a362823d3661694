/* Comma-separated header lists with ;-parameters and quoted strings
 * (Connection, Upgrade, Sec-WebSocket-Protocol, Sec-WebSocket-Extensions),
 * and the case-insensitive comparisons they need. */
#include "wskit/http.h"
#include "http_internal.h"

#include <stdlib.h>
#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int wsk_http_ieq(const char *a, size_t alen, const char *b) {
  size_t i = 0;
  for (; i < alen; i++)
    if (b[i] == '\0' || lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return b[i] == '\0';
}

int wsk_http_token_valid(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!wsk_http_tchar((unsigned char)s[i])) return 0;
  return 1;
}

static size_t skip_ows(const char *v, size_t len, size_t i) {
  while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
  return i;
}

static size_t skip_token(const char *v, size_t len, size_t i) {
  while (i < len && wsk_http_tchar((unsigned char)v[i])) i++;
  return i;
}

/* qdtext and the second byte of quoted-pair (RFC 9110 5.6.4): anything
 * but controls (HTAB allowed); the quote and backslash only escaped. */
static int qchar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* Parse a quoted-string starting at v[i] == '"'. Returns the index after
 * the closing quote, or 0 when it is malformed. */
static size_t quoted(const char *v, size_t len, size_t i, wsk_http_param_t *param, char *scratch) {
  size_t start = ++i, n = 0;
  /* The unquoted text is never longer than the quoted one, so writing it
   * at the same offset in scratch keeps every param's text separate. */
  char *dst = scratch ? scratch + start : NULL;
  for (;;) {
    if (i >= len) return 0;
    unsigned char c = (unsigned char)v[i];
    if (c == '"') break;
    if (c == '\\') {
      if (++i >= len) return 0;
      c = (unsigned char)v[i];
    }
    if (!qchar(c)) return 0;
    if (dst) dst[n] = (char)c;
    n++;
    i++;
  }
  param->value = dst ? dst : v + start;
  param->value_len = dst ? n : i - start;
  return i + 1;
}

int wsk_http_list_next(const char *value, size_t len, size_t *pos, wsk_http_element_t *el,
                       char *scratch) {
  const char *v = value;
  size_t i = *pos;
  while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
  if (i >= len) {
    *pos = len;
    return 0;
  }
  el->nparams = 0;
  size_t start = i;
  i = skip_token(v, len, i);
  if (i == start) return WSK_EHTTP;
  /* Upgrade lists carry "protocol/version" (RFC 9110 7.8). */
  if (i < len && v[i] == '/') {
    size_t s2 = ++i;
    i = skip_token(v, len, i);
    if (i == s2) return WSK_EHTTP;
  }
  el->token = v + start;
  el->token_len = i - start;
  for (;;) {
    i = skip_ows(v, len, i);
    if (i >= len) break;
    if (v[i] == ',') {
      i++;
      break;
    }
    if (v[i] != ';') return WSK_EHTTP;
    i = skip_ows(v, len, i + 1);
    size_t ns = i;
    i = skip_token(v, len, i);
    if (i == ns) return WSK_EHTTP;
    if (el->nparams == WSK_HTTP_MAX_PARAMS) return WSK_EHTTP;
    wsk_http_param_t *prm = &el->params[el->nparams++];
    prm->name = v + ns;
    prm->name_len = i - ns;
    prm->value = NULL;
    prm->value_len = 0;
    i = skip_ows(v, len, i);
    if (i < len && v[i] == '=') {
      i = skip_ows(v, len, i + 1);
      if (i < len && v[i] == '"') {
        i = quoted(v, len, i, prm, scratch);
        if (i == 0) return WSK_EHTTP;
      } else {
        size_t vs = i;
        i = skip_token(v, len, i);
        if (i == vs) return WSK_EHTTP;
        prm->value = v + vs;
        prm->value_len = i - vs;
      }
    }
  }
  *pos = i;
  return 1;
}

int wsk_http_list_has(const char *value, size_t len, const char *token) {
  wsk_http_element_t el;
  size_t pos = 0;
  int found = 0, r;
  /* Scan to the end so that a malformed tail is reported the same way
   * wherever the token is. */
  while ((r = wsk_http_list_next(value, len, &pos, &el, NULL)) == 1)
    if (wsk_http_ieq(el.token, el.token_len, token)) found = 1;
  return r < 0 ? r : found;
}

int wsk_http_values_collect(const wsk_http_head_t *h, const char *name, wsk_http_values_t *out) {
  size_t n = wsk_http_head_count(h, name);
  out->n = 0;
  out->v = out->v_small;
  out->len = out->len_small;
  if (n > sizeof out->v_small / sizeof out->v_small[0]) {
    out->v = malloc(n * sizeof *out->v);
    out->len = malloc(n * sizeof *out->len);
    if (!out->v || !out->len) {
      wsk_http_values_free(out);
      return WSK_ENOMEM;
    }
  }
  for (size_t i = 0; i < h->nheaders; i++)
    if (wsk_http_ieq(h->headers[i].name, h->headers[i].name_len, name)) {
      out->v[out->n] = h->headers[i].value;
      out->len[out->n++] = h->headers[i].value_len;
    }
  return 0;
}

void wsk_http_values_free(wsk_http_values_t *vals) {
  if (vals->v != vals->v_small) free((void *)vals->v);
  if (vals->len != vals->len_small) free(vals->len);
  vals->v = vals->v_small;
  vals->len = vals->len_small;
  vals->n = 0;
}
