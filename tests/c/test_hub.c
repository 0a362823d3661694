/* The channel hub: local mode (numbering, history bounds, resume and gap
 * rules, LRU of idle channels), external mode (recovery, held messages,
 * dedupe, resync), limits and the JSON of every output. */
#include "testlib.h"
#include "wskit/hub.h"
#include "wskit/channels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recording outputs ---- */

typedef struct out {
  void *sub;
  wsk_hub_out_kind_t kind;
  char channel[64], epoch[72], reason[16], payload[128], json[512];
  uint64_t seq, from, to;
  int recovered;
  const char *json_ptr;
} out_t;

typedef struct rec {
  out_t o[64];
  int n;
} rec_t;

static void on_out(void *ud, void *sub, const wsk_hub_out_t *o) {
  rec_t *r = ud;
  if (r->n >= 64) return;
  out_t *x = &r->o[r->n++];
  memset(x, 0, sizeof *x);
  x->sub = sub;
  x->kind = o->kind;
  snprintf(x->channel, sizeof x->channel, "%.*s", (int)o->channel_len, o->channel);
  snprintf(x->epoch, sizeof x->epoch, "%.*s", (int)o->epoch_len, o->epoch ? o->epoch : "");
  snprintf(x->json, sizeof x->json, "%.*s", (int)o->json_len, o->json);
  x->json_ptr = o->json;
  x->seq = o->seq;
  x->from = o->from;
  x->to = o->to;
  x->recovered = o->recovered;
  if (o->reason) snprintf(x->reason, sizeof x->reason, "%s", o->reason);
  if (o->msg)
    snprintf(x->payload, sizeof x->payload, "%.*s", (int)o->msg->payload_len,
             (const char *)o->msg->payload);
  /* the JSON always parses back as what the output says */
  uint8_t *scratch = malloc(o->json_len + 1);
  wsk_chan_frame_t f;
  const char *why;
  int pr = wsk_chan_parse(o->json, o->json_len, scratch, &f, &why);
  free(scratch);
  if (pr != 0) {
    fprintf(stderr, "  bad JSON output: %s (%s)\n", x->json, why ? why : "?");
    abort();
  }
  wsk_chan_type_t want = o->kind == WSK_HUB_MESSAGE ? WSK_CHAN_MESSAGE
                         : o->kind == WSK_HUB_GAP   ? WSK_CHAN_GAP
                                                    : WSK_CHAN_SUBSCRIBED;
  if (f.type != want || (o->kind != WSK_HUB_GAP && f.seq != o->seq) ||
      (o->kind == WSK_HUB_GAP && (f.from != o->from || f.to != o->to)))
    abort();
}

static int A, B, C; /* subscribers: their addresses */

static wsk_hub_t *hub_with(size_t size, uint32_t ttl, size_t bytes, int external) {
  wsk_hub_opts_t o;
  wsk_hub_opts_init(&o);
  o.history_size = size;
  o.history_ttl_ms = ttl;
  o.history_bytes = bytes;
  o.external = external;
  int err;
  wsk_hub_t *h = wsk_hub_new(&o, &err);
  return h;
}

static wsk_chan_msg_t text(const char *ch, const char *s) {
  wsk_chan_msg_t m;
  memset(&m, 0, sizeof m);
  m.channel = ch;
  m.channel_len = strlen(ch);
  m.kind = WSK_PAYLOAD_TEXT;
  m.payload = (const uint8_t *)s;
  m.payload_len = strlen(s);
  return m;
}

static wsk_chan_msg_t numbered(const char *ch, const char *epoch, uint64_t seq, const char *s) {
  wsk_chan_msg_t m = text(ch, s);
  m.epoch = epoch;
  m.epoch_len = strlen(epoch);
  m.seq = seq;
  return m;
}

static int sub_since(wsk_hub_t *h, void *s, const char *ch, int has, uint64_t since,
                     const char *epoch, rec_t *r, int64_t now, int64_t *fetch) {
  wsk_hub_subscribe_t q;
  memset(&q, 0, sizeof q);
  q.channel = ch;
  q.channel_len = strlen(ch);
  q.has_since = has;
  q.since = since;
  q.epoch = epoch;
  q.epoch_len = epoch ? strlen(epoch) : 0;
  return wsk_hub_subscribe(h, s, &q, now, fetch, on_out, r);
}

static void publish_n(wsk_hub_t *h, const char *ch, int n, int64_t now, rec_t *r) {
  char buf[32];
  for (int i = 0; i < n; i++) {
    snprintf(buf, sizeof buf, "m%d", i);
    wsk_chan_msg_t m = text(ch, buf);
    CHECK(wsk_hub_publish(h, &m, now, on_out, r) > 0);
  }
}

/* The seqs of the MESSAGE outputs for one subscriber, as "3,4,5". */
static const char *seqs(const rec_t *r, void *sub) {
  static char s[256];
  size_t k = 0;
  s[0] = 0;
  for (int i = 0; i < r->n && k < sizeof s - 24; i++)
    if (r->o[i].sub == sub && r->o[i].kind == WSK_HUB_MESSAGE)
      k += (size_t)snprintf(s + k, sizeof s - k, k ? ",%llu" : "%llu",
                            (unsigned long long)r->o[i].seq);
  return s;
}

/* ---- local mode ---- */

