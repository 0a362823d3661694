/* The client's side of resume: tracking, duplicates, gaps, epochs and the
 * resubscribe messages, fed with frames parsed from real protocol text. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <wskit/chanproto.h>

#define S(lit) (lit), (sizeof(lit) - 1)

static uint8_t scratch[4096];
static wsk_chan_frame_t f;

/* Parse a server message and feed it. */
static wsk_chan_verdict_t feed(wsk_chan_client_t *cc, const char *json) {
  const char *why;
  if (wsk_chan_parse(json, strlen(json), scratch, &f, &why) != 0) {
    fprintf(stderr, "unparsable test frame %s: %s\n", json, why);
    abort();
  }
  return wsk_chan_client_on_frame(cc, &f);
}

static wsk_chan_verdict_t msg(wsk_chan_client_t *cc, const char *ch, unsigned seq, const char *epoch) {
  char buf[256];
  snprintf(buf, sizeof buf, "{\"type\":\"message\",\"channel\":\"%s\",\"seq\":%u,\"epoch\":\"%s\",\"data\":1}",
           ch, seq, epoch);
  return feed(cc, buf);
}

static uint64_t pos(wsk_chan_client_t *cc, const char *ch, const char **ep, size_t *eplen) {
  uint64_t seq = 999;
  if (!wsk_chan_client_position(cc, ch, strlen(ch), &seq, ep, eplen)) return 12345;
  return seq;
}

TEST(client_add_remove_count) {
  wsk_chan_client_t *cc = wsk_chan_client_new();
  CHECK(cc != NULL);
  CHECK_INT(wsk_chan_client_count(cc), 0);
  CHECK_INT(wsk_chan_client_add(cc, S("a")), 0);
  CHECK_INT(wsk_chan_client_add(cc, S("a")), 0); /* no-op */
  CHECK_INT(wsk_chan_client_add(cc, S("b")), 0);
  CHECK_INT(wsk_chan_client_count(cc), 2);
  CHECK_INT(wsk_chan_client_remove(cc, S("a")), 1);
  CHECK_INT(wsk_chan_client_remove(cc, S("a")), 0);
  CHECK_INT(wsk_chan_client_remove(cc, S("zz")), 0);
  CHECK_INT(wsk_chan_client_count(cc), 1);
  CHECK_INT(wsk_chan_client_add(cc, "", 0), WSK_EINVAL);
  CHECK_INT(wsk_chan_client_add(cc, NULL, 3), WSK_EINVAL);
  CHECK_INT(wsk_chan_client_add(cc, S("a\0")), WSK_EINVAL);
  CHECK_INT(wsk_chan_client_add(cc, S("a\x7f")), WSK_EINVAL);
  static char big[1025];
  memset(big, 'x', sizeof big);
  CHECK_INT(wsk_chan_client_add(cc, big, 1025), WSK_EINVAL);
  CHECK_INT(wsk_chan_client_add(cc, big, 1024), 0);
  CHECK_INT(wsk_chan_client_count(cc), 2);
  wsk_chan_client_free(cc);
  wsk_chan_client_free(NULL);
}

TEST(client_copies_channel_names) {
  wsk_chan_client_t *cc = wsk_chan_client_new();
  char name[8] = "temp";
  CHECK_INT(wsk_chan_client_add(cc, name, 4), 0);
  memcpy(name, "XXXX", 4);
  CHECK(pos(cc, "temp", NULL, NULL) != 12345);
  CHECK(pos(cc, "XXXX", NULL, NULL) == 12345);
  wsk_chan_client_free(cc);
}

TEST(client_many_channels_survive_churn) {
  /* grows the table and exercises backward-shift deletion */
  wsk_chan_client_t *cc = wsk_chan_client_new();
  char n[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(n, sizeof n, "ch%d", i);
    CHECK_INT(wsk_chan_client_add(cc, n, strlen(n)), 0);
  }
  CHECK_INT(wsk_chan_client_count(cc), 2000);
  for (int i = 0; i < 2000; i += 2) {
    snprintf(n, sizeof n, "ch%d", i);
    CHECK_INT(wsk_chan_client_remove(cc, n, strlen(n)), 1);
  }
  CHECK_INT(wsk_chan_client_count(cc), 1000);
  for (int i = 0; i < 2000; i++) {
    snprintf(n, sizeof n, "ch%d", i);
    int tracked = wsk_chan_client_position(cc, n, strlen(n), NULL, NULL, NULL);
    CHECK_INT(tracked, i % 2);
  }
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_chan_client_resubscribe(cc, &b), 1000);
  size_t lines = 0;
  for (size_t i = 0; i < b.len; i++) lines += b.data[i] == '\n';
  CHECK_INT(lines, 1000);
  wsk_buf_free(&b);
  wsk_chan_client_free(cc);
}

