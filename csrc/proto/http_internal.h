/* Private helpers shared by the HTTP and handshake sources (not installed). */
#ifndef WSK_HTTP_INTERNAL_H
#define WSK_HTTP_INTERNAL_H

#include "wskit/http.h"

/* tchar of RFC 9110 5.6.2. */
static inline int wsk_http_tchar(int c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  switch (c) {
  case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
  case '-': case '.': case '^': case '_': case '`': case '|': case '~':
    return 1;
  default:
    return 0;
  }
}

/* 1 if s[0..n) is a non-empty token. */
int wsk_http_token_valid(const char *s, size_t n);

/* A caller-supplied header: a length of 0 means "NUL-terminated". */
void wsk_http_header_lens(const wsk_http_header_t *h, size_t *nlen, size_t *vlen);

/* Append "name: value\r\n": the name must be a token and the value free
 * of CR, LF and NUL. Returns 0 or WSK_EINVAL / WSK_ENOMEM. */
int wsk_http_field_append(wsk_buf_t *out, const char *name, size_t nlen, const char *value,
                          size_t vlen);

/* Append caller headers, refusing any whose name is in `owned` (a
 * NULL-terminated list, compared case-insensitively). */
int wsk_http_fields_append(wsk_buf_t *out, const wsk_http_header_t *h, size_t n,
                           const char *const *owned);

/* 1 if one of the caller headers is named `name`. */
int wsk_http_fields_have(const wsk_http_header_t *h, size_t n, const char *name);

/* All values of the header `name`, in order, for list parsers that take
 * arrays. Small counts live inside the struct; free with ..._free. */
typedef struct wsk_http_values {
  const char **v;
  size_t *len;
  size_t n;
  const char *v_small[8];
  size_t len_small[8];
} wsk_http_values_t;

int wsk_http_values_collect(const wsk_http_head_t *h, const char *name, wsk_http_values_t *out);
void wsk_http_values_free(wsk_http_values_t *vals);

#endif
