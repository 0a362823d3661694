/* Receiving: frames parsed from the input, checked against every RFC 6455
 * section 5 rule that needs the connection's context, reassembled or
 * streamed, inflated and UTF-8 checked, turned into events. */
#include "conn_internal.h"

#include <string.h>

static size_t avail(const wsk_conn_t *c) { return c->in ? c->in_len - c->in_off : 0; }

/* Pending bytes of the message buffer from `at` (never NULL + offset). */
static uint8_t *msg_at(wsk_conn_t *c, size_t at) {
  static uint8_t empty[1];
  return c->msg.data ? c->msg.data + c->msg.off + at : empty;
}

/* Why wsk_frame_header_decode refused a header, for the log and the close reason. */
static const char *header_problem(const uint8_t *p, size_t n) {
  unsigned op = p[0] & 0x0F, len7 = n > 1 ? p[1] & 0x7F : 0;
  if ((op >= 3 && op <= 7) || op >= 0xB) return "reserved opcode";
  if (wsk_opcode_is_control(op) && !(p[0] & 0x80)) return "fragmented control frame";
  if (wsk_opcode_is_control(op) && len7 > 125) return "control frame longer than 125 bytes";
  if (len7 == 127 && n > 2 && (p[2] & 0x80)) return "64-bit length with the top bit set";
  return "length not in its shortest form";
}

/* The checks that need the connection's context. Returns 0, or fails the
 * connection and returns -1. */
static int check_frame(wsk_conn_t *c, const wsk_frame_header_t *h) {
  int control = wsk_opcode_is_control(h->opcode);
  if (h->rsv2 || h->rsv3) goto proto_rsv;
  if (h->rsv1 && (!c->codec || control || h->opcode == WSK_OP_CONT)) goto proto_rsv;
  if (c->role == WSK_ROLE_SERVER && !h->masked) {
    wsk__conn_fail(c, WSK_CLOSE_PROTOCOL_ERROR, "unmasked frame from a client");
    return -1;
  }
  if (c->role == WSK_ROLE_CLIENT && h->masked) {
    wsk__conn_fail(c, WSK_CLOSE_PROTOCOL_ERROR, "masked frame from a server");
    return -1;
  }
  if (control) return 0;
  if (h->opcode == WSK_OP_CONT && !c->msg_op) {
    wsk__conn_fail(c, WSK_CLOSE_PROTOCOL_ERROR, "continuation frame without a message to continue");
    return -1;
  }
  if (h->opcode != WSK_OP_CONT && c->msg_op) {
    wsk__conn_fail(c, WSK_CLOSE_PROTOCOL_ERROR, "new message inside a fragmented message");
    return -1;
  }
  size_t max_frame = c->max_frame ? c->max_frame : c->max_message;
  if (max_frame && h->len > max_frame) {
    wsk__conn_fail(c, WSK_CLOSE_TOO_BIG, "frame of %llu bytes is over the limit of %zu",
                   (unsigned long long)h->len, max_frame);
    return -1;
  }
  size_t frames = (h->opcode == WSK_OP_CONT ? c->msg_frames : 0) + 1;
  if (frames > c->max_fragments) {
    wsk__conn_fail(c, WSK_CLOSE_TOO_BIG, "message in more than %zu fragments", (size_t)c->max_fragments);
    return -1;
  }
  int compressed = h->opcode == WSK_OP_CONT ? c->msg_compressed : h->rsv1;
  uint64_t before = h->opcode == WSK_OP_CONT ? c->msg_size : 0;
  if (!compressed && c->max_message && before + h->len > c->max_message) {
    wsk__conn_fail(c, WSK_CLOSE_TOO_BIG, "message of %llu bytes or more is over the limit of %zu",
                   (unsigned long long)(before + h->len), c->max_message);
    return -1;
  }
  return 0;
proto_rsv:
  wsk__conn_fail(c, WSK_CLOSE_PROTOCOL_ERROR, "reserved bit set without an extension that defines it");
  return -1;
}

static void end_message(wsk_conn_t *c) {
  c->msg_op = 0;
  c->msg_frames = 0;
  c->msg_size = 0;
  c->msg_started = 0;
  c->msg_compressed = 0;
  c->msg_skip = 0;
}

/* Drop what the message buffer holds now (no event points at it). */
static void discard_msg(wsk_conn_t *c) {
  c->msg_release = 0;
  wsk_buf_consume(&c->msg, wsk_buf_pending(&c->msg), 0);
}

/* The slow path after a data event was made (rate limit, first-message
 * auth): returns 1 to deliver ev (maybe turned into RATE_LIMITED), 0 to
 * drop it, -1 when the connection failed. `first`: the event starts its
 * message; `done`: it ends it. */
