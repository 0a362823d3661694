/* TLS over memory BIOs: a client and a server wsk_tls_t paired in memory,
 * with certificates made at test time by the openssl CLI in a temporary
 * directory (a CA, a "localhost" + 127.0.0.1 + ::1 server, a server for
 * the wrong name, a self-signed server, and a client certificate). */
#include "../c/testlib.h"
#include "tls.h"

#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];
static char ca_pem[128], srv_pem[128], srv_key[128], wrong_pem[128], wrong_key[128];
static char self_pem[128], self_key[128], cli_pem[128], cli_key[128], cliself_pem[128], cliself_key[128];

/* ---- certificates ---- */

static void path(char *out, const char *name) { snprintf(out, 128, "%s/%s", dir, name); }

static int write_file(const char *name, const char *text) {
  char p[128];
  path(p, name);
  FILE *f = fopen(p, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

static int run(const char *cmd) {
  char full[1024];
  snprintf(full, sizeof full, "cd '%s' && %s >/dev/null 2>&1", dir, cmd);
  int r = system(full);
  if (r != 0) fprintf(stderr, "command failed (%d): %s\n", r, cmd);
  return r;
}

#define NEWKEY "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

static int make_certs(void) {
  strcpy(dir, "/tmp/wskit-tls-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  path(ca_pem, "ca.pem");
  path(srv_pem, "srv.pem");
  path(srv_key, "srv.key");
  path(wrong_pem, "wrong.pem");
  path(wrong_key, "wrong.key");
  path(self_pem, "self.pem");
  path(self_key, "self.key");
  path(cli_pem, "cli.pem");
  path(cli_key, "cli.key");
  path(cliself_pem, "cliself.pem");
  path(cliself_key, "cliself.key");
  if (write_file("srv.ext", "basicConstraints=CA:FALSE\n"
                            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                            "extendedKeyUsage=serverAuth\n") ||
      write_file("wrong.ext", "basicConstraints=CA:FALSE\n"
                              "subjectAltName=DNS:wrong.example\n"
                              "extendedKeyUsage=serverAuth\n") ||
      write_file("cli.ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"))
    return -1;
  if (run("openssl req -x509 " NEWKEY " -keyout ca.key -out ca.pem -days 2 -subj '/CN=wskit test CA'"
          " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign") ||
      run("openssl req -new " NEWKEY " -keyout srv.key -out srv.csr -subj /CN=localhost") ||
      run("openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2"
          " -extfile srv.ext -out srv.pem") ||
      run("openssl req -new " NEWKEY " -keyout wrong.key -out wrong.csr -subj /CN=wrong.example") ||
      run("openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -set_serial 3 -days 2"
          " -extfile wrong.ext -out wrong.pem") ||
      run("openssl req -x509 " NEWKEY " -keyout self.key -out self.pem -days 2 -subj /CN=localhost"
          " -addext subjectAltName=DNS:localhost") ||
      run("openssl req -new " NEWKEY " -keyout cli.key -out cli.csr -subj /CN=wskit-client") ||
      run("openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -set_serial 4 -days 2"
          " -extfile cli.ext -out cli.pem") ||
      run("openssl req -x509 " NEWKEY " -keyout cliself.key -out cliself.pem -days 2 -subj /CN=stranger"))
    return -1;
  return 0;
}

static void remove_certs(void) {
  char cmd[128];
  if (!dir[0] || strncmp(dir, "/tmp/wskit-tls-", 15) != 0) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- pairing ---- */

static char err[512];

static wsk_tls_ctx_t *client_ctx(const char *ca, int insecure, const char *cert, const char *key) {
  wsk_tls_opts_t o;
  memset(&o, 0, sizeof o);
  o.ca_file = ca;
  o.insecure = insecure;
  o.cert_for_client = cert;
  o.key_for_client = key;
  wsk_tls_ctx_t *c = wsk_tls_ctx_new(WSK_ROLE_CLIENT, &o, err, sizeof err);
  if (!c) fprintf(stderr, "client ctx: %s\n", err);
  return c;
}

static wsk_tls_ctx_t *server_ctx(const char *cert, const char *key, const char *client_ca) {
  wsk_tls_opts_t o;
  memset(&o, 0, sizeof o);
  o.cert_file = cert;
  o.key_file = key;
  o.client_ca_file = client_ca;
  wsk_tls_ctx_t *c = wsk_tls_ctx_new(WSK_ROLE_SERVER, &o, err, sizeof err);
  if (!c) fprintf(stderr, "server ctx: %s\n", err);
  return c;
}

/* Move a's ciphertext into b, in `piece`-sized feeds (0: all at once). */
static size_t move(wsk_tls_t *a, wsk_tls_t *b, size_t piece) {
  wsk_buf_t buf = {0};
  size_t n = wsk_tls_drain(a, &buf);
  size_t step = piece ? piece : n;
  for (size_t off = 0; off < n; off += step) {
    size_t k = n - off < step ? n - off : step;
    if (wsk_tls_feed(b, buf.data + off, k) != 0) abort();
  }
  wsk_buf_free(&buf);
  return n;
}

typedef struct {
  wsk_tls_ctx_t *cctx, *sctx;
  wsk_tls_t *c, *s;
  int rc, rs; /* last handshake results */
} pair_t;

/* Run both handshakes until neither side has anything left to say. */
static void handshake(pair_t *p, size_t piece) {
  p->rc = p->rs = 0;
  for (int i = 0; i < 100; i++) {
    if (p->rc == 0) p->rc = wsk_tls_handshake(p->c);
    size_t m1 = move(p->c, p->s, piece);
    if (p->rs == 0) p->rs = wsk_tls_handshake(p->s);
    size_t m2 = move(p->s, p->c, piece);
    if (m1 == 0 && m2 == 0 && i > 0) break;
  }
}

static int pair_open(pair_t *p, wsk_tls_ctx_t *cctx, wsk_tls_ctx_t *sctx, const char *name) {
  memset(p, 0, sizeof *p);
  p->cctx = cctx;
  p->sctx = sctx;
  if (!cctx || !sctx) return -1;
  p->c = wsk_tls_new(cctx, name);
  p->s = wsk_tls_new(sctx, NULL);
  if (!p->c || !p->s) return -1;
  handshake(p, 0);
  return 0;
}

static void pair_close(pair_t *p) {
  wsk_tls_free(p->c);
  wsk_tls_free(p->s);
  wsk_tls_ctx_free(p->cctx);
  wsk_tls_ctx_free(p->sctx);
}

/* Read everything `t` can decrypt now into out; returns the count or the
 * first negative result. */
static long read_all(wsk_tls_t *t, uint8_t *out, size_t cap) {
  size_t got = 0;
  for (;;) {
    long n = wsk_tls_read(t, out + got, cap - got);
    if (n < 0) return n;
    if (n == 0) return (long)got;
    got += (size_t)n;
  }
}

/* Send `len` bytes from one side to the other and check they arrive. */
static int send_check(wsk_tls_t *from, wsk_tls_t *to, const uint8_t *data, size_t len) {
  uint8_t *got = malloc(len + 1);
  if (!got) return 0;
  int ok = wsk_tls_write(from, data, len) == 0;
  move(from, to, 0);
  long n = read_all(to, got, len + 1);
  move(to, from, 0); /* whatever reading produced (tickets, key updates) */
  ok = ok && n == (long)len && memcmp(got, data, len) == 0;
  free(got);
  return ok;
}

/* ---- tests ---- */

TEST(tls_handshake_with_ca_file) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, 1);
  CHECK_INT(p.rs, 1);
  CHECK_STR(wsk_tls_error(p.c), "");
  CHECK_STR(wsk_tls_error(p.s), "");
  CHECK_INT(wsk_tls_verify_failed(p.c), 0);
  CHECK_INT(wsk_tls_handshake(p.c), 1); /* stays done */
  pair_close(&p);
}

TEST(tls_handshake_in_one_byte_pieces) {
  pair_t p;
  memset(&p, 0, sizeof p);
  p.cctx = client_ctx(ca_pem, 0, NULL, NULL);
  p.sctx = server_ctx(srv_pem, srv_key, NULL);
  CHECK(p.cctx && p.sctx);
  p.c = wsk_tls_new(p.cctx, "localhost");
  p.s = wsk_tls_new(p.sctx, NULL);
  handshake(&p, 1);
  CHECK_INT(p.rc, 1);
  CHECK_INT(p.rs, 1);
  CHECK(send_check(p.c, p.s, (const uint8_t *)"hi", 2));
  pair_close(&p);
}

TEST(tls_alpn_is_http11) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  CHECK_STR(wsk_tls_alpn(p.c), "http/1.1");
  CHECK_STR(wsk_tls_alpn(p.s), "http/1.1");
  pair_close(&p);
}

TEST(tls_ip_literals_match_ip_sans) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "127.0.0.1"), 0);
  CHECK_INT(p.rc, 1);
  pair_close(&p);
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "::1"), 0);
  CHECK_INT(p.rc, 1);
  pair_close(&p);
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "10.9.8.7"), 0);
  CHECK_INT(p.rc, WSK_ECRYPTO);
  CHECK_INT(wsk_tls_verify_failed(p.c), 1);
  CHECK(strstr(wsk_tls_error(p.c), "IP address mismatch") != NULL);
  pair_close(&p);
}

