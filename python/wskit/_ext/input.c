/* Bytes in. The core reads (and unmasks) the driver's memory in place, and
 * keeps pointing into it while the driver stops pulling events
 * (docs/design.md, "Input"). We stop pulling when the application pauses
 * reading (its queue is full: max_queue), so that one read of compressed
 * data cannot turn into an unbounded number of queued messages. While
 * stopped, the memory the core reads is `held`:
 *
 *   - a read into the thread's shared buffer: the buffer is taken from the
 *     RecvBuffer (the thread's other connections get a fresh one) and given
 *     back once the core is done with it;
 *   - bytes that arrive anyway (a transport may deliver one more read after
 *     pause_reading) go to `backlog`, fed in order once `held` is free.
 *
 * The core is done with driver memory when next_event returns 0; pump.c
 * then calls wskpy_input_release. */
#include "binding.h"

#include <string.h>

static void take_shared(WskProto *p) {
  uint8_t *ptr;
  Py_ssize_t len;
  PyObject *view = wskpy_rbuf_take(p->rb, &ptr, &len);
  if (view) {
    p->held = view;
    return;
  }
  /* Without a buffer of our own the core's input would be overwritten by
   * the next read on this thread: end the connection instead. */
  wskpy_stash_error(p);
  wsk_conn_abort(p->conn, "out of memory while reading was paused");
  p->borrowed = 0;
  wskpy_pump(p); /* CLOSED drops the input */
}

static int append_backlog(WskProto *p, const uint8_t *data, Py_ssize_t n) {
  if (!p->backlog) {
    p->backlog = PyByteArray_FromStringAndSize((const char *)data, n);
    return p->backlog ? 0 : -1;
  }
  Py_ssize_t old = PyByteArray_GET_SIZE(p->backlog);
  if (PyByteArray_Resize(p->backlog, old + n) < 0) return -1;
  memcpy(PyByteArray_AS_STRING(p->backlog) + old, data, (size_t)n);
  return 0;
}

void wskpy_input_feed(WskProto *p, Py_ssize_t n) {
  if (p->held || p->backlog) {
    /* older input is still waiting: queue behind it */
    if (append_backlog(p, p->rb->ptr, n) < 0) {
      wskpy_stash_error(p);
      wsk_conn_abort(p->conn, "out of memory");
    }
    wskpy_pump(p);
    return;
  }
  wsk_conn_tick(p->conn, wskpy_now(p));
  if (wsk_conn_feed(p->conn, p->rb->ptr, (size_t)n) == WSK_ESTATE) {
    wsk_conn_abort(p->conn, "internal error: input fed before the previous was consumed");
    wskpy_pump(p);
    return;
  }
  p->borrowed = 1;
  wskpy_pump(p);
  if (p->borrowed && wsk_conn_input_pending(p->conn) == 0)
    p->borrowed = 0; /* paused exactly at the end of the read: nothing is left in it */
  if (p->borrowed && !p->held) take_shared(p);
}

void wskpy_input_release(WskProto *p) {
  p->borrowed = 0;
  PyObject *h = p->held;
  if (!h) return;
  p->held = NULL;
  if (PyMemoryView_Check(h) && p->rb)
    wskpy_rbuf_give(p->rb, h); /* a spare for the next stall */
  else
    Py_DECREF(h);
  if (p->closed) Py_CLEAR(p->backlog);
}

int wskpy_input_backlog(WskProto *p) {
  if (!p->backlog || p->held || p->closed || p->reading_paused) return 0;
  PyObject *b = p->backlog;
  p->backlog = NULL;
  p->held = b; /* the core reads it in place; we never resize it again */
  p->borrowed = 1;
  wsk_conn_tick(p->conn, wskpy_now(p));
  if (wsk_conn_feed(p->conn, (uint8_t *)PyByteArray_AS_STRING(b), (size_t)PyByteArray_GET_SIZE(b)) < 0)
    wsk_conn_abort(p->conn, "internal error: backlog fed before the previous input was consumed");
  return 1;
}