TEST(local_subscribe_then_publish) {
  wsk_hub_t *h = hub_with(100, 0, 0, 0);
  rec_t r = { 0 };
  CHECK_INT(sub_since(h, &A, "room", 0, 0, NULL, &r, 0, NULL), 0);
  CHECK_INT(r.n, 1);
  CHECK_INT(r.o[0].kind, WSK_HUB_SUBSCRIBED);
  CHECK(r.o[0].sub == &A);
  CHECK_INT(r.o[0].seq, 0);
  CHECK_INT(r.o[0].recovered, 0);
  CHECK_INT(strlen(r.o[0].epoch), 16);
  for (int i = 0; i < 16; i++) CHECK(strchr("0123456789abcdef", r.o[0].epoch[i]) != NULL);
  char want[256];
  snprintf(want, sizeof want,
           "{\"type\":\"subscribed\",\"channel\":\"room\",\"epoch\":\"%s\",\"seq\":0,\"recovered\":false}",
           r.o[0].epoch);
  CHECK_STR(r.o[0].json, want);
  char epoch[32];
  snprintf(epoch, sizeof epoch, "%s", r.o[0].epoch);
  CHECK_INT(sub_since(h, &B, "room", 0, 0, NULL, &r, 0, NULL), 0);
  r.n = 0;
  wsk_chan_msg_t m = text("room", "hi \"there\"");
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), 1);
  CHECK_INT(r.n, 2);
  CHECK(r.o[0].json_ptr == r.o[1].json_ptr); /* built once for all */
  snprintf(want, sizeof want,
           "{\"type\":\"message\",\"channel\":\"room\",\"seq\":1,\"epoch\":\"%s\",\"data\":\"hi \\\"there\\\"\"}",
           epoch);
  CHECK_STR(r.o[0].json, want);
  CHECK_STR(r.o[0].payload, "hi \"there\"");
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), 2);
  CHECK_STR(seqs(&r, &A), "1,2");
  CHECK_STR(seqs(&r, &B), "1,2");
  uint64_t top;
  const char *ep;
  size_t el;
  CHECK_INT(wsk_hub_position(h, "room", 4, &top, &ep, &el), 1);
  CHECK_INT(top, 2);
  CHECK_INT(el, 16);
  CHECK_MEM(ep, epoch, 16);
  CHECK_INT(wsk_hub_position(h, "none", 4, &top, &ep, &el), 0);
  wsk_hub_free(h);
}

TEST(local_payload_kinds) {
  wsk_hub_t *h = hub_with(100, 0, 0, 0);
  rec_t r = { 0 };
  sub_since(h, &A, "c", 0, 0, NULL, &r, 0, NULL);
  r.n = 0;
  wsk_chan_msg_t m = text("c", "\x01\x02\xff");
  m.kind = WSK_PAYLOAD_BINARY;
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), 1);
  CHECK(strstr(r.o[0].json, "\"data\":\"AQL/\",\"binary\":true") != NULL);
  m = text("c", " {\"a\": [1, 2]} ");
  m.kind = WSK_PAYLOAD_JSON;
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), 2);
  CHECK(strstr(r.o[1].json, "\"data\":{\"a\": [1, 2]}}") != NULL);
  /* refused before anything changes: no seq is used up */
  m = text("c", "{\"a\":");
  m.kind = WSK_PAYLOAD_JSON;
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), WSK_EINVAL);
  m = text("c", "\xff");
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), WSK_EUTF8);
  m = text("c", "x");
  m.kind = (wsk_payload_kind_t)'z';
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), WSK_EINVAL);
  m = text("c", "ok");
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), 3);
  CHECK_INT(r.n, 3);
  wsk_hub_free(h);
}

TEST(local_resume_replays_what_was_missed_exactly_once) {
  wsk_hub_t *h = hub_with(100, 0, 0, 0);
  rec_t r = { 0 };
  publish_n(h, "c", 5, 0, &r);
  const char *ep;
  size_t el;
  uint64_t top;
  CHECK_INT(wsk_hub_position(h, "c", 1, &top, &ep, &el), 1);
  char epoch[32];
  snprintf(epoch, sizeof epoch, "%.*s", (int)el, ep);
  r.n = 0;
  CHECK_INT(sub_since(h, &A, "c", 1, 2, epoch, &r, 0, NULL), 0);
  CHECK_INT(r.o[0].kind, WSK_HUB_SUBSCRIBED);
  CHECK_INT(r.o[0].seq, 5);
  CHECK_INT(r.o[0].recovered, 1);
  CHECK_STR(seqs(&r, &A), "3,4,5");
  CHECK_INT(r.n, 4);
  /* live after the replay, in order */
  publish_n(h, "c", 1, 0, &r);
  CHECK_STR(seqs(&r, &A), "3,4,5,6");
  /* since == top: nothing to send, honoured */
  r.n = 0;
  CHECK_INT(sub_since(h, &B, "c", 1, 6, epoch, &r, 0, NULL), 0);
  CHECK_INT(r.n, 1);
  CHECK_INT(r.o[0].recovered, 1);
  /* since 0: all of it */
  r.n = 0;
  CHECK_INT(sub_since(h, &C, "c", 1, 0, epoch, &r, 0, NULL), 0);
  CHECK_STR(seqs(&r, &C), "1,2,3,4,5,6");
  CHECK_INT(r.o[0].recovered, 1);
  /* an empty epoch with since means the current one */
  r.n = 0;
  CHECK_INT(sub_since(h, &C, "c", 1, 4, "", &r, 0, NULL), 0);
  CHECK_STR(seqs(&r, &C), "5,6");
  wsk_hub_free(h);
}

