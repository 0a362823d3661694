/* wss between our client and our server on one loop, with certificates
 * the openssl CLI makes in a temporary directory: echo of large messages,
 * pausing in the middle of decrypted input, client certificates, failures
 * that must not be retried (each side reports the other's alert), and
 * freeing while a TLS handshake is in flight. */


#include "uv_helpers.h"

static char dir[64], ca_pem[128], srv_pem[128], srv_key[128], cli_pem[128], cli_key[128];

static void path(char *out, const char *name) { snprintf(out, 128, "%s/%s", dir, name); }

static int sh(const char *cmd) {
  char full[1024];
  snprintf(full, sizeof full, "cd %s && %s >/dev/null 2>&1", dir, cmd);
  return system(full) == 0 ? 0 : -1;
}

#define NEWKEY "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

static int make_certs(void) {
  strcpy(dir, "/tmp/wskit-uvtls-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  path(ca_pem, "ca.pem");
  path(srv_pem, "srv.pem");
  path(srv_key, "srv.key");
  path(cli_pem, "cli.pem");
  path(cli_key, "cli.key");
  return sh("printf 'basicConstraints=CA:FALSE\\nsubjectAltName=DNS:localhost,IP:127.0.0.1\\n' > srv.ext") ||
         sh("printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > cli.ext") ||
         sh("openssl req -x509 " NEWKEY " -keyout ca.key -out ca.pem -days 2 -subj '/CN=wskit test CA'"
            " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign") ||
         sh("openssl req -new " NEWKEY " -keyout srv.key -out srv.csr -subj /CN=localhost") ||
         sh("openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2"
            " -extfile srv.ext -out srv.pem") ||
         sh("openssl req -new " NEWKEY " -keyout cli.key -out cli.csr -subj /CN=wskit-client") ||
         sh("openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -set_serial 3 -days 2"
            " -extfile cli.ext -out cli.pem");
}

static void remove_certs(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- what the callbacks saw ---- */

#define NMSG 300

static struct {
  wsk_uv_server_t *srv;
  wsk_uv_client_t *cl;
  int port;
  int s_open, s_close, s_msgs, s_order_ok, c_open, c_close, c_connecting, c_msgs;
  size_t c_bytes;
  int pause_server;
  wsk_uv_conn_t *paused;
  uv_timer_t resume;
  wsk_uv_close_info_t c_info, s_info;
  char c_error[600], s_error[600], s_reason[64];
} R;

static void s_open(wsk_uv_conn_t *c) { (void)c, R.s_open++; }

static void resume_cb(uv_timer_t *t) {
  (void)t;
  wsk_uv_conn_t *c = R.paused;
  R.paused = NULL; /* resuming delivers the next message, which pauses again */
  if (c) wsk_uv_conn_resume(c);
}

static void s_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  if (R.pause_server) {
    char want[16];
    int n = snprintf(want, sizeof want, "m%d", R.s_msgs);
    if (m->len != (size_t)n || memcmp(m->data, want, (size_t)n) != 0) R.s_order_ok = 0;
    R.s_msgs++;
    /* every message pauses: the rest of the decrypted read waits */
    wsk_uv_conn_pause(c);
    R.paused = c;
    uv_timer_start(&R.resume, resume_cb, 0, 0);
    if (R.s_msgs == NMSG) wsk_uv_conn_send(c, WSK_OP_TEXT, "all", 3);
    return;
  }
  R.s_msgs++;
  wsk_uv_conn_send(c, m->opcode, m->data, m->len);
}

static void s_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  (void)c;
  R.s_close++;
  R.s_info = *i;
  snprintf(R.s_error, sizeof R.s_error, "%s", i->error);
  snprintf(R.s_reason, sizeof R.s_reason, "%s", i->reason);
  if (R.paused == c) R.paused = NULL;
}

static void c_connecting(wsk_uv_conn_t *c, unsigned attempt) { (void)c, (void)attempt, R.c_connecting++; }

static uint8_t *big;
#define BIG (1u << 20)

