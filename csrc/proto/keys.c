/* Sec-WebSocket-Key / Sec-WebSocket-Accept (RFC 6455 4.1, 4.2.2) and the
 * base64 they are written in. */
#include "wskit/handshake.h"

#include <openssl/evp.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t wsk_base64_encode(const uint8_t *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = b64[(v >> 6) & 63];
    out[o++] = b64[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long wsk_base64_decode(const char *in, size_t n, uint8_t *out) {
  /* Strict: padded to a multiple of 4, no whitespace, '=' only at the end. */
  if (n % 4) return WSK_EINVAL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int last = i + 4 == n;
    int pad = 0;
    if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    int a = b64val(in[i]), b = b64val(in[i + 1]);
    int c = pad == 2 ? 0 : b64val(in[i + 2]);
    int d = pad ? 0 : b64val(in[i + 3]);
    if (a < 0 || b < 0 || c < 0 || d < 0) return WSK_EINVAL;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
    out[o++] = (uint8_t)(v >> 16);
    if (pad < 2) out[o++] = (uint8_t)(v >> 8);
    if (pad < 1) out[o++] = (uint8_t)v;
  }
  return (long)o;
}

int wsk_accept_for_key(const char *key, size_t key_len, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return WSK_ECRYPTO;
  int ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, key, key_len) == 1 &&
           EVP_DigestUpdate(ctx, guid, sizeof guid - 1) == 1 &&
           EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
  EVP_MD_CTX_free(ctx);
  if (!ok) return WSK_ECRYPTO;
  wsk_base64_encode(md, 20, out);
  return 0;
}

int wsk_key_generate(wsk_random_fn rnd, void *rnd_ud, char out[25]) {
  uint8_t raw[16];
  int r = (rnd ? rnd : wsk_random_default)(rnd_ud, raw, sizeof raw);
  if (r < 0) return r;
  wsk_base64_encode(raw, sizeof raw, out);
  return 0;
}

int wsk_key_valid(const char *key, size_t len) {
  uint8_t raw[18];
  if (len != 24 || key[22] != '=' || key[23] != '=') return 0;
  return wsk_base64_decode(key, len, raw) == 16;
}