TEST(local_gap_when_history_is_shorter_than_asked) {
  wsk_hub_t *h = hub_with(3, 0, 0, 0);
  rec_t r = { 0 };
  publish_n(h, "c", 10, 0, &r);
  r.n = 0;
  CHECK_INT(sub_since(h, &A, "c", 1, 2, "", &r, 0, NULL), 0);
  CHECK_INT(r.o[0].kind, WSK_HUB_SUBSCRIBED);
  CHECK_INT(r.o[0].recovered, 0);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_INT(r.o[1].from, 3);
  CHECK_INT(r.o[1].to, 7);
  CHECK_STR(r.o[1].reason, "expired");
  CHECK(strstr(r.o[1].json, "\"from\":3,\"to\":7,\"reason\":\"expired\"") != NULL);
  CHECK_STR(seqs(&r, &A), "8,9,10");
  /* since 7: exactly the history: no gap */
  r.n = 0;
  CHECK_INT(sub_since(h, &B, "c", 1, 7, "", &r, 0, NULL), 0);
  CHECK_INT(r.o[0].recovered, 1);
  CHECK_INT(r.n, 4);
  /* since 6: one seq short */
  r.n = 0;
  CHECK_INT(sub_since(h, &B, "c", 1, 6, "", &r, 0, NULL), 0);
  CHECK_INT(r.o[1].from, 7);
  CHECK_INT(r.o[1].to, 7);
  wsk_hub_free(h);
}

TEST(local_no_history_gives_a_gap_up_to_top) {
  wsk_hub_t *h = hub_with(0, 0, 0, 0);
  rec_t r = { 0 };
  publish_n(h, "c", 3, 0, &r);
  r.n = 0;
  CHECK_INT(sub_since(h, &A, "c", 1, 1, "", &r, 0, NULL), 0);
  CHECK_INT(r.n, 2);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_INT(r.o[1].from, 2);
  CHECK_INT(r.o[1].to, 3);
  CHECK_STR(r.o[1].reason, "expired");
  wsk_hub_free(h);
}

TEST(local_history_age_limit) {
  wsk_hub_t *h = hub_with(100, 1000, 0, 0);
  rec_t r = { 0 };
  publish_n(h, "c", 2, 0, &r);   /* seqs 1, 2 at t=0 */
  publish_n(h, "c", 1, 500, &r); /* seq 3 at t=500 */
  r.n = 0;
  CHECK_INT(sub_since(h, &A, "c", 1, 0, "", &r, 1000, NULL), 0); /* age 1000: kept */
  CHECK_STR(seqs(&r, &A), "1,2,3");
  r.n = 0;
  CHECK_INT(sub_since(h, &A, "c", 1, 0, "", &r, 1001, NULL), 0); /* 1001: gone */
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_INT(r.o[1].from, 1);
  CHECK_INT(r.o[1].to, 2);
  CHECK_STR(seqs(&r, &A), "3");
  r.n = 0;
  CHECK_INT(sub_since(h, &A, "c", 1, 0, "", &r, 1501, NULL), 0);
  CHECK_INT(r.o[1].from, 1);
  CHECK_INT(r.o[1].to, 3);
  CHECK_STR(seqs(&r, &A), "");
  wsk_hub_free(h);
}

TEST(local_history_byte_limit) {
  wsk_hub_t *h = hub_with(100, 0, 10, 0);
  rec_t r = { 0 };
  for (int i = 0; i < 5; i++) {
    wsk_chan_msg_t m = text("c", "abcd"); /* 4 bytes: two fit in 10 */
    wsk_hub_publish(h, &m, 0, on_out, &r);
  }
  r.n = 0;
  CHECK_INT(sub_since(h, &A, "c", 1, 0, "", &r, 0, NULL), 0);
  CHECK_INT(r.o[1].from, 1);
  CHECK_INT(r.o[1].to, 3);
  CHECK_STR(seqs(&r, &A), "4,5");
  wsk_chan_msg_t big = text("c", "0123456789A"); /* 11 bytes: over alone */
  wsk_hub_publish(h, &big, 0, on_out, &r);
  r.n = 0;
  CHECK_INT(sub_since(h, &B, "c", 1, 5, "", &r, 0, NULL), 0);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_INT(r.o[1].from, 6);
  CHECK_INT(r.o[1].to, 6);
  wsk_chan_msg_t ten = text("c", "0123456789"); /* exactly the bound: kept */
  wsk_hub_publish(h, &ten, 0, on_out, &r);
  r.n = 0;
  CHECK_INT(sub_since(h, &B, "c", 1, 6, "", &r, 0, NULL), 0);
  CHECK_STR(seqs(&r, &B), "7");
  CHECK_INT(r.o[0].recovered, 1);
  wsk_hub_free(h);
}

TEST(local_other_epoch_is_an_epoch_gap_without_replay) {
  wsk_hub_t *h = hub_with(100, 0, 0, 0);
  rec_t r = { 0 };
  publish_n(h, "c", 5, 0, &r);
  r.n = 0;
  CHECK_INT(sub_since(h, &A, "c", 1, 3, "oldepoch", &r, 0, NULL), 0);
  CHECK_INT(r.n, 2);
  CHECK_INT(r.o[0].recovered, 0);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_STR(r.o[1].reason, "epoch");
  CHECK_INT(r.o[1].from, 1);
  CHECK_INT(r.o[1].to, 5);
  CHECK_STR(r.o[1].epoch, r.o[0].epoch); /* in the new epoch */
  publish_n(h, "c", 1, 0, &r);
  CHECK_STR(seqs(&r, &A), "6"); /* live from there */
  /* a since past the top of the same epoch cannot be honoured either */
  r.n = 0;
  CHECK_INT(sub_since(h, &B, "c", 1, 99, "", &r, 0, NULL), 0);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_STR(r.o[1].reason, "epoch");
  CHECK_INT(r.o[1].to, 6);
  /* a channel that never had anything: a gap of the empty range 1..0 */
  r.n = 0;
  CHECK_INT(sub_since(h, &B, "fresh", 1, 4, "gone", &r, 0, NULL), 0);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_INT(r.o[1].from, 1);
  CHECK_INT(r.o[1].to, 0);
  wsk_hub_free(h);
}

