/* What crosses Redis between instances (backplane.h): the envelope, the
 * key names and the two Lua scripts that number, keep and publish
 * messages atomically inside Redis. */
#include "wskit/backplane.h"

#include <string.h>

#include "json_internal.h"
#include "wskit/channels.h" /* WSK_CHANNEL_MAX_NAME */
#include "wskit/utf8.h"

#define MAX_SEQ ((UINT64_C(1) << 53) - 1) /* exact in a Lua/JSON number */

int wsk_backplane_token_valid(const char *s, size_t len) {
  if (!s || len == 0 || len > WSK_BACKPLANE_MAX_TOKEN) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return 0;
  }
  return 1;
}

int wsk_backplane_new_origin(wsk_random_fn random, void *ud, char out[17]) {
  static const char hex[] = "0123456789abcdef";
  uint8_t r[8];
  int rc = (random ? random : wsk_random_default)(ud, r, sizeof r);
  if (rc != 0) return rc;
  for (int i = 0; i < 8; i++) {
    out[2 * i] = hex[r[i] >> 4];
    out[2 * i + 1] = hex[r[i] & 15];
  }
  out[16] = '\0';
  return 0;
}

/* A payload of kind k fit to travel: JSON must be one valid value, text
 * must be UTF-8. */
static int payload_ok(wsk_payload_kind_t k, const uint8_t *p, size_t n) {
  switch (k) {
  case WSK_PAYLOAD_TEXT: return wsk_utf8_validate(p, n) == 0;
  case WSK_PAYLOAD_BINARY: return 1;
  case WSK_PAYLOAD_JSON: return wsk_json_valid((const char *)p, n);
  }
  return 0;
}

int wsk_envelope_build(wsk_buf_t *out, const char *origin, const wsk_chan_msg_t *m) {
  if (!out || !origin || !m) return WSK_EINVAL;
  size_t olen = strlen(origin);
  if (!wsk_backplane_token_valid(origin, olen) ||
      !wsk_backplane_token_valid(m->epoch, m->epoch_len))
    return WSK_EINVAL;
  if (m->seq == 0 || m->seq > MAX_SEQ) return WSK_EINVAL;
  if (!wsk_chan_name_ok(m->channel, m->channel_len)) return WSK_EINVAL;
  if (m->payload_len && !m->payload) return WSK_EINVAL;
  if (m->kind != WSK_PAYLOAD_TEXT && m->kind != WSK_PAYLOAD_BINARY && m->kind != WSK_PAYLOAD_JSON)
    return WSK_EINVAL;
  if (!payload_ok(m->kind, m->payload, m->payload_len))
    return m->kind == WSK_PAYLOAD_TEXT ? WSK_EUTF8 : WSK_EINVAL;
  size_t start = out->len;
  char kind[2] = { (char)m->kind, 0 };
  int r = wsk_buf_append_str(out, "WSK1 ");
  if (!r) r = wsk_buf_append_str(out, kind);
  if (!r) r = wsk_buf_append_str(out, " ");
  if (!r) r = wsk_json_append_u64(out, m->seq);
  if (!r) r = wsk_buf_append_str(out, " ");
  if (!r) r = wsk_buf_append(out, m->epoch, m->epoch_len);
  if (!r) r = wsk_buf_append_str(out, " ");
  if (!r) r = wsk_buf_append(out, origin, olen);
  if (!r) r = wsk_buf_append_str(out, " ");
  if (!r) r = wsk_json_append_u64(out, m->channel_len);
  if (!r) r = wsk_buf_append_str(out, "\n");
  if (!r) r = wsk_buf_append(out, m->channel, m->channel_len);
  if (!r) r = wsk_buf_append(out, m->payload, m->payload_len);
  if (r) out->len = start;
  return r;
}

/* A decimal without leading zeros ending at the byte `stop`, at most
 * `max`. Returns 0 and advances *i past it and the stop byte. */
static int read_uint(const uint8_t *b, size_t len, size_t *i, char stop, uint64_t max,
                     uint64_t *v) {
  size_t j = *i;
  uint64_t x = 0;
  while (j < len && b[j] >= '0' && b[j] <= '9') {
    if (j - *i >= 19) return -1; /* no overflow below */
    x = x * 10 + (uint64_t)(b[j] - '0');
    j++;
  }
  if (j == *i || j >= len || b[j] != (uint8_t)stop) return -1;
  if (j - *i > 1 && b[*i] == '0') return -1;
  if (x > max) return -1;
  *v = x;
  *i = j + 1;
  return 0;
}

