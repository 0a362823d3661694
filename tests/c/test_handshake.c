/* The opening handshake: keys, client request and response check, server
 * request check, 101 and refusal responses. */
#include "testlib.h"
#include "wskit/handshake.h"

#include <stdlib.h>
#include <string.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static wsk_http_parser_t *parse(wsk_http_kind_t kind, const void *data, size_t len) {
  wsk_http_parser_t *p = wsk_http_parser_new(kind, NULL);
  long r = wsk_http_parser_feed(p, data, len);
  if (r < 0 || !wsk_http_parser_done(p)) {
    fprintf(stderr, "  parse failed: %ld %s\n", r, wsk_http_parser_error(p));
    wsk_http_parser_free(p);
    return NULL;
  }
  return p;
}

static wsk_http_parser_t *parse_str(wsk_http_kind_t kind, const char *s) {
  return parse(kind, s, strlen(s));
}

/* ---- keys ---- */

TEST(accept_matches_rfc6455_example) {
  char out[29];
  CHECK_INT(wsk_accept_for_key(KEY, strlen(KEY), out), 0);
  CHECK_STR(out, ACCEPT);
}

TEST(base64_rfc4648_vectors) {
  const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
  const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
  for (int i = 0; i < 7; i++) {
    char out[16];
    uint8_t dec[16];
    CHECK_INT(wsk_base64_encode((const uint8_t *)in[i], strlen(in[i]), out), strlen(enc[i]));
    CHECK_STR(out, enc[i]);
    CHECK_INT(wsk_base64_decode(enc[i], strlen(enc[i]), dec), strlen(in[i]));
    CHECK_MEM(dec, in[i], strlen(in[i]));
  }
}