static void c_open(wsk_uv_conn_t *c) {
  R.c_open++;
  if (R.pause_server) {
    for (int i = 0; i < NMSG; i++) { /* one burst: many messages per TLS record */
      char m[16];
      int n = snprintf(m, sizeof m, "m%d", i);
      wsk_uv_conn_send(c, WSK_OP_TEXT, m, (size_t)n);
    }
    return;
  }
  wsk_uv_conn_send(c, WSK_OP_TEXT, "hello tls", 9);
  wsk_uv_conn_send(c, WSK_OP_BINARY, big, BIG);
}

static void c_msg(wsk_uv_conn_t *c, const wsk_uv_message_t *m) {
  R.c_msgs++;
  R.c_bytes += m->len;
  if (R.pause_server) {
    if (m->len == 3 && !memcmp(m->data, "all", 3)) wsk_uv_conn_close(c, 1000, NULL);
    return;
  }
  if (m->opcode == WSK_OP_BINARY) {
    EXPECT(m->len == BIG && memcmp(m->data, big, BIG) == 0);
    wsk_uv_conn_close(c, 1000, "done");
  }
}

static void c_close(wsk_uv_conn_t *c, const wsk_uv_close_info_t *i) {
  (void)c;
  R.c_close++;
  R.c_info = *i;
  snprintf(R.c_error, sizeof R.c_error, "%s", i->error);
}

static const wsk_uv_callbacks_t scb = { .on_open = s_open, .on_message = s_msg, .on_close = s_close };
static const wsk_uv_callbacks_t ccb = { .on_connecting = c_connecting, .on_open = c_open,
                                        .on_message = c_msg, .on_close = c_close };

static void begin(void) {
  memset(&R, 0, sizeof R);
  R.s_order_ok = 1;
  loop_begin(10000);
  uv_timer_init(L, &R.resume);
}

static int tls_server(const char *client_ca) {
  wsk_uv_server_opts_t so;
  wsk_uv_server_opts_init(&so);
  so.callbacks = &scb;
  so.tls_cert_file = srv_pem;
  so.tls_key_file = srv_key;
  so.tls_client_ca_file = client_ca;
  so.conn.max_message_size = 4 * BIG;
  R.srv = server_on(&so, &R.port);
  return R.srv ? 0 : -1;
}

static int tls_client(const char *ca, const char *cert, const char *key, int reconnect) {
  wsk_uv_client_opts_t co;
  wsk_uv_client_opts_init(&co);
  co.callbacks = &ccb;
  co.tls_ca_file = ca;
  co.tls_cert_file = cert;
  co.tls_key_file = key;
  co.reconnect = reconnect;
  co.backoff.initial_delay_ms = 10;
  co.proxy = ""; /* whatever the environment says */
  co.conn.max_message_size = 4 * BIG;
  char url[64];
  snprintf(url, sizeof url, "wss://localhost:%d/", R.port);
  return wsk_uv_client_new(L, url, &co, &R.cl);
}

static void wait_for(int *counter, int n) {
  while (*counter < n && !timed_out) uv_run(L, UV_RUN_ONCE);
}

static void finish(void) {
  wsk_uv_client_free(R.cl);
  wsk_uv_server_free(R.srv);
  uv_close((uv_handle_t *)&R.resume, noop_close);
  loop_end();
}

TEST(wss_echo_of_a_large_message) {
  begin();
  CHECK_INT(tls_server(NULL), 0);
  CHECK_INT(tls_client(ca_pem, NULL, NULL, 0), 0);
  wait_for(&R.c_close, 1);
  wait_for(&R.s_close, 1);
  finish();
  CHECK_INT(R.c_open, 1);
  CHECK_INT(R.c_msgs, 2);
  CHECK_INT(R.c_bytes, 9 + BIG);
  CHECK_INT(R.c_info.code, 1000);
  CHECK_INT(R.c_info.clean, 1);
  CHECK_INT(R.s_info.code, 1000);
  CHECK_STR(R.s_reason, "done");
}

TEST(server_pauses_in_the_middle_of_decrypted_input) {
  begin();
  R.pause_server = 1;
  CHECK_INT(tls_server(NULL), 0);
  CHECK_INT(tls_client(ca_pem, NULL, NULL, 0), 0);
  wait_for(&R.c_close, 1);
  wait_for(&R.s_close, 1);
  finish();
  CHECK_INT(R.s_msgs, NMSG);
  CHECK_INT(R.s_order_ok, 1);
  CHECK_INT(R.c_info.code, 1000);
}