/* A token ending at a space. */
static int read_token(const uint8_t *b, size_t len, size_t *i, const char **tok, size_t *tlen) {
  size_t j = *i;
  while (j < len && b[j] != ' ') j++;
  if (j >= len || !wsk_backplane_token_valid((const char *)b + *i, j - *i)) return -1;
  *tok = (const char *)b + *i;
  *tlen = j - *i;
  *i = j + 1;
  return 0;
}

int wsk_envelope_parse(const uint8_t *buf, size_t len, const char **origin, size_t *origin_len,
                       wsk_chan_msg_t *m, const char **why) {
  const char *w = NULL;
  const char *org = NULL;
  size_t olen = 0, i = 5;
  uint64_t seq, clen;
  wsk_chan_msg_t msg;
  memset(&msg, 0, sizeof msg);
  if (!buf || len < 5 || memcmp(buf, "WSK1 ", 5) != 0) { w = "not a WSK1 envelope"; goto bad; }
  if (len - i < 2 || buf[i + 1] != ' ' ||
      (buf[i] != 't' && buf[i] != 'b' && buf[i] != 'j')) { w = "bad kind"; goto bad; }
  msg.kind = (wsk_payload_kind_t)buf[i];
  i += 2;
  if (read_uint(buf, len, &i, ' ', MAX_SEQ, &seq) != 0 || seq == 0) { w = "bad seq"; goto bad; }
  msg.seq = seq;
  if (read_token(buf, len, &i, &msg.epoch, &msg.epoch_len) != 0) { w = "bad epoch"; goto bad; }
  if (read_token(buf, len, &i, &org, &olen) != 0) { w = "bad origin"; goto bad; }
  if (read_uint(buf, len, &i, '\n', WSK_CHANNEL_MAX_NAME, &clen) != 0 || clen == 0) {
    w = "bad channel length";
    goto bad;
  }
  if (len - i < clen) { w = "truncated channel"; goto bad; }
  msg.channel = (const char *)buf + i;
  msg.channel_len = (size_t)clen;
  if (!wsk_chan_name_ok(msg.channel, msg.channel_len)) { w = "control character in channel"; goto bad; }
  i += (size_t)clen;
  msg.payload = buf + i;
  msg.payload_len = len - i;
  if (!payload_ok(msg.kind, msg.payload, msg.payload_len)) {
    w = msg.kind == WSK_PAYLOAD_TEXT ? "text payload is not UTF-8" : "JSON payload is not valid JSON";
    goto bad;
  }
  if (m) *m = msg;
  if (origin) *origin = org;
  if (origin_len) *origin_len = olen;
  if (why) *why = NULL;
  return 0;
bad:
  if (why) *why = w;
  return WSK_EPROTO;
}

static const char *const key_parts[] = { "meta:", "hist:", "msg:" };

int wsk_backplane_key(wsk_buf_t *out, const char *prefix, wsk_backplane_key_t which,
                      const char *channel, size_t channel_len) {
  if (!out || (unsigned)which > WSK_KEY_MSG || !wsk_chan_name_ok(channel, channel_len))
    return WSK_EINVAL;
  size_t start = out->len;
  int r = wsk_buf_append_str(out, prefix ? prefix : WSK_BACKPLANE_PREFIX);
  if (!r) r = wsk_buf_append_str(out, key_parts[which]);
  if (!r) r = wsk_buf_append(out, channel, channel_len);
  if (r) out->len = start;
  return r;
}

int wsk_backplane_channel_of(const char *prefix, const char *pubsub_name, size_t len,
                             const char **channel, size_t *channel_len) {
  if (!prefix) prefix = WSK_BACKPLANE_PREFIX;
  size_t pl = strlen(prefix);
  if (!pubsub_name || len < pl + 4 || memcmp(pubsub_name, prefix, pl) != 0 ||
      memcmp(pubsub_name + pl, "msg:", 4) != 0)
    return 0;
  size_t n = len - pl - 4;
  if (!wsk_chan_name_ok(pubsub_name + pl + 4, n)) return 0;
  if (channel) *channel = pubsub_name + pl + 4;
  if (channel_len) *channel_len = n;
  return 1;
}