TEST(tls_data_both_ways) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, 1);
  const char *req = "GET /chat HTTP/1.1\r\nHost: localhost\r\n\r\n";
  const char *resp = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
  CHECK(send_check(p.c, p.s, (const uint8_t *)req, strlen(req)));
  CHECK(send_check(p.s, p.c, (const uint8_t *)resp, strlen(resp)));
  for (int i = 0; i < 20; i++) {
    CHECK(send_check(p.c, p.s, (const uint8_t *)"ping", 4));
    CHECK(send_check(p.s, p.c, (const uint8_t *)"pong!", 5));
  }
  uint8_t none[8];
  CHECK_INT(wsk_tls_read(p.c, none, sizeof none), 0);
  CHECK_INT(wsk_tls_read(p.s, none, sizeof none), 0);
  CHECK_INT(wsk_tls_pending(p.c), 0);
  pair_close(&p);
}

TEST(tls_one_mib_both_ways) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  size_t n = 1 << 20;
  uint8_t *big = malloc(n);
  CHECK(big);
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < n; i++) { /* xorshift: incompressible, position-dependent */
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    big[i] = (uint8_t)x;
  }
  int ok = send_check(p.c, p.s, big, n) && send_check(p.s, p.c, big, n);
  free(big);
  CHECK(ok);
  /* the grown buffers are swapped for small ones once empty; keep going */
  for (int i = 0; i < 3; i++) {
    CHECK(send_check(p.c, p.s, (const uint8_t *)"after", 5));
    CHECK(send_check(p.s, p.c, (const uint8_t *)"after", 5));
  }
  pair_close(&p);
}

