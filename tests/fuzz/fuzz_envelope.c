/* libFuzzer: wsk_envelope_parse on any bytes. Checked: an accepted
 * envelope is canonical (building it again gives the same bytes), its
 * fields obey the format's limits, and its message can be turned into a
 * JSON protocol message that parses back to the same channel, seq, epoch
 * and payload. */
#include "wskit/backplane.h"

#include <stdlib.h>
#include <string.h>

#include "wskit/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const void *a, size_t an, const void *b, size_t bn) {
  return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static int json_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *in = malloc(size ? size : 1);
  if (!in) abort();
  if (size) memcpy(in, data, size);
  const char *origin, *why;
  size_t olen;
  wsk_chan_msg_t m;
  int r = wsk_envelope_parse(in, size, &origin, &olen, &m, &why);
  if (r != 0) {
    if (r != WSK_EPROTO || !why) abort();
    free(in);
    return 0;
  }
  if (!wsk_backplane_token_valid(origin, olen) || !wsk_backplane_token_valid(m.epoch, m.epoch_len))
    abort();
  if (m.seq == 0 || m.seq >= (UINT64_C(1) << 53) || m.channel_len == 0 || m.channel_len > 1024)
    abort();

  char org[WSK_BACKPLANE_MAX_TOKEN + 1];
  memcpy(org, origin, olen);
  org[olen] = 0;
  wsk_buf_t b = { 0 };
  if (wsk_envelope_build(&b, org, &m) != 0 || !same(b.data, b.len, in, size)) abort();
  wsk_buf_free(&b);

  if (wsk_utf8_validate((const uint8_t *)m.channel, m.channel_len) == 0) {
    if (wsk_chan_build_message(&b, &m) != 0) abort();
    uint8_t *scr = malloc(b.len);
    wsk_chan_frame_t f;
    if (!scr || wsk_chan_parse((const char *)b.data, b.len, scr, &f, &why) != 0) abort();
    if (f.type != WSK_CHAN_MESSAGE || f.seq != m.seq) abort();
    if (!same(f.channel, f.channel_len, m.channel, m.channel_len)) abort();
    if (!same(f.epoch, f.epoch_len, m.epoch, m.epoch_len)) abort();
    const uint8_t *p = m.payload;
    size_t n = m.payload_len;
    if (m.kind == WSK_PAYLOAD_JSON) { /* the JSON text travels trimmed */
      while (n && json_ws(p[0])) p++, n--;
      while (n && json_ws(p[n - 1])) n--;
    }
    if (m.kind == WSK_PAYLOAD_JSON && p[0] == '"') {
      /* a JSON value that is a string arrives as that string, as text */
      if (f.kind != WSK_PAYLOAD_TEXT) abort();
    } else if (f.kind != m.kind || !same(f.payload, f.payload_len, p, n)) {
      abort();
    }
    free(scr);
    wsk_buf_free(&b);
  }
  free(in);
  return 0;
}
