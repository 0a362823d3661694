/* HTTP CONNECT proxies: choosing the proxy, no_proxy, CONNECT bytes, answers. */
#include "testlib.h"
#include "wskit/proxy.h"

#include <stdlib.h>
#include <string.h>

static wsk_url_t url(const char *s) {
  wsk_url_t u;
  if (wsk_url_parse(s, &u) != 0) abort();
  return u;
}

/* CONNECT answer head parsed by the core's response parser. */
static int check_answer(const char *text) {
  wsk_http_parser_t *p = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  long n = wsk_http_parser_feed(p, (const uint8_t *)text, strlen(text));
  int r = n >= 0 && wsk_http_parser_done(p) ? wsk_proxy_connect_check(wsk_http_parser_head(p)) : -100;
  wsk_http_parser_free(p);
  return r;
}

static int built_equals(const wsk_proxy_t *p, const char *host, unsigned port, const char *want) {
  wsk_buf_t b = {0};
  int r = wsk_proxy_connect_build(p, host, port, &b);
  int ok = r == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
  if (!ok) fprintf(stderr, "    got: %.*s\n", (int)b.len, b.data ? (const char *)b.data : "");
  wsk_buf_free(&b);
  return ok;
}

/* ---- environment ---- */

TEST(proxy_wss_uses_https_proxy) {
  wsk_url_t u = url("wss://example.com/chat");
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_resolve(&u, NULL, "http://secure-proxy:3128", "http://plain-proxy:8080", NULL, &p), 1);
  CHECK_STR(p.host, "secure-proxy");
  CHECK_INT(p.port, 3128);
  CHECK_STR(p.auth, "");
}

TEST(proxy_ws_uses_http_proxy) {
  wsk_url_t u = url("ws://example.com/chat");
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_resolve(&u, NULL, "http://secure-proxy:3128", "http://plain-proxy:8080", NULL, &p), 1);
  CHECK_STR(p.host, "plain-proxy");
  CHECK_INT(p.port, 8080);
}

TEST(proxy_scheme_picks_only_its_variable) {
  wsk_url_t s = url("wss://example.com"), w = url("ws://example.com");
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_resolve(&s, NULL, NULL, "http://plain-proxy:8080", NULL, &p), 0);
  CHECK_INT(wsk_proxy_resolve(&w, NULL, "http://secure-proxy:3128", NULL, NULL, &p), 0);
}

TEST(proxy_unset_and_empty_mean_none) {
  wsk_url_t s = url("wss://example.com"), w = url("ws://example.com");
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_resolve(&s, NULL, NULL, NULL, NULL, &p), 0);
  CHECK_INT(wsk_proxy_resolve(&s, NULL, "", "", "", &p), 0);
  CHECK_INT(wsk_proxy_resolve(&w, NULL, "", "", NULL, &p), 0);
}

TEST(proxy_explicit_wins_over_env_and_no_proxy) {
  wsk_url_t u = url("wss://example.com");
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_resolve(&u, "http://mine:1234", "http://env:3128", "http://env:3128", "*", &p), 1);
  CHECK_STR(p.host, "mine");
  CHECK_INT(p.port, 1234);
}

TEST(proxy_explicit_empty_disables_proxying) {
  wsk_url_t u = url("wss://example.com"), w = url("ws://example.com");
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_resolve(&u, "", "http://env:3128", "http://env:3128", NULL, &p), 0);
  CHECK_INT(wsk_proxy_resolve(&w, "", "http://env:3128", "http://env:3128", NULL, &p), 0);
}

TEST(proxy_no_proxy_excludes_from_env) {
  wsk_url_t u = url("wss://api.internal.example:8443/x");
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_resolve(&u, NULL, "http://env:3128", NULL, "localhost,.internal.example", &p), 0);
  CHECK_INT(wsk_proxy_resolve(&u, NULL, "http://env:3128", NULL, "localhost,other.example", &p), 1);
  CHECK_INT(wsk_proxy_resolve(&u, NULL, "http://env:3128", NULL, "internal.example:8443", &p), 0);
  CHECK_INT(wsk_proxy_resolve(&u, NULL, "http://env:3128", NULL, "internal.example:443", &p), 1);
}

