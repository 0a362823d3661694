/* Incremental, bounded, strict HTTP/1.x head parser.
 *
 * Every input byte is looked at exactly once: bytes are copied into the
 * parser's buffer as they arrive and each line is checked once, when its
 * LF arrives. Line terminators are replaced by NUL in the copy, so all
 * strings of the parsed head are NUL-terminated and the copy is never
 * longer than the raw head (hence bounded by max_head). */
#include "wskit/http.h"
#include "http_internal.h"

#include <stdlib.h>
#include <string.h>

enum { ST_LINE, ST_CR, ST_DONE, ST_ERROR };

typedef struct field {
  size_t name_off, name_len, value_off, value_len;
} field_t;

struct wsk_http_parser {
  wsk_http_kind_t kind;
  wsk_http_limits_t lim;
  int state;
  int err;           /* negative code repeated by feed after an error */
  int status;        /* HTTP status to answer after an error */
  const char *error; /* static text after an error */
  char *buf;         /* the copy of the head */
  size_t len, cap;
  size_t total;      /* raw bytes consumed */
  size_t line_start; /* offset in buf of the current line */
  int have_first;    /* request/status line seen */
  size_t off_a, off_b, off_c; /* method/target or reason offsets in buf */
  field_t *fields;
  size_t nfields, fields_cap;
  unsigned seen; /* single-valued headers seen so far, one bit each */
  wsk_http_header_t *hdrs;
  wsk_http_head_t head;
};

void wsk_http_limits_init(wsk_http_limits_t *l) {
  l->max_line = 8192;
  l->max_head = 16384;
  l->max_headers = 128;
}

wsk_http_parser_t *wsk_http_parser_new(wsk_http_kind_t kind, const wsk_http_limits_t *limits) {
  wsk_http_parser_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  wsk_http_limits_t def;
  wsk_http_limits_init(&def);
  p->kind = kind;
  p->lim = limits ? *limits : def;
  /* 0 means "default" so that zero-filled option structs stay usable. */
  if (!p->lim.max_line) p->lim.max_line = def.max_line;
  if (!p->lim.max_head) p->lim.max_head = def.max_head;
  if (!p->lim.max_headers) p->lim.max_headers = def.max_headers;
  wsk_http_parser_reset(p);
  return p;
}

void wsk_http_parser_free(wsk_http_parser_t *p) {
  if (!p) return;
  free(p->buf);
  free(p->fields);
  free(p->hdrs);
  free(p);
}

void wsk_http_parser_reset(wsk_http_parser_t *p) {
  p->state = ST_LINE;
  p->err = 0;
  p->status = 0;
  p->error = NULL;
  p->len = p->total = p->line_start = 0;
  p->have_first = 0;
  p->off_a = p->off_b = p->off_c = 0;
  p->nfields = 0;
  p->seen = 0;
  free(p->hdrs);
  p->hdrs = NULL;
  memset(&p->head, 0, sizeof p->head);
}

static long fail(wsk_http_parser_t *p, int status, const char *why) {
  p->state = ST_ERROR;
  p->status = status;
  p->error = why;
  p->err = status == 431 ? WSK_E2BIG : status == 500 ? WSK_ENOMEM : WSK_EHTTP;
  return p->err;
}