/* ---- the scripts (Redis >= 6.2 for exclusive XRANGE starts) ----
 * Lua numbers are doubles: every integer that goes into a string is
 * formatted with %d (seqs stay below 2^53). A channel's first epoch is
 * made from the server clock (hex seconds + microseconds, a valid token);
 * making an epoch drops any history left from a former one, since stream
 * ids restart at 1 with it. */
#define WSK_LUA_EPOCH                                                      \
  "local epoch = redis.call('HGET', KEYS[1], 'epoch')\n"                   \
  "if not epoch then\n"                                                    \
  "  local t = redis.call('TIME')\n"                                       \
  "  epoch = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))\n"    \
  "  redis.call('HSET', KEYS[1], 'epoch', epoch)\n"                        \
  "  redis.call('HDEL', KEYS[1], 'seq')\n"                                 \
  "  redis.call('DEL', KEYS[2])\n"                                         \
  "end\n"

#define WSK_LUA_NOW_MS                                                     \
  "local now = redis.call('TIME')\n"                                       \
  "local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)\n"

/* With a history ttl the meta key expires a day after the history can:
 * a channel nobody publishes to (a subscribe alone creates its epoch)
 * leaves no key behind for ever, while the day keeps epoch and seq long
 * enough that a late resume gets an "expired" gap, not a new epoch. Every
 * publish and recover pushes it back. ttl 0 (no age limit) leaves it. */
#define WSK_LUA_META_TTL                                                   \
  "if ttl > 0 then\n"                                                      \
  "  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl + 86400000))\n" \
  "end\n"

const char WSK_REDIS_PUBLISH_SCRIPT[] =
  "-- wskit publish: KEYS meta, hist; ARGV msgkey kind origin channel payload size ttl_ms\n"
  WSK_LUA_EPOCH
  WSK_LUA_NOW_MS
  "local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)\n"
  "local seqs = string.format('%d', seq)\n"
  "local ch = ARGV[4]\n"
  "local env = 'WSK1 ' .. ARGV[2] .. ' ' .. seqs .. ' ' .. epoch .. ' ' .. ARGV[3] .. ' ' ..\n"
  "  string.format('%d', #ch) .. '\\n' .. ch .. ARGV[5]\n"
  "local size = tonumber(ARGV[6]) or 0\n"
  "local ttl = tonumber(ARGV[7]) or 0\n"
  WSK_LUA_META_TTL
  "if size > 0 then\n"
  "  redis.call('XADD', KEYS[2], 'MAXLEN', string.format('%d', size), seqs .. '-1',\n"
  "             'e', env, 't', string.format('%d', now_ms))\n"
  "  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], string.format('%d', ttl)) end\n"
  "end\n"
  "redis.call('PUBLISH', ARGV[1], env)\n"
  "return {seq, epoch}\n";

const char WSK_REDIS_RECOVER_SCRIPT[] =
  "-- wskit recover: KEYS meta, hist; ARGV since ttl_ms max\n"
  WSK_LUA_EPOCH
  WSK_LUA_NOW_MS
  "local top = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')\n"
  "local since = tonumber(ARGV[1]) or -1\n"
  "local ttl = tonumber(ARGV[2]) or 0\n"
  WSK_LUA_META_TTL
  "local max = tonumber(ARGV[3]) or 0\n"
  "local res = {epoch, top}\n"
  "if since >= 0 and since < top and max > 0 then\n"
  "  local rows = redis.call('XRANGE', KEYS[2], '(' .. string.format('%d', since) .. '-1', '+',\n"
  "                          'COUNT', string.format('%d', max))\n"
  "  for _, row in ipairs(rows) do\n"
  "    local f, e, t = row[2], nil, nil\n"
  "    for k = 1, #f, 2 do\n"
  "      if f[k] == 'e' then e = f[k + 1] elseif f[k] == 't' then t = tonumber(f[k + 1]) end\n"
  "    end\n"
  "    if e and (ttl <= 0 or (t and t >= now_ms - ttl)) then res[#res + 1] = e end\n"
  "  end\n"
  "end\n"
  "return res\n";
