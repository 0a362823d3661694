/* HTTP CONNECT proxies: choosing one (explicit URL or the curl-style
 * environment), no_proxy matching, the CONNECT request and its answer.
 * Pure C99 like the rest of the core: addresses are parsed here rather
 * than with inet_pton so the core needs nothing beyond libc. */
#include "wskit/proxy.h"

#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq_n(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return 1;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* ---- IP literals ---- */

/* Dotted-quad IPv4 into 4 bytes. */
static int parse_ipv4(const char *s, size_t n, uint8_t out[4]) {
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    size_t start = i;
    unsigned v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (unsigned)(s[i++] - '0');
    if (i == start || v > 255) return 0;
    out[part] = (uint8_t)v;
    if (part < 3) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
  }
  return i == n;
}

/* RFC 4291 2.2 text form into 16 bytes: groups of 1-4 hex digits, at most
 * one "::", optionally ending in a dotted quad. */
static int parse_ipv6(const char *s, size_t n, uint8_t out[16]) {
  uint8_t head[16], tail[16];
  size_t nh = 0, nt = 0, i = 0;
  int gap = 0;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 1;
    i = 2;
  } else if (n >= 1 && s[0] == ':') {
    return 0;
  }
  while (i < n) {
    uint8_t *dst = gap ? tail : head;
    size_t *nd = gap ? &nt : &nh;
    size_t start = i;
    unsigned v = 0;
    while (i < n && hexval((unsigned char)s[i]) >= 0 && i - start < 4) v = v * 16 + (unsigned)hexval((unsigned char)s[i++]);
    if (i < n && s[i] == '.') { /* embedded IPv4 ends the address */
      if (*nd + 4 > 16 || !parse_ipv4(s + start, n - start, dst + *nd)) return 0;
      *nd += 4;
      i = n;
      break;
    }
    if (i == start || *nd + 2 > 16) return 0;
    dst[(*nd)++] = (uint8_t)(v >> 8);
    dst[(*nd)++] = (uint8_t)v;
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
  if (gap ? nh + nt > 14 : nh != 16) return 0;
  memset(out, 0, 16);
  memcpy(out, head, nh);
  memcpy(out + 16 - nt, tail, nt);
  return 1;
}

typedef struct {
  int family; /* 0 not an address, 4, 6 */
  uint8_t a[16];
} ipaddr_t;

static void parse_ip(const char *s, size_t n, ipaddr_t *ip) {
  ip->family = 0;
  if (parse_ipv4(s, n, ip->a)) ip->family = 4;
  else if (parse_ipv6(s, n, ip->a)) ip->family = 6;
}

static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
  size_t whole = bits / 8;
  if (memcmp(a, b, whole) != 0) return 0;
  if (bits % 8 == 0) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
  return (a[whole] & mask) == (b[whole] & mask);
}

/* ---- no_proxy ---- */

static int is_sep(int c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int parse_uint(const char *s, size_t n, unsigned max, unsigned *out) {
  if (n == 0 || n > 5) return 0;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > max) return 0;
  *out = v;
  return 1;
}

/* One no_proxy entry against the target. Entries that cannot be parsed
 * never match (curl skips them too). */