TEST(proxy_malformed_env_url_is_eurl) {
  wsk_url_t u = url("wss://example.com");
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_resolve(&u, NULL, "http://proxy:99999", NULL, NULL, &p), WSK_EURL);
  CHECK_INT(wsk_proxy_resolve(&u, "https://proxy:443", NULL, NULL, NULL, &p), WSK_EURL);
  /* an excluded host never looks at the proxy URL */
  CHECK_INT(wsk_proxy_resolve(&u, NULL, "http://proxy:99999", NULL, "example.com", &p), 0);
}

/* ---- proxy URLs ---- */

TEST(proxy_url_forms) {
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_parse("http://proxy.example:3128", &p), 0);
  CHECK_STR(p.host, "proxy.example");
  CHECK_INT(p.port, 3128);
  CHECK_INT(wsk_proxy_parse("http://proxy.example", &p), 0);
  CHECK_INT(p.port, 80);
  CHECK_INT(wsk_proxy_parse("http://proxy.example:3128/", &p), 0);
  CHECK_INT(p.port, 3128);
  CHECK_INT(wsk_proxy_parse("HTTP://Proxy:8080/some/path", &p), 0);
  CHECK_STR(p.host, "Proxy");
  CHECK_INT(wsk_proxy_parse("proxy:8080", &p), 0); /* no scheme: http, as curl */
  CHECK_STR(p.host, "proxy");
  CHECK_INT(p.port, 8080);
  CHECK_INT(wsk_proxy_parse("http://10.0.0.1:3128", &p), 0);
  CHECK_STR(p.host, "10.0.0.1");
  CHECK_INT(wsk_proxy_parse("http://[::1]:3128", &p), 0);
  CHECK_STR(p.host, "::1");
  CHECK_INT(p.port, 3128);
  CHECK_INT(wsk_proxy_parse("http://[2001:db8::1]", &p), 0);
  CHECK_STR(p.host, "2001:db8::1");
  CHECK_INT(p.port, 80);
}

TEST(proxy_url_rejects_bad_forms) {
  wsk_proxy_t p;
  const char *bad[] = { "https://proxy:443", "socks5://proxy:1080", "ftp://proxy", "http://",
                        "http://:3128", "http://proxy:0", "http://proxy:65536", "http://proxy:80x",
                        "http://proxy:", "http://[::1", "http://[nothex]:80", "http://[::1]x",
                        "http://pro xy:80", "http://proxy\r\n:80", "http://pro%78y:80",
                        "http://u%0d%0a:p@proxy" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (wsk_proxy_parse(bad[i], &p) != WSK_EURL) TL_FAIL("accepted %s", bad[i]);
    CHECK_STR(p.host, "");
  }
}

TEST(proxy_userinfo_becomes_basic_auth) {
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_parse("http://alice:s3cret@proxy:3128", &p), 0);
  CHECK_STR(p.auth, "Basic YWxpY2U6czNjcmV0"); /* base64("alice:s3cret") */
  CHECK_STR(p.host, "proxy");
  CHECK_INT(wsk_proxy_parse("http://us%40er:p%3Ass@proxy", &p), 0);
  CHECK_STR(p.auth, "Basic dXNAZXI6cDpzcw=="); /* "us@er:p:ss" */
  CHECK_INT(wsk_proxy_parse("http://user@proxy", &p), 0);
  CHECK_STR(p.auth, "Basic dXNlcjo="); /* "user:" */
  CHECK_INT(wsk_proxy_parse("http://a:b@c@proxy", &p), 0); /* last '@' ends userinfo */
  CHECK_STR(p.auth, "Basic YTpiQGM=");
  CHECK_STR(p.host, "proxy");
}

TEST(proxy_userinfo_length_limit) {
  char u[700];
  wsk_proxy_t p;
  memcpy(u, "http://", 7);
  memset(u + 7, 'a', 569);
  strcpy(u + 7 + 569, ":@proxy");
  CHECK_INT(wsk_proxy_parse(u, &p), 0);
  CHECK_INT(strlen(p.auth), 6 + 760);
  memset(u + 7, 'a', 571);
  strcpy(u + 7 + 571, "@proxy");
  CHECK_INT(wsk_proxy_parse(u, &p), WSK_EURL);
}