TEST(local_resubscribe_starts_over_and_echoes_id) {
  wsk_hub_t *h = hub_with(100, 0, 0, 0);
  rec_t r = { 0 };
  publish_n(h, "c", 3, 0, &r);
  wsk_hub_subscribe_t q = { "c", 1, 1, 1, NULL, 0, "\"req-1\"", 7 };
  r.n = 0;
  CHECK_INT(wsk_hub_subscribe(h, &A, &q, 0, NULL, on_out, &r), 0);
  CHECK(strstr(r.o[0].json, ",\"id\":\"req-1\"}") != NULL);
  CHECK_STR(seqs(&r, &A), "2,3");
  q.since = 2;
  q.id = "42";
  q.id_len = 2;
  r.n = 0;
  CHECK_INT(wsk_hub_subscribe(h, &A, &q, 0, NULL, on_out, &r), 0);
  CHECK(strstr(r.o[0].json, ",\"id\":42}") != NULL);
  CHECK_STR(seqs(&r, &A), "3"); /* the position was reset: 3 again */
  CHECK_INT(wsk_hub_count(h, "c", 1), 1);
  q.id = "{}"; /* ids are numbers or strings */
  CHECK_INT(wsk_hub_subscribe(h, &A, &q, 0, NULL, on_out, &r), WSK_EINVAL);
  q.id = "[1"; /* not JSON */
  CHECK_INT(wsk_hub_subscribe(h, &A, &q, 0, NULL, on_out, &r), WSK_EINVAL);
  wsk_hub_free(h);
}

TEST(subscribe_refuses_bad_input_and_too_many) {
  wsk_hub_opts_t o;
  wsk_hub_opts_init(&o);
  o.max_subscriptions = 2;
  wsk_hub_t *h = wsk_hub_new(&o, NULL);
  rec_t r = { 0 };
  CHECK_INT(sub_since(h, &A, "", 0, 0, NULL, &r, 0, NULL), WSK_EINVAL);
  char name[WSK_CHANNEL_MAX_NAME + 2];
  memset(name, 'n', sizeof name);
  name[WSK_CHANNEL_MAX_NAME] = 0;
  CHECK_INT(sub_since(h, &A, name, 0, 0, NULL, &r, 0, NULL), 0); /* 1024 bytes: fine */
  name[WSK_CHANNEL_MAX_NAME] = 'n';
  name[WSK_CHANNEL_MAX_NAME + 1] = 0;
  CHECK_INT(sub_since(h, &A, name, 0, 0, NULL, &r, 0, NULL), WSK_EINVAL);
  char ep[66];
  memset(ep, 'e', 65);
  ep[65] = 0;
  CHECK_INT(sub_since(h, &A, "x", 1, 1, ep, &r, 0, NULL), WSK_EINVAL);
  ep[64] = 0;
  CHECK_INT(sub_since(h, &A, "x", 1, 1, ep, &r, 0, NULL), 0); /* 64: fine */
  CHECK_INT(sub_since(h, NULL, "x", 0, 0, NULL, &r, 0, NULL), WSK_EINVAL);
  /* max_subscriptions: the third channel is refused, re-subscribing is not */
  CHECK_INT(sub_since(h, &A, "y", 0, 0, NULL, &r, 0, NULL), WSK_E2BIG);
  CHECK_INT(sub_since(h, &A, "x", 0, 0, NULL, &r, 0, NULL), 0);
  CHECK_INT(wsk_hub_is_member(h, &A, "y", 1), 0);
  CHECK_INT(sub_since(h, &B, "y", 0, 0, NULL, &r, 0, NULL), 0); /* per subscriber */
  CHECK_INT(wsk_hub_unsubscribe(h, &A, "x", 1), 1);
  CHECK_INT(sub_since(h, &A, "y", 0, 0, NULL, &r, 0, NULL), 0);
  wsk_chan_msg_t m = text("", "x");
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), WSK_EINVAL);
  wsk_hub_free(h);
}

TEST(local_idle_channels_forgotten_least_recently_used_first) {
  wsk_hub_opts_t o;
  wsk_hub_opts_init(&o);
  o.max_channels = 2;
  wsk_hub_t *h = wsk_hub_new(&o, NULL);
  rec_t r = { 0 };
  publish_n(h, "a", 1, 0, &r);
  publish_n(h, "b", 1, 0, &r);
  publish_n(h, "a", 1, 0, &r); /* a is now more recent than b */
  publish_n(h, "c", 1, 0, &r); /* over: b goes */
  uint64_t top;
  CHECK_INT(wsk_hub_position(h, "a", 1, &top, NULL, NULL), 1);
  CHECK_INT(top, 2);
  CHECK_INT(wsk_hub_position(h, "b", 1, &top, NULL, NULL), 0);
  CHECK_INT(wsk_hub_position(h, "c", 1, &top, NULL, NULL), 1);
  /* channels with subscribers are never forgotten */
  sub_since(h, &A, "a", 0, 0, NULL, &r, 0, NULL);
  sub_since(h, &A, "c", 0, 0, NULL, &r, 0, NULL);
  publish_n(h, "d", 1, 0, &r);
  publish_n(h, "e", 1, 0, &r); /* d (idle) goes, a and c stay */
  CHECK_INT(wsk_hub_position(h, "a", 1, &top, NULL, NULL), 1);
  CHECK_INT(wsk_hub_position(h, "c", 1, &top, NULL, NULL), 1);
  CHECK_INT(wsk_hub_position(h, "d", 1, &top, NULL, NULL), 0);
  CHECK_INT(wsk_hub_position(h, "e", 1, &top, NULL, NULL), 1);
  /* a forgotten channel starts a new epoch: resumers get an epoch gap */
  const char *ep;
  size_t el;
  wsk_hub_position(h, "e", 1, &top, &ep, &el);
  char old[32];
  snprintf(old, sizeof old, "%.*s", (int)el, ep);
  wsk_hub_unsubscribe(h, &A, "a", 1); /* a idle now, more recent than e */
  publish_n(h, "f", 1, 0, &r);        /* e goes */
  r.n = 0;
  CHECK_INT(sub_since(h, &B, "e", 1, 1, old, &r, 0, NULL), 0);
  CHECK(strcmp(r.o[0].epoch, old) != 0);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_STR(r.o[1].reason, "epoch");
  wsk_hub_free(h);
}