TEST(tls_writes_before_draining_accumulate) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  static uint8_t chunk[100000];
  for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (uint8_t)(i * 7);
  for (int i = 0; i < 5; i++) CHECK_INT(wsk_tls_write(p.s, chunk, sizeof chunk), 0);
  CHECK(wsk_tls_pending(p.s) > 5 * sizeof chunk);
  move(p.s, p.c, 16384);
  uint8_t *got = malloc(5 * sizeof chunk + 1);
  CHECK(got);
  long n = read_all(p.c, got, 5 * sizeof chunk + 1);
  int ok = n == (long)(5 * sizeof chunk);
  for (int i = 0; ok && i < 5; i++) ok = memcmp(got + (size_t)i * sizeof chunk, chunk, sizeof chunk) == 0;
  free(got);
  CHECK(ok);
  CHECK_INT(wsk_tls_pending(p.s), 0);
  pair_close(&p);
}

TEST(tls_write_before_handshake_is_estate) {
  wsk_tls_ctx_t *c = client_ctx(ca_pem, 0, NULL, NULL);
  CHECK(c);
  wsk_tls_t *t = wsk_tls_new(c, "localhost");
  CHECK(t);
  CHECK_INT(wsk_tls_write(t, (const uint8_t *)"x", 1), WSK_ESTATE);
  CHECK_INT(wsk_tls_handshake(t), 0);
  CHECK(wsk_tls_pending(t) > 0); /* the ClientHello */
  CHECK_INT(wsk_tls_write(t, (const uint8_t *)"x", 1), WSK_ESTATE);
  wsk_tls_free(t);
  wsk_tls_ctx_free(c);
}