/* ---- no_proxy ---- */

TEST(no_proxy_empty_excludes_nothing) {
  CHECK_INT(wsk_proxy_excluded("example.com", 443, NULL), 0);
  CHECK_INT(wsk_proxy_excluded("example.com", 443, ""), 0);
  CHECK_INT(wsk_proxy_excluded("example.com", 443, " , ,"), 0);
}

TEST(no_proxy_star_matches_all) {
  CHECK_INT(wsk_proxy_excluded("example.com", 443, "*"), 1);
  CHECK_INT(wsk_proxy_excluded("10.1.2.3", 80, "*"), 1);
  CHECK_INT(wsk_proxy_excluded("::1", 80, "localhost, *"), 1);
  CHECK_INT(wsk_proxy_excluded("example.com", 443, "*x"), 0);
}

TEST(no_proxy_domain_and_subdomains) {
  CHECK_INT(wsk_proxy_excluded("example.com", 443, "example.com"), 1);
  CHECK_INT(wsk_proxy_excluded("www.example.com", 443, "example.com"), 1);
  CHECK_INT(wsk_proxy_excluded("a.b.example.com", 443, "example.com"), 1);
  CHECK_INT(wsk_proxy_excluded("example.com", 443, ".example.com"), 1);
  CHECK_INT(wsk_proxy_excluded("www.example.com", 443, ".example.com"), 1);
  CHECK_INT(wsk_proxy_excluded("www.example.com", 443, "*.example.com"), 1);
}

TEST(no_proxy_suffix_needs_a_label_boundary) {
  CHECK_INT(wsk_proxy_excluded("notexample.com", 443, "example.com"), 0);
  CHECK_INT(wsk_proxy_excluded("notexample.com", 443, ".example.com"), 0);
  CHECK_INT(wsk_proxy_excluded("example.com.org", 443, "example.com"), 0);
  CHECK_INT(wsk_proxy_excluded("com", 443, "example.com"), 0);
}

TEST(no_proxy_is_case_insensitive_and_ignores_trailing_dot) {
  CHECK_INT(wsk_proxy_excluded("WWW.Example.COM", 443, "example.com"), 1);
  CHECK_INT(wsk_proxy_excluded("www.example.com", 443, ".EXAMPLE.com"), 1);
  CHECK_INT(wsk_proxy_excluded("www.example.com.", 443, "example.com"), 1);
  CHECK_INT(wsk_proxy_excluded("www.example.com", 443, "example.com."), 1);
}

TEST(no_proxy_separators) {
  const char *list = "  localhost ,internal.example\texample.org,,  10.0.0.1 ";
  CHECK_INT(wsk_proxy_excluded("localhost", 80, list), 1);
  CHECK_INT(wsk_proxy_excluded("a.internal.example", 80, list), 1);
  CHECK_INT(wsk_proxy_excluded("example.org", 80, list), 1);
  CHECK_INT(wsk_proxy_excluded("10.0.0.1", 80, list), 1);
  CHECK_INT(wsk_proxy_excluded("example.net", 80, list), 0);
}

TEST(no_proxy_ports) {
  CHECK_INT(wsk_proxy_excluded("example.com", 8080, "example.com:8080"), 1);
  CHECK_INT(wsk_proxy_excluded("www.example.com", 8080, "example.com:8080"), 1);
  CHECK_INT(wsk_proxy_excluded("example.com", 443, "example.com:8080"), 0);
  CHECK_INT(wsk_proxy_excluded("10.0.0.1", 8080, "10.0.0.1:8080"), 1);
  CHECK_INT(wsk_proxy_excluded("10.0.0.1", 80, "10.0.0.1:8080"), 0);
  CHECK_INT(wsk_proxy_excluded("example.com", 80, "example.com:"), 0);     /* malformed */
  CHECK_INT(wsk_proxy_excluded("example.com", 80, "example.com:99999"), 0); /* malformed */
}

TEST(no_proxy_ipv4_is_an_address_not_a_suffix) {
  CHECK_INT(wsk_proxy_excluded("127.0.0.1", 80, "127.0.0.1"), 1);
  CHECK_INT(wsk_proxy_excluded("10.0.0.1", 80, "0.0.1"), 0);
  CHECK_INT(wsk_proxy_excluded("10.0.0.1", 80, "0.1"), 0);
  CHECK_INT(wsk_proxy_excluded("127.0.0.1", 80, "127.0.0.2"), 0);
  CHECK_INT(wsk_proxy_excluded("localhost", 80, "127.0.0.1"), 0);
}