TEST(membership_queries_unsubscribe_and_drop) {
  wsk_hub_t *h = hub_with(100, 0, 0, 0);
  rec_t r = { 0 };
  sub_since(h, &A, "x", 0, 0, NULL, &r, 0, NULL);
  sub_since(h, &A, "y", 0, 0, NULL, &r, 0, NULL);
  sub_since(h, &B, "x", 0, 0, NULL, &r, 0, NULL);
  CHECK_INT(wsk_hub_count(h, "x", 1), 2);
  CHECK_INT(wsk_hub_count(h, "y", 1), 1);
  CHECK_INT(wsk_hub_count(h, "z", 1), 0);
  CHECK_INT(wsk_hub_is_member(h, &B, "x", 1), 1);
  CHECK_INT(wsk_hub_is_member(h, &B, "y", 1), 0);
  void *mem[4];
  CHECK_INT(wsk_hub_members(h, "x", 1, mem, 4), 2);
  CHECK((mem[0] == &A && mem[1] == &B) || (mem[0] == &B && mem[1] == &A));
  CHECK_INT(wsk_hub_members(h, "x", 1, mem, 1), 2); /* the count, one written */
  CHECK_INT(wsk_hub_channels(h, NULL, NULL), 2);
  CHECK_INT(wsk_hub_unsubscribe(h, &B, "x", 1), 1);
  CHECK_INT(wsk_hub_unsubscribe(h, &B, "x", 1), 0);
  CHECK_INT(wsk_hub_drop(h, &A), 2);
  CHECK_INT(wsk_hub_drop(h, &A), 0);
  CHECK_INT(wsk_hub_count(h, "x", 1), 0);
  CHECK_INT(wsk_hub_channels(h, NULL, NULL), 0);
  /* resync is for a backplane: nothing to do in local mode */
  int64_t fetch = 5;
  CHECK_INT(wsk_hub_resync(h, "x", 1, &fetch), 0);
  CHECK_INT(fetch, -1);
  /* nobody gets messages now; the history is still kept */
  r.n = 0;
  publish_n(h, "x", 2, 0, &r);
  CHECK_INT(r.n, 0);
  wsk_hub_free(h);
}

TEST(many_subscribers_and_channels) {
  wsk_hub_t *h = hub_with(10, 0, 0, 0);
  static int subs[300];
  rec_t r = { 0 };
  char ch[16];
  for (int i = 0; i < 300; i++)
    for (int k = 0; k < 20; k++) {
      snprintf(ch, sizeof ch, "ch%d", (i + k) % 50);
      r.n = 0;
      CHECK_INT(sub_since(h, &subs[i], ch, 0, 0, NULL, &r, 0, NULL), 0);
    }
  CHECK_INT(wsk_hub_channels(h, NULL, NULL), 50);
  size_t total = 0;
  for (int c = 0; c < 50; c++) {
    snprintf(ch, sizeof ch, "ch%d", c);
    total += wsk_hub_count(h, ch, strlen(ch));
  }
  CHECK_INT(total, 6000);
  for (int i = 0; i < 300; i += 2) CHECK_INT(wsk_hub_drop(h, &subs[i]), 20);
  r.n = 0;
  wsk_chan_msg_t m = text("ch7", "x");
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), 1);
  CHECK_INT(r.n, 60); /* 120 subscribed to ch7, half dropped */
  wsk_hub_free(h); /* frees what is left */
}

/* ---- external mode ---- */

TEST(external_subscribe_recovers_then_delivers_held_once) {
  wsk_hub_t *h = hub_with(100, 0, 0, 1);
  rec_t r = { 0 };
  int64_t fetch = 99;
  CHECK_INT(sub_since(h, &A, "c", 0, 0, NULL, &r, 0, &fetch), WSK_EAGAIN);
  CHECK_INT(fetch, -1);
  CHECK_INT(r.n, 0);
  CHECK_INT(wsk_hub_count(h, "c", 1), 1);
  /* live messages while the fetch is out are held */
  wsk_chan_msg_t m5 = numbered("c", "E1", 5, "five"), m6 = numbered("c", "E1", 6, "six");
  CHECK_INT(wsk_hub_dispatch(h, &m5, 0, on_out, &r), 0);
  CHECK_INT(wsk_hub_dispatch(h, &m6, 0, on_out, &r), 0);
  CHECK_INT(r.n, 0);
  wsk_hub_history_t hist = { "E1", 2, 5, NULL, 0 };
  CHECK_INT(wsk_hub_recovered(h, &A, "c", 1, &hist, 0, on_out, &r), 0);
  CHECK_INT(r.o[0].kind, WSK_HUB_SUBSCRIBED);
  CHECK_INT(r.o[0].seq, 5);
  CHECK_STR(r.o[0].epoch, "E1");
  CHECK_INT(r.o[0].recovered, 0);
  CHECK_STR(seqs(&r, &A), "6"); /* 5 was already in the position */
  CHECK_INT(r.n, 2);
  /* now live; a repeat is dropped */
  CHECK_INT(wsk_hub_dispatch(h, &m6, 0, on_out, &r), 0);
  wsk_chan_msg_t m7 = numbered("c", "E1", 7, "seven");
  CHECK_INT(wsk_hub_dispatch(h, &m7, 0, on_out, &r), 1);
  CHECK_STR(seqs(&r, &A), "6,7");
  CHECK_STR(r.o[r.n - 1].payload, "seven");
  /* nobody recovering any more */
  CHECK_INT(wsk_hub_recovered(h, &A, "c", 1, &hist, 0, on_out, &r), WSK_ENOTFOUND);
  CHECK_INT(wsk_hub_recovered(h, &B, "c", 1, &hist, 0, on_out, &r), WSK_ENOTFOUND);
  CHECK_INT(wsk_hub_recovered(h, NULL, "zz", 2, &hist, 0, on_out, &r), WSK_ENOTFOUND);
  /* publishing is the backplane's job here */
  CHECK_INT(wsk_hub_publish(h, &m7, 0, on_out, &r), WSK_ESTATE);
  CHECK_INT(wsk_hub_position(h, "c", 1, NULL, NULL, NULL), 0);
  wsk_hub_free(h);
}

