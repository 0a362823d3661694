/* Strict JSON (RFC 8259) scanning and string escaping for the channel
 * protocol, plus the base64 that binary payloads travel in. Nothing here
 * allocates except the wsk_buf_t appenders. */
#include "json_internal.h"

#include <string.h>

#include "wskit/handshake.h" /* wsk_base64_encode */
#include "wskit/utf8.h"

size_t wsk_json_skip_ws(const char *s, size_t len, size_t i) {
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Four hex digits at s[i]; -1 if they are not. */
static long hex4(const char *s, size_t len, size_t i) {
  if (len - i < 4) return -1;
  long v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval(s[i + (size_t)k]);
    if (h < 0) return -1;
    v = v << 4 | h;
  }
  return v;
}

static size_t put_utf8(uint8_t *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (uint8_t)(0xC0 | cp >> 6);
    o[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (uint8_t)(0xE0 | cp >> 12);
    o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (uint8_t)(0xF0 | cp >> 18);
  o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

int wsk_json_string(const char *s, size_t len, size_t i, uint8_t *out, size_t *out_len,
                    size_t *end) {
  if (i >= len || s[i] != '"') return -1;
  i++;
  size_t o = 0;
  uint8_t tmp[4];
  while (i < len) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') {
      if (out_len) *out_len = o;
      *end = i + 1;
      return 0;
    }
    if (c < 0x20) return -1; /* raw control characters must be escaped */
    if (c >= 0x80) {
      /* A run of non-ASCII bytes: valid UTF-8 splits at ASCII bytes, so
       * each run must be valid on its own. */
      size_t j = i;
      while (j < len && (unsigned char)s[j] >= 0x80) j++;
      if (wsk_utf8_validate((const uint8_t *)s + i, j - i) != 0) return -1;
      if (out) memcpy(out + o, s + i, j - i);
      o += j - i;
      i = j;
      continue;
    }
    if (c != '\\') {
      if (out) out[o] = c;
      o++;
      i++;
      continue;
    }
    if (++i >= len) return -1;
    char e = s[i++];
    uint8_t b;
    switch (e) {
    case '"': b = '"'; break;
    case '\\': b = '\\'; break;
    case '/': b = '/'; break;
    case 'b': b = '\b'; break;
    case 'f': b = '\f'; break;
    case 'n': b = '\n'; break;
    case 'r': b = '\r'; break;
    case 't': b = '\t'; break;
    case 'u': {
      long cp = hex4(s, len, i);
      if (cp < 0) return -1;
      i += 4;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return -1; /* low surrogate first */
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* must be followed by \u and a low surrogate */
        if (len - i < 6 || s[i] != '\\' || s[i + 1] != 'u') return -1;
        long lo = hex4(s, len, i + 2);
        if (lo < 0xDC00 || lo > 0xDFFF) return -1;
        i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      size_t n = put_utf8(tmp, (uint32_t)cp);
      if (out) memcpy(out + o, tmp, n);
      o += n;
      continue;
    }
    default: return -1;
    }
    if (out) out[o] = b;
    o++;
  }
  return -1; /* unterminated */
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* number = [ minus ] int [ frac ] [ exp ] */
static int number(const char *s, size_t len, size_t i, size_t *end) {
  if (i < len && s[i] == '-') i++;
  if (i >= len) return -1;
  if (s[i] == '0') {
    i++;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < len && is_digit(s[i])) i++;
  } else {
    return -1;
  }
  if (i < len && s[i] == '.') {
    i++;
    if (i >= len || !is_digit(s[i])) return -1;
    while (i < len && is_digit(s[i])) i++;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= len || !is_digit(s[i])) return -1;
    while (i < len && is_digit(s[i])) i++;
  }
  *end = i;
  return 0;
}

static int literal(const char *s, size_t len, size_t i, const char *word, size_t *end) {
  size_t n = strlen(word);
  if (len - i < n || memcmp(s + i, word, n) != 0) return -1;
  *end = i + n;
  return 0;
}

