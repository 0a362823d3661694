/* JSON-RPC 2.0 envelopes: building and classifying. */
#include "../c/testlib.h"
#include "jsonrpc.h"
#include "wskit/rpc.h"

#include <stdlib.h>
#include <string.h>

/* Compare a built buffer with the expected text, then reset it. */
static int buf_is(wsk_buf_t *b, const char *want) {
  int ok = b->len == strlen(want) && memcmp(b->data, want, b->len) == 0;
  if (!ok) fprintf(stderr, "    got:  %.*s\n    want: %s\n", (int)b->len, b->data ? (char *)b->data : "", want);
  b->len = 0;
  return ok;
}

static int parse_str(const char *s, wsk_jsonrpc_msg_t *m) { return wsk_jsonrpc_parse(s, strlen(s), m); }

/* ---- building ---- */

TEST(build_request_with_params) {
  wsk_buf_t b = {0};
  json_t *params = json_pack("[ii]", 1, 2);
  CHECK_INT(wsk_jsonrpc_request(&b, 7, "sum", params), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"sum\",\"params\":[1,2]}"));
  json_t *named = json_pack("{s:s}", "name", "caf\xc3\xa9 \"q\"");
  CHECK_INT(wsk_jsonrpc_request(&b, 8, "greet", named), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"greet\",\"params\":{\"name\":\"caf\xc3\xa9 \\\"q\\\"\"}}"));
  CHECK_INT(params->refcount, 1); /* not stolen */
  json_decref(params);
  json_decref(named);
  wsk_buf_free(&b);
}

TEST(build_request_without_params) {
  wsk_buf_t b = {0};
  CHECK_INT(wsk_jsonrpc_request(&b, 1, "ping", NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"));
  CHECK_INT(wsk_jsonrpc_request_text(&b, 2, "ping", NULL, 0), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"));
  wsk_buf_free(&b);
}

TEST(build_request_from_encoded_params) {
  wsk_buf_t b = {0};
  const char *p = "[1, {\"a\": null}]";
  CHECK_INT(wsk_jsonrpc_request_text(&b, 9, "m", p, strlen(p)), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"m\",\"params\":[1, {\"a\": null}]}"));
  CHECK_INT(wsk_jsonrpc_request_text(&b, 9, "m", " {}", 3), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"m\",\"params\": {}}"));
  wsk_buf_free(&b);
}

TEST(build_request_id_limits) {
  wsk_buf_t b = {0};
  CHECK_INT(wsk_jsonrpc_request(&b, 9223372036854775807ULL, "m", NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"m\"}"));
  CHECK_INT(wsk_jsonrpc_request(&b, 9223372036854775808ULL, "m", NULL), WSK_EINVAL);
  CHECK_INT(wsk_jsonrpc_request(&b, 0, "m", NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"m\"}"));
  wsk_buf_free(&b);
}

TEST(build_rejects_bad_input_and_leaves_out_unchanged) {
  wsk_buf_t b = {0};
  CHECK_INT(wsk_buf_append_str(&b, "keep"), 0);
  json_t *scalar = json_integer(3);
  CHECK_INT(wsk_jsonrpc_request(&b, 1, "m", scalar), WSK_EINVAL);       /* params must be structured */
  CHECK_INT(wsk_jsonrpc_request(&b, 1, "bad\xff", NULL), WSK_EINVAL);   /* not UTF-8 */
  CHECK_INT(wsk_jsonrpc_request(&b, 1, NULL, NULL), WSK_EINVAL);
  CHECK_INT(wsk_jsonrpc_request_text(&b, 1, "m", "3", 1), WSK_EINVAL);
  CHECK_INT(wsk_jsonrpc_request_text(&b, 1, "m", "  ", 2), WSK_EINVAL);
  CHECK_INT(wsk_jsonrpc_notification(&b, "m", scalar), WSK_EINVAL);
  CHECK_INT(wsk_jsonrpc_result(&b, json_true(), NULL), WSK_EINVAL);     /* ids: string, number, null */
  json_t *obj = json_object();
  CHECK_INT(wsk_jsonrpc_error(&b, obj, -1, "x", NULL), WSK_EINVAL);
  CHECK_INT(wsk_jsonrpc_error(&b, NULL, -1, "bad\xc3", NULL), WSK_EINVAL);
  CHECK_INT(wsk_jsonrpc_result_text(&b, NULL, " \n", 2), WSK_EINVAL);
  CHECK(buf_is(&b, "keep"));
  json_decref(scalar);
  json_decref(obj);
  wsk_buf_free(&b);
}

TEST(build_notification) {
  wsk_buf_t b = {0};
  json_t *params = json_pack("{s:i}", "x", 1);
  CHECK_INT(wsk_jsonrpc_notification(&b, "update", params), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":{\"x\":1}}"));
  CHECK_INT(wsk_jsonrpc_notification(&b, "tick", NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"tick\"}"));
  CHECK_INT(wsk_jsonrpc_notification_text(&b, "update", "[true]", 6), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":[true]}"));
  json_decref(params);
  wsk_buf_free(&b);
}

