/* A tiny test harness: one binary per test file, one function per rule.
 *
 *   TEST(frame_rsv2_is_1002) { ... CHECK(x == y); CHECK_INT(a, b); }
 *   int main(void) { RUN(frame_rsv2_is_1002); return test_summary(); }
 *
 * A failed CHECK reports file:line and ends the current test. */
#ifndef WSK_TESTLIB_H
#define WSK_TESTLIB_H

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

static int tl_passed, tl_failed, tl_current_failed;
static jmp_buf tl_jmp;
static const char *tl_name;

#define TEST(name) static void name(void)

#define TL_FAIL(...)                                                   \
  do {                                                                 \
    fprintf(stderr, "  FAIL %s (%s:%d): ", tl_name, __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                      \
    fprintf(stderr, "\n");                                             \
    tl_current_failed = 1;                                             \
    longjmp(tl_jmp, 1);                                                \
  } while (0)

#define CHECK(cond) \
  do { if (!(cond)) TL_FAIL("%s", #cond); } while (0)

#define CHECK_INT(a, b)                                                       \
  do {                                                                        \
    long long tl_a = (long long)(a), tl_b = (long long)(b);                   \
    if (tl_a != tl_b) TL_FAIL("%s == %lld, expected %s == %lld", #a, tl_a, #b, tl_b); \
  } while (0)

#define CHECK_MEM(p, q, n) \
  do { if (memcmp((p), (q), (n)) != 0) TL_FAIL("memory differs: %s vs %s", #p, #q); } while (0)

#define CHECK_STR(a, b)                                                         \
  do {                                                                          \
    const char *tl_sa = (a), *tl_sb = (b);                                      \
    if (!tl_sa || !tl_sb || strcmp(tl_sa, tl_sb) != 0)                          \
      TL_FAIL("%s == \"%s\", expected \"%s\"", #a, tl_sa ? tl_sa : "(null)", tl_sb ? tl_sb : "(null)"); \
  } while (0)

#define RUN(name)                                  \
  do {                                             \
    tl_name = #name;                               \
    tl_current_failed = 0;                         \
    if (setjmp(tl_jmp) == 0) name();               \
    if (tl_current_failed) tl_failed++; else tl_passed++; \
  } while (0)

static inline int test_summary(void) {
  printf("%d passed, %d failed\n", tl_passed, tl_failed);
  return tl_failed ? 1 : 0;
}

#endif