TEST(base64_decode_rejects_bad_input) {
  uint8_t dec[16];
  const char *bad[] = { "Zg=", "Zg", "Z===", "=Zg=", "Zg==Zg==", "Zm9v!A==", "Zm 9", "Zm=v" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_INT(wsk_base64_decode(bad[i], strlen(bad[i]), dec), WSK_EINVAL);
}

static int fixed_random(void *ud, uint8_t *out, size_t n) {
  memset(out, *(int *)ud, n);
  return 0;
}

static int failing_random(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  (void)out;
  (void)n;
  return WSK_ECRYPTO;
}

TEST(key_generate_is_valid_base64_of_16_bytes) {
  char key[25], key2[25];
  CHECK_INT(wsk_key_generate(NULL, NULL, key), 0);
  CHECK_INT(strlen(key), 24);
  CHECK(wsk_key_valid(key, 24));
  CHECK_INT(wsk_key_generate(NULL, NULL, key2), 0);
  CHECK(strcmp(key, key2) != 0);
  int byte = 0;
  CHECK_INT(wsk_key_generate(fixed_random, &byte, key), 0);
  CHECK_STR(key, "AAAAAAAAAAAAAAAAAAAAAA==");
  CHECK_INT(wsk_key_generate(failing_random, NULL, key), WSK_ECRYPTO);
}

TEST(key_valid_only_for_16_bytes) {
  CHECK(wsk_key_valid(KEY, 24));
  CHECK(!wsk_key_valid("dGhlIHNhbXBsZSBub25j", 20));     /* 15 bytes */
  CHECK(!wsk_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
  CHECK(!wsk_key_valid("dGhlIHNhbXBsZSBub25jZQ!=", 24));
  CHECK(!wsk_key_valid("dGhlIHNhbXBsZSBub25jZWVl", 24)); /* 18 bytes */
}

/* ---- client request ---- */

static void client_opts(wsk_client_hs_opts_t *o) {
  wsk_client_hs_opts_init(o);
  o->host = "server.example.com";
  o->resource = "/chat";
}

static char *request(const wsk_client_hs_opts_t *o, int *rc) {
  wsk_buf_t b = { 0 };
  *rc = wsk_client_request_build(o, KEY, &b);
  if (*rc < 0) {
    wsk_buf_free(&b);
    return NULL;
  }
  wsk_buf_append(&b, "", 1);
  return (char *)b.data;
}

TEST(client_request_default) {
  wsk_client_hs_opts_t o;
  client_opts(&o);
  int rc;
  char *req = request(&o, &rc);
  CHECK_INT(rc, 0);
  CHECK_STR(req, "GET /chat HTTP/1.1\r\n"
                 "Host: server.example.com\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: " KEY "\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                 "User-Agent: wskit/" WSK_VERSION_STRING "\r\n"
                 "\r\n");
  free(req);
}

static int has_line(const char *req, const char *line) { return strstr(req, line) != NULL; }

TEST(client_request_host_port_only_when_not_default) {
  struct { int secure; unsigned port; const char *host, *want; } cases[] = {
    { 0, 80, "h", "\r\nHost: h\r\n" },          { 1, 443, "h", "\r\nHost: h\r\n" },
    { 0, 443, "h", "\r\nHost: h:443\r\n" },     { 1, 80, "h", "\r\nHost: h:80\r\n" },
    { 0, 8080, "h", "\r\nHost: h:8080\r\n" },   { 0, 80, "::1", "\r\nHost: [::1]\r\n" },
    { 1, 8443, "::1", "\r\nHost: [::1]:8443\r\n" }, { 0, 9000, "[::1]", "\r\nHost: [::1]:9000\r\n" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wsk_client_hs_opts_t o;
    client_opts(&o);
    o.secure = cases[i].secure;
    o.port = cases[i].port;
    o.host = cases[i].host;
    int rc;
    char *req = request(&o, &rc);
    CHECK_INT(rc, 0);
    int ok = has_line(req, cases[i].want);
    free(req);
    if (!ok) TL_FAIL("case %zu: want %s", i, cases[i].want);
  }
}

TEST(client_request_optional_headers) {
  wsk_client_hs_opts_t o;
  client_opts(&o);
  const char *protos[] = { "chat", "superchat" };
  wsk_http_header_t extra[] = { { "X-Trace", 0, "abc", 0 } };
  o.origin = "http://example.com";
  o.subprotocols = protos;
  o.nsubprotocols = 2;
  o.headers = extra;
  o.nheaders = 1;
  o.user_agent = "bot/1";
  o.authorization = "Basic dXNlcjpwYXNz";
  o.deflate.enabled = 0;
  int rc;
  char *req = request(&o, &rc);
  CHECK_INT(rc, 0);
  CHECK(has_line(req, "\r\nOrigin: http://example.com\r\n"));
  CHECK(has_line(req, "\r\nSec-WebSocket-Protocol: chat, superchat\r\n"));
  CHECK(has_line(req, "\r\nX-Trace: abc\r\n"));
  CHECK(has_line(req, "\r\nUser-Agent: bot/1\r\n"));
  CHECK(has_line(req, "\r\nAuthorization: Basic dXNlcjpwYXNz\r\n"));
  CHECK(!has_line(req, "Sec-WebSocket-Extensions"));
  free(req);
}

TEST(client_request_user_agent_empty_or_from_headers) {
  wsk_client_hs_opts_t o;
  client_opts(&o);
  o.user_agent = "";
  int rc;
  char *req = request(&o, &rc);
  CHECK(!has_line(req, "User-Agent"));
  free(req);
  wsk_http_header_t ua = { "user-agent", 0, "mine", 0 };
  o.user_agent = NULL;
  o.headers = &ua;
  o.nheaders = 1;
  req = request(&o, &rc);
  CHECK(has_line(req, "\r\nuser-agent: mine\r\n"));
  CHECK(!has_line(req, "wskit/"));
  free(req);
}

TEST(client_request_rejects_bad_input) {
  wsk_client_hs_opts_t o;
  wsk_buf_t b = { 0 };
  client_opts(&o);
  wsk_http_header_t crlf = { "X-A", 0, "a\r\nHost: evil", 0 };
  wsk_http_header_t owned = { "Sec-WebSocket-Key", 0, KEY, 0 };
  wsk_http_header_t origin = { "Origin", 0, "x", 0 };
  const char *bad_proto[] = { "a b" };
  const char *dup_proto[] = { "a", "a" };
  o.headers = &crlf;
  o.nheaders = 1;
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  o.headers = &owned;
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  o.headers = &origin;
  o.origin = "y";
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  client_opts(&o);
  o.subprotocols = bad_proto;
  o.nsubprotocols = 1;
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  o.subprotocols = dup_proto;
  o.nsubprotocols = 2;
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  client_opts(&o);
  CHECK_INT(wsk_client_request_build(&o, "short", &b), WSK_EINVAL);
  o.host = "a b";
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  client_opts(&o);
  o.resource = "/a b";
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  client_opts(&o);
  o.origin = "a\nb";
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  client_opts(&o);
  o.deflate.server_max_window_bits = 7;
  CHECK_INT(wsk_client_request_build(&o, KEY, &b), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  wsk_buf_free(&b);
}

/* ---- round trip ---- */

TEST(handshake_round_trip) {
  wsk_client_hs_opts_t co;
  client_opts(&co);
  const char *cprotos[] = { "v2.chat", "chat" };
  co.subprotocols = cprotos;
  co.nsubprotocols = 2;
  co.origin = "https://Example.com";
  char key[25];
  CHECK_INT(wsk_key_generate(NULL, NULL, key), 0);
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_client_request_build(&co, key, &b), 0);

  wsk_http_parser_t *rp = parse(WSK_HTTP_REQUEST, b.data, b.len);
  CHECK(rp != NULL);
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  const char *sprotos[] = { "chat", "v2.chat" };
  const char *origins[] = { "https://other.org", "https://example.com" };
  so.subprotocols = sprotos;
  so.nsubprotocols = 2;
  so.origins = origins;
  so.norigins = 2;
  wsk_server_hs_request_t req;
  CHECK_INT(wsk_server_request_check(&so, wsk_http_parser_head(rp), &req), 0);
  CHECK_INT(req.status, 0);
  CHECK(req.is_upgrade);
  CHECK_STR(req.subprotocol, "v2.chat"); /* the client's first choice */
  CHECK_STR(req.origin, "https://Example.com");
  CHECK(req.deflate.enabled);
  CHECK_INT(req.key_len, 24);
  CHECK_MEM(req.key, key, 24);

  wsk_buf_t r = { 0 };
  CHECK_INT(wsk_server_response_build(req.key, req.key_len, req.subprotocol, &req.deflate, NULL, 0, &r), 0);
  wsk_buf_append(&r, "\x81\x02hi", 4); /* a frame right behind the head */
  wsk_http_parser_t *pp = wsk_http_parser_new(WSK_HTTP_RESPONSE, NULL);
  long used = wsk_http_parser_feed(pp, r.data, r.len);
  CHECK_INT(used, r.len - 4);
  wsk_client_hs_result_t res;
  CHECK_INT(wsk_client_response_check(&co, key, wsk_http_parser_head(pp), &res), 0);
  CHECK_INT(res.status, 101);
  CHECK_STR(res.subprotocol, "v2.chat");
  CHECK(res.deflate.enabled);
  CHECK_INT(res.deflate.server_max_window_bits, 15);
  CHECK_INT(res.deflate.client_max_window_bits, 15);
  CHECK(res.error == NULL);
  wsk_http_parser_free(pp);
  wsk_http_parser_free(rp);
  wsk_buf_free(&r);
  wsk_buf_free(&b);
}

/* ---- server request check ---- */

#define UPGRADE_REQ(first, extra)                                                           \
  first "\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"   \
        "Sec-WebSocket-Key: " KEY "\r\n" extra "\r\n"
#define GOOD(extra) UPGRADE_REQ("GET /chat HTTP/1.1", "Sec-WebSocket-Version: 13\r\n" extra)

/* Check a request; the head (which req points into) stays alive in *keep. */
static int server_status_keep(const wsk_server_hs_opts_t *so, const char *s, wsk_server_hs_request_t *req,
                              wsk_http_parser_t **keep) {
  wsk_server_hs_opts_t def;
  wsk_server_hs_opts_init(&def);
  wsk_http_parser_t *p = parse_str(WSK_HTTP_REQUEST, s);
  if (!p) return -1;
  wsk_server_hs_request_t tmp;
  if (!req) req = &tmp;
  int rc = wsk_server_request_check(so ? so : &def, wsk_http_parser_head(p), req);
  if (keep) *keep = p;
  else wsk_http_parser_free(p);
  return rc < 0 ? rc : req->status;
}

static int server_status(const wsk_server_hs_opts_t *so, const char *s, wsk_server_hs_request_t *req) {
  return server_status_keep(so, s, req, NULL);
}

TEST(server_accepts_rfc6455_request) {
  CHECK_INT(server_status(NULL, GOOD("Origin: http://example.com\r\n"), NULL), 0);
  CHECK_INT(server_status(NULL, GOOD("Connection: keep-alive\r\n"), NULL), 0);
  CHECK_INT(server_status(NULL, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
                                "Connection: keep-alive, upgrade\r\nSec-WebSocket-Key: " KEY
                                "\r\nSec-WebSocket-Version: 13\r\n\r\n", NULL), 0);
}

TEST(server_rejects_non_get_with_400) {
  CHECK_INT(server_status(NULL, UPGRADE_REQ("POST /chat HTTP/1.1", "Sec-WebSocket-Version: 13\r\n"), NULL),
            400);
}

TEST(server_rejects_http_1_0_with_400) {
  CHECK_INT(server_status(NULL, UPGRADE_REQ("GET /chat HTTP/1.0", "Sec-WebSocket-Version: 13\r\n"), NULL),
            400);
}

TEST(server_rejects_non_upgrade_with_426) {
  wsk_server_hs_request_t req;
  CHECK_INT(server_status(NULL, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &req), 426);
  CHECK(!req.is_upgrade);
  CHECK(req.error != NULL);
  CHECK_INT(server_status(NULL, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: upgrade\r\n"
                                "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", &req),
            426);
}

TEST(server_rejects_missing_connection_upgrade_with_400) {
  const char *s = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                  "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  wsk_server_hs_request_t req;
  CHECK_INT(server_status(NULL, s, &req), 400);
  CHECK(req.is_upgrade);
}

TEST(server_rejects_version_12_with_426) {
  CHECK_INT(server_status(NULL, UPGRADE_REQ("GET / HTTP/1.1", "Sec-WebSocket-Version: 12\r\n"), NULL), 426);
  CHECK_INT(server_status(NULL, UPGRADE_REQ("GET / HTTP/1.1", "Sec-WebSocket-Version: 13, 8\r\n"), NULL),
            426);
}

TEST(server_rejects_missing_version_with_426) {
  CHECK_INT(server_status(NULL, UPGRADE_REQ("GET / HTTP/1.1", ""), NULL), 426);
}

TEST(server_rejects_missing_or_bad_key_with_400) {
  const char *nokey = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
  const char *badkey = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\nSec-WebSocket-Version: 13\r\n\r\n";
  CHECK_INT(server_status(NULL, nokey, NULL), 400);
  CHECK_INT(server_status(NULL, badkey, NULL), 400);
}

TEST(server_origin_allowlist) {
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  const char *origins[] = { "https://example.com" };
  so.origins = origins;
  so.norigins = 1;
  wsk_server_hs_request_t req;
  CHECK_INT(server_status(&so, GOOD("Origin: https://EXAMPLE.com\r\n"), &req), 0);
  wsk_http_parser_t *p;
  CHECK_INT(server_status_keep(&so, GOOD("Origin: https://evil.com\r\n"), &req, &p), 403);
  int same = req.origin && strcmp(req.origin, "https://evil.com") == 0;
  wsk_http_parser_free(p);
  CHECK(same);
  CHECK_INT(server_status(&so, GOOD("Origin: https://example.com.evil.com\r\n"), &req), 403);
  CHECK_INT(server_status(&so, GOOD(""), &req), 403);
  CHECK(req.origin == NULL);
  CHECK_INT(server_status(NULL, GOOD(""), &req), 0);
}

TEST(server_origin_null_entry_admits_missing_origin) {
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  const char *origins[] = { "https://example.com", NULL };
  so.origins = origins;
  so.norigins = 2;
  wsk_server_hs_request_t req;
  CHECK_INT(server_status(&so, GOOD(""), &req), 0);
  CHECK_INT(server_status(&so, GOOD("Origin: https://example.com\r\n"), &req), 0);
  CHECK_INT(server_status(&so, GOOD("Origin: https://evil.com\r\n"), &req), 403);
}

/* A request with the given Host value (instead of GOOD's). */
#define WITH_HOST(host)                                                                   \
  "GET /chat HTTP/1.1\r\nHost: " host "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"  \
  "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n"

TEST(server_host_allowlist) {
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  const char *hosts[] = { "example.com", "api.example.com:8443", "[::1]", "127.0.0.1:9000" };
  so.hosts = hosts;
  so.nhosts = 4;
  wsk_server_hs_request_t req;
  /* no port in the entry: any port, or none; case-insensitive */
  CHECK_INT(server_status(&so, WITH_HOST("example.com"), &req), 0);
  CHECK_INT(server_status(&so, WITH_HOST("EXAMPLE.com:8080"), &req), 0);
  /* a port in the entry: only that one */
  CHECK_INT(server_status(&so, WITH_HOST("api.example.com:8443"), &req), 0);
  CHECK_INT(server_status(&so, WITH_HOST("api.example.com:443"), &req), 403);
  CHECK_STR(req.error, "Host not allowed");
  CHECK_INT(server_status(&so, WITH_HOST("api.example.com"), &req), 403);
  CHECK_INT(server_status(&so, WITH_HOST("127.0.0.1:9000"), &req), 0);
  CHECK_INT(server_status(&so, WITH_HOST("127.0.0.1:9001"), &req), 403);
  /* IPv6 literals in brackets */
  CHECK_INT(server_status(&so, WITH_HOST("[::1]"), &req), 0);
  CHECK_INT(server_status(&so, WITH_HOST("[::1]:8080"), &req), 0);
  CHECK_INT(server_status(&so, WITH_HOST("[::2]:8080"), &req), 403);
  /* DNS rebinding: other names, suffixes and malformed values are refused */
  CHECK_INT(server_status(&so, WITH_HOST("evil.com"), &req), 403);
  CHECK_INT(server_status(&so, WITH_HOST("example.com.evil.com"), &req), 403);
  CHECK_INT(server_status(&so, WITH_HOST("example.com:"), &req), 403);
  CHECK_INT(server_status(&so, WITH_HOST("[::1"), &req), 403);
  CHECK_INT(server_status(&so, WITH_HOST("[::1]x"), &req), 403);
  /* Origin is checked first */
  const char *origins[] = { "https://example.com" };
  so.origins = origins;
  so.norigins = 1;
  CHECK_INT(server_status(&so, "GET /chat HTTP/1.1\r\nHost: evil.com\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nOrigin: https://example.com\r\nSec-WebSocket-Key: " KEY
                               "\r\nSec-WebSocket-Version: 13\r\n\r\n", &req), 403);
  CHECK_STR(req.error, "Host not allowed");
  CHECK_INT(server_status(&so, "GET /chat HTTP/1.1\r\nHost: evil.com\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nOrigin: https://bad.org\r\nSec-WebSocket-Key: " KEY
                               "\r\nSec-WebSocket-Version: 13\r\n\r\n", &req), 403);
  CHECK_STR(req.error, "Origin not allowed");
  /* no list: any Host */
  CHECK_INT(server_status(NULL, WITH_HOST("anything.example:1"), &req), 0);
}

TEST(server_host_allowlist_bare_ipv6_entry) {
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  const char *hosts[] = { "::1", "[fe80::1]:80" };
  so.hosts = hosts;
  so.nhosts = 2;
  CHECK_INT(server_status(&so, WITH_HOST("[::1]:5000"), NULL), 0);
  CHECK_INT(server_status(&so, WITH_HOST("[FE80::1]:80"), NULL), 0);
  CHECK_INT(server_status(&so, WITH_HOST("[fe80::1]:81"), NULL), 403);
}

/* The same rule for the plain requests a driver answers itself (SSE). */
TEST(server_host_allowed_direct) {
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  CHECK_INT(wsk_server_host_allowed(&so, NULL, 0), 1); /* no list: anything */
  const char *hosts[] = { "example.com", "[::1]:80" };
  so.hosts = hosts;
  so.nhosts = 2;
  CHECK_INT(wsk_server_host_allowed(&so, "example.com:9", 13), 1);
  CHECK_INT(wsk_server_host_allowed(&so, "[::1]:80", 8), 1);
  CHECK_INT(wsk_server_host_allowed(&so, "[::1]:81", 8), 0);
  CHECK_INT(wsk_server_host_allowed(&so, "evil.com", 8), 0);
  CHECK_INT(wsk_server_host_allowed(&so, "", 0), 0);
  CHECK_INT(wsk_server_host_allowed(&so, NULL, 0), 0); /* no Host at all */
}

TEST(server_chooses_clients_first_supported_subprotocol) {
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  const char *mine[] = { "a", "b", "c" };
  so.subprotocols = mine;
  so.nsubprotocols = 3;
  wsk_server_hs_request_t req;
  CHECK_INT(server_status(&so, GOOD("Sec-WebSocket-Protocol: x, c\r\nSec-WebSocket-Protocol: b\r\n"), &req), 0);
  CHECK_STR(req.subprotocol, "c");
  CHECK(req.subprotocol == mine[2]);
  CHECK_INT(server_status(&so, GOOD("Sec-WebSocket-Protocol: x, y\r\n"), &req), 0);
  CHECK(req.subprotocol == NULL);
  CHECK_INT(server_status(&so, GOOD("Sec-WebSocket-Protocol: A\r\n"), &req), 0);
  CHECK(req.subprotocol == NULL); /* exact match only */
  CHECK_INT(server_status(&so, GOOD("Sec-WebSocket-Protocol: a b\r\n"), &req), 400);
}

TEST(server_request_offers_exact_subprotocols) {
  wsk_http_parser_t *p = parse_str(WSK_HTTP_REQUEST, GOOD("Sec-WebSocket-Protocol: chat, v2\r\n"));
  CHECK(p != NULL);
  CHECK(wsk_server_request_offers(wsk_http_parser_head(p), "chat"));
  CHECK(wsk_server_request_offers(wsk_http_parser_head(p), "v2"));
  CHECK(!wsk_server_request_offers(wsk_http_parser_head(p), "Chat"));
  CHECK(!wsk_server_request_offers(wsk_http_parser_head(p), "v"));
  wsk_http_parser_free(p);
}

TEST(server_negotiates_deflate) {
  wsk_server_hs_request_t req;
  CHECK_INT(server_status(NULL, GOOD("Sec-WebSocket-Extensions: x-foo, permessage-deflate; "
                                     "server_max_window_bits=10\r\n"), &req), 0);
  CHECK(req.deflate.enabled);
  CHECK_INT(req.deflate.server_max_window_bits, 10);
  CHECK_INT(server_status(NULL, GOOD("Sec-WebSocket-Extensions: permessage-deflate; =\r\n"), &req), 400);
  CHECK(!req.deflate.enabled);
  wsk_server_hs_opts_t so;
  wsk_server_hs_opts_init(&so);
  so.deflate.enabled = 0;
  CHECK_INT(server_status(&so, GOOD("Sec-WebSocket-Extensions: permessage-deflate\r\n"), &req), 0);
  CHECK(!req.deflate.enabled);
}

/* ---- server responses ---- */

TEST(server_response_101) {
  wsk_buf_t b = { 0 };
  wsk_http_header_t extra = { "Set-Cookie", 0, "a=b", 0 };
  wsk_deflate_params_t dp = { 1, 1, 0, 10, 15, 0 };
  CHECK_INT(wsk_server_response_build(KEY, 24, "chat", &dp, &extra, 1, &b), 0);
  const char *want = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: " ACCEPT "\r\nSec-WebSocket-Protocol: chat\r\n"
                     "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                     "server_max_window_bits=10\r\nSet-Cookie: a=b\r\n\r\n";
  CHECK_INT(b.len, strlen(want));
  CHECK_MEM(b.data, want, b.len);
  wsk_buf_free(&b);
  CHECK_INT(wsk_server_response_build(KEY, 24, NULL, NULL, NULL, 0, &b), 0);
  want = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n";
  CHECK_INT(b.len, strlen(want));
  CHECK_MEM(b.data, want, b.len);
  wsk_buf_free(&b);
}

TEST(server_response_rejects_bad_input) {
  wsk_buf_t b = { 0 };
  wsk_http_header_t owned = { "Sec-WebSocket-Protocol", 0, "x", 0 };
  wsk_http_header_t crlf = { "X", 0, "\r\n", 0 };
  CHECK_INT(wsk_server_response_build(KEY, 24, NULL, NULL, &owned, 1, &b), WSK_EINVAL);
  CHECK_INT(wsk_server_response_build(KEY, 24, NULL, NULL, &crlf, 1, &b), WSK_EINVAL);
  CHECK_INT(wsk_server_response_build(KEY, 24, "a b", NULL, NULL, 0, &b), WSK_EINVAL);
  CHECK_INT(wsk_server_response_build("nokey", 5, NULL, NULL, NULL, 0, &b), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  wsk_buf_free(&b);
}

TEST(server_reject_426_names_version) {
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_server_reject_build(426, NULL, 0, "upgrade", 7, &b), 0);
  wsk_buf_append(&b, "", 1);
  const char *want = "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n"
                     "Sec-WebSocket-Version: 13\r\nConnection: Upgrade, close\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 7\r\n\r\nupgrade";
  CHECK_STR((char *)b.data, want);
  wsk_buf_free(&b);
}

TEST(server_reject_403_closes) {
  wsk_buf_t b = { 0 };
  wsk_http_header_t h = { "Content-Type", 0, "text/html", 0 };
  CHECK_INT(wsk_server_reject_build(403, &h, 1, "<b>no</b>", 9, &b), 0);
  wsk_buf_append(&b, "", 1);
  CHECK_STR((char *)b.data, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nConnection: close\r\n"
                            "Content-Length: 9\r\n\r\n<b>no</b>");
  wsk_buf_free(&b);
  CHECK_INT(wsk_server_reject_build(400, NULL, 0, NULL, 0, &b), 0);
  wsk_buf_append(&b, "", 1);
  CHECK_STR((char *)b.data, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  wsk_buf_free(&b);
  wsk_http_header_t conn = { "Connection", 0, "keep-alive", 0 };
  CHECK_INT(wsk_server_reject_build(400, &conn, 1, NULL, 0, &b), WSK_EINVAL);
  CHECK_INT(wsk_server_reject_build(101, NULL, 0, NULL, 0, &b), WSK_EINVAL);
  CHECK_INT(b.len, 0);
  wsk_buf_free(&b);
}

/* ---- client response check ---- */

#define RESP(extra) "HTTP/1.1 101 Switching Protocols\r\n" extra "\r\n"
#define OK_HEADERS "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"

static int client_check(const wsk_client_hs_opts_t *o, const char *resp, wsk_client_hs_result_t *res) {
  wsk_client_hs_opts_t def;
  client_opts(&def);
  wsk_http_parser_t *p = parse_str(WSK_HTTP_RESPONSE, resp);
  if (!p) return -100;
  wsk_client_hs_result_t tmp;
  int rc = wsk_client_response_check(o ? o : &def, KEY, wsk_http_parser_head(p), res ? res : &tmp);
  wsk_http_parser_free(p);
  return rc;
}

TEST(client_accepts_valid_101) {
  wsk_client_hs_result_t res;
  CHECK_INT(client_check(NULL, RESP(OK_HEADERS), &res), 0);
  CHECK_INT(res.status, 101);
  CHECK_STR(res.subprotocol, "");
  CHECK(!res.deflate.enabled);
  CHECK_INT(client_check(NULL, RESP("upgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n"
                                    "sec-websocket-accept: " ACCEPT "\r\n"), &res), 0);
}

TEST(client_rejects_non_101) {
  wsk_client_hs_result_t res;
  CHECK_INT(client_check(NULL, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", &res), WSK_EHANDSHAKE);
  CHECK_INT(res.status, 403);
  CHECK(res.error != NULL);
  CHECK_INT(client_check(NULL, "HTTP/1.1 200 OK\r\n" OK_HEADERS "\r\n", &res), WSK_EHANDSHAKE);
  CHECK_INT(res.status, 200);
}

TEST(client_rejects_missing_or_wrong_upgrade) {
  CHECK_INT(client_check(NULL, RESP("Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"), NULL),
            WSK_EHANDSHAKE);
  CHECK_INT(client_check(NULL, RESP("Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT
                                    "\r\n"), NULL), WSK_EHANDSHAKE);
  CHECK_INT(client_check(NULL, RESP("Upgrade: websocket, h2c\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Accept: " ACCEPT "\r\n"), NULL), WSK_EHANDSHAKE);
}

TEST(client_rejects_missing_connection_upgrade) {
  CHECK_INT(client_check(NULL, RESP("Upgrade: websocket\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"), NULL),
            WSK_EHANDSHAKE);
  CHECK_INT(client_check(NULL, RESP("Upgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Accept: "
                                    ACCEPT "\r\n"), NULL), WSK_EHANDSHAKE);
}

TEST(client_rejects_wrong_accept) {
  CHECK_INT(client_check(NULL, RESP("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOQ=\r\n"), NULL),
            WSK_EHANDSHAKE);
  CHECK_INT(client_check(NULL, RESP("Upgrade: websocket\r\nConnection: Upgrade\r\n"), NULL),
            WSK_EHANDSHAKE);
  CHECK_INT(client_check(NULL, RESP("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=\r\n"), NULL),
            WSK_EHANDSHAKE);
}

TEST(client_rejects_http_1_0_101) {
  CHECK_INT(client_check(NULL, "HTTP/1.0 101 Switching Protocols\r\n" OK_HEADERS "\r\n", NULL),
            WSK_EHANDSHAKE);
}

TEST(client_subprotocol_must_be_offered) {
  wsk_client_hs_opts_t o;
  client_opts(&o);
  const char *protos[] = { "chat", "v2" };
  o.subprotocols = protos;
  o.nsubprotocols = 2;
  wsk_client_hs_result_t res;
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Protocol: v2\r\n"), &res), 0);
  CHECK_STR(res.subprotocol, "v2");
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Protocol: v3\r\n"), &res), WSK_EHANDSHAKE);
  CHECK_STR(res.subprotocol, "");
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Protocol: Chat\r\n"), &res), WSK_EHANDSHAKE);
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Protocol: chat, v2\r\n"), &res), WSK_EHANDSHAKE);
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n"),
                         &res), WSK_EHANDSHAKE);
  CHECK_INT(client_check(NULL, RESP(OK_HEADERS "Sec-WebSocket-Protocol: chat\r\n"), &res), WSK_EHANDSHAKE);
}

TEST(client_extension_must_be_offered) {
  wsk_client_hs_opts_t o;
  client_opts(&o);
  wsk_client_hs_result_t res;
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Extensions: permessage-deflate; "
                                  "client_max_window_bits=9\r\n"), &res), 0);
  CHECK(res.deflate.enabled);
  CHECK_INT(res.deflate.client_max_window_bits, 9);
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"), &res),
            WSK_EHANDSHAKE);
  CHECK(!res.deflate.enabled);
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Extensions: permessage-deflate; foo\r\n"), &res),
            WSK_EHANDSHAKE);
  o.deflate.enabled = 0;
  CHECK_INT(client_check(&o, RESP(OK_HEADERS "Sec-WebSocket-Extensions: permessage-deflate\r\n"), &res),
            WSK_EHANDSHAKE);
}