TEST(build_result_echoes_any_id) {
  wsk_buf_t b = {0};
  json_t *num = json_integer(42), *str = json_string("abc"), *res = json_pack("{s:[i]}", "v", 3);
  CHECK_INT(wsk_jsonrpc_result(&b, num, res), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"v\":[3]}}"));
  CHECK_INT(wsk_jsonrpc_result(&b, str, NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":null}"));
  CHECK_INT(wsk_jsonrpc_result(&b, json_null(), json_false()), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":false}"));
  CHECK_INT(wsk_jsonrpc_result(&b, NULL, res), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{\"v\":[3]}}"));
  CHECK_INT(wsk_jsonrpc_result_text(&b, num, "\"done\"", 6), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":\"done\"}"));
  CHECK_INT(wsk_jsonrpc_result_text(&b, num, NULL, 0), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":null}"));
  json_decref(num);
  json_decref(str);
  json_decref(res);
  wsk_buf_free(&b);
}

TEST(build_error_reply) {
  wsk_buf_t b = {0};
  json_t *id = json_integer(5), *data = json_pack("{s:s}", "field", "x");
  CHECK_INT(wsk_jsonrpc_error(&b, id, WSK_JSONRPC_METHOD_NOT_FOUND, "no such method: frob", NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32601,\"message\":\"no such method: frob\"}}"));
  CHECK_INT(wsk_jsonrpc_error(&b, id, WSK_JSONRPC_INVALID_PARAMS, NULL, data), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32602,\"message\":\"Invalid params\","
                   "\"data\":{\"field\":\"x\"}}}"));
  CHECK_INT(wsk_jsonrpc_error(&b, NULL, WSK_JSONRPC_PARSE_ERROR, NULL, NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}"));
  CHECK_INT(wsk_jsonrpc_error(&b, id, -32050, NULL, NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32050,\"message\":\"Server error\"}}"));
  CHECK_INT(wsk_jsonrpc_error(&b, id, 17, NULL, NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":17,\"message\":\"\"}}"));
  json_decref(id);
  json_decref(data);
  wsk_buf_free(&b);
}

/* ---- classifying ---- */

TEST(parse_request) {
  wsk_jsonrpc_msg_t m;
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sum\",\"params\":[1,2]}", &m), WSK_JSONRPC_REQUEST);
  CHECK_INT(m.kind, WSK_JSONRPC_REQUEST);
  CHECK_STR(m.method, "sum");
  CHECK(json_is_array(m.params));
  CHECK_INT(json_array_size(m.params), 2);
  CHECK(json_is_integer(m.id));
  CHECK_INT(json_integer_value(m.id), 3);
  CHECK(m.root != NULL);
  wsk_jsonrpc_msg_free(&m);
  CHECK(m.root == NULL);
  wsk_jsonrpc_msg_free(&m); /* twice is fine */
}