TEST(verification_failure_is_final_and_the_server_reads_our_alert) {
  begin();
  CHECK_INT(tls_server(NULL), 0);
  CHECK_INT(tls_client(NULL, NULL, NULL, 1), 0); /* the system store knows no test CA */
  wait_for(&R.c_close, 1);
  wait_for(&R.s_close, 1);
  finish();
  CHECK_INT(R.c_connecting, 1);
  CHECK_INT(R.c_info.err, WSK_ECRYPTO);
  CHECK_INT(R.c_info.will_retry, 0);
  CHECK_INT(R.c_info.opened, 0);
  CHECK_STR(R.c_error, "TLS certificate verification failed for localhost: unable to get local issuer "
                       "certificate (certificate /CN=localhost)");
  CHECK_INT(R.s_info.err, WSK_ECRYPTO);
  CHECK_STR(R.s_error, "TLS client refused the server certificate: tlsv1 alert unknown ca");
}

TEST(missing_client_certificate_is_final) {
  begin();
  CHECK_INT(tls_server(ca_pem), 0);
  CHECK_INT(tls_client(ca_pem, NULL, NULL, 1), 0);
  wait_for(&R.c_close, 1);
  wait_for(&R.s_close, 1);
  finish();
  CHECK_INT(R.c_connecting, 1);
  CHECK_INT(R.c_info.err, WSK_ECRYPTO);
  CHECK_INT(R.c_info.will_retry, 0);
  CHECK_STR(R.c_error, "TLS server refused the client certificate: tlsv13 alert certificate required");
  CHECK_STR(R.s_error, "TLS client certificate required but the client sent none");
  CHECK_INT(R.s_open, 0);
}

TEST(client_certificate_opens) {
  begin();
  CHECK_INT(tls_server(ca_pem), 0);
  CHECK_INT(tls_client(ca_pem, cli_pem, cli_key, 0), 0);
  wait_for(&R.c_close, 1);
  wait_for(&R.s_close, 1);
  finish();
  CHECK_INT(R.s_open, 1);
  CHECK_INT(R.c_info.code, 1000);
}

TEST(half_a_client_certificate_is_a_setup_error) {
  begin();
  CHECK_INT(tls_server(NULL), 0);
  CHECK_INT(tls_client(ca_pem, cli_pem, NULL, 1), 0);
  wait_for(&R.c_close, 1);
  finish();
  CHECK_INT(R.c_info.will_retry, 0);
  CHECK(strstr(R.c_error, "TLS setup: a client certificate needs both") == R.c_error);
}

TEST(freeing_both_ends_during_the_tls_handshake) {
  begin();
  CHECK_INT(tls_server(NULL), 0);
  CHECK_INT(tls_client(ca_pem, NULL, NULL, 1), 0);
  while (wsk_uv_server_count(R.srv) == 0 && !timed_out) uv_run(L, UV_RUN_ONCE);
  finish(); /* each end's on_close runs once; no handle or byte is left */
  CHECK_INT(R.c_close, 1);
  CHECK_INT(R.c_info.will_retry, 0);
  CHECK_INT(R.s_close, 1);
  CHECK_INT(R.c_open + R.s_open, 0);
}

int main(void) {
  if (make_certs() != 0) {
    fprintf(stderr, "cannot create test certificates (is the openssl CLI installed?)\n");
    remove_certs();
    return 1;
  }
  big = malloc(BIG);
  for (size_t i = 0; i < BIG; i++) big[i] = (uint8_t)(i * 13 + (i >> 9));
  RUN(wss_echo_of_a_large_message);
  RUN(server_pauses_in_the_middle_of_decrypted_input);
  RUN(verification_failure_is_final_and_the_server_reads_our_alert);
  RUN(missing_client_certificate_is_final);
  RUN(client_certificate_opens);
  RUN(half_a_client_certificate_is_a_setup_error);
  RUN(freeing_both_ends_during_the_tls_handshake);
  free(big);
  remove_certs();
  return test_summary();
}