TEST(tls_close_notify_is_eclosed) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  CHECK(send_check(p.c, p.s, (const uint8_t *)"last words", 10));
  CHECK_INT(wsk_tls_write(p.c, (const uint8_t *)"bye", 3), 0);
  wsk_tls_shutdown(p.c);
  wsk_tls_shutdown(p.c); /* once */
  CHECK_INT(wsk_tls_write(p.c, (const uint8_t *)"x", 1), WSK_ECLOSED);
  move(p.c, p.s, 0);
  uint8_t buf[16];
  CHECK_INT(wsk_tls_read(p.s, buf, sizeof buf), 3); /* data before close_notify still arrives */
  CHECK_MEM(buf, "bye", 3);
  CHECK_INT(wsk_tls_read(p.s, buf, sizeof buf), WSK_ECLOSED);
  CHECK_INT(wsk_tls_read(p.s, buf, sizeof buf), WSK_ECLOSED);
  CHECK_STR(wsk_tls_error(p.s), "");
  /* the server answers with its own close_notify */
  wsk_tls_shutdown(p.s);
  move(p.s, p.c, 0);
  CHECK_INT(wsk_tls_read(p.c, buf, sizeof buf), WSK_ECLOSED);
  pair_close(&p);
}

TEST(tls_wrong_hostname_fails) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(wrong_pem, wrong_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, WSK_ECRYPTO);
  CHECK_INT(wsk_tls_verify_failed(p.c), 1);
  const char *e = wsk_tls_error(p.c);
  CHECK(strstr(e, "hostname mismatch") != NULL);
  CHECK(strstr(e, "localhost") != NULL);
  CHECK(strstr(e, "wrong.example") != NULL);
  /* the server hears the client's alert */
  CHECK_INT(p.rs, WSK_ECRYPTO);
  CHECK(wsk_tls_error(p.s)[0] != '\0');
  /* failures are final */
  CHECK_INT(wsk_tls_handshake(p.c), WSK_ECRYPTO);
  uint8_t b[4];
  CHECK_INT(wsk_tls_read(p.c, b, sizeof b), WSK_ECRYPTO);
  pair_close(&p);
}