TEST(parse_request_string_and_null_ids_echo_back) {
  wsk_jsonrpc_msg_t m;
  wsk_buf_t b = {0};
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"method\":\"m\"}", &m), WSK_JSONRPC_REQUEST);
  CHECK_STR(json_string_value(m.id), "req-1");
  CHECK(m.params == NULL);
  CHECK_INT(wsk_jsonrpc_result(&b, m.id, NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"result\":null}"));
  wsk_jsonrpc_msg_free(&m);
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\",\"params\":{}}", &m), WSK_JSONRPC_REQUEST);
  CHECK(json_is_null(m.id));
  CHECK(json_is_object(m.params));
  CHECK_INT(wsk_jsonrpc_error(&b, m.id, -32601, NULL, NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}"));
  wsk_jsonrpc_msg_free(&m);
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"m\"}", &m), WSK_JSONRPC_REQUEST);
  CHECK(json_is_real(m.id));
  wsk_jsonrpc_msg_free(&m);
  wsk_buf_free(&b);
}

TEST(parse_notification_has_no_id) {
  wsk_jsonrpc_msg_t m;
  CHECK_INT(parse_str("{\"method\":\"tick\",\"jsonrpc\":\"2.0\"}", &m), WSK_JSONRPC_NOTIFICATION);
  CHECK_STR(m.method, "tick");
  CHECK(m.id == NULL);
  CHECK(m.params == NULL);
  wsk_jsonrpc_msg_free(&m);
  CHECK_INT(parse_str(" {\"jsonrpc\":\"2.0\",\"method\":\"u\",\"params\":[{\"a\":1}]} \n", &m),
            WSK_JSONRPC_NOTIFICATION);
  CHECK(json_is_array(m.params));
  wsk_jsonrpc_msg_free(&m);
}

TEST(parse_result_reply) {
  wsk_jsonrpc_msg_t m;
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":{\"ok\":true}}", &m), WSK_JSONRPC_RESULT);
  CHECK_INT(m.has_u64_id, 1);
  CHECK_INT(m.u64_id, 12);
  CHECK(json_is_true(json_object_get(m.result, "ok")));
  wsk_jsonrpc_msg_free(&m);
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"result\":null}", &m), WSK_JSONRPC_RESULT);
  CHECK(json_is_null(m.result));
  CHECK_INT(m.has_u64_id, 1);
  CHECK(m.u64_id == 9223372036854775807ULL);
  wsk_jsonrpc_msg_free(&m);
}

TEST(parse_reply_with_foreign_ids) {
  wsk_jsonrpc_msg_t m;
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":\"12\",\"result\":1}", &m), WSK_JSONRPC_RESULT);
  CHECK_INT(m.has_u64_id, 0); /* not one of ours */
  CHECK_STR(json_string_value(m.id), "12");
  wsk_jsonrpc_msg_free(&m);
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":1}", &m), WSK_JSONRPC_RESULT);
  CHECK_INT(m.has_u64_id, 0);
  wsk_jsonrpc_msg_free(&m);
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}", &m),
            WSK_JSONRPC_ERROR);
  CHECK_INT(m.has_u64_id, 0);
  CHECK(json_is_null(m.id));
  wsk_jsonrpc_msg_free(&m);
}

TEST(parse_error_reply) {
  wsk_jsonrpc_msg_t m;
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32000,\"message\":\"busy\","
                      "\"data\":[1]}}", &m), WSK_JSONRPC_ERROR);
  CHECK_INT(m.code, -32000);
  CHECK_STR(m.message, "busy");
  CHECK(json_is_array(m.data));
  CHECK_INT(m.has_u64_id, 1);
  CHECK_INT(m.u64_id, 4);
  wsk_jsonrpc_msg_free(&m);
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":1,\"message\":\"x\"}}", &m), WSK_JSONRPC_ERROR);
  CHECK(m.data == NULL);
  wsk_jsonrpc_msg_free(&m);
}

