/* JSON-RPC 2.0 envelopes over jansson. Builders write the envelope text
 * directly and let jansson encode only the values, so the *_text variants
 * can splice in JSON the caller encoded without parsing it again. */
#include "jsonrpc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- classifying ---- */

static int invalid(wsk_jsonrpc_msg_t *m, int64_t code, const char *why) {
  m->kind = WSK_JSONRPC_INVALID;
  m->code = code;
  m->message = why;
  m->method = NULL;
  m->params = m->result = m->data = NULL;
  m->has_u64_id = 0;
  m->u64_id = 0;
  return WSK_JSONRPC_INVALID;
}

static int id_valid(const json_t *id) {
  return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

static void note_u64(wsk_jsonrpc_msg_t *m) {
  if (json_is_integer(m->id) && json_integer_value(m->id) >= 0) {
    m->has_u64_id = 1;
    m->u64_id = (uint64_t)json_integer_value(m->id);
  }
}

static int classify_object(json_t *o, wsk_jsonrpc_msg_t *m) {
  json_t *id = json_object_get(o, "id");
  /* An id we can read goes into error replies too (the spec asks for null
   * only when it "could not be detected"). */
  if (id && id_valid(id)) m->id = id;
  json_t *v = json_object_get(o, "jsonrpc");
  if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
    return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
  if (id && !id_valid(id))
    return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: \"id\" must be a string, a number or null");

  json_t *method = json_object_get(o, "method");
  if (method) {
    if (!json_is_string(method))
      return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: \"method\" must be a string");
    json_t *params = json_object_get(o, "params");
    if (params && !json_is_array(params) && !json_is_object(params))
      return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: \"params\" must be an array or an object");
    m->method = json_string_value(method);
    m->params = params;
    m->kind = id ? WSK_JSONRPC_REQUEST : WSK_JSONRPC_NOTIFICATION;
    return m->kind;
  }

  json_t *result = json_object_get(o, "result");
  json_t *error = json_object_get(o, "error");
  if (!result && !error)
    return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: no \"method\", \"result\" or \"error\"");
  if (result && error)
    return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: a reply has \"result\" or \"error\", not both");
  if (!id) return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: a reply needs an \"id\"");
  if (result) {
    m->kind = WSK_JSONRPC_RESULT;
    m->result = result;
    note_u64(m);
    return m->kind;
  }
  json_t *code = json_object_get(error, "code");
  json_t *message = json_object_get(error, "message");
  if (!json_is_object(error) || !json_is_integer(code) || !json_is_string(message))
    return invalid(m, WSK_JSONRPC_INVALID_REQUEST,
                   "Invalid Request: \"error\" needs an integer \"code\" and a string \"message\"");
  m->kind = WSK_JSONRPC_ERROR;
  m->code = json_integer_value(code);
  m->message = json_string_value(message);
  m->data = json_object_get(error, "data");
  note_u64(m);
  return m->kind;
}

int wsk_jsonrpc_classify(json_t *value, wsk_jsonrpc_msg_t *m) {
  memset(m, 0, sizeof *m);
  if (json_is_object(value)) return classify_object(value, m);
  if (json_is_array(value))
    return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: a batch element must be an object");
  return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: a message must be an object or an array");
}

int wsk_jsonrpc_parse(const char *text, size_t len, wsk_jsonrpc_msg_t *m) {
  memset(m, 0, sizeof *m);
  json_error_t e;
  /* DECODE_ANY so that valid JSON scalars are -32600 rather than -32700 */
  json_t *root = json_loadb(text ? text : "", text ? len : 0, JSON_DECODE_ANY, &e);
  if (!root) {
    if (json_error_code(&e) == json_error_out_of_memory) return WSK_ENOMEM;
    return invalid(m, WSK_JSONRPC_PARSE_ERROR, "Parse error: not valid JSON");
  }
  if (json_is_array(root)) {
    if (json_array_size(root) == 0) {
      json_decref(root);
      return invalid(m, WSK_JSONRPC_INVALID_REQUEST, "Invalid Request: empty batch");
    }
    m->root = root;
    m->kind = WSK_JSONRPC_BATCH;
    return m->kind;
  }
  int kind = wsk_jsonrpc_classify(root, m);
  m->root = root; /* after classify, which zeroes m */
  return kind;
}

void wsk_jsonrpc_msg_free(wsk_jsonrpc_msg_t *m) {
  if (!m) return;
  json_decref(m->root);
  memset(m, 0, sizeof *m);
}

/* ---- building ---- */

static int append_cb(const char *buf, size_t size, void *ud) {
  return wsk_buf_append(ud, buf, size) == 0 ? 0 : -1;
}

static int put(wsk_buf_t *out, const char *s) { return wsk_buf_append_str(out, s); }

/* jansson's encoding of a value (compact, any type). */
static int put_json(wsk_buf_t *out, const json_t *v) {
  return json_dump_callback(v, append_cb, out, JSON_COMPACT | JSON_ENCODE_ANY) == 0 ? 0 : WSK_ENOMEM;
}

/* A C string as a JSON string; invalid UTF-8 is refused by json_string. */
static int put_string(wsk_buf_t *out, const char *s) {
  if (!s) return WSK_EINVAL;
  json_t *j = json_string(s);
  if (!j) return WSK_EINVAL;
  int r = put_json(out, j);
  json_decref(j);
  return r;
}

static int put_u64(wsk_buf_t *out, uint64_t id) {
  char digits[24];
  snprintf(digits, sizeof digits, "%" PRIu64, id);
  return put(out, digits);
}