TEST(client_fresh_subscribe_starts_at_newest) {
  wsk_chan_client_t *cc = wsk_chan_client_new();
  wsk_chan_client_add(cc, S("c"));
  const char *ep;
  size_t eplen;
  CHECK_INT(pos(cc, "c", &ep, &eplen), 0);
  CHECK_INT(eplen, 0);
  CHECK_INT(feed(cc, "{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"E1\",\"seq\":10,\"recovered\":false}"),
            WSK_CHAN_IGNORE);
  CHECK_INT(pos(cc, "c", &ep, &eplen), 10);
  CHECK(eplen == 2 && memcmp(ep, "E1", 2) == 0);
  CHECK_INT(msg(cc, "c", 10, "E1"), WSK_CHAN_DUPLICATE);
  CHECK_INT(msg(cc, "c", 11, "E1"), WSK_CHAN_DELIVER);
  CHECK_INT(msg(cc, "c", 11, "E1"), WSK_CHAN_DUPLICATE);
  CHECK_INT(msg(cc, "c", 5, "E1"), WSK_CHAN_DUPLICATE);
  CHECK_INT(msg(cc, "c", 13, "E1"), WSK_CHAN_DELIVER); /* a hole without a gap frame still delivers */
  CHECK_INT(msg(cc, "c", 12, "E1"), WSK_CHAN_DUPLICATE);
  CHECK_INT(pos(cc, "c", NULL, NULL), 13);
  wsk_chan_client_free(cc);
}

TEST(client_ignores_untracked_and_non_messages) {
  wsk_chan_client_t *cc = wsk_chan_client_new();
  wsk_chan_client_add(cc, S("c"));
  CHECK_INT(msg(cc, "other", 1, "E"), WSK_CHAN_IGNORE);
  CHECK_INT(feed(cc, "{\"type\":\"published\",\"channel\":\"c\",\"seq\":3}"), WSK_CHAN_IGNORE);
  CHECK_INT(feed(cc, "{\"type\":\"unsubscribed\",\"channel\":\"c\"}"), WSK_CHAN_IGNORE);
  CHECK_INT(feed(cc, "{\"type\":\"error\",\"code\":\"x\",\"message\":\"y\",\"channel\":\"c\"}"), WSK_CHAN_IGNORE);
  CHECK_INT(feed(cc, "{\"type\":\"subscribe\",\"channel\":\"c\"}"), WSK_CHAN_IGNORE);
  CHECK_INT(pos(cc, "c", NULL, NULL), 0);
  CHECK_INT(wsk_chan_client_on_frame(cc, NULL), WSK_CHAN_IGNORE);
  wsk_chan_client_remove(cc, S("c"));
  CHECK_INT(msg(cc, "c", 1, "E"), WSK_CHAN_IGNORE);
  wsk_chan_client_free(cc);
}

TEST(client_resume_after_reconnect_delivers_each_once) {
  wsk_chan_client_t *cc = wsk_chan_client_new();
  wsk_chan_client_add(cc, S("news"));
  wsk_chan_client_add(cc, S("idle"));
  feed(cc, "{\"type\":\"subscribed\",\"channel\":\"news\",\"epoch\":\"E\",\"seq\":0,\"recovered\":false}");
  for (unsigned s = 1; s <= 4; s++) CHECK_INT(msg(cc, "news", s, "E"), WSK_CHAN_DELIVER);
  /* reconnect: one subscribe per channel, "since" only where known */
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_chan_client_resubscribe(cc, &b), 2);
  const char want[] = "{\"type\":\"subscribe\",\"channel\":\"news\",\"since\":4,\"epoch\":\"E\"}\n"
                      "{\"type\":\"subscribe\",\"channel\":\"idle\"}\n";
  CHECK(b.len == sizeof want - 1 && memcmp(b.data, want, b.len) == 0);
  /* the server answers and replays; an overlap with what came before the
   * drop is dropped, the rest delivered once */
  feed(cc, "{\"type\":\"subscribed\",\"channel\":\"news\",\"epoch\":\"E\",\"seq\":6,\"recovered\":true}");
  CHECK_INT(pos(cc, "news", NULL, NULL), 4);
  CHECK_INT(msg(cc, "news", 4, "E"), WSK_CHAN_DUPLICATE);
  CHECK_INT(msg(cc, "news", 5, "E"), WSK_CHAN_DELIVER);
  CHECK_INT(msg(cc, "news", 6, "E"), WSK_CHAN_DELIVER);
  CHECK_INT(msg(cc, "news", 6, "E"), WSK_CHAN_DUPLICATE);
  wsk_buf_free(&b);
  wsk_chan_client_free(cc);
}

TEST(client_gap_moves_position_to_its_end) {
  wsk_chan_client_t *cc = wsk_chan_client_new();
  wsk_chan_client_add(cc, S("c"));
  feed(cc, "{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"E\",\"seq\":3,\"recovered\":false}");
  CHECK_INT(feed(cc, "{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"E\",\"from\":4,\"to\":20,\"reason\":\"expired\"}"),
            WSK_CHAN_IGNORE);
  CHECK_INT(pos(cc, "c", NULL, NULL), 20);
  CHECK_INT(msg(cc, "c", 20, "E"), WSK_CHAN_DUPLICATE);
  CHECK_INT(msg(cc, "c", 21, "E"), WSK_CHAN_DELIVER);
  /* a gap behind the position does not move it back */
  feed(cc, "{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"E\",\"from\":1,\"to\":2,\"reason\":\"overflow\"}");
  CHECK_INT(pos(cc, "c", NULL, NULL), 21);
  wsk_chan_client_free(cc);
}

