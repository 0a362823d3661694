/* raw_echo PORT: a plain TCP echo server on 127.0.0.1:PORT (0 picks a
 * port; the first line printed is "listening PORT"). One thread, epoll,
 * level-triggered, non-blocking sockets with TCP_NODELAY, one shared 256 KiB
 * read buffer. A connection whose echo the kernel did not take in full keeps
 * the rest and stops reading until it has been written. The ceiling for
 * the WebSocket echo servers: it does only the syscalls an echo needs.
 * SIGINT/SIGTERM end it. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)
#define MAXEV 256

typedef struct conn {
  int fd;
  uint8_t *pend; /* unwritten echo, NULL when none */
  size_t plen, poff;
} conn_t;

static volatile sig_atomic_t stop;
static uint8_t buf[BUF];
static int ep;

static void on_sig(int s) {
  (void)s;
  stop = 1;
}

static void drop(conn_t *c) {
  close(c->fd); /* also leaves the epoll set */
  free(c->pend);
  free(c);
}

static void want(conn_t *c, uint32_t ev) {
  struct epoll_event e;
  e.events = ev;
  e.data.ptr = c;
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Write what is pending; 1 when it is all gone, 0 when the kernel is
 * full, -1 on error. */
static int flush_pending(conn_t *c) {
  while (c->poff < c->plen) {
    ssize_t n = write(c->fd, c->pend + c->poff, c->plen - c->poff);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    c->poff += (size_t)n;
  }
  free(c->pend);
  c->pend = NULL;
  c->plen = c->poff = 0;
  return 1;
}

static void on_readable(conn_t *c) {
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    drop(c);
    return;
  }
  if (n < 0) return;
  size_t off = 0;
  while (off < (size_t)n) {
    ssize_t w = write(c->fd, buf + off, (size_t)n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        drop(c);
        return;
      }
      break;
    }
    off += (size_t)w;
  }
  if (off < (size_t)n) { /* keep the rest, stop reading until it is out */
    c->plen = (size_t)n - off;
    c->poff = 0;
    c->pend = malloc(c->plen);
    if (!c->pend) {
      drop(c);
      return;
    }
    memcpy(c->pend, buf + off, c->plen);
    want(c, EPOLLOUT);
  }
}

static void on_writable(conn_t *c) {
  int r = flush_pending(c);
  if (r < 0)
    drop(c);
  else if (r > 0)
    want(c, EPOLLIN);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sig;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)atoi(argv[1]));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
    perror("raw_echo: listen");
    return 1;
  }
  socklen_t al = sizeof a;
  getsockname(ls, (struct sockaddr *)&a, &al);
  printf("listening %d\n", ntohs(a.sin_port));
  fflush(stdout);

  ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event e;
  e.events = EPOLLIN;
  e.data.ptr = NULL; /* the listener */
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &e);
  struct epoll_event evs[MAXEV];
  while (!stop) {
    int n = epoll_wait(ep, evs, MAXEV, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("raw_echo: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (!c) {
        for (;;) {
          int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn_t *nc = calloc(1, sizeof *nc);
          if (!nc) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          struct epoll_event ne;
          ne.events = EPOLLIN;
          ne.data.ptr = nc;
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ne) < 0) drop(nc);
        }
        continue;
      }
      if (c->pend)
        on_writable(c);
      else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(c);
    }
  }
  return 0;
}