static int gate(wsk_conn_t *c, wsk_event_t *ev, int first, int done) {
  /* Closing while the first message awaits its judgement: frames are still
   * parsed (the peer's close must be read) but no message is delivered. */
  if (c->auth == WSK_AUTH_JUDGING) {
    if (!done) c->msg_skip = 1;
    discard_msg(c);
    return 0;
  }
  if (c->gate->bucket.rate > 0 && first && !wsk_bucket_take(&c->gate->bucket, c->now, 1.0)) {
    c->stats.rate_limited++;
    if (c->rate_policy == WSK_RATE_CLOSE) {
      wsk__conn_fail(c, WSK_CLOSE_POLICY, "rate limit");
      return -1;
    }
    if (!done) c->msg_skip = 1; /* streaming: the rest of it goes too */
    if (c->rate_policy == WSK_RATE_DROP) {
      discard_msg(c);
      return 0;
    }
    ev->type = WSK_EV_RATE_LIMITED;
    ev->first = first;
    ev->fin = done;
    return 1;
  }
  if (done && c->auth == WSK_AUTH_FIRST) c->auth = WSK_AUTH_JUDGING; /* parse nothing more */
  return 1;
}

static void on_pong(wsk_conn_t *c, wsk_event_t *ev) {
  for (size_t i = 0; i < c->npings; i++) {
    wsk_ping_rec_t *r = &c->pings[i];
    if (r->len != ev->len || memcmp(r->data, ev->data, ev->len) != 0) continue;
    ev->ping_id = r->id;
    ev->latency_ms = c->now - r->sent;
    /* A pong acknowledges its ping and every earlier one. */
    for (size_t j = 0; j <= i; j++)
      if (c->pings[j].id == c->keepalive_id) {
        c->keepalive_id = 0;
        c->pong_deadline = -1;
      }
    c->npings -= i + 1;
    memmove(c->pings, c->pings + i + 1, c->npings * sizeof *c->pings);
    return;
  }
}