TEST(external_resume_history_and_held_overlap_delivered_once) {
  wsk_hub_t *h = hub_with(100, 0, 0, 1);
  rec_t r = { 0 };
  int64_t fetch;
  CHECK_INT(sub_since(h, &A, "c", 1, 2, "E1", &r, 0, &fetch), WSK_EAGAIN);
  CHECK_INT(fetch, 2);
  wsk_chan_msg_t held5 = numbered("c", "E1", 5, "5"), held6 = numbered("c", "E1", 6, "6");
  wsk_hub_dispatch(h, &held5, 0, on_out, &r);
  wsk_hub_dispatch(h, &held6, 0, on_out, &r);
  wsk_chan_msg_t hm[3] = { numbered("c", "E1", 3, "3"), numbered("c", "E1", 4, "4"),
                           numbered("c", "E1", 5, "5") };
  wsk_hub_history_t hist = { "E1", 2, 5, hm, 3 };
  CHECK_INT(wsk_hub_recovered(h, &A, "c", 1, &hist, 0, on_out, &r), 0);
  CHECK_INT(r.o[0].recovered, 1);
  CHECK_STR(seqs(&r, &A), "3,4,5,6");
  CHECK_INT(r.n, 5);
  wsk_hub_free(h);
}

TEST(external_gaps_expired_epoch_and_overflow) {
  wsk_hub_opts_t o;
  wsk_hub_opts_init(&o);
  o.external = 1;
  o.max_held = 2;
  wsk_hub_t *h = wsk_hub_new(&o, NULL);
  rec_t r = { 0 };
  /* history starts later than asked */
  sub_since(h, &A, "c", 1, 2, "E1", &r, 0, NULL);
  wsk_chan_msg_t hm[3] = { numbered("c", "E1", 6, "6"), numbered("c", "E1", 7, "7"),
                           numbered("c", "E1", 8, "8") };
  wsk_hub_history_t hist = { "E1", 2, 8, hm, 3 };
  wsk_hub_recovered(h, &A, "c", 1, &hist, 0, on_out, &r);
  CHECK_INT(r.o[0].recovered, 0);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_INT(r.o[1].from, 3);
  CHECK_INT(r.o[1].to, 5);
  CHECK_STR(r.o[1].reason, "expired");
  CHECK_STR(seqs(&r, &A), "6,7,8");
  /* nothing left but top > since */
  r.n = 0;
  sub_since(h, &B, "c", 1, 2, "E1", &r, 0, NULL);
  wsk_hub_history_t none = { "E1", 2, 8, NULL, 0 };
  wsk_hub_recovered(h, &B, "c", 1, &none, 0, on_out, &r);
  CHECK_INT(r.o[1].from, 3);
  CHECK_INT(r.o[1].to, 8);
  /* another epoch: an epoch gap up to the new top, no replay; live then */
  r.n = 0;
  sub_since(h, &C, "d", 1, 9, "OLD", &r, 0, NULL);
  wsk_chan_msg_t n1 = numbered("d", "NEW", 5, "new5");
  wsk_hub_dispatch(h, &n1, 0, on_out, &r);
  wsk_chan_msg_t dm[2] = { numbered("d", "NEW", 3, "3"), numbered("d", "NEW", 4, "4") };
  wsk_hub_history_t nh = { "NEW", 3, 4, dm, 2 };
  wsk_hub_recovered(h, &C, "d", 1, &nh, 0, on_out, &r);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_STR(r.o[1].reason, "epoch");
  CHECK_INT(r.o[1].from, 1);
  CHECK_INT(r.o[1].to, 4);
  CHECK_STR(seqs(&r, &C), "5");
  /* too many held while recovering: the oldest dropped, reported */
  r.n = 0;
  wsk_hub_unsubscribe(h, &A, "c", 1);
  sub_since(h, &A, "c", 1, 8, "E1", &r, 0, NULL);
  for (uint64_t s = 9; s <= 12; s++) {
    char p[8];
    snprintf(p, sizeof p, "%llu", (unsigned long long)s);
    wsk_chan_msg_t m = numbered("c", "E1", s, p);
    wsk_hub_dispatch(h, &m, 0, on_out, &r); /* B (live) gets them now */
  }
  r.n = 0;
  wsk_hub_history_t h8 = { "E1", 2, 8, NULL, 0 };
  CHECK_INT(wsk_hub_recovered(h, &A, "c", 1, &h8, 0, on_out, &r), 0);
  CHECK_INT(r.o[0].kind, WSK_HUB_SUBSCRIBED);
  CHECK_INT(r.o[1].kind, WSK_HUB_GAP);
  CHECK_STR(r.o[1].reason, "overflow");
  CHECK_INT(r.o[1].from, 9);
  CHECK_INT(r.o[1].to, 10);
  CHECK_STR(seqs(&r, &A), "11,12");
  /* but when the history already covers the dropped ones: no gap */
  r.n = 0;
  wsk_hub_unsubscribe(h, &A, "c", 1);
  sub_since(h, &A, "c", 1, 8, "E1", &r, 0, NULL);
  for (uint64_t s = 11; s <= 14; s++) {
    wsk_chan_msg_t m = numbered("c", "E1", s, "x");
    wsk_hub_dispatch(h, &m, 0, on_out, &r);
  }
  r.n = 0;
  wsk_chan_msg_t cover[4] = { numbered("c", "E1", 9, "9"), numbered("c", "E1", 10, "10"),
                              numbered("c", "E1", 11, "11"), numbered("c", "E1", 12, "12") };
  wsk_hub_history_t h12 = { "E1", 2, 12, cover, 4 };
  wsk_hub_recovered(h, &A, "c", 1, &h12, 0, on_out, &r);
  CHECK_INT(r.o[1].kind, WSK_HUB_MESSAGE);
  CHECK_STR(seqs(&r, &A), "9,10,11,12,13,14");
  wsk_hub_free(h);
}