static int put_id(wsk_buf_t *out, const json_t *id) {
  if (!id) return put(out, "null");
  if (!id_valid(id)) return WSK_EINVAL;
  return put_json(out, id);
}

static const char *skip_ws(const char *s, size_t n, size_t *left) {
  while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) s++, n--;
  *left = n;
  return s;
}

/* The common tail of requests and notifications. `params` xor `ptext`. */
static int put_call(wsk_buf_t *out, const char *method, const json_t *params, const char *ptext, size_t plen) {
  int r;
  if ((r = put(out, "\"method\":")) < 0 || (r = put_string(out, method)) < 0) return r;
  if (params) {
    if (!json_is_array(params) && !json_is_object(params)) return WSK_EINVAL;
    if ((r = put(out, ",\"params\":")) < 0 || (r = put_json(out, params)) < 0) return r;
  } else if (ptext && plen > 0) {
    size_t left;
    const char *p = skip_ws(ptext, plen, &left);
    if (left == 0 || (*p != '[' && *p != '{')) return WSK_EINVAL;
    if ((r = put(out, ",\"params\":")) < 0 || (r = wsk_buf_append(out, ptext, plen)) < 0) return r;
  }
  return put(out, "}");
}

/* Run a builder; on failure leave `out` as it was. */
static int done(wsk_buf_t *out, size_t before, int r) {
  if (r < 0) out->len = before;
  return r < 0 ? r : 0;
}

static int request(wsk_buf_t *out, uint64_t id, const char *method, const json_t *params, const char *ptext,
                   size_t plen) {
  size_t before = out->len;
  if (id > (uint64_t)INT64_MAX) return WSK_EINVAL;
  int r = put(out, "{\"jsonrpc\":\"2.0\",\"id\":");
  if (r == 0) r = put_u64(out, id);
  if (r == 0) r = put(out, ",");
  if (r == 0) r = put_call(out, method, params, ptext, plen);
  return done(out, before, r);
}

int wsk_jsonrpc_request(wsk_buf_t *out, uint64_t id, const char *method, const json_t *params) {
  return request(out, id, method, params, NULL, 0);
}

int wsk_jsonrpc_request_text(wsk_buf_t *out, uint64_t id, const char *method, const char *params,
                             size_t params_len) {
  return request(out, id, method, NULL, params, params_len);
}

static int notification(wsk_buf_t *out, const char *method, const json_t *params, const char *ptext,
                        size_t plen) {
  size_t before = out->len;
  int r = put(out, "{\"jsonrpc\":\"2.0\",");
  if (r == 0) r = put_call(out, method, params, ptext, plen);
  return done(out, before, r);
}

int wsk_jsonrpc_notification(wsk_buf_t *out, const char *method, const json_t *params) {
  return notification(out, method, params, NULL, 0);
}

int wsk_jsonrpc_notification_text(wsk_buf_t *out, const char *method, const char *params,
                                  size_t params_len) {
  return notification(out, method, NULL, params, params_len);
}

static int reply_head(wsk_buf_t *out, const json_t *id) {
  int r = put(out, "{\"jsonrpc\":\"2.0\",\"id\":");
  if (r == 0) r = put_id(out, id);
  return r;
}

int wsk_jsonrpc_result(wsk_buf_t *out, const json_t *id, const json_t *result) {
  size_t before = out->len;
  int r = reply_head(out, id);
  if (r == 0) r = put(out, ",\"result\":");
  if (r == 0) r = result ? put_json(out, result) : put(out, "null");
  if (r == 0) r = put(out, "}");
  return done(out, before, r);
}

int wsk_jsonrpc_result_text(wsk_buf_t *out, const json_t *id, const char *result, size_t result_len) {
  size_t before = out->len;
  size_t left = 0;
  if (result && result_len > 0) {
    skip_ws(result, result_len, &left);
    if (left == 0) return WSK_EINVAL; /* only whitespace */
  }
  int r = reply_head(out, id);
  if (r == 0) r = put(out, ",\"result\":");
  if (r == 0) r = left ? wsk_buf_append(out, result, result_len) : put(out, "null");
  if (r == 0) r = put(out, "}");
  return done(out, before, r);
}

static const char *standard_message(int64_t code) {
  switch (code) {
  case WSK_JSONRPC_PARSE_ERROR: return "Parse error";
  case WSK_JSONRPC_INVALID_REQUEST: return "Invalid Request";
  case WSK_JSONRPC_METHOD_NOT_FOUND: return "Method not found";
  case WSK_JSONRPC_INVALID_PARAMS: return "Invalid params";
  case WSK_JSONRPC_INTERNAL_ERROR: return "Internal error";
  default: return code >= -32099 && code <= -32000 ? "Server error" : "";
  }
}

int wsk_jsonrpc_error(wsk_buf_t *out, const json_t *id, int64_t code, const char *message, const json_t *data) {
  size_t before = out->len;
  char num[24];
  snprintf(num, sizeof num, "%" PRId64, code);
  int r = reply_head(out, id);
  if (r == 0) r = put(out, ",\"error\":{\"code\":");
  if (r == 0) r = put(out, num);
  if (r == 0) r = put(out, ",\"message\":");
  if (r == 0) r = put_string(out, message ? message : standard_message(code));
  if (r == 0 && data) {
    r = put(out, ",\"data\":");
    if (r == 0) r = put_json(out, data);
  }
  if (r == 0) r = put(out, "}}");
  return done(out, before, r);
}
