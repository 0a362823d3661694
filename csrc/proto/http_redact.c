/* Request targets for access logs without credentials: the values of
 * query parameters named like a token are replaced by "***". */
#include "wskit/http.h"

#include <string.h>

static const char *const secret_names[] = {
  "token", "access_token", "id_token", "refresh_token", "auth", "authorization", "key",
  "api_key", "apikey", "password", "passwd", "secret", "jwt", "session", "sessionid", "sig",
  "signature", "ticket", NULL,
};

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Whether a parameter name (percent-decoded, '+' as space, compared
 * case-insensitively) is one of the secret names. */
static int is_secret(const char *s, size_t n) {
  char name[32];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 &&
        hexv(s[i + 2]) >= 0) {
      c = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (k == sizeof name) return 0; /* longer than any secret name */
    name[k++] = c;
  }
  for (const char *const *e = secret_names; *e; e++)
    if (wsk_http_ieq(name, k, *e)) return 1;
  return 0;
}

static int redact(wsk_buf_t *out, const char *t, size_t len) {
  const char *q = memchr(t, '?', len);
  if (!q) return wsk_buf_append(out, t, len);
  size_t end = len;
  const char *hash = memchr(q, '#', len - (size_t)(q - t));
  if (hash) end = (size_t)(hash - t);
  size_t i = (size_t)(q - t) + 1;
  if (wsk_buf_append(out, t, i) < 0) return WSK_ENOMEM;
  while (i <= end) {
    size_t j = i;
    while (j < end && t[j] != '&') j++;
    const char *eq = memchr(t + i, '=', j - i);
    if (eq && is_secret(t + i, (size_t)(eq - t) - i)) {
      if (wsk_buf_append(out, t + i, (size_t)(eq - t) - i + 1) < 0 ||
          wsk_buf_append(out, "***", 3) < 0)
        return WSK_ENOMEM;
    } else if (wsk_buf_append(out, t + i, j - i) < 0) {
      return WSK_ENOMEM;
    }
    if (j < end && wsk_buf_append(out, "&", 1) < 0) return WSK_ENOMEM;
    i = j + 1;
  }
  return wsk_buf_append(out, t + end, len - end); /* the fragment, if any */
}

int wsk_http_redact_target(wsk_buf_t *out, const char *target, size_t len) {
  if (!out || (len && !target)) return WSK_EINVAL;
  size_t mark = out->len;
  int r = redact(out, target ? target : "", len);
  if (r < 0) out->len = mark;
  return r < 0 ? WSK_ENOMEM : 0;
}
