/* TLS through OpenSSL memory BIOs: the driver feeds ciphertext in, drains
 * ciphertext out, and this file never touches a socket. */
#include "tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Wire form of the one ALPN protocol WebSocket needs (RFC 6455 over h1). */
static const unsigned char alpn_h1[] = "\x08http/1.1";
#define ALPN_H1_LEN (sizeof alpn_h1 - 1)

/* A memory BIO keeps its peak size; past this, an emptied one is replaced
 * so a connection that once moved a large message does not keep the
 * memory while idle. */
#define BIO_KEEP (64 * 1024)

struct wsk_tls_ctx {
  SSL_CTX *ssl_ctx;
  wsk_role_t role;
  int insecure;
  int refs;
  CRYPTO_RWLOCK *lock; /* for CRYPTO_atomic_add where there are no atomics */
};

struct wsk_tls {
  wsk_tls_ctx_t *ctx;
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  int failed;       /* a fatal error: the SSL object is unusable */
  int peer_closed;  /* close_notify received */
  int shut;         /* our close_notify queued */
  int verify_failed;
  int cert_requested; /* client: the server asked for a certificate and we had none */
  char name[256];         /* expected peer name, for messages */
  char verify_subject[160]; /* subject of the first certificate that failed verification */
  char alpn[32];
  char err[512];
};

static void set_text(char *dst, size_t cap, const char *fmt, const char *a, const char *b) {
  if (!dst || cap == 0) return;
  snprintf(dst, cap, fmt, a ? a : "", b ? b : "");
}

/* The most useful OpenSSL reason on the thread's error queue, then clear
 * it so it cannot leak into another connection's report. */
static unsigned long take_error(char *text, size_t cap) {
  unsigned long first = 0, ssl_first = 0, e;
  while ((e = ERR_get_error()) != 0) {
    if (!first) first = e;
    if (!ssl_first && ERR_GET_LIB(e) == ERR_LIB_SSL) ssl_first = e;
  }
  e = ssl_first ? ssl_first : first;
  if (text && cap) {
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r) snprintf(text, cap, "%s", r);
    else if (e) ERR_error_string_n(e, text, cap);
    else snprintf(text, cap, "unknown error");
  }
  return e;
}

/* ---- contexts ---- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  /* Walk the client's length-prefixed list ourselves: it is short, and it
   * keeps us clear of SSL_select_next_proto's quirks with bad lists. */
  unsigned int i = 0;
  while (i < inlen) {
    unsigned int n = in[i];
    if (n == 0 || i + 1 + n > inlen) break;
    if (n == ALPN_H1_LEN - 1 && memcmp(in + i + 1, alpn_h1 + 1, n) == 0) {
      *out = in + i + 1;
      *outlen = (unsigned char)n;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  /* No http/1.1 offered: carry on without ALPN rather than abort, so a
   * client with an odd list still gets a chance at the upgrade. */
  return SSL_TLSEXT_ERR_NOACK;
}

/* Remember the first failing certificate for the error message. */
static int verify_cb(int ok, X509_STORE_CTX *sctx) {
  if (ok) return ok;
  SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
  wsk_tls_t *t = ssl ? SSL_get_app_data(ssl) : NULL;
  X509 *cert = X509_STORE_CTX_get_current_cert(sctx);
  if (t && cert && !t->verify_subject[0])
    X509_NAME_oneline(X509_get_subject_name(cert), t->verify_subject, sizeof t->verify_subject);
  return ok;
}

/* Called only when the server asks for a certificate and none is set: note
 * it, and go on without one. A server that then hangs up without an alert
 * (Python's asyncio does) leaves this as the only clue to the cause. */
static int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey) {
  wsk_tls_t *t = SSL_get_app_data(ssl);
  (void)x509;
  (void)pkey;
  if (t) t->cert_requested = 1;
  return 0;
}

static int load_cert_key(SSL_CTX *c, const char *cert, const char *key, const char *what, char *err,
                         size_t errlen) {
  char why[256];
  if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
    take_error(why, sizeof why);
    snprintf(err, errlen, "cannot load %s certificate %s: %s", what, cert, why);
    return -1;
  }
  if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
    unsigned long e = take_error(why, sizeof why);
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
      snprintf(err, errlen, "%s key %s does not match certificate %s", what, key, cert);
    else
      snprintf(err, errlen, "cannot load %s key %s: %s", what, key, why);
    return -1;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    take_error(why, sizeof why);
    snprintf(err, errlen, "%s key %s does not match certificate %s: %s", what, key, cert, why);
    return -1;
  }
  return 0;
}