TEST(parse_error_is_32700) {
  const char *bad[] = { "", "{", "not json", "{\"jsonrpc\":\"2.0\",}", "{\"a\":1} trailing",
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"", "[1,2",
                        "{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999,\"result\":1}" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsk_jsonrpc_msg_t m;
    if (parse_str(bad[i], &m) != WSK_JSONRPC_INVALID) TL_FAIL("not invalid: %s", bad[i]);
    CHECK_INT(m.code, WSK_JSONRPC_PARSE_ERROR);
    CHECK(m.id == NULL);
    CHECK(strstr(m.message, "Parse error") == m.message);
    wsk_jsonrpc_msg_free(&m);
  }
  wsk_jsonrpc_msg_t m;
  CHECK_INT(wsk_jsonrpc_parse("{\"a\":\"\xff\"}", 10, &m), WSK_JSONRPC_INVALID); /* not UTF-8 */
  CHECK_INT(m.code, WSK_JSONRPC_PARSE_ERROR);
  CHECK_INT(wsk_jsonrpc_parse(NULL, 0, &m), WSK_JSONRPC_INVALID);
  CHECK_INT(m.code, WSK_JSONRPC_PARSE_ERROR);
}

TEST(invalid_request_is_32600) {
  const char *bad[] = {
    "1", "\"str\"", "null", "true",                                   /* scalars */
    "[]",                                                             /* empty batch */
    "{}",
    "{\"id\":1,\"method\":\"m\"}",                                    /* no jsonrpc */
    "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"m\"}",
    "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"m\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":3}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":\"x\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"m\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"m\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":true,\"result\":1}",
    "{\"jsonrpc\":\"2.0\",\"result\":1}",                             /* reply without id */
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{\"code\":1,\"message\":\"x\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"boom\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"x\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1.5,\"message\":\"x\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":2}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsk_jsonrpc_msg_t m;
    if (parse_str(bad[i], &m) != WSK_JSONRPC_INVALID) TL_FAIL("not invalid: %s", bad[i]);
    if (m.code != WSK_JSONRPC_INVALID_REQUEST) TL_FAIL("code %lld for %s", (long long)m.code, bad[i]);
    CHECK(strstr(m.message, "Invalid Request") == m.message);
    CHECK(m.method == NULL && m.params == NULL && m.result == NULL && !m.has_u64_id);
    wsk_jsonrpc_msg_free(&m);
  }
}

TEST(invalid_request_keeps_a_readable_id) {
  wsk_jsonrpc_msg_t m;
  wsk_buf_t b = {0};
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":5}", &m), WSK_JSONRPC_INVALID);
  CHECK_STR(json_string_value(m.id), "a");
  CHECK_INT(wsk_jsonrpc_error(&b, m.id, m.code, m.message, NULL), 0);
  CHECK(buf_is(&b, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32600,"
                   "\"message\":\"Invalid Request: \\\"method\\\" must be a string\"}}"));
  wsk_jsonrpc_msg_free(&m);
  CHECK_INT(parse_str("{\"jsonrpc\":\"2.0\",\"id\":{\"x\":1},\"method\":\"m\"}", &m), WSK_JSONRPC_INVALID);
  CHECK(m.id == NULL); /* unusable id: answer with null */
  CHECK_INT(wsk_jsonrpc_error(&b, m.id, m.code, m.message, NULL), 0);
  CHECK(strncmp((char *)b.data, "{\"jsonrpc\":\"2.0\",\"id\":null,", 27) == 0);
  wsk_jsonrpc_msg_free(&m);
  wsk_buf_free(&b);
}

