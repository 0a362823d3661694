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
 * when not NULL, wins; "" means no proxy at all. Otherwise the
 * environment values are used (pass getenv()'s results, NULL when unset):
 * wss:// URLs use https_proxy (then HTTPS_PROXY), ws:// URLs http_proxy,
 * and no_proxy (comma-separated hosts, domain suffixes with or without a
 * leading dot, "*", host:port, IP literals) excludes hosts. Returns 1 with
 * *out filled when a proxy is to be used, 0 when not, WSK_EURL for a
 * malformed proxy URL (only http:// proxies are supported). */
int wsk_proxy_resolve(const wsk_url_t *target, const char *explicit_url, const char *https_proxy,
                      const char *http_proxy, const char *no_proxy, wsk_proxy_t *out);

/* Append "CONNECT host:port HTTP/1.1" with Host and Proxy-Authorization. */
int wsk_proxy_connect_build(const wsk_proxy_t *p, const char *host, unsigned port, wsk_buf_t *out);

/* Check the proxy's answer head: 0 for a 2xx (the tunnel is open; the
 * bytes after the head belong to the tunnel), WSK_EHANDSHAKE otherwise
 * (407 needs credentials, 403/502... refused). */
int wsk_proxy_connect_check(const wsk_http_head_t *head);

#ifdef __cplusplus
}
#endif
#endif