TEST(no_proxy_ipv6_with_and_without_brackets) {
  CHECK_INT(wsk_proxy_excluded("::1", 80, "::1"), 1);
  CHECK_INT(wsk_proxy_excluded("::1", 80, "[::1]"), 1);
  CHECK_INT(wsk_proxy_excluded("[::1]", 80, "::1"), 1);
  CHECK_INT(wsk_proxy_excluded("::1", 80, "0:0:0:0:0:0:0:1"), 1); /* same address */
  CHECK_INT(wsk_proxy_excluded("2001:DB8::1", 80, "2001:db8::1"), 1);
  CHECK_INT(wsk_proxy_excluded("::1", 8080, "[::1]:8080"), 1);
  CHECK_INT(wsk_proxy_excluded("::1", 80, "[::1]:8080"), 0);
  CHECK_INT(wsk_proxy_excluded("::2", 80, "::1,[::3]"), 0);
  CHECK_INT(wsk_proxy_excluded("::ffff:10.0.0.1", 80, "::ffff:10.0.0.1"), 1);
}

TEST(no_proxy_cidr_blocks) {
  CHECK_INT(wsk_proxy_excluded("10.20.30.40", 80, "10.0.0.0/8"), 1);
  CHECK_INT(wsk_proxy_excluded("11.20.30.40", 80, "10.0.0.0/8"), 0);
  CHECK_INT(wsk_proxy_excluded("192.168.1.7", 80, "192.168.0.0/23"), 1);
  CHECK_INT(wsk_proxy_excluded("192.168.2.7", 80, "192.168.0.0/23"), 0);
  CHECK_INT(wsk_proxy_excluded("1.2.3.4", 80, "0.0.0.0/0"), 1);
  CHECK_INT(wsk_proxy_excluded("fd12::1", 80, "fd00::/8"), 1);
  CHECK_INT(wsk_proxy_excluded("fe80::1", 80, "fd00::/8"), 0);
  CHECK_INT(wsk_proxy_excluded("10.0.0.1", 80, "fd00::/8"), 0);     /* other family */
  CHECK_INT(wsk_proxy_excluded("example.com", 80, "10.0.0.0/8"), 0);
  CHECK_INT(wsk_proxy_excluded("10.0.0.1", 80, "10.0.0.0/33"), 0);  /* malformed */
}

/* ---- CONNECT ---- */

TEST(connect_request_bytes) {
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_parse("http://proxy:3128", &p), 0);
  CHECK(built_equals(&p, "example.com", 443,
                     "CONNECT example.com:443 HTTP/1.1\r\n"
                     "Host: example.com:443\r\n"
                     "\r\n"));
  CHECK(built_equals(NULL, "example.com", 80,
                     "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n"));
}

TEST(connect_request_with_credentials) {
  wsk_proxy_t p;
  CHECK_INT(wsk_proxy_parse("http://alice:s3cret@proxy:3128", &p), 0);
  CHECK(built_equals(&p, "example.com", 443,
                     "CONNECT example.com:443 HTTP/1.1\r\n"
                     "Host: example.com:443\r\n"
                     "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"
                     "\r\n"));
}

TEST(connect_request_ipv6_target_in_brackets) {
  wsk_url_t u = url("wss://[2001:db8::5]:9443/x");
  CHECK(built_equals(NULL, u.host, u.port,
                     "CONNECT [2001:db8::5]:9443 HTTP/1.1\r\n"
                     "Host: [2001:db8::5]:9443\r\n"
                     "\r\n"));
  CHECK(built_equals(NULL, "10.0.0.1", 65535,
                     "CONNECT 10.0.0.1:65535 HTTP/1.1\r\nHost: 10.0.0.1:65535\r\n\r\n"));
}