static int ctx_setup(wsk_tls_ctx_t *x, const wsk_tls_opts_t *o, char *err, size_t errlen) {
  SSL_CTX *c = x->ssl_ctx;
  char why[256];
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1) {
    take_error(why, sizeof why);
    snprintf(err, errlen, "cannot require TLS 1.2: %s", why);
    return -1;
  }
  /* Renegotiation is a DoS lever and WebSocket never needs it. */
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
  /* Idle connections give their record buffers back. */
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);

  if (x->role == WSK_ROLE_CLIENT) {
    if (o->ca_file) {
      if (SSL_CTX_load_verify_locations(c, o->ca_file, NULL) != 1) {
        take_error(why, sizeof why);
        snprintf(err, errlen, "cannot load CA file %s: %s", o->ca_file, why);
        return -1;
      }
    } else if (!o->insecure && SSL_CTX_set_default_verify_paths(c) != 1) {
      take_error(why, sizeof why);
      snprintf(err, errlen, "cannot load the system CA store: %s", why);
      return -1;
    }
    SSL_CTX_set_verify(c, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_client_cert_cb(c, client_cert_cb);
    if (SSL_CTX_set_alpn_protos(c, alpn_h1, ALPN_H1_LEN) != 0) { /* 0 is success here */
      take_error(why, sizeof why);
      snprintf(err, errlen, "cannot set ALPN: %s", why);
      return -1;
    }
    if (o->cert_for_client || o->key_for_client) {
      if (!o->cert_for_client || !o->key_for_client) {
        snprintf(err, errlen, "a client certificate needs both cert_for_client and key_for_client");
        return -1;
      }
      if (load_cert_key(c, o->cert_for_client, o->key_for_client, "client", err, errlen) < 0) return -1;
    }
  } else {
    if (!o->cert_file || !o->key_file) {
      snprintf(err, errlen, "a TLS server needs cert_file and key_file");
      return -1;
    }
    if (load_cert_key(c, o->cert_file, o->key_file, "server", err, errlen) < 0) return -1;
    SSL_CTX_set_alpn_select_cb(c, alpn_select, NULL);
    /* Needed for session resumption to work when client certificates are
     * verified, harmless otherwise. */
    static const unsigned char sid_ctx[] = "wskit";
    SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx - 1);
    if (o->client_ca_file) {
      if (SSL_CTX_load_verify_locations(c, o->client_ca_file, NULL) != 1) {
        take_error(why, sizeof why);
        snprintf(err, errlen, "cannot load client CA file %s: %s", o->client_ca_file, why);
        return -1;
      }
      /* Tell clients which CAs we accept, so they pick the right certificate. */
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca_file);
      if (names) SSL_CTX_set_client_CA_list(c, names);
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    }
  }
  return 0;
}

wsk_tls_ctx_t *wsk_tls_ctx_new(wsk_role_t role, const wsk_tls_opts_t *o, char *err, size_t errlen) {
  static const wsk_tls_opts_t none;
  char dummy[8];
  if (!err || errlen == 0) {
    err = dummy;
    errlen = sizeof dummy;
  }
  err[0] = '\0';
  if (!o) o = &none;
  ERR_clear_error();
  wsk_tls_ctx_t *x = calloc(1, sizeof *x);
  if (!x) {
    set_text(err, errlen, "out of memory%s%s", NULL, NULL);
    return NULL;
  }
  x->role = role;
  x->insecure = role == WSK_ROLE_CLIENT && o->insecure;
  x->refs = 1;
  x->lock = CRYPTO_THREAD_lock_new();
  x->ssl_ctx = SSL_CTX_new(role == WSK_ROLE_CLIENT ? TLS_client_method() : TLS_server_method());
  if (!x->lock || !x->ssl_ctx) {
    char why[256];
    take_error(why, sizeof why);
    snprintf(err, errlen, "cannot create a TLS context: %s", why);
    goto fail;
  }
  if (ctx_setup(x, o, err, errlen) < 0) goto fail;
  ERR_clear_error();
  return x;
fail:
  ERR_clear_error();
  SSL_CTX_free(x->ssl_ctx);
  CRYPTO_THREAD_lock_free(x->lock);
  free(x);
  return NULL;
}

static void ctx_ref(wsk_tls_ctx_t *x) {
  int now;
  CRYPTO_atomic_add(&x->refs, 1, &now, x->lock);
}

void wsk_tls_ctx_free(wsk_tls_ctx_t *x) {
  if (!x) return;
  int now;
  CRYPTO_atomic_add(&x->refs, -1, &now, x->lock);
  if (now > 0) return;
  SSL_CTX_free(x->ssl_ctx);
  CRYPTO_THREAD_lock_free(x->lock);
  free(x);
}

