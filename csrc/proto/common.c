/* Error texts, byte buffers and the default random source. */
#include "wskit/common.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

static const struct { int code; const char *name, *text; } errors[] = {
  { WSK_OK, "OK", "success" },
  { WSK_ENOMEM, "ENOMEM", "out of memory" },
  { WSK_EINVAL, "EINVAL", "invalid argument" },
  { WSK_ESTATE, "ESTATE", "operation not valid in the connection's state" },
  { WSK_ECLOSED, "ECLOSED", "connection is closing or closed" },
  { WSK_EPROTO, "EPROTO", "WebSocket protocol error" },
  { WSK_EUTF8, "EUTF8", "invalid UTF-8" },
  { WSK_E2BIG, "E2BIG", "size limit exceeded" },
  { WSK_EHTTP, "EHTTP", "malformed HTTP" },
  { WSK_EHANDSHAKE, "EHANDSHAKE", "WebSocket handshake failed" },
  { WSK_EZLIB, "EZLIB", "compression error" },
  { WSK_ENOTFOUND, "ENOTFOUND", "not found" },
  { WSK_EEXIST, "EEXIST", "already exists" },
  { WSK_ETIMEDOUT, "ETIMEDOUT", "timed out" },
  { WSK_ECANCELED, "ECANCELED", "canceled" },
  { WSK_EBUSY, "EBUSY", "send buffer over its limit" },
  { WSK_EAGAIN, "EAGAIN", "more input needed" },
  { WSK_ECRYPTO, "ECRYPTO", "cryptographic library failure" },
  { WSK_EURL, "EURL", "invalid WebSocket URL" },
  { WSK_EIO, "EIO", "I/O or network error" },
};

const char *wsk_strerror(int err) {
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
    if (errors[i].code == err) return errors[i].text;
  return "unknown error";
}

const char *wsk_err_name(int err) {
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
    if (errors[i].code == err) return errors[i].name;
  return "EUNKNOWN";
}

int wsk_close_code_valid(unsigned code) {
  if (code >= 3000 && code <= 4999) return 1;
  if (code < 1000 || code > 1014) return 0;
  return code != 1004 && code != 1005 && code != 1006;
}

uint8_t *wsk_buf_reserve(wsk_buf_t *b, size_t n) {
  if (b->cap - b->len >= n) return b->data + b->len;
  if (b->off > 0 && b->cap - (b->len - b->off) >= n && b->off >= b->len / 2) {
    /* Enough room once consumed bytes are dropped: slide instead of growing. */
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    return b->data + b->len;
  }
  if (n > SIZE_MAX / 2 - b->len) return NULL;
  size_t need = b->len + n;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p) return NULL;
  b->data = p;
  b->cap = cap;
  return p + b->len;
}

int wsk_buf_append(wsk_buf_t *b, const void *p, size_t n) {
  if (n == 0) return 0;
  uint8_t *dst = wsk_buf_reserve(b, n);
  if (!dst) return WSK_ENOMEM;
  memcpy(dst, p, n);
  b->len += n;
  return 0;
}

int wsk_buf_append_str(wsk_buf_t *b, const char *s) { return wsk_buf_append(b, s, strlen(s)); }

void wsk_buf_consume(wsk_buf_t *b, size_t n, size_t keep) {
  if (n > b->len - b->off) n = b->len - b->off;
  b->off += n;
  if (b->off < b->len) return;
  b->off = b->len = 0;
  if (b->cap > keep) {
    free(b->data);
    b->data = NULL;
    b->cap = 0;
  }
}

void wsk_buf_free(wsk_buf_t *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

int wsk_random_default(void *ud, uint8_t *out, size_t n) {
  (void)ud;
  while (n > 0) {
    int chunk = n > 1 << 20 ? 1 << 20 : (int)n;
    if (RAND_bytes(out, chunk) != 1) return WSK_ECRYPTO;
    out += chunk;
    n -= (size_t)chunk;
  }
  return 0;
}

void wsk_free(void *p) { free(p); }