static int entry_matches(const char *e, size_t n, const char *host, size_t hlen, const ipaddr_t *hip,
                         unsigned port) {
  if (n == 1 && e[0] == '*') return 1;
  const char *addr = e;
  size_t alen = n;
  unsigned want_port = 0;
  if (e[0] == '[') { /* [v6] or [v6]:port */
    const char *rb = memchr(e, ']', n);
    if (!rb) return 0;
    addr = e + 1;
    alen = (size_t)(rb - e) - 1;
    size_t rest = n - (size_t)(rb - e) - 1;
    if (rest > 0) {
      if (rb[1] != ':' || !parse_uint(rb + 2, rest - 1, 65535, &want_port) || want_port == 0) return 0;
    }
  } else {
    const char *c1 = memchr(e, ':', n);
    /* one colon: name:port or v4:port; more: a bare IPv6 literal */
    if (c1 && !memchr(c1 + 1, ':', n - (size_t)(c1 - e) - 1)) {
      alen = (size_t)(c1 - e);
      if (!parse_uint(c1 + 1, n - alen - 1, 65535, &want_port) || want_port == 0) return 0;
    }
  }
  if (want_port && want_port != port) return 0;

  /* CIDR block: "10.0.0.0/8", "fd00::/8" */
  const char *slash = memchr(addr, '/', alen);
  if (slash) {
    unsigned bits;
    ipaddr_t net;
    size_t plen = (size_t)(slash - addr);
    parse_ip(addr, plen, &net);
    if (!net.family || !parse_uint(slash + 1, alen - plen - 1, net.family == 4 ? 32 : 128, &bits))
      return 0;
    return hip->family == net.family && prefix_equal(hip->a, net.a, bits);
  }

  ipaddr_t eip;
  parse_ip(addr, alen, &eip);
  if (eip.family || hip->family) {
    /* addresses match as addresses ("::1" is "0::1"), never as domain suffixes */
    if (eip.family && hip->family) return eip.family == hip->family && memcmp(eip.a, hip->a, eip.family == 4 ? 4 : 16) == 0;
    return alen == hlen && ieq_n(addr, host, hlen);
  }

  /* a domain: ".example.com", "*.example.com" and "example.com" all match
   * example.com and its subdomains */
  if (alen >= 2 && addr[0] == '*' && addr[1] == '.') addr++, alen--;
  while (alen > 0 && addr[0] == '.') addr++, alen--;
  if (alen > 0 && addr[alen - 1] == '.') alen--;
  if (alen == 0) return 0;
  if (hlen == alen) return ieq_n(host, addr, alen);
  return hlen > alen && host[hlen - alen - 1] == '.' && ieq_n(host + hlen - alen, addr, alen);
}

int wsk_proxy_excluded(const char *host, unsigned port, const char *no_proxy) {
  if (!no_proxy || !host) return 0;
  size_t hlen = strlen(host);
  if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') host++, hlen -= 2;
  if (hlen > 0 && host[hlen - 1] == '.') hlen--; /* "example.com." is example.com */
  ipaddr_t hip;
  parse_ip(host, hlen, &hip);
  const char *p = no_proxy;
  while (*p) {
    while (*p && is_sep((unsigned char)*p)) p++;
    const char *start = p;
    while (*p && !is_sep((unsigned char)*p)) p++;
    if (p > start && entry_matches(start, (size_t)(p - start), host, hlen, &hip, port)) return 1;
  }
  return 0;
}

/* ---- proxy URLs ---- */

static int pct_decode(const char *s, size_t n, char *out, size_t cap, size_t *olen) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return WSK_EURL;
      c = hi * 16 + lo;
      i += 2;
    }
    if (c < 0x20 || c == 0x7f) return WSK_EURL; /* would end up in a header */
    if (o + 1 >= cap) return WSK_EURL;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  *olen = o;
  return 0;
}

static int host_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

int wsk_proxy_parse(const char *url, wsk_proxy_t *out) {
  memset(out, 0, sizeof *out);
  if (!url) return WSK_EURL;
  size_t len = strlen(url);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c <= 0x20 || c == 0x7f) return WSK_EURL;
  }
  const char *s = url;
  const char *scheme_end = strstr(url, "://");
  if (scheme_end) {
    /* only plain-HTTP proxies: https:// and socks*:// are not supported */
    if (!(scheme_end - url == 4 && ieq_n(url, "http", 4))) return WSK_EURL;
    s = scheme_end + 3;
  } /* no scheme: http, as curl assumes */
  const char *end = s;
  while (*end && *end != '/' && *end != '?' && *end != '#') end++; /* any path is ignored */
  const char *host = s;
  for (const char *q = s; q < end; q++)
    if (*q == '@') host = q + 1;
  if (host > s) {
    char ui[571]; /* at most 570 bytes: "Basic " + base64 + NUL fit auth[768] */
    size_t uilen;
    if (pct_decode(s, (size_t)(host - 1 - s), ui, sizeof ui, &uilen) < 0) return WSK_EURL;
    if (!memchr(ui, ':', uilen)) { /* "user@": an empty password, as curl sends it */
      if (uilen + 1 >= sizeof ui) return WSK_EURL;
      ui[uilen++] = ':';
    }
    memcpy(out->auth, "Basic ", 6);
    wsk_base64_encode((const uint8_t *)ui, uilen, out->auth + 6);
    memset(ui, 0, sizeof ui); /* a password */
  }
  const char *hend = end, *hstart = host;
  if (host < end && *host == '[') {
    const char *rb = memchr(host, ']', (size_t)(end - host));
    if (!rb) goto bad;
    hstart = host + 1;
    hend = rb;
    uint8_t a[16];
    if (!parse_ipv6(hstart, (size_t)(hend - hstart), a)) goto bad;
    if (rb + 1 < end && rb[1] != ':') goto bad;
  } else {
    for (const char *q = host; q < end; q++)
      if (*q == ':') { hend = q; break; }
    for (const char *q = host; q < hend; q++)
      if (!host_char((unsigned char)*q)) goto bad;
  }
  size_t hlen = (size_t)(hend - hstart);
  if (hlen == 0 || hlen >= sizeof out->host) goto bad;
  memcpy(out->host, hstart, hlen);
  out->host[hlen] = '\0';
  const char *pc = hend + (hstart != host ? 1 : 0); /* past ']' */
  out->port = 80;
  if (pc < end) { /* ":port" */
    unsigned port;
    if (*pc != ':' || !parse_uint(pc + 1, (size_t)(end - pc - 1), 65535, &port) || port == 0) goto bad;
    out->port = port;
  }
  return 0;