TEST(tls_self_signed_fails_by_default) {
  pair_t p;
  /* the system store */
  CHECK_INT(pair_open(&p, client_ctx(NULL, 0, NULL, NULL), server_ctx(self_pem, self_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, WSK_ECRYPTO);
  CHECK_INT(wsk_tls_verify_failed(p.c), 1);
  CHECK(strstr(wsk_tls_error(p.c), "self-signed") != NULL);
  pair_close(&p);
  /* another CA's bundle */
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(self_pem, self_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, WSK_ECRYPTO);
  CHECK_INT(wsk_tls_verify_failed(p.c), 1);
  pair_close(&p);
}

TEST(tls_system_store_rejects_our_test_ca) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(NULL, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, WSK_ECRYPTO);
  CHECK_INT(wsk_tls_verify_failed(p.c), 1);
  CHECK(strstr(wsk_tls_error(p.c), "local issuer") != NULL);
  pair_close(&p);
}

TEST(tls_insecure_accepts_both) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(NULL, 1, NULL, NULL), server_ctx(self_pem, self_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, 1);
  CHECK_INT(p.rs, 1);
  CHECK(send_check(p.c, p.s, (const uint8_t *)"x", 1));
  pair_close(&p);
  CHECK_INT(pair_open(&p, client_ctx(NULL, 1, NULL, NULL), server_ctx(wrong_pem, wrong_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, 1);
  CHECK_INT(p.rs, 1);
  pair_close(&p);
  /* no name at all is fine when insecure */
  CHECK_INT(pair_open(&p, client_ctx(NULL, 1, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), NULL), 0);
  CHECK_INT(p.rc, 1);
  pair_close(&p);
}

TEST(tls_verifying_client_needs_a_name) {
  wsk_tls_ctx_t *c = client_ctx(ca_pem, 0, NULL, NULL);
  CHECK(c);
  CHECK(wsk_tls_new(c, NULL) == NULL);
  CHECK(wsk_tls_new(c, "") == NULL);
  wsk_tls_ctx_free(c);
}

TEST(tls_client_cert_required_and_missing_fails) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, ca_pem), "localhost"), 0);
  CHECK_INT(p.rs, WSK_ECRYPTO);
  CHECK_INT(wsk_tls_verify_failed(p.s), 1);
  CHECK(strstr(wsk_tls_error(p.s), "certificate") != NULL);
  /* TLS 1.3: the client finished its side before the server looked at
   * its (missing) certificate, so it learns from the alert on read */
  if (p.rc == 1) {
    uint8_t b[8];
    CHECK_INT(wsk_tls_read(p.c, b, sizeof b), WSK_ECRYPTO);
  } else {
    CHECK_INT(p.rc, WSK_ECRYPTO);
  }
  CHECK_INT(wsk_tls_verify_failed(p.c), 1);
  CHECK(strstr(wsk_tls_error(p.c), "certificate") != NULL);
  CHECK_INT(wsk_tls_cert_requested(p.c), 1); /* the clue when no alert comes */
  pair_close(&p);
}

TEST(tls_client_cert_present_passes) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, cli_pem, cli_key), server_ctx(srv_pem, srv_key, ca_pem),
                      "localhost"), 0);
  CHECK_INT(p.rc, 1);
  CHECK_INT(p.rs, 1);
  CHECK_INT(wsk_tls_cert_requested(p.c), 0); /* it had one */
  CHECK(send_check(p.c, p.s, (const uint8_t *)"hello", 5));
  CHECK(send_check(p.s, p.c, (const uint8_t *)"world", 5));
  CHECK_STR(wsk_tls_error(p.c), "");
  pair_close(&p);
}

TEST(tls_untrusted_client_cert_fails) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, cliself_pem, cliself_key), server_ctx(srv_pem, srv_key, ca_pem),
                      "localhost"), 0);
  CHECK_INT(p.rs, WSK_ECRYPTO);
  CHECK_INT(wsk_tls_verify_failed(p.s), 1);
  CHECK(strstr(wsk_tls_error(p.s), "client certificate verification failed") != NULL);
  CHECK(strstr(wsk_tls_error(p.s), "stranger") != NULL);
  pair_close(&p);
}

