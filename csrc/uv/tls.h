/* TLS for the libuv driver: OpenSSL driven through memory BIOs, so TLS is
 * bytes in / bytes out like the WebSocket core and the driver only moves
 * ciphertext between the socket and this object. Internal to csrc/uv.
 *
 * Driving a connection:
 *
 *   on connect/accept:  wsk_tls_handshake(t); drain and write the output
 *   on every read:      wsk_tls_feed(t, buf, n);
 *                       while handshaking: r = wsk_tls_handshake(t)
 *                         (r < 0: drain, write the alert, close)
 *                       once r == 1: loop wsk_tls_read() until it returns
 *                         0 (application data can arrive in the same read
 *                         as the last handshake flight), WSK_ECLOSED or
 *                         WSK_ECRYPTO
 *                       drain and write the output (TLS 1.3 session
 *                         tickets and key updates are answered while reading)
 *   to send:            wsk_tls_write(t, ...); drain and write
 *   to close:           wsk_tls_shutdown(t); drain and write; close TCP
 *
 * After every call, wsk_tls_drain() the ciphertext it produced. Failures
 * are final: every later call returns WSK_ECRYPTO. A context may be shared
 * by connections on several threads (its reference count is atomic and
 * OpenSSL's SSL_CTX is thread-safe); a wsk_tls_t belongs to one thread. */
#ifndef WSK_UV_TLS_H
#define WSK_UV_TLS_H

#include "wskit/common.h"

typedef struct wsk_tls_ctx wsk_tls_ctx_t; /* one per client config or server (SSL_CTX) */
typedef struct wsk_tls wsk_tls_t;         /* one per connection (SSL + two memory BIOs) */

typedef struct wsk_tls_opts {
  /* client */
  const char *ca_file;       /* PEM bundle; NULL = the system store (also
                                honours SSL_CERT_FILE / SSL_CERT_DIR) */
  int insecure;              /* 1 = no certificate or hostname verification */
  /* server */
  const char *cert_file;     /* PEM certificate chain (leaf first); required */
  const char *key_file;      /* PEM private key; required */
  const char *client_ca_file;/* when set, client certificates are required and verified */
  /* client again: its own certificate and key (PEM, optional; both or neither) */
  const char *cert_for_client, *key_for_client;
} wsk_tls_opts_t;

/* Create a context: TLS 1.2 minimum, renegotiation off. Clients offer ALPN
 * "http/1.1"; servers select it when offered and otherwise go on without
 * ALPN (clients that offer none are accepted). Files are read now. `o` may
 * be NULL for a verifying client with the system store. Returns NULL with a
 * readable reason in err (naming the file that failed to load). The caller
 * holds one reference. */
wsk_tls_ctx_t *wsk_tls_ctx_new(wsk_role_t role, const wsk_tls_opts_t *o, char *err, size_t errlen);
/* Drop the caller's reference; connections hold their own, so the context
 * may be freed while they live. NULL is a no-op. */
void wsk_tls_ctx_free(wsk_tls_ctx_t *ctx);

/* A connection; takes a reference on ctx. Clients pass the host name (no
 * brackets for IPv6, as in wsk_url_t.host) for SNI and verification: names
 * are sent as SNI and checked against the certificate's DNS names (no
 * partial wildcards); IP literals are checked against its IP addresses and
 * not sent as SNI. Servers pass NULL. Returns NULL when out of memory or
 * when a verifying client has no server_name (NULL is accepted only with
 * `insecure`). */
wsk_tls_t *wsk_tls_new(wsk_tls_ctx_t *ctx, const char *server_name);
void wsk_tls_free(wsk_tls_t *t); /* no close_notify: call wsk_tls_shutdown first */

/* Ciphertext from the network (copied). Returns 0 or WSK_ENOMEM. */
int wsk_tls_feed(wsk_tls_t *t, const uint8_t *data, size_t len);
/* Advance the handshake: 1 done (and on every later call), 0 needs more
 * input (send the output first), WSK_ECRYPTO failed (see wsk_tls_error,
 * wsk_tls_verify_failed; drain and send the alert before closing). */
int wsk_tls_handshake(wsk_tls_t *t);
/* Decrypted bytes, after the handshake: > 0 read, 0 none available now,
 * WSK_ECLOSED when the peer sent close_notify (and on every later call),
 * WSK_ECRYPTO on error (a bad record, a TLS 1.3 server refusing our
 * client certificate after our handshake finished). */
long wsk_tls_read(wsk_tls_t *t, uint8_t *out, size_t cap);
/* Encrypt all of `data` into the ciphertext output; it may be called
 * again before the output was drained (the buffer grows). 0, WSK_ESTATE
 * before the handshake finished, WSK_ECLOSED after wsk_tls_shutdown,
 * WSK_ECRYPTO on failure. */
int wsk_tls_write(wsk_tls_t *t, const uint8_t *data, size_t len);
/* Queue close_notify (once; nothing before the handshake finished). We do
 * not wait for the peer's: drain, send, close TCP. */
void wsk_tls_shutdown(wsk_tls_t *t);
/* Ciphertext to send: append everything pending to `out`. Returns bytes
 * moved (0 also when `out` cannot grow: the bytes stay pending). */
size_t wsk_tls_drain(wsk_tls_t *t, wsk_buf_t *out);
/* Ciphertext bytes waiting to be drained. */
size_t wsk_tls_pending(const wsk_tls_t *t);
/* Text of the last failure ("" if none), e.g. "TLS certificate
 * verification failed for example.com: hostname mismatch (certificate
 * /CN=other.example)". wsk_tls_verify_failed is 1 when a certificate was
 * refused, not worth retrying: ours verifying the peer's (chain, expiry,
 * hostname/IP; a server's client without a certificate), or the peer's
 * alert refusing ours (bad_certificate, unknown_ca, certificate_required...,
 * or a TLS 1.2 handshake_failure after a certificate request we could not
 * answer). */
const char *wsk_tls_error(const wsk_tls_t *t);
int wsk_tls_verify_failed(const wsk_tls_t *t);
/* Client: 1 when the server asked for a certificate and we had none to
 * send (the handshake goes on without one; the server decides). */
int wsk_tls_cert_requested(const wsk_tls_t *t);
/* The negotiated ALPN protocol after the handshake, "" when none. */
const char *wsk_tls_alpn(const wsk_tls_t *t);

#endif
