/* Error codes: every code has a name and a text; unknown codes are named. */
#include "wskit/common.h"
#include "testlib.h"

TEST(every_code_has_a_name_and_text) {
  for (int e = WSK_OK; e >= WSK_EIO; e--) {
    CHECK(strcmp(wsk_err_name(e), "EUNKNOWN") != 0);
    CHECK(strcmp(wsk_strerror(e), "unknown error") != 0);
  }
}

TEST(eio_is_named) {
  CHECK_STR(wsk_err_name(WSK_EIO), "EIO");
  CHECK_STR(wsk_strerror(WSK_EIO), "I/O or network error");
}

TEST(unknown_code_is_unknown) {
  CHECK_STR(wsk_err_name(-1000), "EUNKNOWN");
  CHECK_STR(wsk_strerror(-1000), "unknown error");
}

int main(void) {
  RUN(every_code_has_a_name_and_text);
  RUN(eio_is_named);
  RUN(unknown_code_is_unknown);
  return test_summary();
}