static int on_close(wsk_conn_t *c, wsk_event_t *ev) {
  const uint8_t *p = ev->data;
  size_t n = ev->len;
  if (n == 1) {
    wsk__conn_fail(c, WSK_CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload");
    return 0;
  }
  unsigned code = n >= 2 ? (unsigned)p[0] << 8 | p[1] : WSK_CLOSE_NO_STATUS;
  if (n >= 2 && !wsk_close_code_valid(code)) {
    wsk__conn_fail(c, WSK_CLOSE_PROTOCOL_ERROR, "close frame with invalid code %u", code);
    return 0;
  }
  if (n > 2 && wsk_utf8_validate(p + 2, n - 2) < 0) {
    wsk__conn_fail(c, WSK_CLOSE_INVALID_DATA, "close reason is not valid UTF-8");
    return 0;
  }
  c->close_received = 1;
  c->code_rcvd = (uint16_t)code;
  if (!c->close_sent) wsk__conn_write_close(c, n >= 2 ? code : 0, NULL, 0); /* echo the code */
  c->ping_at = c->pong_deadline = -1;
  if (c->role == WSK_ROLE_SERVER || c->close_timeout == 0) {
    wsk__conn_go_closed(c); /* the server closes the TCP connection first */
  } else {
    c->state = WSK_STATE_CLOSING; /* the client waits for the server's EOF */
    c->close_deadline = c->now + c->close_timeout;
  }
  ev->type = WSK_EV_CLOSE;
  ev->code = code;
  ev->data = n > 2 ? p + 2 : p;
  ev->len = n > 2 ? n - 2 : 0;
  return 1;
}

static int control_frame(wsk_conn_t *c, unsigned op, const uint8_t *p, size_t n,
                         wsk_event_t *ev) {
  ev->data = p;
  ev->len = n;
  switch (op) {
  case WSK_OP_PING:
    if (c->auto_pong && !c->close_sent && wsk__conn_write_frame(c, 1, 0, WSK_OP_PONG, p, n) < 0) {
      wsk__conn_fail(c, WSK_CLOSE_INTERNAL_ERROR, "out of memory");
      return 0;
    }
    ev->type = WSK_EV_PING;
    return 1;
  case WSK_OP_PONG:
    ev->type = WSK_EV_PONG;
    on_pong(c, ev);
    return 1;
  default:
    return on_close(c, ev);
  }
}

/* Deliver `n` new bytes of the current message: fails on invalid UTF-8,
 * returns 1 with an event, 0 when the message is not complete yet. */
static int deliver(wsk_conn_t *c, const uint8_t *p, size_t n, int done, int from_msg,
                   wsk_event_t *ev) {
  if (c->msg_op == WSK_OP_TEXT) {
    if (wsk_utf8_feed(&c->utf8_in, p, n) < 0 || (done && wsk_utf8_finish(&c->utf8_in) < 0)) {
      wsk__conn_fail(c, WSK_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
      return -1;
    }
  }
  int first = !c->msg_started;
  if (c->gated && c->msg_skip) { /* the rest of a streamed message over the rate */
    c->stats.bytes_in += n;
    if (from_msg) discard_msg(c);
    if (done) {
      c->stats.messages_in++;
      end_message(c);
    }
    return 0;
  }
  ev->opcode = (wsk_opcode_t)c->msg_op;
  if (c->stream_fragments) {
    if (n == 0 && !done) return 0;
    ev->type = WSK_EV_FRAGMENT;
    ev->opcode = (wsk_opcode_t)c->msg_op;
    ev->first = !c->msg_started;
    ev->fin = done;
    ev->data = p;
    ev->len = n;
    c->msg_started = 1;
    if (from_msg) c->msg_release = 1;
  } else if (!done) {
    if (!from_msg && wsk_buf_append(&c->msg, p, n) < 0) {
      wsk__conn_fail(c, WSK_CLOSE_INTERNAL_ERROR, "out of memory");
      return -1;
    }
    return 0;
  } else {
    ev->type = c->msg_op == WSK_OP_TEXT ? WSK_EV_TEXT : WSK_EV_BINARY;
    if (from_msg || wsk_buf_pending(&c->msg) > 0) {
      if (!from_msg && wsk_buf_append(&c->msg, p, n) < 0) {
        wsk__conn_fail(c, WSK_CLOSE_INTERNAL_ERROR, "out of memory");
        return -1;
      }
      ev->data = msg_at(c, 0);
      ev->len = wsk_buf_pending(&c->msg);
      c->msg_release = 1;
    } else {
      ev->data = p; /* the whole message sits in the input: no copy */
      ev->len = n;
    }
  }
  c->stats.bytes_in += ev->len;
  if (done) {
    c->stats.messages_in++;
    end_message(c);
  }
  if (c->gated) return gate(c, ev, first, done);
  return 1;
}

/* Consume what is available of the current data frame's payload. */
static int data_payload(wsk_conn_t *c, wsk_event_t *ev) {
  size_t n = avail(c);
  size_t piece = c->fh_left < n ? (size_t)c->fh_left : n;
  if (piece == 0 && c->fh_left > 0) return 0;
  uint8_t *p = c->in + c->in_off;
  if (c->fh.masked) wsk_mask(p, piece, c->fh.mask, c->fh.len - c->fh_left);
  c->in_off += piece;
  c->fh_left -= piece;
  int done = c->fh_left == 0 && c->fh.fin;
  if (c->fh_left == 0) c->have_header = 0;
  if (!c->msg_compressed) return deliver(c, p, piece, done, 0, ev);

  size_t before = wsk_buf_pending(&c->msg);
  size_t max_out = 0;
  if (c->max_message) max_out = c->max_message - (size_t)(c->msg_size - before);
  int r = wsk_deflate_decompress(c->codec, p, piece, done, max_out, &c->msg);
  if (r == WSK_E2BIG) {
    wsk__conn_fail(c, WSK_CLOSE_TOO_BIG, "message inflates to more than the limit of %zu bytes",
                   c->max_message);
    return -1;
  }
  if (r < 0) {
    wsk__conn_fail(c, r == WSK_EZLIB ? WSK_CLOSE_INVALID_DATA : WSK_CLOSE_INTERNAL_ERROR,
                   "could not inflate a compressed message");
    return -1;
  }
  size_t produced = wsk_buf_pending(&c->msg) - before;
  c->msg_size += produced;
  return deliver(c, msg_at(c, before), produced, done, 1, ev);
}

int wsk__frames_next_event(wsk_conn_t *c, wsk_event_t *ev) {
  /* A first message awaits its judgement: the rest waits, unparsed. */
  if (c->auth == WSK_AUTH_JUDGING && c->state == WSK_STATE_OPEN) return 0;
  for (;;) {
    if (c->state == WSK_STATE_CLOSED || c->close_received) return 0;
    if (!c->have_header) {
      size_t n = avail(c);
      if (n == 0) return 0;
      const uint8_t *start = c->in + c->in_off;
      uint16_t code = WSK_CLOSE_PROTOCOL_ERROR;
      int hl = wsk_frame_header_decode(start, n, &c->fh, &code);
      if (hl == 0) return 0;
      if (hl < 0) {
        wsk__conn_fail(c, code, "%s", header_problem(start, n));
        return 0;
      }
      if (check_frame(c, &c->fh) < 0) return 0;
      if (wsk_opcode_is_control(c->fh.opcode)) {
        /* Control frames are small: wait until one is whole. */
        if (n - (size_t)hl < c->fh.len) return 0;
        uint8_t *p = c->in + c->in_off + hl;
        size_t len = (size_t)c->fh.len;
        if (c->fh.masked) wsk_mask(p, len, c->fh.mask, 0);
        c->in_off += (size_t)hl + len;
        return control_frame(c, c->fh.opcode, p, len, ev);
      }
      c->in_off += (size_t)hl;
      c->have_header = 1;
      c->fh_left = c->fh.len;
      if (c->fh.opcode != WSK_OP_CONT) {
        c->msg_op = (uint8_t)c->fh.opcode;
        c->msg_compressed = c->fh.rsv1;
        wsk_utf8_init(&c->utf8_in);
      }
      c->msg_frames++;
      if (!c->msg_compressed) c->msg_size += c->fh.len;
    }
    int r = data_payload(c, ev);
    if (r != 0) return r > 0;
    if (c->have_header) return 0; /* waiting for more of the payload */
  }
}