TEST(tls_garbage_record_fails_cleanly) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  CHECK_INT(p.rc, 1);
  static const uint8_t junk[] = "\x17\x03\x03\x00\x20garbage garbage garbage garbage!";
  CHECK_INT(wsk_tls_feed(p.s, junk, sizeof junk - 1), 0);
  uint8_t b[64];
  CHECK_INT(wsk_tls_read(p.s, b, sizeof b), WSK_ECRYPTO);
  CHECK(strstr(wsk_tls_error(p.s), "TLS read failed") != NULL);
  CHECK_INT(wsk_tls_verify_failed(p.s), 0);
  CHECK_INT(wsk_tls_read(p.s, b, sizeof b), WSK_ECRYPTO);
  CHECK_INT(wsk_tls_write(p.s, b, 1), WSK_ECRYPTO);
  wsk_tls_shutdown(p.s); /* harmless after a failure */
  /* the alert reaches the client, which fails too */
  move(p.s, p.c, 0);
  CHECK_INT(wsk_tls_read(p.c, b, sizeof b), WSK_ECRYPTO);
  pair_close(&p);
}

TEST(tls_plain_http_to_a_tls_server_fails) {
  wsk_tls_ctx_t *sctx = server_ctx(srv_pem, srv_key, NULL);
  CHECK(sctx);
  wsk_tls_t *s = wsk_tls_new(sctx, NULL);
  const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  CHECK_INT(wsk_tls_feed(s, (const uint8_t *)req, strlen(req)), 0);
  CHECK_INT(wsk_tls_handshake(s), WSK_ECRYPTO);
  CHECK(strstr(wsk_tls_error(s), "TLS handshake failed") != NULL);
  CHECK_INT(wsk_tls_verify_failed(s), 0);
  wsk_tls_free(s);
  wsk_tls_ctx_free(sctx);
}

TEST(tls_ctx_outlives_its_owner_reference) {
  pair_t p;
  CHECK_INT(pair_open(&p, client_ctx(ca_pem, 0, NULL, NULL), server_ctx(srv_pem, srv_key, NULL), "localhost"), 0);
  wsk_tls_ctx_free(p.cctx); /* connections keep theirs */
  wsk_tls_ctx_free(p.sctx);
  p.cctx = p.sctx = NULL;
  CHECK(send_check(p.c, p.s, (const uint8_t *)"still here", 10));
  pair_close(&p);
  wsk_tls_ctx_free(NULL);
}

TEST(tls_ctx_errors_name_the_file) {
  wsk_tls_opts_t o;
  memset(&o, 0, sizeof o);
  char missing[160];
  snprintf(missing, sizeof missing, "%s/nope.pem", dir);
  o.ca_file = missing;
  CHECK(wsk_tls_ctx_new(WSK_ROLE_CLIENT, &o, err, sizeof err) == NULL);
  CHECK(strstr(err, "nope.pem") != NULL);
  memset(&o, 0, sizeof o);
  CHECK(wsk_tls_ctx_new(WSK_ROLE_SERVER, &o, err, sizeof err) == NULL);
  CHECK(strstr(err, "cert_file") != NULL);
  o.cert_file = missing;
  o.key_file = srv_key;
  CHECK(wsk_tls_ctx_new(WSK_ROLE_SERVER, &o, err, sizeof err) == NULL);
  CHECK(strstr(err, "nope.pem") != NULL);
  o.cert_file = srv_pem;
  o.key_file = wrong_key; /* another certificate's key */
  CHECK(wsk_tls_ctx_new(WSK_ROLE_SERVER, &o, err, sizeof err) == NULL);
  CHECK(strstr(err, "does not match") != NULL);
  memset(&o, 0, sizeof o);
  o.cert_for_client = cli_pem; /* without its key */
  CHECK(wsk_tls_ctx_new(WSK_ROLE_CLIENT, &o, err, sizeof err) == NULL);
  CHECK(strstr(err, "key_for_client") != NULL);
  CHECK(wsk_tls_ctx_new(WSK_ROLE_CLIENT, &o, NULL, 0) == NULL); /* no buffer: still fine */
}