bad:
  memset(out, 0, sizeof *out);
  return WSK_EURL;
}

int wsk_proxy_resolve(const wsk_url_t *target, const char *explicit_url, const char *https_proxy,
                      const char *http_proxy, const char *no_proxy, wsk_proxy_t *out) {
  const char *url;
  if (explicit_url) {
    url = explicit_url;
  } else {
    url = target->secure ? https_proxy : http_proxy;
    if (url && *url && wsk_proxy_excluded(target->host, target->port, no_proxy)) url = NULL;
  }
  if (!url || !*url) return 0; /* unset and empty both mean "no proxy" */
  int r = wsk_proxy_parse(url, out);
  return r < 0 ? r : 1;
}

/* ---- CONNECT ---- */

static int authority_valid(const char *host) {
  if (!*host) return 0;
  for (const char *p = host; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 0x20 || c == 0x7f || c == '[' || c == ']' || c == '/' || c == '@') return 0;
  }
  return 1;
}

int wsk_proxy_connect_build(const wsk_proxy_t *p, const char *host, unsigned port, wsk_buf_t *out) {
  if (!host || !authority_valid(host) || port == 0 || port > 65535) return WSK_EINVAL;
  for (const char *a = p ? p->auth : ""; *a; a++)
    if ((unsigned char)*a < 0x20 || *a == 0x7f) return WSK_EINVAL;
  char authority[300];
  int v6 = strchr(host, ':') != NULL; /* an IPv6 literal goes in brackets */
  size_t hl = strlen(host);
  if (hl > 256) return WSK_EINVAL;
  size_t n = 0;
  if (v6) authority[n++] = '[';
  memcpy(authority + n, host, hl);
  n += hl;
  if (v6) authority[n++] = ']';
  authority[n++] = ':';
  char digits[6];
  size_t nd = 0;
  do digits[nd++] = (char)('0' + port % 10); while ((port /= 10) > 0);
  while (nd) authority[n++] = digits[--nd];
  authority[n] = '\0';

  size_t before = out->len;
  int r = 0;
  r |= wsk_buf_append_str(out, "CONNECT ");
  r |= wsk_buf_append_str(out, authority);
  r |= wsk_buf_append_str(out, " HTTP/1.1\r\nHost: ");
  r |= wsk_buf_append_str(out, authority);
  r |= wsk_buf_append_str(out, "\r\n");
  if (p && p->auth[0]) {
    r |= wsk_buf_append_str(out, "Proxy-Authorization: ");
    r |= wsk_buf_append_str(out, p->auth);
    r |= wsk_buf_append_str(out, "\r\n");
  }
  r |= wsk_buf_append_str(out, "\r\n");
  if (r) {
    out->len = before; /* all or nothing */
    return WSK_ENOMEM;
  }
  return 0;
}

int wsk_proxy_connect_check(const wsk_http_head_t *head) {
  if (!head || head->kind != WSK_HTTP_RESPONSE) return WSK_EINVAL;
  return head->status >= 200 && head->status <= 299 ? 0 : WSK_EHANDSHAKE;
}