/* ---- connections ---- */

wsk_tls_t *wsk_tls_new(wsk_tls_ctx_t *ctx, const char *server_name) {
  if (!ctx) return NULL;
  int client = ctx->role == WSK_ROLE_CLIENT;
  if (client && !ctx->insecure && (!server_name || !*server_name)) return NULL; /* nothing to verify against */
  wsk_tls_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  ERR_clear_error();
  t->ssl = SSL_new(ctx->ssl_ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) goto fail;
  SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both from here */
  SSL_set_app_data(t->ssl, t);
  if (client) {
    SSL_set_connect_state(t->ssl);
    if (server_name && *server_name) {
      size_t n = strlen(server_name);
      if (n >= sizeof t->name) goto fail_ssl;
      memcpy(t->name, server_name, n + 1);
      if (n > 1 && t->name[n - 1] == '.') t->name[n - 1] = '\0'; /* "host." is host */
      /* An IP literal is checked against IP SANs and gets no SNI (RFC 6066 3). */
      int is_ip = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->name) == 1;
      if (!is_ip) {
        ERR_clear_error();
        if (SSL_set_tlsext_host_name(t->ssl, t->name) != 1) goto fail_ssl;
        if (!ctx->insecure) {
          SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
          if (SSL_set1_host(t->ssl, t->name) != 1) goto fail_ssl;
        }
      } /* insecure: SSL_VERIFY_NONE already ignores a mismatch */
    }
  } else {
    SSL_set_accept_state(t->ssl);
  }
  ctx_ref(ctx);
  t->ctx = ctx;
  ERR_clear_error();
  return t;
fail:
  BIO_free(t->rbio);
  BIO_free(t->wbio);
  SSL_free(t->ssl);
  ERR_clear_error();
  free(t);
  return NULL;
fail_ssl: /* the BIOs belong to the SSL now */
  SSL_free(t->ssl);
  ERR_clear_error();
  free(t);
  return NULL;
}

void wsk_tls_free(wsk_tls_t *t) {
  if (!t) return;
  SSL_free(t->ssl);
  wsk_tls_ctx_free(t->ctx);
  free(t);
}

/* Replace an emptied memory BIO that grew past BIO_KEEP. */
static BIO *maybe_shrink(BIO *b) {
  BUF_MEM *bm = NULL;
  if (BIO_ctrl_pending(b) != 0) return NULL;
  BIO_get_mem_ptr(b, &bm);
  if (!bm || bm->max <= BIO_KEEP) return NULL;
  return BIO_new(BIO_s_mem());
}

int wsk_tls_feed(wsk_tls_t *t, const uint8_t *data, size_t len) {
  if (len && t->ssl && SSL_is_init_finished(t->ssl)) {
    BIO *nb = maybe_shrink(t->rbio);
    if (nb) {
      SSL_set0_rbio(t->ssl, nb);
      t->rbio = nb;
    }
  }
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    int n = BIO_write(t->rbio, data, chunk);
    if (n <= 0) {
      ERR_clear_error();
      return WSK_ENOMEM;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

static void note_alpn(wsk_tls_t *t) {
  const unsigned char *p = NULL;
  unsigned int n = 0;
  if (t->alpn[0]) return;
  SSL_get0_alpn_selected(t->ssl, &p, &n);
  if (p && n > 0 && n < sizeof t->alpn) {
    memcpy(t->alpn, p, n);
    t->alpn[n] = '\0';
  }
}

static int is_peer_cert_refusal(int reason) {
  switch (reason) {
  case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
  case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
  case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
  case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    return 1;
  default:
    return 0;
  }
}

/* Turn a failed SSL call into text and flags; the SSL is dead after it. */
static void fail(wsk_tls_t *t, int ssl_err, const char *during) {
  char why[256];
  unsigned long e = take_error(why, sizeof why);
  int reason = e ? ERR_GET_REASON(e) : 0;
  int client = t->ctx->role == WSK_ROLE_CLIENT;
  t->failed = 1;
  if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long vr = SSL_get_verify_result(t->ssl);
    const char *vtext = X509_verify_cert_error_string(vr);
    char subj[200] = "";
    if (t->verify_subject[0]) snprintf(subj, sizeof subj, " (certificate %s)", t->verify_subject);
    t->verify_failed = 1;
    if (client)
      snprintf(t->err, sizeof t->err, "TLS certificate verification failed for %s: %s%s", t->name, vtext, subj);
    else
      snprintf(t->err, sizeof t->err, "TLS client certificate verification failed: %s%s", vtext, subj);
    return;
  }
  if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    t->verify_failed = 1;
    snprintf(t->err, sizeof t->err, "TLS client certificate required but the client sent none");
    return;
  }
  if (client && t->cert_requested && e && ERR_GET_LIB(e) == ERR_LIB_SSL &&
      reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE) {
    /* TLS 1.2 servers answer a missing client certificate with a bare
     * handshake_failure: after they asked for one, that is the refusal. */
    t->verify_failed = 1;
    snprintf(t->err, sizeof t->err,
             "TLS server refused the handshake after asking for a client certificate (none is "
             "configured): %s", why);
    return;
  }
  if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && is_peer_cert_refusal(reason)) {
    /* Our certificate was refused (e.g. the server wants a client
     * certificate): as final as a local verification failure. */
    t->verify_failed = 1;
    snprintf(t->err, sizeof t->err, "TLS %s refused the %s certificate: %s", client ? "server" : "client",
             client ? "client" : "server", why);
    return;
  }
  if (!e)
    snprintf(t->err, sizeof t->err, "TLS %s failed (SSL_get_error %d)", during, ssl_err);
  else
    snprintf(t->err, sizeof t->err, "TLS %s failed: %s", during, why);
}