TEST(external_live_epoch_change_and_jump_are_gaps) {
  wsk_hub_t *h = hub_with(100, 0, 0, 1);
  rec_t r = { 0 };
  sub_since(h, &A, "c", 0, 0, NULL, &r, 0, NULL);
  wsk_hub_history_t hist = { "E1", 2, 5, NULL, 0 };
  wsk_hub_recovered(h, &A, "c", 1, &hist, 0, on_out, &r);
  r.n = 0;
  wsk_chan_msg_t j = numbered("c", "E1", 8, "8");
  CHECK_INT(wsk_hub_dispatch(h, &j, 0, on_out, &r), 1);
  CHECK_INT(r.o[0].kind, WSK_HUB_GAP);
  CHECK_INT(r.o[0].from, 6);
  CHECK_INT(r.o[0].to, 7);
  CHECK_INT(r.o[1].seq, 8);
  r.n = 0;
  wsk_chan_msg_t e = numbered("c", "E2", 3, "3");
  CHECK_INT(wsk_hub_dispatch(h, &e, 0, on_out, &r), 1);
  CHECK_INT(r.o[0].kind, WSK_HUB_GAP);
  CHECK_STR(r.o[0].reason, "epoch");
  CHECK_STR(r.o[0].epoch, "E2");
  CHECK_INT(r.o[0].from, 1);
  CHECK_INT(r.o[0].to, 2);
  CHECK_INT(r.o[1].seq, 3);
  CHECK_STR(r.o[1].epoch, "E2");
  /* an old-epoch message after that is a change again, never a dup */
  wsk_chan_msg_t bad = numbered("", "E2", 3, "3");
  CHECK_INT(wsk_hub_dispatch(h, &bad, 0, on_out, &r), 0);
  wsk_chan_msg_t zero = numbered("c", "E2", 0, "3");
  CHECK_INT(wsk_hub_dispatch(h, &zero, 0, on_out, &r), 0);
  wsk_hub_free(h);
}

TEST(external_resync_catches_up_every_subscriber_from_its_own_position) {
  wsk_hub_t *h = hub_with(100, 0, 0, 1);
  rec_t r = { 0 };
  sub_since(h, &A, "c", 0, 0, NULL, &r, 0, NULL);
  sub_since(h, &B, "c", 0, 0, NULL, &r, 0, NULL);
  wsk_hub_history_t h5 = { "E1", 2, 5, NULL, 0 };
  wsk_hub_recovered(h, &A, "c", 1, &h5, 0, on_out, &r);
  wsk_hub_history_t h7 = { "E1", 2, 7, NULL, 0 };
  wsk_hub_recovered(h, &B, "c", 1, &h7, 0, on_out, &r);
  /* C is still waiting for its own fetch when the backplane comes back */
  sub_since(h, &C, "c", 1, 3, "E1", &r, 0, NULL);
  int64_t fetch;
  CHECK_INT(wsk_hub_resync(h, "c", 1, &fetch), 3);
  CHECK_INT(fetch, 3);
  wsk_chan_msg_t m9 = numbered("c", "E1", 9, "9");
  CHECK_INT(wsk_hub_dispatch(h, &m9, 0, on_out, &r), 0); /* held for all */
  r.n = 0;
  wsk_chan_msg_t hm[5] = { numbered("c", "E1", 4, "4"), numbered("c", "E1", 5, "5"),
                           numbered("c", "E1", 6, "6"), numbered("c", "E1", 7, "7"),
                           numbered("c", "E1", 8, "8") };
  wsk_hub_history_t hist = { "E1", 2, 8, hm, 5 };
  CHECK_INT(wsk_hub_recovered(h, NULL, "c", 1, &hist, 0, on_out, &r), 0);
  CHECK_STR(seqs(&r, &A), "6,7,8,9");
  CHECK_STR(seqs(&r, &B), "8,9");
  CHECK_STR(seqs(&r, &C), "4,5,6,7,8,9");
  int subscribed = 0;
  for (int i = 0; i < r.n; i++) subscribed += r.o[i].kind == WSK_HUB_SUBSCRIBED;
  CHECK_INT(subscribed, 1); /* only C's, which was owed */
  CHECK_INT(wsk_hub_recovered(h, &C, "c", 1, &hist, 0, on_out, &r), WSK_ENOTFOUND);
  /* all live again */
  r.n = 0;
  wsk_chan_msg_t m10 = numbered("c", "E1", 10, "10");
  CHECK_INT(wsk_hub_dispatch(h, &m10, 0, on_out, &r), 3);
  /* resync of a channel nobody has */
  CHECK_INT(wsk_hub_resync(h, "none", 4, &fetch), 0);
  CHECK_INT(fetch, -1);
  wsk_hub_free(h);
}