/* Room for one more byte; the copy never outgrows the raw head + NUL. */
static int reserve1(wsk_http_parser_t *p) {
  if (p->len < p->cap) return 0;
  size_t limit = p->lim.max_head + 1;
  size_t cap = p->cap ? p->cap * 2 : 256;
  if (cap > limit) cap = limit;
  if (cap <= p->len) cap = p->len + 1;
  char *b = realloc(p->buf, cap);
  if (!b) return WSK_ENOMEM;
  p->buf = b;
  p->cap = cap;
  return 0;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* "HTTP/1.x": returns the minor version, -1 if malformed, -2 if not 1.x. */
static int parse_version(const char *s) {
  if (memcmp(s, "HTTP/", 5) != 0 || !is_digit(s[5]) || s[6] != '.' || !is_digit(s[7])) return -1;
  if (s[5] != '1') return -2;
  return s[7] - '0';
}

static long request_line(wsk_http_parser_t *p, char *line, size_t n) {
  char *sp1 = memchr(line, ' ', n);
  if (!sp1 || sp1 == line) return fail(p, 400, "malformed request line");
  for (char *c = line; c < sp1; c++)
    if (!wsk_http_tchar((unsigned char)*c)) return fail(p, 400, "invalid method");
  char *target = sp1 + 1;
  char *sp2 = memchr(target, ' ', n - (size_t)(target - line));
  if (!sp2 || sp2 == target) return fail(p, 400, "malformed request line");
  for (char *c = target; c < sp2; c++)
    if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
      return fail(p, 400, "invalid character in request target");
  char *ver = sp2 + 1;
  if ((size_t)(line + n - ver) != 8) return fail(p, 400, "malformed request line");
  int minor = parse_version(ver);
  if (minor == -2) return fail(p, 400, "unsupported HTTP version");
  if (minor < 0) return fail(p, 400, "malformed HTTP version");
  *sp1 = *sp2 = '\0';
  p->head.version_minor = minor;
  p->off_a = (size_t)(line - p->buf);
  p->off_b = (size_t)(target - p->buf);
  return 0;
}

static long status_line(wsk_http_parser_t *p, char *line, size_t n) {
  /* "HTTP/1.1 101" then optionally " reason"; a missing SP before an
   * empty reason is tolerated as many servers omit it. */
  if (n < 12 || line[8] != ' ') return fail(p, 400, "malformed status line");
  int minor = parse_version(line);
  if (minor == -2) return fail(p, 400, "unsupported HTTP version");
  if (minor < 0) return fail(p, 400, "malformed HTTP version");
  if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) || line[9] < '1' ||
      line[9] > '5')
    return fail(p, 400, "malformed status code");
  if (n > 12 && line[12] != ' ') return fail(p, 400, "malformed status line");
  p->head.version_minor = minor;
  p->head.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  p->off_c = (size_t)(line - p->buf) + (n > 12 ? 13 : 12);
  return 0;
}

/* Headers that may appear only once, one bit each; 0 when not one of them. */
static unsigned single_bit(wsk_http_kind_t kind, const char *name, size_t n) {
  static const struct { const char *name; int req_only; } single[] = {
    { "Host", 1 }, { "Content-Length", 0 }, { "Sec-WebSocket-Key", 0 },
    { "Sec-WebSocket-Accept", 0 }, { "Sec-WebSocket-Version", 1 }, { "Origin", 1 },
  };
  /* Responses may repeat Sec-WebSocket-Version (RFC 6455 4.4 lists the
   * supported versions that way). */
  for (unsigned i = 0; i < sizeof single / sizeof single[0]; i++)
    if ((kind == WSK_HTTP_REQUEST || !single[i].req_only) && wsk_http_ieq(name, n, single[i].name))
      return 1u << i;
  return 0;
}

static long header_line(wsk_http_parser_t *p, char *line, size_t n) {
  if (line[0] == ' ' || line[0] == '\t') return fail(p, 400, "obsolete line folding");
  char *colon = memchr(line, ':', n);
  if (!colon) return fail(p, 400, "header line without a colon");
  if (colon == line) return fail(p, 400, "empty header name");
  for (char *c = line; c < colon; c++) {
    if (*c == ' ' || *c == '\t') return fail(p, 400, "whitespace before the colon");
    if (!wsk_http_tchar((unsigned char)*c)) return fail(p, 400, "invalid header name");
  }
  char *v = colon + 1, *end = line + n;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
  size_t name_len = (size_t)(colon - line);
  unsigned bit = single_bit(p->kind, line, name_len);
  if (bit & p->seen) return fail(p, 400, "duplicate header");
  p->seen |= bit;
  if (p->nfields >= p->lim.max_headers) return fail(p, 431, "too many headers");
  if (p->nfields == p->fields_cap) {
    size_t cap = p->fields_cap ? p->fields_cap * 2 : 16;
    if (cap > p->lim.max_headers) cap = p->lim.max_headers;
    field_t *f = realloc(p->fields, cap * sizeof *f);
    if (!f) return fail(p, 500, "out of memory");
    p->fields = f;
    p->fields_cap = cap;
  }
  *colon = '\0';
  *end = '\0';
  field_t *f = &p->fields[p->nfields++];
  f->name_off = (size_t)(line - p->buf);
  f->name_len = name_len;
  f->value_off = (size_t)(v - p->buf);
  f->value_len = (size_t)(end - v);
  return 0;
}

