/* Test helper for tests/backplane: hands the C constants and envelope
 * code to the Python tests that run the scripts in a real redis-server.
 *
 *   scripts_helper publish|recover      print the script text
 *   scripts_helper parse                parse an envelope from stdin; print
 *                                       "kind seq epoch origin channel_len"
 *                                       then LF, channel, payload (exit 1
 *                                       with the reason on stderr if bad)
 *   scripts_helper build K SEQ EPOCH ORIGIN CHANNEL   envelope of stdin
 *                                       as the payload */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wskit/backplane.h>

static int read_stdin(wsk_buf_t *b) {
  for (int i = 0; i < 1 << 16; i++) { /* bounded: 64 MiB at most */
    uint8_t *p = wsk_buf_reserve(b, 1024);
    if (!p) return -1;
    size_t n = fread(p, 1, 1024, stdin);
    b->len += n;
    if (n < 1024) return ferror(stdin) ? -1 : 0;
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "publish") == 0) {
    fputs(WSK_REDIS_PUBLISH_SCRIPT, stdout);
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "recover") == 0) {
    fputs(WSK_REDIS_RECOVER_SCRIPT, stdout);
    return 0;
  }
  wsk_buf_t in = { 0 }, out = { 0 };
  if (read_stdin(&in) != 0) return 2;
  int rc = 2;
  if (argc == 2 && strcmp(argv[1], "parse") == 0) {
    const char *origin, *why;
    size_t olen;
    wsk_chan_msg_t m;
    if (wsk_envelope_parse(in.data, in.len, &origin, &olen, &m, &why) != 0) {
      fprintf(stderr, "%s\n", why);
      rc = 1;
    } else {
      printf("%c %llu %.*s %.*s %zu\n", (char)m.kind, (unsigned long long)m.seq, (int)m.epoch_len,
             m.epoch, (int)olen, origin, m.channel_len);
      fwrite(m.channel, 1, m.channel_len, stdout);
      fwrite(m.payload, 1, m.payload_len, stdout);
      rc = 0;
    }
  } else if (argc == 7 && strcmp(argv[1], "build") == 0) {
    wsk_chan_msg_t m = { 0 };
    m.kind = (wsk_payload_kind_t)argv[2][0];
    m.seq = strtoull(argv[3], NULL, 10);
    m.epoch = argv[4];
    m.epoch_len = strlen(argv[4]);
    m.channel = argv[6];
    m.channel_len = strlen(argv[6]);
    m.payload = in.data;
    m.payload_len = in.len;
    int r = wsk_envelope_build(&out, argv[5], &m);
    if (r != 0) {
      fprintf(stderr, "%s\n", wsk_strerror(r));
      rc = 1;
    } else {
      fwrite(out.data, 1, out.len, stdout);
      rc = 0;
    }
  }
  wsk_buf_free(&in);
  wsk_buf_free(&out);
  return rc;
}
