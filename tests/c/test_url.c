/* ws:// and wss:// URL parsing. */
#include "testlib.h"
#include "wskit/handshake.h"

#include <string.h>

TEST(url_plain_ws_defaults) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("ws://example.com", &u), 0);
  CHECK_INT(u.secure, 0);
  CHECK_STR(u.host, "example.com");
  CHECK_INT(u.ipv6, 0);
  CHECK_INT(u.port, 80);
  CHECK_INT(u.port_explicit, 0);
  CHECK_STR(u.resource, "/");
  CHECK_STR(u.userinfo, "");
}

TEST(url_wss_default_port_443) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("wss://example.com/chat", &u), 0);
  CHECK_INT(u.secure, 1);
  CHECK_INT(u.port, 443);
  CHECK_STR(u.resource, "/chat");
}

TEST(url_scheme_is_case_insensitive) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("WSS://Example.COM/", &u), 0);
  CHECK_INT(u.secure, 1);
  CHECK_STR(u.host, "Example.COM");
  CHECK_INT(wsk_url_parse("Ws://h", &u), 0);
  CHECK_INT(u.secure, 0);
}

TEST(url_explicit_port) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("ws://h:8080/x", &u), 0);
  CHECK_INT(u.port, 8080);
  CHECK_INT(u.port_explicit, 1);
  CHECK_INT(wsk_url_parse("wss://h:443", &u), 0);
  CHECK_INT(u.port, 443);
  CHECK_INT(u.port_explicit, 1);
  CHECK_INT(wsk_url_parse("ws://h:1", &u), 0);
  CHECK_INT(wsk_url_parse("ws://h:65535", &u), 0);
  CHECK_INT(u.port, 65535);
}

TEST(url_rejects_bad_ports) {
  wsk_url_t u;
  const char *bad[] = { "ws://h:0", "ws://h:65536", "ws://h:", "ws://h:-1", "ws://h:80a",
                        "ws://h:000080", "ws://h:99999999999999999999", "ws://h:80:81" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_INT(wsk_url_parse(bad[i], &u), WSK_EURL);
}

TEST(url_ipv6_literals) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("ws://[::1]/", &u), 0);
  CHECK_STR(u.host, "::1");
  CHECK_INT(u.ipv6, 1);
  CHECK_INT(u.port, 80);
  CHECK_INT(wsk_url_parse("wss://[2001:db8::7]:9443/a?b", &u), 0);
  CHECK_STR(u.host, "2001:db8::7");
  CHECK_INT(u.port, 9443);
  CHECK_STR(u.resource, "/a?b");
  CHECK_INT(wsk_url_parse("ws://[::ffff:192.0.2.1]", &u), 0);
  CHECK_STR(u.host, "::ffff:192.0.2.1");
  CHECK_INT(wsk_url_parse("ws://[1:2:3:4:5:6:7:8]", &u), 0);
  CHECK_INT(wsk_url_parse("ws://[::]", &u), 0);
}

TEST(url_rejects_bad_ipv6) {
  wsk_url_t u;
  const char *bad[] = { "ws://[::1", "ws://::1/", "ws://[]/", "ws://[1:2:3:4:5:6:7:8:9]",
                        "ws://[1::2::3]", "ws://[12345::]", "ws://[::1]x", "ws://[g::1]",
                        "ws://[1:2:3:4:5:6:7]", "ws://[::1%25eth0]", "ws://[:1::]", "ws://[1:]",
                        "ws://[::1.2.3]" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (wsk_url_parse(bad[i], &u) != WSK_EURL) TL_FAIL("accepted %s", bad[i]);
  }
}

TEST(url_userinfo_is_percent_decoded) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("ws://us%40er:p%3Ass@h/", &u), 0);
  CHECK_STR(u.userinfo, "us@er:p:ss");
  CHECK_STR(u.host, "h");
  CHECK_INT(wsk_url_parse("ws://a:b@c@h:81", &u), 0); /* the last @ ends userinfo */
  CHECK_STR(u.userinfo, "a:b@c");
  CHECK_STR(u.host, "h");
  CHECK_INT(u.port, 81);
  CHECK_INT(wsk_url_parse("ws://u%4@h", &u), WSK_EURL);
  CHECK_INT(wsk_url_parse("ws://u%00@h", &u), WSK_EURL);
  CHECK_INT(wsk_url_parse("ws://u%0a@h", &u), WSK_EURL);
}

TEST(url_keeps_path_and_query) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("ws://h/a/b?c=d&e", &u), 0);
  CHECK_STR(u.resource, "/a/b?c=d&e");
  CHECK_INT(wsk_url_parse("ws://h?x=1", &u), 0);
  CHECK_STR(u.resource, "/?x=1");
  CHECK_STR(u.host, "h");
}

TEST(url_encodes_spaces_and_non_ascii) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("ws://h/a b/\xc3\xa9", &u), 0);
  CHECK_STR(u.resource, "/a%20b/%C3%A9");
}

TEST(url_rejects_fragment) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("ws://h/chat#frag", &u), WSK_EURL);
  CHECK_INT(wsk_url_parse("ws://h#", &u), WSK_EURL);
}

TEST(url_rejects_other_schemes_and_shapes) {
  wsk_url_t u;
  const char *bad[] = { "http://h/", "wss:/h", "ws:h", "ws//h", "ws://", "ws:///x", "ws://@/",
                        "wsx://h", "ws://h\r\n/", "ws://h/\x01", "ws://h h/", "ws://h%41/", "",
                        " ws://h" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (wsk_url_parse(bad[i], &u) != WSK_EURL) TL_FAIL("accepted %s", bad[i]);
  }
  CHECK_INT(wsk_url_parse(NULL, &u), WSK_EURL);
}

TEST(url_rejects_over_long_parts) {
  wsk_url_t u;
  char url[6000];
  strcpy(url, "ws://");
  memset(url + 5, 'a', 256);
  url[5 + 256] = '\0';
  CHECK_INT(wsk_url_parse(url, &u), WSK_EURL);
  url[5 + 255] = '\0';
  CHECK_INT(wsk_url_parse(url, &u), 0);
  strcpy(url, "ws://h/");
  memset(url + 7, 'p', 4095);
  url[7 + 4095] = '\0';
  CHECK_INT(wsk_url_parse(url, &u), WSK_EURL);
  url[7 + 4094] = '\0'; /* "/" + 4094 = 4095 chars + NUL */
  CHECK_INT(wsk_url_parse(url, &u), 0);
}

TEST(url_ipv4_host) {
  wsk_url_t u;
  CHECK_INT(wsk_url_parse("ws://127.0.0.1:9001/getCaseCount", &u), 0);
  CHECK_STR(u.host, "127.0.0.1");
  CHECK_INT(u.ipv6, 0);
  CHECK_INT(u.port, 9001);
}

int main(void) {
  RUN(url_plain_ws_defaults);
  RUN(url_wss_default_port_443);
  RUN(url_scheme_is_case_insensitive);
  RUN(url_explicit_port);
  RUN(url_rejects_bad_ports);
  RUN(url_ipv6_literals);
  RUN(url_rejects_bad_ipv6);
  RUN(url_userinfo_is_percent_decoded);
  RUN(url_keeps_path_and_query);
  RUN(url_encodes_spaces_and_non_ascii);
  RUN(url_rejects_fragment);
  RUN(url_rejects_other_schemes_and_shapes);
  RUN(url_rejects_over_long_parts);
  RUN(url_ipv4_host);
  return test_summary();
}
