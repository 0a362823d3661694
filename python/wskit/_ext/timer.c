/* Time and the end of the transport: the loop's clock in ms, the one
 * timer a connection keeps (armed with loop.call_at at the earlier of the
 * core's deadline and its pending requests' next deadline), and closing
 * the transport after CLOSED. */
#include "binding.h"

#include <time.h>

/* loop.time() in ms, never less than the last value handed out: a timer
 * may fire (and tick the core at its deadline) a little before the loop's
 * clock reaches it, and the core's clock must not then step back. */
int64_t wskpy_now(WskProto *p) {
#if defined(__linux__) && defined(CLOCK_MONOTONIC)
  if (p->monotonic) { /* the loop's own clock, without a Python call per read */
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
      int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
      if (ms < p->last_now) ms = p->last_now;
      p->last_now = ms;
      return ms;
    }
  }
#endif
  PyObject *t = p->time ? PyObject_CallNoArgs(p->time) : NULL;
  double s = t ? PyFloat_AsDouble(t) : -1.0;
  Py_XDECREF(t);
  if (s == -1.0 && PyErr_Occurred()) {
    wskpy_stash_error(p);
    return p->last_now;
  }
  int64_t ms = (int64_t)(s * 1000.0);
  if (ms < p->last_now) ms = p->last_now;
  p->last_now = ms;
  return ms;
}

static void cancel_timer(WskProto *p) {
  if (!p->timer) return;
  PyObject *t = p->timer;
  p->timer = NULL;
  p->timer_at = -1;
  PyObject *r = PyObject_CallMethodNoArgs(t, wskpy_s.cancel);
  if (!r)
    wskpy_stash_error(p);
  else
    Py_DECREF(r);
  Py_DECREF(t);
}

void wskpy_rearm(WskProto *p) {
  int64_t d = -1;
  if (p->closed)
    d = p->lost ? -1 : p->linger_at;
  else if (p->conn && !p->lost) {
    d = wsk_conn_deadline(p->conn);
    int64_t r = wskpy_rpc_deadline(p); /* pending requests share the timer */
    if (r >= 0 && (d < 0 || r < d)) d = r;
  }
  if (d < 0) {
    cancel_timer(p);
    return;
  }
  /* An earlier timer is kept: it fires, ticks, and re-arms for the rest.
   * That keeps call_at off the per-message path. */
  if (p->timer && p->timer_at <= d) return;
  cancel_timer(p);
  if (!p->loop) return;
  PyObject *cb = PyObject_GetAttr((PyObject *)p, wskpy_s.on_timer);
  PyObject *when = cb ? PyFloat_FromDouble((double)d / 1000.0) : NULL;
  PyObject *h = when ? PyObject_CallMethodObjArgs(p->loop, wskpy_s.call_at, when, cb, NULL) : NULL;
  Py_XDECREF(cb);
  Py_XDECREF(when);
  if (!h) {
    wskpy_stash_error(p);
    return;
  }
  p->timer = h;
  p->timer_at = d;
}

static void call_transport(WskProto *p, PyObject *name) {
  PyObject *r = PyObject_CallMethodNoArgs(p->transport, name);
  if (!r)
    wskpy_stash_error(p);
  else
    Py_DECREF(r);
}

/* After CLOSED: end the transport, and give it close_timeout to go
 * before aborting it. Where it can, we half-close (write_eof) and keep
 * reading until the peer's EOF: closing a socket with unread input makes
 * the kernel send a reset, which can destroy our close frame before the
 * peer reads it (a peer still sending when we failed with 1009, say).
 * Bytes read meanwhile are dropped (buffer_updated ignores them). */
void wskpy_close_transport(WskProto *p) {
  if (!p->transport || p->lost || p->closing_transport) return;
  p->closing_transport = 1;
  uint32_t ct = p->config ? p->config->opts.close_timeout_ms : 0;
  int half = 0;
  if (ct) {
    PyObject *r = PyObject_CallMethodNoArgs(p->transport, wskpy_s.can_write_eof);
    half = r ? PyObject_IsTrue(r) : -1;
    Py_XDECREF(r);
    if (half < 0) {
      PyErr_Clear();
      half = 0;
    }
  }
  if (half) {
    if (p->reading_paused) {
      p->reading_paused = 0; /* drain the input until the peer's EOF */
      call_transport(p, wskpy_s.resume_reading);
    }
    call_transport(p, wskpy_s.write_eof);
  } else {
    call_transport(p, wskpy_s.close);
  }
  p->linger_at = ct ? wskpy_now(p) + ct : -1;
}

PyObject *wskpy_on_timer(WskProto *p, PyObject *unused) {
  (void)unused;
  int64_t due = p->timer_at;
  Py_CLEAR(p->timer); /* this handle has fired */
  p->timer_at = -1;
  int64_t now = p->time ? wskpy_now(p) : 0;
  if (now < due) now = p->last_now = due; /* clocks round: the deadline we armed for is due */
  if (p->closed) {
    if (!p->lost && p->transport && p->linger_at >= 0 && now >= p->linger_at) {
      p->linger_at = -1;
      call_transport(p, wskpy_s.abort);
    }
    wskpy_rearm(p);
  } else if (p->conn) {
    wsk_conn_tick(p->conn, now);
    wskpy_rpc_timer(p, now);
    wskpy_pump(p);
  }
  Py_INCREF(Py_None);
  return wskpy_finish(p, Py_None);
}
