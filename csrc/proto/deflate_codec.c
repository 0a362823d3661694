/* permessage-deflate codec (RFC 7692 section 7.2): per-message compression
 * and bounded decompression over raw zlib streams. */
#include "wskit/deflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* zlib counts in uInt: feed and drain it at most this much per call. */
#define CHUNK_MAX ((size_t)1 << 30)
/* At most this many DEFLATE streams may end (BFINAL=1) and be continued
 * inside one message: each continuation copies the window twice, so an
 * unbounded count would let a peer buy 64 KiB of copying per 2 bytes. */
#define MAX_FINAL_BLOCKS 8

static const uint8_t flush_tail[4] = { 0x00, 0x00, 0xff, 0xff };

struct wsk_deflate {
  z_stream def, inf;
  int level, mem_level;
  int def_bits, inf_bits;       /* zlib window bits (8 already mapped to 9) */
  unsigned char def_reset;      /* our side has no_context_takeover */
  unsigned char inf_reset;      /* the peer's side has no_context_takeover */
  unsigned char def_ready, inf_ready;
  unsigned char inf_ended;      /* a final block ended and no input followed */
  unsigned char inf_finals;     /* final blocks continued in this message */
};

/* zlib refuses to deflate raw streams with 8-bit windows; 9 is compatible
 * both ways (see deflate.h) and is used for inflate too, for symmetry.
 * 0 means "not negotiated", i.e. 15. */
static int zbits(int bits) {
  if (bits == 0) return 15;
  if (bits < 8 || bits > 15) return -1;
  return bits == 8 ? 9 : bits;
}

static int zerr(int rc) { return rc == Z_MEM_ERROR ? WSK_ENOMEM : WSK_EZLIB; }

/* zlib's memLevel; 0 (as in zeroed options) means zlib's default, 8. */
static int zmem(int mem_level) {
  if (mem_level == 0) return 8;
  return mem_level >= 1 && mem_level <= 9 ? mem_level : -1;
}

wsk_deflate_t *wsk_deflate_new(const wsk_deflate_params_t *p, wsk_role_t role, int level,
                               int mem_level) {
  if (!p || (role != WSK_ROLE_CLIENT && role != WSK_ROLE_SERVER)) return NULL;
  if (level < Z_DEFAULT_COMPRESSION || level > 9 || zmem(mem_level) < 0) return NULL;
  int cbits = zbits(p->client_max_window_bits), sbits = zbits(p->server_max_window_bits);
  if (cbits < 0 || sbits < 0) return NULL;
  wsk_deflate_t *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  int client = role == WSK_ROLE_CLIENT;
  d->level = level;
  d->mem_level = zmem(mem_level);
  /* We compress with our own side's parameters, inflate with the peer's. */
  d->def_bits = client ? cbits : sbits;
  d->inf_bits = client ? sbits : cbits;
  d->def_reset = (unsigned char)!!(client ? p->client_no_context_takeover
                                          : p->server_no_context_takeover);
  d->inf_reset = (unsigned char)!!(client ? p->server_no_context_takeover
                                          : p->client_no_context_takeover);
  return d;
}

void wsk_deflate_free(wsk_deflate_t *d) {
  if (!d) return;
  if (d->def_ready) deflateEnd(&d->def);
  if (d->inf_ready) inflateEnd(&d->inf);
  free(d);
}

/* ---- compression ---- */

/* Compress all of `in` with one Z_SYNC_FLUSH at the end, appending to out. */
static int deflate_run(z_stream *s, const uint8_t *in, size_t len, wsk_buf_t *out) {
  size_t rem = len;
  s->avail_in = 0;
  for (;;) {
    if (s->avail_in == 0 && rem > 0) {
      size_t take = rem < CHUNK_MAX ? rem : CHUNK_MAX;
      s->next_in = (Bytef *)(uintptr_t)in; /* zlib does not write through next_in */
      s->avail_in = (uInt)take;
      in += take;
      rem -= take;
    }
    int flush = rem ? Z_NO_FLUSH : Z_SYNC_FLUSH;
    size_t room = out->cap - out->len;
    if (room < 256) {
      /* Usually room for the whole result, so one deflate() call does it. */
      size_t want = (size_t)deflateBound(s, s->avail_in) + 16;
      if (want > 65536) want = 65536;
      if (!wsk_buf_reserve(out, want)) return WSK_ENOMEM;
      room = out->cap - out->len;
    }
    if (room > CHUNK_MAX) room = CHUNK_MAX;
    s->next_out = out->data + out->len;
    s->avail_out = (uInt)room;
    int rc = deflate(s, flush);
    out->len += room - s->avail_out;
    /* Z_BUF_ERROR only says there was nothing to do: already flushed. */
    if (rc != Z_OK && rc != Z_BUF_ERROR) return zerr(rc);
    if (flush == Z_SYNC_FLUSH && s->avail_out != 0) return 0;
  }
}

