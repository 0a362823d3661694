/* HTTP CONNECT proxies for WebSocket clients: which proxy a URL uses (an
 * explicit one, or https_proxy / http_proxy / no_proxy as curl reads
 * them), the CONNECT request, and its answer. Shared by every driver. */
#ifndef WSKIT_PROXY_H
#define WSKIT_PROXY_H

#include "common.h"
#include "handshake.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_proxy {
  char host[256];       /* without brackets */
  unsigned port;        /* from the proxy URL; 80 when it has none */
  char auth[768];       /* "Basic base64(user:pass)" from the proxy URL's userinfo, or "" */
} wsk_proxy_t;

/* Decide the proxy for `target`. `explicit_url` (e.g. "http://proxy:3128"),
 * when not NULL, wins and no_proxy is not consulted; "" means no proxy at
 * all. Otherwise the environment values are used, as curl reads them; the
 * caller does the getenv() calls and passes NULL for unset variables:
 *   https_proxy: getenv("https_proxy"), else getenv("HTTPS_PROXY"); used by wss://
 *   http_proxy:  getenv("http_proxy") only (HTTP_PROXY is ignored, as curl
 *                does, because CGI puts the request's Proxy header there); used by ws://
 *   no_proxy:    getenv("no_proxy"), else getenv("NO_PROXY"); see wsk_proxy_excluded
 * An empty value counts as unset. Returns 1 with *out filled when a proxy
 * is to be used, 0 when not, WSK_EURL for a malformed proxy URL (only
 * http:// proxies are supported; see wsk_proxy_parse). */
int wsk_proxy_resolve(const wsk_url_t *target, const char *explicit_url, const char *https_proxy,
                      const char *http_proxy, const char *no_proxy, wsk_proxy_t *out);

/* Parse a proxy URL: [http://][user[:password]@]host[:port][/...]. No
 * scheme means http://, as in curl; a path is ignored; the host may be a
 * name, an IPv4 or a bracketed IPv6 literal. The percent-decoded userinfo
 * becomes out->auth ("user@" sends "user:"); at most 570 bytes. Returns 0
 * or WSK_EURL (https://, socks..., bad port, bad host, control characters). */
int wsk_proxy_parse(const char *url, wsk_proxy_t *out);

/* 1 if `no_proxy` excludes host:port from proxying (curl's rules). Entries
 * are separated by commas and/or whitespace and compared case-insensitively:
 *   "*"                    every host
 *   "example.com", ".example.com", "*.example.com"
 *                          example.com and all its subdomains (a trailing
 *                          dot on either side is ignored)
 *   "host:8080"            that host (or domain) on that port only
 *   "10.1.2.3", "::1", "[::1]", "[::1]:8080"
 *                          that address (compared as an address, never as a
 *                          domain suffix)
 *   "10.0.0.0/8", "fd00::/8"  an address block
 * `host` is as in wsk_url_t (IPv6 without brackets; brackets are accepted).
 * NULL or "" excludes nothing; malformed entries match nothing. */
int wsk_proxy_excluded(const char *host, unsigned port, const char *no_proxy);

/* Append "CONNECT host:port HTTP/1.1", "Host: host:port" and, when p->auth
 * is set, "Proxy-Authorization: <auth>", then the blank line. An IPv6
 * `host` (given without brackets) is written in brackets. `p` may be NULL
 * (no credentials). Returns 0, WSK_EINVAL (empty host or one with spaces,
 * controls, brackets, '/' or '@'; port 0), WSK_ENOMEM (out unchanged). */
int wsk_proxy_connect_build(const wsk_proxy_t *p, const char *host, unsigned port, wsk_buf_t *out);

/* Check the proxy's answer head (parse it with a WSK_HTTP_RESPONSE
 * parser): 0 for a 2xx (the tunnel is open; the bytes after the head
 * belong to the tunnel: feed them to TLS or the WebSocket connection),
 * WSK_EHANDSHAKE otherwise (407 needs credentials, 403/502... refused;
 * head->status tells which), WSK_EINVAL for a request head. */
int wsk_proxy_connect_check(const wsk_http_head_t *head);

#ifdef __cplusplus
}
#endif
#endif