int wsk_tls_handshake(wsk_tls_t *t) {
  if (t->failed) return WSK_ECRYPTO;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    note_alpn(t);
    return 1;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return 0;
  }
  fail(t, e, "handshake");
  return WSK_ECRYPTO;
}

long wsk_tls_read(wsk_tls_t *t, uint8_t *out, size_t cap) {
  if (t->failed) return WSK_ECRYPTO;
  if (t->peer_closed) return WSK_ECLOSED;
  if (cap == 0) return 0;
  if (cap > LONG_MAX) cap = LONG_MAX;
  size_t n = 0;
  ERR_clear_error();
  int r = SSL_read_ex(t->ssl, out, cap, &n);
  if (r == 1) {
    note_alpn(t);
    return (long)n;
  }
  int e = SSL_get_error(t->ssl, r);
  switch (e) {
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_WRITE:
    ERR_clear_error();
    return 0;
  case SSL_ERROR_ZERO_RETURN:
    ERR_clear_error();
    t->peer_closed = 1;
    return WSK_ECLOSED;
  default:
    fail(t, e, "read");
    return WSK_ECRYPTO;
  }
}

int wsk_tls_write(wsk_tls_t *t, const uint8_t *data, size_t len) {
  if (t->failed) return WSK_ECRYPTO;
  if (t->shut) return WSK_ECLOSED;
  if (!SSL_is_init_finished(t->ssl)) return WSK_ESTATE;
  ERR_clear_error();
  while (len > 0) {
    size_t n = 0;
    int r = SSL_write_ex(t->ssl, data, len, &n);
    if (r != 1) {
      fail(t, SSL_get_error(t->ssl, r), "write");
      return WSK_ECRYPTO;
    }
    data += n;
    len -= n;
  }
  return 0;
}

void wsk_tls_shutdown(wsk_tls_t *t) {
  if (t->failed || t->shut) return;
  t->shut = 1;
  if (!SSL_is_init_finished(t->ssl)) return; /* nothing to close politely */
  ERR_clear_error();
  SSL_shutdown(t->ssl); /* 0: sent, not yet answered; we never wait for the answer */
  ERR_clear_error();
}

size_t wsk_tls_drain(wsk_tls_t *t, wsk_buf_t *out) {
  size_t moved = 0;
  for (;;) {
    size_t pending = BIO_ctrl_pending(t->wbio);
    if (pending == 0) break;
    if (pending > INT_MAX) pending = INT_MAX;
    uint8_t *p = wsk_buf_reserve(out, pending);
    if (!p) break; /* out of memory: the bytes stay pending */
    int n = BIO_read(t->wbio, p, (int)pending);
    if (n <= 0) break;
    out->len += (size_t)n;
    moved += (size_t)n;
  }
  if (SSL_is_init_finished(t->ssl)) { /* no flight half-buffered inside the SSL */
    BIO *nb = maybe_shrink(t->wbio);
    if (nb) {
      SSL_set0_wbio(t->ssl, nb);
      t->wbio = nb;
    }
  }
  ERR_clear_error();
  return moved;
}

size_t wsk_tls_pending(const wsk_tls_t *t) { return BIO_ctrl_pending(t->wbio); }

const char *wsk_tls_error(const wsk_tls_t *t) { return t->err; }
int wsk_tls_verify_failed(const wsk_tls_t *t) { return t->verify_failed; }
int wsk_tls_cert_requested(const wsk_tls_t *t) { return t->cert_requested; }
const char *wsk_tls_alpn(const wsk_tls_t *t) { return t->alpn; }