/* Strip the flush marker of the message's last output (RFC 7692 7.2.1).
 * `produced` bytes at the end of out belong to this call. */
static int finish_message(wsk_buf_t *out, size_t produced) {
  if (produced == 0) {
    /* zlib had nothing to flush (empty message, or an empty last fragment
     * after a flushed one). A lone stored-block header byte, which the
     * peer completes with 00 00 ff ff, is the empty block RFC 7692 7.2.3.6
     * prescribes; sending nothing would leave the peer mid-block. */
    static const uint8_t empty_block = 0x00;
    return wsk_buf_append(out, &empty_block, 1);
  }
  if (produced < 4 || memcmp(out->data + out->len - 4, flush_tail, 4) != 0) return WSK_EZLIB;
  out->len -= 4;
  return 0;
}

int wsk_deflate_compress(wsk_deflate_t *d, const uint8_t *in, size_t len, int fin,
                         wsk_buf_t *out) {
  if (!d || !out || (!in && len)) return WSK_EINVAL;
  if (!d->def_ready) {
    int rc = deflateInit2(&d->def, d->level, Z_DEFLATED, -d->def_bits, d->mem_level,
                          Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) return zerr(rc);
    d->def_ready = 1;
  }
  size_t start = wsk_buf_pending(out);
  int rc = deflate_run(&d->def, in, len, out);
  if (rc == 0 && fin) rc = finish_message(out, wsk_buf_pending(out) - start);
  if (rc != 0) {
    /* Take back partial output; the context is lost with the message. */
    out->len = out->off + start;
    deflateReset(&d->def);
    return rc;
  }
  if (fin && d->def_reset) deflateReset(&d->def);
  return 0;
}

int wsk_deflate_compress_once(const uint8_t *in, size_t len, int bits, int level, int mem_level,
                              wsk_buf_t *out) {
  int zb = zbits(bits);
  if (!out || (!in && len) || zb < 0 || level < Z_DEFAULT_COMPRESSION || level > 9 ||
      zmem(mem_level) < 0)
    return WSK_EINVAL;
  z_stream s;
  memset(&s, 0, sizeof s);
  int rc = deflateInit2(&s, level, Z_DEFLATED, -zb, zmem(mem_level), Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) return zerr(rc);
  size_t start = wsk_buf_pending(out);
  rc = deflate_run(&s, in, len, out);
  if (rc == 0) rc = finish_message(out, wsk_buf_pending(out) - start);
  if (rc != 0) out->len = out->off + start;
  deflateEnd(&s);
  return rc;
}

/* ---- decompression ---- */

/* Make room in `out` for inflate without ever letting its capacity grow
 * past what the limit allows: returns the usable room (at most
 * `allowance`, at least 1) or 0 when out of memory. */
static size_t out_room(wsk_buf_t *out, size_t allowance, size_t hint) {
  size_t room = out->cap - out->len;
  size_t enough = allowance < 1024 ? allowance : 1024;
  if (room < enough && out->off > 0) {
    /* Drop consumed bytes before asking for memory. */
    memmove(out->data, out->data + out->off, out->len - out->off);
    out->len -= out->off;
    out->off = 0;
    room = out->cap - out->len;
  }
  if (room < enough) {
    size_t grow = out->cap > hint ? out->cap : hint; /* double, or start at hint */
    if (grow < 1024) grow = 1024;
    if (grow > allowance - room) grow = allowance - room;
    if (grow > SIZE_MAX - out->cap) return 0;
    uint8_t *p = realloc(out->data, out->cap + grow);
    if (!p) return 0;
    out->data = p;
    out->cap += grow;
    room += grow;
  }
  return room < allowance ? room : allowance;
}

/* After a final block the zlib stream is over, but RFC 7692 7.2.1 lets
 * more blocks follow in the same LZ77 context: start a new stream primed
 * with the old window. */