TEST(parse_batch_and_classify_elements) {
  wsk_jsonrpc_msg_t m, e;
  const char *t = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"},"
                  " {\"jsonrpc\":\"2.0\",\"method\":\"b\"},"
                  " 1, [2],"
                  " {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":7}]";
  CHECK_INT(parse_str(t, &m), WSK_JSONRPC_BATCH);
  CHECK(json_is_array(m.root));
  CHECK_INT(json_array_size(m.root), 5);
  CHECK_INT(wsk_jsonrpc_classify(json_array_get(m.root, 0), &e), WSK_JSONRPC_REQUEST);
  CHECK_STR(e.method, "a");
  CHECK(e.root == NULL);
  wsk_jsonrpc_msg_free(&e); /* borrowed: frees nothing */
  CHECK_INT(wsk_jsonrpc_classify(json_array_get(m.root, 1), &e), WSK_JSONRPC_NOTIFICATION);
  CHECK_INT(wsk_jsonrpc_classify(json_array_get(m.root, 2), &e), WSK_JSONRPC_INVALID);
  CHECK_INT(e.code, WSK_JSONRPC_INVALID_REQUEST);
  CHECK_INT(wsk_jsonrpc_classify(json_array_get(m.root, 3), &e), WSK_JSONRPC_INVALID);
  CHECK_INT(wsk_jsonrpc_classify(json_array_get(m.root, 4), &e), WSK_JSONRPC_RESULT);
  CHECK_INT(e.u64_id, 3);
  wsk_jsonrpc_msg_free(&m);
}

TEST(round_trip_through_the_rpc_table) {
  wsk_rpc_table_t *t = wsk_rpc_new();
  CHECK(t);
  wsk_buf_t b = {0};
  int tag = 0;
  uint64_t id = wsk_rpc_next_id(t);
  json_t *params = json_pack("[s]", "x");
  CHECK_INT(wsk_jsonrpc_request(&b, id, "echo", params), 0);
  json_decref(params);
  CHECK_INT(wsk_rpc_add(t, id, -1, &tag), 0);

  /* the peer: parse the request and answer it */
  wsk_jsonrpc_msg_t req;
  CHECK_INT(wsk_jsonrpc_parse((const char *)b.data, b.len, &req), WSK_JSONRPC_REQUEST);
  wsk_buf_t reply = {0};
  CHECK_INT(wsk_jsonrpc_result(&reply, req.id, json_array_get(req.params, 0)), 0);
  wsk_jsonrpc_msg_free(&req);

  /* us: the reply resolves our pending request */
  wsk_jsonrpc_msg_t rep;
  CHECK_INT(wsk_jsonrpc_parse((const char *)reply.data, reply.len, &rep), WSK_JSONRPC_RESULT);
  CHECK_INT(rep.has_u64_id, 1);
  void *ud = NULL;
  CHECK_INT(wsk_rpc_resolve(t, rep.u64_id, &ud), 0);
  CHECK(ud == &tag);
  CHECK_STR(json_string_value(rep.result), "x");
  wsk_jsonrpc_msg_free(&rep);
  wsk_buf_free(&b);
  wsk_buf_free(&reply);
  wsk_rpc_free(t);
}

TEST(parse_is_bounded_on_deep_nesting) {
  size_t depth = 100000;
  char *s = malloc(2 * depth + 1);
  CHECK(s);
  memset(s, '[', depth);
  memset(s + depth, ']', depth);
  s[2 * depth] = '\0';
  wsk_jsonrpc_msg_t m;
  int k = wsk_jsonrpc_parse(s, 2 * depth, &m);
  free(s);
  CHECK_INT(k, WSK_JSONRPC_INVALID); /* jansson's depth limit: a parse error, no stack overflow */
  CHECK_INT(m.code, WSK_JSONRPC_PARSE_ERROR);
}

int main(void) {
  RUN(build_request_with_params);
  RUN(build_request_without_params);
  RUN(build_request_from_encoded_params);
  RUN(build_request_id_limits);
  RUN(build_rejects_bad_input_and_leaves_out_unchanged);
  RUN(build_notification);
  RUN(build_result_echoes_any_id);
  RUN(build_error_reply);
  RUN(parse_request);
  RUN(parse_request_string_and_null_ids_echo_back);
  RUN(parse_notification_has_no_id);
  RUN(parse_result_reply);
  RUN(parse_reply_with_foreign_ids);
  RUN(parse_error_reply);
  RUN(parse_error_is_32700);
  RUN(invalid_request_is_32600);
  RUN(invalid_request_keeps_a_readable_id);
  RUN(parse_batch_and_classify_elements);
  RUN(round_trip_through_the_rpc_table);
  RUN(parse_is_bounded_on_deep_nesting);
  return test_summary();
}
