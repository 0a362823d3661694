"""Reads a Server-Sent Events stream for the Lua specs (loopback, 15 s).

  py_sse.py URL COUNT [--last-event-id ID]

Prints "STATUS <code>", then every non-empty line of the stream as
"LINE <text>" until COUNT events (blank-line terminated) came, then "DONE"."""
import argparse
import sys
import urllib.error
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("url")
p.add_argument("count", type=int)
p.add_argument("--last-event-id")
a = p.parse_args()
req = urllib.request.Request(a.url)
if a.last_event_id:
    req.add_header("Last-Event-ID", a.last_event_id)
try:
    with urllib.request.urlopen(req, timeout=15) as r:
        print("STATUS", r.status, flush=True)
        events, pending = 0, False
        while events < a.count:
            line = r.readline()
            if not line:
                print("FAIL eof", flush=True)
                sys.exit(1)
            line = line.decode().rstrip("\r\n")
            if line:
                print("LINE", line, flush=True)
                pending = pending or not line.startswith((":", "retry:"))
            elif pending:
                events, pending = events + 1, False
        print("DONE", flush=True)
except urllib.error.HTTPError as e:
    print("STATUS", e.code, flush=True)