static int inflate_continue(wsk_deflate_t *d) {
  z_stream *s = &d->inf;
  if (++d->inf_finals > MAX_FINAL_BLOCKS) return WSK_EZLIB;
  uint8_t *dict = malloc((size_t)1 << d->inf_bits);
  if (!dict) return WSK_ENOMEM;
  uInt n = 0;
  int rc = inflateGetDictionary(s, dict, &n);
  if (rc == Z_OK) rc = inflateReset(s);
  if (rc == Z_OK && n > 0) rc = inflateSetDictionary(s, dict, n);
  free(dict);
  return rc == Z_OK ? 0 : zerr(rc);
}

/* Inflate all of `in` into out within the limit. `tail`: `in` is the
 * 00 00 ff ff we append, which may be left unread after a final block. */
static int inflate_run(wsk_deflate_t *d, const uint8_t *in, size_t len, int tail,
                       size_t max_out, wsk_buf_t *out) {
  z_stream *s = &d->inf;
  if (len == 0) return 0; /* inflate never keeps output back between calls */
  size_t rem = len;
  /* First guess at the output size; the buffer doubles from there. */
  size_t hint = len < ((size_t)1 << 16) ? len * 4 : (size_t)1 << 18;
  s->avail_in = 0;
  for (;;) {
    if (s->avail_in == 0 && rem > 0) {
      size_t take = rem < CHUNK_MAX ? rem : CHUNK_MAX;
      s->next_in = (Bytef *)(uintptr_t)in;
      s->avail_in = (uInt)take;
      in += take;
      rem -= take;
      d->inf_ended = 0;
    }
    size_t pending = wsk_buf_pending(out);
    size_t allowance = !max_out ? SIZE_MAX : pending < max_out ? max_out - pending : 0;
    uint8_t probe;
    size_t room;
    if (allowance == 0) {
      /* At the limit: inflate into one spare byte to learn whether the
       * rest of the input holds more output (then it is too big) or only
       * block ends and headers. */
      s->next_out = &probe;
      room = 1;
    } else {
      room = out_room(out, allowance, hint);
      if (room == 0) return WSK_ENOMEM;
      if (room > CHUNK_MAX) room = CHUNK_MAX;
      s->next_out = out->data + out->len;
    }
    s->avail_out = (uInt)room;
    int rc = inflate(s, Z_SYNC_FLUSH);
    size_t produced = room - s->avail_out;
    if (allowance == 0) {
      if (produced) return WSK_E2BIG;
    } else {
      out->len += produced;
    }
    if (rc == Z_STREAM_END) {
      int err = inflate_continue(d);
      if (err) return err;
      if (tail) { /* the stream ended inside our own marker: drop the rest */
        d->inf_ended = 1;
        return 0;
      }
      d->inf_ended = s->avail_in == 0 && rem == 0;
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return zerr(rc);
    /* Done when the input is used up and inflate stopped for lack of
     * input, not for lack of room. */
    if (s->avail_in == 0 && rem == 0 && s->avail_out != 0) return 0;
  }
}

int wsk_deflate_decompress(wsk_deflate_t *d, const uint8_t *in, size_t len, int fin,
                           size_t max_out, wsk_buf_t *out) {
  if (!d || !out || (!in && len)) return WSK_EINVAL;
  if (!d->inf_ready) {
    int rc = inflateInit2(&d->inf, -d->inf_bits);
    if (rc != Z_OK) return zerr(rc);
    d->inf_ready = 1;
  }
  size_t start = wsk_buf_pending(out);
  int rc = inflate_run(d, in, len, 0, max_out, out);
  if (rc == 0 && fin && !d->inf_ended) {
    rc = inflate_run(d, flush_tail, sizeof flush_tail, 1, max_out, out);
    /* A message must end on a block boundary, or the next one would be
     * read from the middle of a block: after the marker inflate must be
     * waiting for a block header (data_type bit 128), unless a final
     * block ended in the marker. */
    if (rc == 0 && !d->inf_ended && !(d->inf.data_type & 128)) rc = WSK_EZLIB;
  }
  if (rc != 0) {
    /* Give back this call's output and start over: the stream is lost. */
    if (wsk_buf_pending(out) > start) out->len = out->off + start;
    inflateReset(&d->inf);
    d->inf_ended = 0;
    d->inf_finals = 0;
    return rc;
  }
  if (fin) {
    if (d->inf_reset) inflateReset(&d->inf);
    d->inf_ended = 0;
    d->inf_finals = 0;
  }
  return 0;
}
