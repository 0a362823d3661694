/* Loops: the default loop for simple programs, and the per-loop shared
 * read buffers. The registry is the driver's only global state: a short
 * list keyed by loop, guarded by a mutex because loops may run in
 * different threads. */
#include "uv_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static uv_once_t once = UV_ONCE_INIT;
static uv_mutex_t lock;
static wsk_uv_loopctx_t *ctxs;

/* Writing to a socket the peer closed raises SIGPIPE, whose default
 * action kills the process; the driver wants EPIPE from the write instead.
 * A handler the program installed itself is left alone. */
static void init_once(void) {
  if (uv_mutex_init(&lock) != 0) abort(); /* cannot run without it */
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);
  }
}

uv_loop_t *wsk_uv_default_loop(void) { return uv_default_loop(); }

int wsk_uv_run(uv_loop_t *loop) {
  if (!loop) return WSK_EINVAL;
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}

wsk_uv_loopctx_t *wsk__uv_loopctx_get(uv_loop_t *loop) {
  uv_once(&once, init_once);
  uv_mutex_lock(&lock);
  wsk_uv_loopctx_t *x = ctxs;
  while (x && x->loop != loop) x = x->next;
  if (!x && (x = calloc(1, sizeof *x)) != NULL) {
    x->loop = loop;
    x->next = ctxs;
    ctxs = x;
  }
  if (x) x->refs++;
  uv_mutex_unlock(&lock);
  return x;
}

void wsk__uv_loopctx_put(wsk_uv_loopctx_t *x) {
  if (!x) return;
  uv_mutex_lock(&lock);
  if (--x->refs == 0) {
    wsk_uv_loopctx_t **pp = &ctxs;
    while (*pp != x) pp = &(*pp)->next;
    *pp = x->next;
    free(x->rbuf);
    free(x->pbuf);
    free(x);
  }
  uv_mutex_unlock(&lock);
}

/* Only the loop's own thread touches its buffers: no lock needed. */
uint8_t *wsk__uv_buf_get(wsk_uv_loopctx_t *x, int plain) {
  uint8_t **slot = plain ? &x->pbuf : &x->rbuf;
  if (!*slot) *slot = malloc(WSK_UV_READ_BUF);
  return *slot;
}

void wsk__uv_buf_put(wsk_uv_loopctx_t *x, int plain, uint8_t *buf) {
  uint8_t **slot = plain ? &x->pbuf : &x->rbuf;
  if (!*slot)
    *slot = buf;
  else if (*slot != buf)
    free(buf);
}
