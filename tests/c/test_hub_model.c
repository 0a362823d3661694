/* The hub against a model of its world, with random (seeded, repeatable)
 * operations: a backplane that numbers messages, keeps a bounded history
 * and loses its link (and sometimes its channel: a new epoch); pub/sub
 * messages in flight; subscribers that subscribe (resuming from what they
 * saw), unsubscribe and wait for their fetches in any order; resyncs.
 * Every subscriber's outputs are checked as a client sees them: after
 * SUBSCRIBED, messages and gaps must continue its position exactly (no
 * seq twice, none skipped without a gap, payloads right), and once all
 * is settled each one is at the backplane's top. With a history long
 * enough and no held overflow, no "expired" or "overflow" gap may appear
 * at all. Local mode gets the same checks. */
#include "testlib.h"
#include "wskit/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSUB 4
#define MAXQ 4096

static uint64_t rng = 88172645463325252ULL;
static unsigned rnd(unsigned n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng % n);
}

/* ---- what each subscriber has seen (the client's view) ---- */

typedef struct view {
  int subscribed;     /* a subscribe is under way or done */
  int owed;           /* its SUBSCRIBED has not come yet */
  int req_since;      /* what the subscribe asked */
  uint64_t since;
  char req_epoch[72];
  char epoch[72];     /* position */
  uint64_t next;
  int known;
  int bad;            /* the first violation, as a line number */
  const char *why;
  long gaps_expired, gaps_overflow, gaps_epoch, messages;
} view_t;

static view_t views[NSUB];
static int subs[NSUB];

static int idx(void *sub) { return (int)((int *)sub - subs); }

#define VIOLATE(v, text)        \
  do {                          \
    if (!(v)->bad) {            \
      (v)->bad = __LINE__;      \
      (v)->why = text;          \
    }                           \
    return;                     \
  } while (0)

static void on_out(void *ud, void *sub, const wsk_hub_out_t *o) {
  (void)ud;
  view_t *v = &views[idx(sub)];
  char ep[72];
  snprintf(ep, sizeof ep, "%.*s", (int)o->epoch_len, o->epoch);
  switch (o->kind) {
  case WSK_HUB_SUBSCRIBED:
    if (!v->owed) VIOLATE(v, "SUBSCRIBED not owed");
    v->owed = 0;
    if (v->req_since && (!v->req_epoch[0] || strcmp(v->req_epoch, ep) == 0) && v->since <= o->seq)
      v->next = v->since + 1;
    else if (v->req_since)
      v->next = 1; /* an epoch gap from 1 follows */
    else
      v->next = o->seq + 1;
    snprintf(v->epoch, sizeof v->epoch, "%s", ep);
    v->known = 1;
    break;
  case WSK_HUB_GAP:
    if (v->owed || !v->known) VIOLATE(v, "GAP before SUBSCRIBED");
    if (strcmp(ep, v->epoch) != 0) {
      if (o->from != 1 || strcmp(o->reason, "epoch") != 0) VIOLATE(v, "epoch change not from 1");
      snprintf(v->epoch, sizeof v->epoch, "%s", ep);
    } else if (o->from != v->next) {
      VIOLATE(v, "GAP does not start at the position");
    }
    if (o->to + 1 < o->from) VIOLATE(v, "GAP range backwards");
    v->next = o->to + 1;
    if (!strcmp(o->reason, "expired")) v->gaps_expired++;
    else if (!strcmp(o->reason, "overflow")) v->gaps_overflow++;
    else v->gaps_epoch++;
    break;
  case WSK_HUB_MESSAGE: {
    if (v->owed || !v->known) VIOLATE(v, "MESSAGE before SUBSCRIBED");
    if (strcmp(ep, v->epoch) != 0) VIOLATE(v, "MESSAGE of another epoch without a gap");
    if (o->seq != v->next) VIOLATE(v, "MESSAGE out of order, repeated or skipped");
    char want[64];
    int n = snprintf(want, sizeof want, "%s:%llu", ep, (unsigned long long)o->seq);
    if (o->msg->payload_len != (size_t)n || memcmp(o->msg->payload, want, (size_t)n) != 0)
      VIOLATE(v, "wrong payload");
    v->next++;
    v->messages++;
    break;
  }
  }
}