/* The blank line: check what needs the whole head, then publish it. */
static long finish(wsk_http_parser_t *p) {
  wsk_http_head_t *h = &p->head;
  if (p->nfields) {
    p->hdrs = malloc(p->nfields * sizeof *p->hdrs);
    if (!p->hdrs) return fail(p, 500, "out of memory");
  }
  for (size_t i = 0; i < p->nfields; i++) {
    p->hdrs[i].name = p->buf + p->fields[i].name_off;
    p->hdrs[i].name_len = p->fields[i].name_len;
    p->hdrs[i].value = p->buf + p->fields[i].value_off;
    p->hdrs[i].value_len = p->fields[i].value_len;
  }
  h->kind = p->kind;
  h->nheaders = p->nfields;
  h->headers = p->hdrs;
  if (p->kind == WSK_HTTP_REQUEST) {
    h->method = p->buf + p->off_a;
    h->target = p->buf + p->off_b;
    h->reason = "";
    if (!wsk_http_head_find(h, "Host")) return fail(p, 400, "missing Host header");
  } else {
    h->method = h->target = "";
    h->reason = p->buf + p->off_c;
  }
  if (wsk_http_head_content_length(h) == WSK_EHTTP) return fail(p, 400, "invalid Content-Length");
  p->state = ST_DONE;
  return 0;
}

static long end_line(wsk_http_parser_t *p) {
  if (reserve1(p) < 0) return fail(p, 500, "out of memory");
  char *line = p->buf + p->line_start;
  size_t n = p->len - p->line_start;
  p->buf[p->len++] = '\0';
  long r;
  if (!p->have_first) {
    if (n == 0) return fail(p, 400, p->kind == WSK_HTTP_REQUEST ? "empty request line" : "empty status line");
    p->have_first = 1;
    r = p->kind == WSK_HTTP_REQUEST ? request_line(p, line, n) : status_line(p, line, n);
  } else if (n == 0) {
    return finish(p);
  } else {
    r = header_line(p, line, n);
  }
  p->line_start = p->len;
  return r;
}

long wsk_http_parser_feed(wsk_http_parser_t *p, const uint8_t *data, size_t len) {
  if (p->state == ST_ERROR) return p->err;
  if (p->state == ST_DONE) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = data[i];
    if (p->total >= p->lim.max_head) return fail(p, 431, "head too large");
    p->total++;
    if (p->state == ST_CR) {
      if (c != '\n') return fail(p, 400, "bare CR");
      p->state = ST_LINE;
    } else if (c == '\r') {
      p->state = ST_CR;
      continue;
    } else if (c != '\n') {
      if (c == 0) return fail(p, 400, "NUL byte in head");
      if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(p, 400, "control character in head");
      if (p->len - p->line_start >= p->lim.max_line) return fail(p, 431, "line too long");
      if (reserve1(p) < 0) return fail(p, 500, "out of memory");
      p->buf[p->len++] = (char)c;
      continue;
    }
    /* LF (after CR or alone: RFC 9112 2.2 lets recipients accept bare LF). */
    long r = end_line(p);
    if (r < 0) return r;
    if (p->state == ST_DONE) return (long)(i + 1);
  }
  return (long)len;
}

int wsk_http_parser_done(const wsk_http_parser_t *p) { return p->state == ST_DONE; }

const wsk_http_head_t *wsk_http_parser_head(const wsk_http_parser_t *p) {
  return p->state == ST_DONE ? &p->head : NULL;
}

int wsk_http_parser_status(const wsk_http_parser_t *p) { return p->status; }

const char *wsk_http_parser_error(const wsk_http_parser_t *p) { return p->error ? p->error : ""; }

const wsk_http_header_t *wsk_http_head_find(const wsk_http_head_t *h, const char *name) {
  for (size_t i = 0; i < h->nheaders; i++)
    if (wsk_http_ieq(h->headers[i].name, h->headers[i].name_len, name)) return &h->headers[i];
  return NULL;
}

size_t wsk_http_head_count(const wsk_http_head_t *h, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < h->nheaders; i++)
    if (wsk_http_ieq(h->headers[i].name, h->headers[i].name_len, name)) n++;
  return n;
}

long long wsk_http_head_content_length(const wsk_http_head_t *h) {
  const wsk_http_header_t *cl = wsk_http_head_find(h, "Content-Length");
  if (!cl) return -1;
  if (wsk_http_head_count(h, "Content-Length") > 1 || cl->value_len == 0) return WSK_EHTTP;
  long long v = 0;
  for (size_t i = 0; i < cl->value_len; i++) {
    char c = cl->value[i];
    if (!is_digit(c)) return WSK_EHTTP;
    if (v > (0x7fffffffffffffffLL - 9) / 10) return WSK_EHTTP;
    v = v * 10 + (c - '0');
  }
  return v;
}