TEST(client_new_epoch_restarts_numbering) {
  wsk_chan_client_t *cc = wsk_chan_client_new();
  wsk_chan_client_add(cc, S("c"));
  feed(cc, "{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"E1\",\"seq\":50,\"recovered\":false}");
  CHECK_INT(msg(cc, "c", 51, "E1"), WSK_CHAN_DELIVER);
  /* the history was reset: seq 1 of E2 is new */
  CHECK_INT(msg(cc, "c", 1, "E2"), WSK_CHAN_DELIVER);
  const char *ep;
  size_t eplen;
  CHECK_INT(pos(cc, "c", &ep, &eplen), 1);
  CHECK(eplen == 2 && memcmp(ep, "E2", 2) == 0);
  CHECK_INT(msg(cc, "c", 1, "E2"), WSK_CHAN_DUPLICATE);
  /* resubscribing finds yet another epoch: nothing of it was seen */
  feed(cc, "{\"type\":\"subscribed\",\"channel\":\"c\",\"epoch\":\"E3\",\"seq\":9,\"recovered\":false}");
  CHECK_INT(pos(cc, "c", &ep, &eplen), 0);
  CHECK(eplen == 2 && memcmp(ep, "E3", 2) == 0);
  CHECK_INT(msg(cc, "c", 1, "E3"), WSK_CHAN_DELIVER);
  /* an epoch gap adopts the gap's epoch and end */
  feed(cc, "{\"type\":\"gap\",\"channel\":\"c\",\"epoch\":\"E4\",\"from\":1,\"to\":7,\"reason\":\"epoch\"}");
  CHECK_INT(pos(cc, "c", &ep, &eplen), 7);
  CHECK(eplen == 2 && memcmp(ep, "E4", 2) == 0);
  CHECK_INT(msg(cc, "c", 7, "E4"), WSK_CHAN_DUPLICATE);
  CHECK_INT(msg(cc, "c", 8, "E4"), WSK_CHAN_DELIVER);
  wsk_chan_client_free(cc);
}

TEST(client_resubscribe_round_trips_through_parser) {
  wsk_chan_client_t *cc = wsk_chan_client_new();
  wsk_chan_client_add(cc, S("a \"q\" \xc3\xa9"));
  wsk_chan_frame_t m = { 0 };
  m.type = WSK_CHAN_MESSAGE;
  m.channel = "a \"q\" \xc3\xa9";
  m.channel_len = strlen(m.channel);
  m.seq = UINT64_C(9007199254740991);
  m.epoch = "0123456789012345678901234567890123456789012345678901234567890123";
  m.epoch_len = 64;
  CHECK_INT(wsk_chan_client_on_frame(cc, &m), WSK_CHAN_DELIVER);
  m.epoch_len = 65; /* never valid: ignored */
  CHECK_INT(wsk_chan_client_on_frame(cc, &m), WSK_CHAN_IGNORE);
  wsk_buf_t b = { 0 };
  CHECK_INT(wsk_chan_client_resubscribe(cc, &b), 1);
  CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
  const char *why;
  CHECK_INT(wsk_chan_parse((char *)b.data, b.len - 1, scratch, &f, &why), 0);
  CHECK_INT(f.type, WSK_CHAN_SUBSCRIBE);
  CHECK(f.channel_len == m.channel_len && memcmp(f.channel, m.channel, f.channel_len) == 0);
  CHECK_INT(f.has_since, 1);
  CHECK(f.since == m.seq);
  CHECK(f.epoch_len == 64 && memcmp(f.epoch, m.epoch, 64) == 0);
  /* appends after what is there */
  CHECK_INT(wsk_chan_client_resubscribe(cc, &b), 1);
  CHECK(b.len % 2 == 0 && memcmp(b.data, b.data + b.len / 2, b.len / 2) == 0);
  wsk_buf_free(&b);
  wsk_chan_client_t *empty = wsk_chan_client_new();
  CHECK_INT(wsk_chan_client_resubscribe(empty, &b), 0);
  CHECK_INT(b.len, 0);
  wsk_chan_client_free(empty);
  wsk_chan_client_free(cc);
}

int main(void) {
  RUN(client_add_remove_count);
  RUN(client_copies_channel_names);
  RUN(client_many_channels_survive_churn);
  RUN(client_fresh_subscribe_starts_at_newest);
  RUN(client_ignores_untracked_and_non_messages);
  RUN(client_resume_after_reconnect_delivers_each_once);
  RUN(client_gap_moves_position_to_its_end);
  RUN(client_new_epoch_restarts_numbering);
  RUN(client_resubscribe_round_trips_through_parser);
  return test_summary();
}
