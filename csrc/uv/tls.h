/* TLS for the libuv driver: OpenSSL driven through memory BIOs, so TLS is
 * bytes in / bytes out like the WebSocket core and the driver only moves
 * ciphertext between the socket and this object. Internal to csrc/uv. */
#ifndef WSK_UV_TLS_H
#define WSK_UV_TLS_H

#include "wskit/common.h"

typedef struct wsk_tls_ctx wsk_tls_ctx_t; /* one per client config or server (SSL_CTX) */
typedef struct wsk_tls wsk_tls_t;         /* one per connection (SSL + two memory BIOs) */

typedef struct wsk_tls_opts {
  /* client */
  const char *ca_file;       /* PEM bundle; NULL = the system store */
  int insecure;              /* 1 = no certificate or hostname verification */
  /* server */
  const char *cert_file;     /* PEM certificate chain */
  const char *key_file;      /* PEM private key */
  const char *client_ca_file;/* when set, client certificates are required and verified */
  /* both */
  const char *cert_for_client, *key_for_client; /* client certificate (optional) */
} wsk_tls_opts_t;

/* Create a context. ALPN "http/1.1" is offered (client) / selected (server).
 * Minimum TLS 1.2. Returns NULL with a readable reason in err. */
wsk_tls_ctx_t *wsk_tls_ctx_new(wsk_role_t role, const wsk_tls_opts_t *o, char *err, size_t errlen);
void wsk_tls_ctx_free(wsk_tls_ctx_t *ctx); /* reference counted: connections keep theirs alive */

/* A connection. Clients pass the host name for SNI and hostname/IP
 * verification (NULL only when insecure). */
wsk_tls_t *wsk_tls_new(wsk_tls_ctx_t *ctx, const char *server_name);
void wsk_tls_free(wsk_tls_t *t);

/* Ciphertext from the network. Returns 0 or WSK_ENOMEM. */
int wsk_tls_feed(wsk_tls_t *t, const uint8_t *data, size_t len);
/* Advance the handshake: 1 done, 0 needs more input (send the output
 * first), WSK_ECRYPTO failed (see wsk_tls_error, wsk_tls_verify_failed). */
int wsk_tls_handshake(wsk_tls_t *t);
/* Decrypted bytes: > 0 read, 0 none available now, WSK_ECLOSED when the
 * peer sent close_notify, WSK_ECRYPTO on error. */
long wsk_tls_read(wsk_tls_t *t, uint8_t *out, size_t cap);
/* Encrypt plaintext (after the handshake) into the ciphertext output. */
int wsk_tls_write(wsk_tls_t *t, const uint8_t *data, size_t len);
/* Queue close_notify. */
void wsk_tls_shutdown(wsk_tls_t *t);
/* Ciphertext to send: append everything pending to `out`. Returns bytes moved. */
size_t wsk_tls_drain(wsk_tls_t *t, wsk_buf_t *out);
/* Text of the last failure ("" if none); 1 if it was a certificate or
 * hostname verification failure (not worth retrying). */
const char *wsk_tls_error(const wsk_tls_t *t);
int wsk_tls_verify_failed(const wsk_tls_t *t);
/* The negotiated ALPN protocol, "" when none. */
const char *wsk_tls_alpn(const wsk_tls_t *t);

#endif