/* A raw OpenSSL client, to offer a different ALPN list than wsk_tls does. */
static int raw_client_alpn(const unsigned char *protos, unsigned len, char *alpn_out) {
  wsk_tls_ctx_t *sctx = server_ctx(srv_pem, srv_key, NULL);
  wsk_tls_t *s = sctx ? wsk_tls_new(sctx, NULL) : NULL;
  SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
  SSL *c = SSL_new(cc);
  BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
  SSL_set_bio(c, rb, wb);
  SSL_set_connect_state(c);
  if (len) SSL_set_alpn_protos(c, protos, len);
  int cdone = 0, sdone = 0;
  for (int i = 0; i < 50 && !(cdone == 1 && sdone == 1); i++) {
    if (cdone != 1) cdone = SSL_do_handshake(c);
    char tmp[16384];
    int n;
    while ((n = BIO_read(wb, tmp, sizeof tmp)) > 0) wsk_tls_feed(s, (const uint8_t *)tmp, (size_t)n);
    if (sdone != 1) sdone = wsk_tls_handshake(s);
    if (sdone < 0) break;
    wsk_buf_t out = {0};
    wsk_tls_drain(s, &out);
    if (out.len) BIO_write(rb, out.data, (int)out.len);
    wsk_buf_free(&out);
  }
  strcpy(alpn_out, wsk_tls_alpn(s));
  int ok = cdone == 1 && sdone == 1;
  SSL_free(c);
  SSL_CTX_free(cc);
  wsk_tls_free(s);
  wsk_tls_ctx_free(sctx);
  return ok;
}

TEST(tls_server_accepts_clients_without_alpn) {
  char alpn[32];
  CHECK(raw_client_alpn(NULL, 0, alpn));
  CHECK_STR(alpn, "");
}

TEST(tls_server_picks_http11_from_a_list) {
  char alpn[32];
  static const unsigned char list[] = "\x02h2\x08http/1.1";
  CHECK(raw_client_alpn(list, sizeof list - 1, alpn));
  CHECK_STR(alpn, "http/1.1");
}

TEST(tls_server_without_a_common_protocol_goes_on) {
  char alpn[32];
  static const unsigned char list[] = "\x02h2";
  CHECK(raw_client_alpn(list, sizeof list - 1, alpn));
  CHECK_STR(alpn, "");
}

int main(void) {
  if (make_certs() != 0) {
    fprintf(stderr, "cannot create test certificates (is the openssl CLI installed?)\n");
    remove_certs();
    printf("0 passed, 1 failed\n");
    return 1;
  }
  RUN(tls_handshake_with_ca_file);
  RUN(tls_handshake_in_one_byte_pieces);
  RUN(tls_alpn_is_http11);
  RUN(tls_ip_literals_match_ip_sans);
  RUN(tls_data_both_ways);
  RUN(tls_one_mib_both_ways);
  RUN(tls_writes_before_draining_accumulate);
  RUN(tls_write_before_handshake_is_estate);
  RUN(tls_close_notify_is_eclosed);
  RUN(tls_wrong_hostname_fails);
  RUN(tls_self_signed_fails_by_default);
  RUN(tls_system_store_rejects_our_test_ca);
  RUN(tls_insecure_accepts_both);
  RUN(tls_verifying_client_needs_a_name);
  RUN(tls_client_cert_required_and_missing_fails);
  RUN(tls_client_cert_present_passes);
  RUN(tls_untrusted_client_cert_fails);
  RUN(tls_garbage_record_fails_cleanly);
  RUN(tls_plain_http_to_a_tls_server_fails);
  RUN(tls_ctx_outlives_its_owner_reference);
  RUN(tls_ctx_errors_name_the_file);
  RUN(tls_server_accepts_clients_without_alpn);
  RUN(tls_server_picks_http11_from_a_list);
  RUN(tls_server_without_a_common_protocol_goes_on);
  remove_certs();
  return test_summary();
}