TEST(connect_request_rejects_bad_targets) {
  wsk_buf_t b = {0};
  CHECK_INT(wsk_proxy_connect_build(NULL, "", 443, &b), WSK_EINVAL);
  CHECK_INT(wsk_proxy_connect_build(NULL, "a b", 443, &b), WSK_EINVAL);
  CHECK_INT(wsk_proxy_connect_build(NULL, "a\r\nX: y", 443, &b), WSK_EINVAL);
  CHECK_INT(wsk_proxy_connect_build(NULL, "[::1]", 443, &b), WSK_EINVAL);
  CHECK_INT(wsk_proxy_connect_build(NULL, "user@host", 443, &b), WSK_EINVAL);
  CHECK_INT(wsk_proxy_connect_build(NULL, "host", 0, &b), WSK_EINVAL);
  CHECK_INT(wsk_proxy_connect_build(NULL, "host", 65536, &b), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  wsk_buf_free(&b);
}

TEST(connect_answer_2xx_opens_the_tunnel) {
  CHECK_INT(check_answer("HTTP/1.1 200 Connection established\r\n\r\n"), 0);
  CHECK_INT(check_answer("HTTP/1.0 200 OK\r\nProxy-Agent: squid\r\n\r\n"), 0);
  CHECK_INT(check_answer("HTTP/1.1 204 No Content\r\n\r\n"), 0);
  CHECK_INT(check_answer("HTTP/1.1 299 Whatever\r\n\r\n"), 0);
}

TEST(connect_answer_others_refuse) {
  CHECK_INT(check_answer("HTTP/1.1 407 Proxy Authentication Required\r\n"
                         "Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n"),
            WSK_EHANDSHAKE);
  CHECK_INT(check_answer("HTTP/1.1 403 Forbidden\r\n\r\n"), WSK_EHANDSHAKE);
  CHECK_INT(check_answer("HTTP/1.1 502 Bad Gateway\r\n\r\n"), WSK_EHANDSHAKE);
  CHECK_INT(check_answer("HTTP/1.1 101 Switching Protocols\r\n\r\n"), WSK_EHANDSHAKE);
  CHECK_INT(check_answer("HTTP/1.1 301 Moved\r\nLocation: /\r\n\r\n"), WSK_EHANDSHAKE);
}

TEST(connect_answer_tunnel_bytes_stay_unconsumed) {
  const char *text = "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03";
  wsk_http_parser_t *p = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  long n = wsk_http_parser_feed(p, (const uint8_t *)text, strlen(text));
  CHECK_INT(n, strlen(text) - 3);
  CHECK_INT(wsk_proxy_connect_check(wsk_http_parser_head(p)), 0);
  wsk_http_parser_free(p);
}

int main(void) {
  RUN(proxy_wss_uses_https_proxy);
  RUN(proxy_ws_uses_http_proxy);
  RUN(proxy_scheme_picks_only_its_variable);
  RUN(proxy_unset_and_empty_mean_none);
  RUN(proxy_explicit_wins_over_env_and_no_proxy);
  RUN(proxy_explicit_empty_disables_proxying);
  RUN(proxy_no_proxy_excludes_from_env);
  RUN(proxy_malformed_env_url_is_eurl);
  RUN(proxy_url_forms);
  RUN(proxy_url_rejects_bad_forms);
  RUN(proxy_userinfo_becomes_basic_auth);
  RUN(proxy_userinfo_length_limit);
  RUN(no_proxy_empty_excludes_nothing);
  RUN(no_proxy_star_matches_all);
  RUN(no_proxy_domain_and_subdomains);
  RUN(no_proxy_suffix_needs_a_label_boundary);
  RUN(no_proxy_is_case_insensitive_and_ignores_trailing_dot);
  RUN(no_proxy_separators);
  RUN(no_proxy_ports);
  RUN(no_proxy_ipv4_is_an_address_not_a_suffix);
  RUN(no_proxy_ipv6_with_and_without_brackets);
  RUN(no_proxy_cidr_blocks);
  RUN(connect_request_bytes);
  RUN(connect_request_with_credentials);
  RUN(connect_request_ipv6_target_in_brackets);
  RUN(connect_request_rejects_bad_targets);
  RUN(connect_answer_2xx_opens_the_tunnel);
  RUN(connect_answer_others_refuse);
  RUN(connect_answer_tunnel_bytes_stay_unconsumed);
  return test_summary();
}