/* ---- the backplane ---- */

typedef struct bp {
  char epoch[16];
  int epochs;
  uint64_t top;
  uint64_t hist[MAXQ]; /* seqs kept, oldest first */
  size_t nhist, keep;
  /* pub/sub in flight */
  char qep[MAXQ][16];
  uint64_t qseq[MAXQ];
  size_t qhead, qn;
  int up;
} bp_t;

static bp_t bp;

typedef struct fetch {
  int sub;          /* -1: a resync */
  char epoch[16];
  uint64_t top;
  uint64_t seqs[MAXQ];
  size_t n;
} fetch_t;

static fetch_t fetches[8];
static int nfetch;

static void bp_publish(void) {
  bp.top++;
  if (bp.nhist == bp.keep) {
    memmove(bp.hist, bp.hist + 1, (bp.nhist - 1) * sizeof bp.hist[0]);
    bp.nhist--;
  }
  if (bp.keep) bp.hist[bp.nhist++] = bp.top;
  if (bp.up && bp.qn < MAXQ) {
    size_t at = (bp.qhead + bp.qn++) % MAXQ;
    memcpy(bp.qep[at], bp.epoch, sizeof bp.epoch);
    bp.qseq[at] = bp.top;
  }
}

static void take_fetch(int sub, int64_t since) {
  if (nfetch == 8) return;
  fetch_t *f = &fetches[nfetch++];
  f->sub = sub;
  snprintf(f->epoch, sizeof f->epoch, "%s", bp.epoch);
  f->top = bp.top;
  f->n = 0;
  for (size_t i = 0; i < bp.nhist; i++)
    if (since < 0 || bp.hist[i] > (uint64_t)since) f->seqs[f->n++] = bp.hist[i];
}

static char payloads[MAXQ][40];

static int complete_fetch(wsk_hub_t *h, int k) {
  fetch_t *f = &fetches[k];
  static wsk_chan_msg_t msgs[MAXQ];
  for (size_t i = 0; i < f->n; i++) {
    int n = snprintf(payloads[i], sizeof payloads[i], "%s:%llu", f->epoch,
                     (unsigned long long)f->seqs[i]);
    msgs[i] = (wsk_chan_msg_t){ "ch", 2, f->seqs[i], f->epoch, strlen(f->epoch),
                                WSK_PAYLOAD_TEXT, (const uint8_t *)payloads[i], (size_t)n };
  }
  wsk_hub_history_t hist = { f->epoch, strlen(f->epoch), f->top, msgs, f->n };
  int r = wsk_hub_recovered(h, f->sub < 0 ? NULL : &subs[f->sub], "ch", 2, &hist, 0, on_out, NULL);
  fetches[k] = fetches[--nfetch];
  return r;
}

static void drop_fetches_of(int sub) {
  for (int k = 0; k < nfetch;)
    if (fetches[k].sub == sub) fetches[k] = fetches[--nfetch];
    else k++;
}

static void dispatch_one(wsk_hub_t *h) {
  size_t at = bp.qhead;
  bp.qhead = (bp.qhead + 1) % MAXQ;
  bp.qn--;
  char pl[40];
  int n = snprintf(pl, sizeof pl, "%s:%llu", bp.qep[at], (unsigned long long)bp.qseq[at]);
  wsk_chan_msg_t m = { "ch", 2, bp.qseq[at], bp.qep[at], strlen(bp.qep[at]), WSK_PAYLOAD_TEXT,
                       (const uint8_t *)pl, (size_t)n };
  wsk_hub_dispatch(h, &m, 0, on_out, NULL);
}