int main(void) {
  RUN(accept_matches_rfc6455_example);
  RUN(base64_rfc4648_vectors);
  RUN(base64_decode_rejects_bad_input);
  RUN(key_generate_is_valid_base64_of_16_bytes);
  RUN(key_valid_only_for_16_bytes);
  RUN(client_request_default);
  RUN(client_request_host_port_only_when_not_default);
  RUN(client_request_optional_headers);
  RUN(client_request_user_agent_empty_or_from_headers);
  RUN(client_request_rejects_bad_input);
  RUN(handshake_round_trip);
  RUN(server_accepts_rfc6455_request);
  RUN(server_rejects_non_get_with_400);
  RUN(server_rejects_http_1_0_with_400);
  RUN(server_rejects_non_upgrade_with_426);
  RUN(server_rejects_missing_connection_upgrade_with_400);
  RUN(server_rejects_version_12_with_426);
  RUN(server_rejects_missing_version_with_426);
  RUN(server_rejects_missing_or_bad_key_with_400);
  RUN(server_origin_allowlist);
  RUN(server_origin_null_entry_admits_missing_origin);
  RUN(server_host_allowlist);
  RUN(server_host_allowlist_bare_ipv6_entry);
  RUN(server_chooses_clients_first_supported_subprotocol);
  RUN(server_request_offers_exact_subprotocols);
  RUN(server_negotiates_deflate);
  RUN(server_host_allowed_direct);
  RUN(server_response_101);
  RUN(server_response_rejects_bad_input);
  RUN(server_reject_426_names_version);
  RUN(server_reject_403_closes);
  RUN(client_accepts_valid_101);
  RUN(client_rejects_non_101);
  RUN(client_rejects_missing_or_wrong_upgrade);
  RUN(client_rejects_missing_connection_upgrade);
  RUN(client_rejects_wrong_accept);
  RUN(client_rejects_http_1_0_101);
  RUN(client_subprotocol_must_be_offered);
  RUN(client_extension_must_be_offered);
  return test_summary();
}
