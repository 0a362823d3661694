/* ws:// and wss:// URLs (RFC 6455 3): scheme, optional userinfo, host
 * (name, IPv4 or bracketed IPv6), optional port, path and query. */
#include "wskit/handshake.h"

#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Dotted-quad IPv4, each part 0..255 without leading zeros. */
static int ipv4_valid(const char *s, size_t n) {
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t start = i;
    unsigned v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (unsigned)(s[i++] - '0');
    if (i == start || v > 255 || (i - start > 1 && s[start] == '0')) return 0;
    parts++;
    if (parts < 4) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
  }
  return i == n;
}

/* RFC 4291 2.2 text forms: up to 8 groups of 1-4 hex digits, one "::",
 * optionally ending in an IPv4 address that counts as two groups. */
static int ipv6_valid(const char *s, size_t n) {
  int groups = 0, gap = 0;
  size_t i = 0;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 1;
    i = 2;
  } else if (n >= 1 && s[0] == ':') {
    return 0;
  }
  while (i < n) {
    size_t start = i;
    while (i < n && hexval((unsigned char)s[i]) >= 0 && i - start < 5) i++;
    if (i < n && s[i] == '.') {
      if (!ipv4_valid(s + start, n - start)) return 0;
      groups += 2;
      i = n;
      break;
    }
    if (i == start || i - start > 4) return 0;
    groups++;
    if (i == n) break;
    if (s[i] != ':') return 0;
    i++;
    if (i < n && s[i] == ':') {
      if (gap) return 0;
      gap = 1;
      i++;
    } else if (i == n) {
      return 0; /* trailing single colon */
    }
  }
  return gap ? groups <= 7 : groups == 8;
}

static int host_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_';
}

static int parse_host(const char *s, size_t n, wsk_url_t *out) {
  if (n == 0) return WSK_EURL;
  if (s[0] == '[') {
    if (n < 3 || s[n - 1] != ']' || !ipv6_valid(s + 1, n - 2)) return WSK_EURL;
    s++;
    n -= 2;
    out->ipv6 = 1;
  } else {
    for (size_t i = 0; i < n; i++)
      if (!host_char((unsigned char)s[i])) return WSK_EURL;
  }
  if (n >= sizeof out->host) return WSK_EURL;
  memcpy(out->host, s, n);
  out->host[n] = '\0';
  return 0;
}

static int parse_userinfo(const char *s, size_t n, wsk_url_t *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return WSK_EURL;
      c = hi * 16 + lo;
      i += 2;
      /* Decoded controls would end up in the Authorization header. */
      if (c < 0x20 || c == 0x7f) return WSK_EURL;
    }
    if (o + 1 >= sizeof out->userinfo) return WSK_EURL;
    out->userinfo[o++] = (char)c;
  }
  out->userinfo[o] = '\0';
  return 0;
}

static int parse_port(const char *s, size_t n, wsk_url_t *out) {
  if (n == 0 || n > 5) return WSK_EURL;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return WSK_EURL;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v < 1 || v > 65535) return WSK_EURL;
  out->port = v;
  out->port_explicit = 1;
  return 0;
}

/* Copy path and query, percent-encoding spaces and non-ASCII bytes as
 * browsers do, so the request line stays valid. */
static int parse_resource(const char *s, size_t n, wsk_url_t *out) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  if (n == 0 || s[0] == '?') out->resource[o++] = '/';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c >= 0x80) {
      if (o + 3 >= sizeof out->resource) return WSK_EURL;
      out->resource[o++] = '%';
      out->resource[o++] = hex[c >> 4];
      out->resource[o++] = hex[c & 15];
    } else {
      if (o + 1 >= sizeof out->resource) return WSK_EURL;
      out->resource[o++] = (char)c;
    }
  }
  out->resource[o] = '\0';
  return 0;
}

static int parse(const char *url, wsk_url_t *out) {
  size_t len = strlen(url);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c < 0x20 || c == 0x7f) return WSK_EURL;
    if (c == '#') return WSK_EURL; /* RFC 6455 3: no fragments */
  }
  size_t i;
  if (len >= 5 && lower(url[0]) == 'w' && lower(url[1]) == 's' && memcmp(url + 2, "://", 3) == 0) {
    i = 5;
  } else if (len >= 6 && lower(url[0]) == 'w' && lower(url[1]) == 's' && lower(url[2]) == 's' &&
             memcmp(url + 3, "://", 3) == 0) {
    out->secure = 1;
    i = 6;
  } else {
    return WSK_EURL;
  }
  size_t auth = i;
  while (i < len && url[i] != '/' && url[i] != '?') i++;
  size_t auth_end = i;
  /* userinfo ends at the last '@' of the authority */
  size_t host = auth;
  for (size_t j = auth; j < auth_end; j++)
    if (url[j] == '@') host = j + 1;
  if (host > auth) {
    int r = parse_userinfo(url + auth, host - 1 - auth, out);
    if (r < 0) return r;
  }
  /* The port starts at the last ':' after any IPv6 literal's ']'. */
  size_t hp = host, colon = auth_end;
  if (hp < auth_end && url[hp] == '[') {
    const char *rb = memchr(url + hp, ']', auth_end - hp);
    if (!rb) return WSK_EURL;
    hp = (size_t)(rb - url) + 1;
    if (hp < auth_end && url[hp] != ':') return WSK_EURL;
  }
  for (size_t j = hp; j < auth_end; j++)
    if (url[j] == ':') colon = j;
  int r = parse_host(url + host, colon - host, out);
  if (r < 0) return r;
  if (colon < auth_end) {
    r = parse_port(url + colon + 1, auth_end - colon - 1, out);
    if (r < 0) return r;
  } else {
    out->port = out->secure ? 443 : 80;
  }
  return parse_resource(url + auth_end, len - auth_end, out);
}

int wsk_url_parse(const char *url, wsk_url_t *out) {
  memset(out, 0, sizeof *out);
  if (!url) return WSK_EURL;
  int r = parse(url, out);
  if (r < 0) memset(out, 0, sizeof *out);
  return r;
}