int wsk_json_value(const char *s, size_t len, size_t i, int depth, size_t *end) {
  if (i >= len) return -1;
  switch (s[i]) {
  case '"': return wsk_json_string(s, len, i, NULL, NULL, end);
  case 't': return literal(s, len, i, "true", end);
  case 'f': return literal(s, len, i, "false", end);
  case 'n': return literal(s, len, i, "null", end);
  case '{':
  case '[': {
    /* Recursion is bounded by the depth limit. */
    char close = s[i] == '{' ? '}' : ']';
    int obj = close == '}';
    if (depth + 1 > WSK_JSON_MAX_DEPTH) return -1;
    i = wsk_json_skip_ws(s, len, i + 1);
    if (i < len && s[i] == close) {
      *end = i + 1;
      return 0;
    }
    for (;;) {
      if (obj) {
        if (wsk_json_string(s, len, i, NULL, NULL, &i) != 0) return -1;
        i = wsk_json_skip_ws(s, len, i);
        if (i >= len || s[i] != ':') return -1;
        i = wsk_json_skip_ws(s, len, i + 1);
      }
      if (wsk_json_value(s, len, i, depth + 1, &i) != 0) return -1;
      i = wsk_json_skip_ws(s, len, i);
      if (i >= len) return -1;
      if (s[i] == close) {
        *end = i + 1;
        return 0;
      }
      if (s[i] != ',') return -1;
      i = wsk_json_skip_ws(s, len, i + 1);
    }
  }
  default: return number(s, len, i, end);
  }
}

int wsk_json_valid(const char *json, size_t len) {
  if (!json) return 0;
  size_t i = wsk_json_skip_ws(json, len, 0), end;
  if (wsk_json_value(json, len, i, 0, &end) != 0) return 0;
  return wsk_json_skip_ws(json, len, end) == len;
}

int wsk_json_append_string(wsk_buf_t *out, const void *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const uint8_t *p = s;
  size_t start = out->len;
  /* Measure first, so a big payload does not reserve 6 times its size. */
  size_t need = 2;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = p[i];
    need += c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ? 2 : c < 0x20 ? 6 : 1;
  }
  uint8_t *o = wsk_buf_reserve(out, need);
  if (!o) return WSK_ENOMEM;
  size_t k = 0;
  o[k++] = '"';
  for (size_t i = 0; i < len; i++) {
    uint8_t c = p[i];
    if (c == '"' || c == '\\') {
      o[k++] = '\\';
      o[k++] = c;
    } else if (c >= 0x20) {
      o[k++] = c;
    } else if (c == '\n') {
      o[k++] = '\\';
      o[k++] = 'n';
    } else if (c == '\r') {
      o[k++] = '\\';
      o[k++] = 'r';
    } else if (c == '\t') {
      o[k++] = '\\';
      o[k++] = 't';
    } else {
      memcpy(o + k, "\\u00", 4);
      k += 4;
      o[k++] = (uint8_t)hex[c >> 4];
      o[k++] = (uint8_t)hex[c & 15];
    }
  }
  o[k++] = '"';
  out->len = start + k;
  return 0;
}

int wsk_json_append_u64(wsk_buf_t *out, uint64_t v) {
  char tmp[21];
  size_t n = sizeof tmp;
  do {
    tmp[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return wsk_buf_append(out, tmp + n, sizeof tmp - n);
}

int wsk_base64_append(wsk_buf_t *out, const void *p, size_t n) {
  if (n / 3 >= SIZE_MAX / 4 - 2) return WSK_ENOMEM;
  size_t need = (n + 2) / 3 * 4 + 1; /* wsk_base64_encode writes a NUL */
  uint8_t *o = wsk_buf_reserve(out, need);
  if (!o) return WSK_ENOMEM;
  out->len += wsk_base64_encode(p, n, (char *)o);
  return 0;
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long wsk_base64_decode_strict(const char *in, size_t n, uint8_t *out) {
  /* Padded to a multiple of 4, '=' only at the very end, and the unused
   * bits before padding zero, so each byte string has one encoding. */
  if (n % 4) return WSK_EINVAL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int pad = 0;
    if (i + 4 == n && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    int a = b64val(in[i]), b = b64val(in[i + 1]);
    int c = pad == 2 ? 0 : b64val(in[i + 2]);
    int d = pad ? 0 : b64val(in[i + 3]);
    if (a < 0 || b < 0 || c < 0 || d < 0) return WSK_EINVAL;
    if ((pad == 2 && (b & 15)) || (pad == 1 && (c & 3))) return WSK_EINVAL;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
    /* read all four before writing: out may alias in */
    out[o++] = (uint8_t)(v >> 16);
    if (pad < 2) out[o++] = (uint8_t)(v >> 8);
    if (pad < 1) out[o++] = (uint8_t)v;
  }
  return (long)o;
}