static void subscribe(wsk_hub_t *h, int s, int external) {
  view_t *v = &views[s];
  int resume = v->known && rnd(4) != 0;
  drop_fetches_of(s); /* a re-subscribe: the old answer is stale */
  v->subscribed = 1;
  v->owed = 1;
  v->req_since = resume;
  v->since = resume ? v->next - 1 : 0;
  snprintf(v->req_epoch, sizeof v->req_epoch, "%s", resume ? v->epoch : "");
  wsk_hub_subscribe_t q = { "ch", 2, resume, v->since, v->req_epoch, strlen(v->req_epoch), NULL, 0 };
  int64_t fetch = -2;
  int r = wsk_hub_subscribe(h, &subs[s], &q, 0, &fetch, on_out, NULL);
  if (!external) {
    if (r != 0) v->bad = __LINE__;
    return;
  }
  if (r != WSK_EAGAIN || fetch != (resume ? (int64_t)v->since : -1)) v->bad = __LINE__;
  if (bp.up) take_fetch(s, fetch);
}

static void new_epoch(void) {
  snprintf(bp.epoch, sizeof bp.epoch, "E%d", ++bp.epochs);
  bp.top = 0;
  bp.nhist = 0;
}

static void round_external(unsigned seed, size_t keep, size_t max_held, int ops, int losses,
                           int *clean_checked) {
  rng = 0x9E3779B97F4A7C15ULL ^ seed;
  memset(views, 0, sizeof views);
  memset(&bp, 0, sizeof bp);
  nfetch = 0;
  bp.keep = keep;
  bp.up = 1;
  new_epoch();
  wsk_hub_opts_t o;
  wsk_hub_opts_init(&o);
  o.external = 1;
  o.max_held = max_held;
  wsk_hub_t *h = wsk_hub_new(&o, NULL);
  for (int i = 0; i < ops; i++) {
    unsigned op = rnd(100);
    int s = (int)rnd(NSUB);
    if (op < 30) {
      bp_publish();
    } else if (op < 55) {
      if (bp.up && bp.qn) dispatch_one(h);
    } else if (op < 65) {
      subscribe(h, s, 1);
    } else if (op < 80) {
      if (nfetch) complete_fetch(h, (int)rnd((unsigned)nfetch));
    } else if (op < 85) {
      if (views[s].subscribed) {
        wsk_hub_unsubscribe(h, &subs[s], "ch", 2);
        drop_fetches_of(s);
        views[s].subscribed = 0;
        views[s].owed = 0;
      }
    } else if (op < 88 && losses) {
      if (bp.up) { /* the link drops: in flight and pending fetches are lost */
        bp.up = 0;
        bp.qn = 0;
        nfetch = 0;
        if (rnd(3) == 0) new_epoch(); /* and Redis lost the channel */
      }
    } else if (op < 92) {
      if (!bp.up) {
        bp.up = 1;
        int64_t since;
        size_t n = wsk_hub_resync(h, "ch", 2, &since);
        if (n) take_fetch(-1, since);
      }
    }
  }
  /* settle: link up, every fetch answered, everything in flight delivered */
  if (!bp.up) {
    bp.up = 1;
    int64_t since;
    if (wsk_hub_resync(h, "ch", 2, &since)) take_fetch(-1, since);
  }
  for (int guard = 0; (nfetch || bp.qn) && guard < 100000; guard++) {
    if (nfetch) complete_fetch(h, nfetch - 1);
    else dispatch_one(h);
  }
  for (int s = 0; s < NSUB; s++) {
    view_t *v = &views[s];
    if (v->bad) {
      fprintf(stderr, "  seed %u sub %d: %s (line %d)\n", seed, s, v->why ? v->why : "", v->bad);
      CHECK(0);
    }
    if (!v->subscribed) continue;
    CHECK(!v->owed);
    if (strcmp(v->epoch, bp.epoch) != 0)
      fprintf(stderr, "  seed %u sub %d at %s:%llu, backplane %s:%llu\n", seed, s, v->epoch,
              (unsigned long long)v->next - 1, bp.epoch, (unsigned long long)bp.top);
    CHECK_STR(v->epoch, bp.epoch);
    CHECK_INT(v->next - 1, bp.top); /* everything, or told what is missing */
    if (keep >= MAXQ && max_held == 0) {
      CHECK_INT(v->gaps_expired, 0);
      CHECK_INT(v->gaps_overflow, 0);
      (*clean_checked)++;
    }
  }
  wsk_hub_free(h);
}