TEST(external_resync_to_a_new_epoch) {
  wsk_hub_t *h = hub_with(100, 0, 0, 1);
  rec_t r = { 0 };
  sub_since(h, &A, "c", 0, 0, NULL, &r, 0, NULL);
  wsk_hub_history_t h5 = { "E1", 2, 5, NULL, 0 };
  wsk_hub_recovered(h, &A, "c", 1, &h5, 0, on_out, &r);
  int64_t fetch;
  CHECK_INT(wsk_hub_resync(h, "c", 1, &fetch), 1);
  CHECK_INT(fetch, 5);
  r.n = 0;
  wsk_hub_history_t n = { "E2", 2, 2, NULL, 0 }; /* Redis lost the channel */
  CHECK_INT(wsk_hub_recovered(h, NULL, "c", 1, &n, 0, on_out, &r), 0);
  CHECK_INT(r.n, 1);
  CHECK_INT(r.o[0].kind, WSK_HUB_GAP);
  CHECK_STR(r.o[0].reason, "epoch");
  CHECK_INT(r.o[0].to, 2);
  wsk_chan_msg_t m3 = numbered("c", "E2", 3, "3");
  CHECK_INT(wsk_hub_dispatch(h, &m3, 0, on_out, &r), 1);
  CHECK_INT(r.n, 2); /* no second gap */
  wsk_hub_free(h);
}

TEST(external_channel_forgotten_with_its_last_subscriber) {
  wsk_hub_t *h = hub_with(100, 0, 0, 1);
  rec_t r = { 0 };
  sub_since(h, &A, "c", 0, 0, NULL, &r, 0, NULL);
  CHECK_INT(wsk_hub_channels(h, NULL, NULL), 1);
  CHECK_INT(wsk_hub_unsubscribe(h, &A, "c", 1), 1);
  CHECK_INT(wsk_hub_channels(h, NULL, NULL), 0);
  /* a recovered() for it now is not an error, just nobody */
  wsk_hub_history_t hist = { "E1", 2, 5, NULL, 0 };
  CHECK_INT(wsk_hub_recovered(h, &A, "c", 1, &hist, 0, on_out, &r), WSK_ENOTFOUND);
  wsk_chan_msg_t m = numbered("c", "E1", 6, "6");
  CHECK_INT(wsk_hub_dispatch(h, &m, 0, on_out, &r), 0);
  CHECK_INT(r.n, 0);
  wsk_hub_free(h);
}

static void name_cb(void *ud, const char *name, size_t len) {
  char *s = ud;
  strncat(s, name, len);
  strcat(s, ";");
}

TEST(channels_lists_each_channel_with_subscribers) {
  wsk_hub_t *h = hub_with(100, 0, 0, 0);
  rec_t r = { 0 };
  sub_since(h, &A, "one", 0, 0, NULL, &r, 0, NULL);
  publish_n(h, "idle", 1, 0, &r);
  char names[64] = "";
  CHECK_INT(wsk_hub_channels(h, name_cb, names), 1);
  CHECK_STR(names, "one;");
  wsk_hub_free(h);
}

TEST(control_characters_in_channel_names_refused) {
  wsk_hub_t *h = hub_with(10, 0, 0, 0);
  rec_t r = { 0 };
  const char *bad[] = { "a\nb", "\x7f", "tab\t", "\x01" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_INT(sub_since(h, &A, bad[i], 0, 0, NULL, &r, 0, NULL), WSK_EINVAL);
    wsk_chan_msg_t m = text(bad[i], "x");
    CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), WSK_EINVAL);
  }
  /* a NUL inside the name (length given) too */
  wsk_hub_subscribe_t q;
  memset(&q, 0, sizeof q);
  q.channel = "a\0b";
  q.channel_len = 3;
  CHECK_INT(wsk_hub_subscribe(h, &A, &q, 0, NULL, on_out, &r), WSK_EINVAL);
  wsk_chan_msg_t m = text("a", "x");
  m.channel = "a\0b";
  m.channel_len = 3;
  CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, &r), WSK_EINVAL);
  CHECK_INT(r.n, 0);
  CHECK_INT(sub_since(h, &A, " ~\xc3\xa9", 0, 0, NULL, &r, 0, NULL), 0);
  wsk_hub_free(h);
}

int main(void) {
  RUN(local_subscribe_then_publish);
  RUN(local_payload_kinds);
  RUN(local_resume_replays_what_was_missed_exactly_once);
  RUN(local_gap_when_history_is_shorter_than_asked);
  RUN(local_no_history_gives_a_gap_up_to_top);
  RUN(local_history_age_limit);
  RUN(local_history_byte_limit);
  RUN(local_other_epoch_is_an_epoch_gap_without_replay);
  RUN(local_resubscribe_starts_over_and_echoes_id);
  RUN(subscribe_refuses_bad_input_and_too_many);
  RUN(control_characters_in_channel_names_refused);
  RUN(local_idle_channels_forgotten_least_recently_used_first);
  RUN(membership_queries_unsubscribe_and_drop);
  RUN(many_subscribers_and_channels);
  RUN(external_subscribe_recovers_then_delivers_held_once);
  RUN(external_resume_history_and_held_overlap_delivered_once);
  RUN(external_gaps_expired_epoch_and_overflow);
  RUN(external_live_epoch_change_and_jump_are_gaps);
  RUN(external_resync_catches_up_every_subscriber_from_its_own_position);
  RUN(external_resync_to_a_new_epoch);
  RUN(external_channel_forgotten_with_its_last_subscriber);
  RUN(channels_lists_each_channel_with_subscribers);
  return test_summary();
}