TEST(external_model_long_history) {
  int clean = 0;
  for (unsigned seed = 1; seed <= 300; seed++) round_external(seed, MAXQ, 0, 400, 1, &clean);
  CHECK(clean > 300); /* the no-false-gap check really ran */
}

TEST(external_model_short_history_and_held_bound) {
  int clean = 0;
  for (unsigned seed = 1; seed <= 300; seed++)
    round_external(seed * 7919, 1 + seed % 5, 1 + seed % 3, 400, 1, &clean);
}

TEST(external_model_without_link_loss) {
  int clean = 0;
  for (unsigned seed = 1; seed <= 200; seed++) round_external(seed * 31, MAXQ, 0, 400, 0, &clean);
  CHECK(clean > 200);
}

/* ---- local mode: the hub is the backplane ---- */

static void round_local(unsigned seed, size_t size) {
  rng = 0xD1B54A32D192ED03ULL ^ seed;
  memset(views, 0, sizeof views);
  wsk_hub_opts_t o;
  wsk_hub_opts_init(&o);
  o.history_size = size;
  wsk_hub_t *h = wsk_hub_new(&o, NULL);
  for (int i = 0; i < 300; i++) {
    unsigned op = rnd(100);
    int s = (int)rnd(NSUB);
    if (op < 50) {
      uint64_t top = 0;
      const char *ep = "";
      size_t el = 0;
      wsk_hub_position(h, "ch", 2, &top, &ep, &el);
      char pl[64];
      int n = snprintf(pl, sizeof pl, "%.*s:%llu", (int)el, ep, (unsigned long long)top + 1);
      if (!el) continue; /* no epoch yet: the first publish creates it */
      wsk_chan_msg_t m = { "ch", 2, 0, NULL, 0, WSK_PAYLOAD_TEXT, (const uint8_t *)pl, (size_t)n };
      CHECK_INT(wsk_hub_publish(h, &m, 0, on_out, NULL), (long long)top + 1);
    } else if (op < 75) {
      subscribe(h, s, 0);
    } else if (op < 90) {
      if (views[s].subscribed) {
        wsk_hub_unsubscribe(h, &subs[s], "ch", 2);
        views[s].subscribed = 0;
      }
    } else {
      views[s].subscribed = 0;
      wsk_hub_drop(h, &subs[s]);
    }
  }
  uint64_t top = 0;
  const char *ep = "";
  size_t el = 0;
  wsk_hub_position(h, "ch", 2, &top, &ep, &el);
  for (int s = 0; s < NSUB; s++) {
    view_t *v = &views[s];
    if (v->bad) {
      fprintf(stderr, "  seed %u sub %d: %s (line %d)\n", seed, s, v->why ? v->why : "", v->bad);
      CHECK(0);
    }
    if (!v->subscribed) continue;
    CHECK_INT(v->next - 1, top);
    CHECK_INT(strlen(v->epoch), el);
    CHECK_MEM(v->epoch, ep, el);
    if (size >= 1000) CHECK_INT(v->gaps_expired + v->gaps_overflow + v->gaps_epoch, 0);
  }
  wsk_hub_free(h);
}

TEST(local_model) {
  for (unsigned seed = 1; seed <= 300; seed++) round_local(seed, seed % 2 ? 1000 : 1 + seed % 4);
}

int main(void) {
  RUN(external_model_long_history);
  RUN(external_model_short_history_and_held_bound);
  RUN(external_model_without_link_loss);
  RUN(local_model);
  return test_summary();
}
