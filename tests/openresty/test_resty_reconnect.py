"""resty.wskit.reconnect: a bot in an ngx.timer that reconnects with the
core's backoff when the peer restarts, and gives up when told not to."""
import time


def status(nginx):
    return nginx.get_json("/bot?action=status")


def wait_status(nginx, cond, seconds=10):
    deadline = time.time() + seconds
    s = status(nginx)
    while time.time() < deadline and not cond(s):
        time.sleep(0.05)
        s = status(nginx)
    return s


def test_bot_reconnects_after_restarts_then_stops(nginx, peer):
    peer.flaky_count = 0
    assert nginx.get_json("/bot?action=start&port=%d&path=/flaky" % peer.port)["started"]
    s = wait_status(nginx, lambda s: s.get("connects", 0) >= 3 and len(s.get("messages", [])) >= 3)
    assert s["connects"] >= 3, s
    assert s["messages"][:3] == ["welcome 1", "welcome 2", "welcome 3"]
    retries = s["retries"]
    assert len(retries) == 2
    assert all(r["kind"] == "closed" and r["detail"] == 1012 for r in retries)
    assert all(0 <= r["delay"] <= 200 for r in retries)
    nginx.get("/bot?action=stop")
    s = wait_status(nginx, lambda s: s.get("done"))
    assert s["done"] is True and s["result"] == "stopped"


def test_bot_gives_up_on_403(nginx, peer):
    before = peer.connections["/flaky_reject"]
    assert nginx.get_json("/bot?action=start&port=%d&path=/flaky_reject" % peer.port)["started"]
    s = wait_status(nginx, lambda s: s.get("done"))
    assert s["done"] is True
    assert s["result"].startswith("not retrying")
    assert s["failure"]["kind"] == "http_status" and s["failure"]["detail"] == 403
    assert peer.connections["/flaky_reject"] == before + 1


def test_bot_gives_up_after_max_attempts(nginx, peer):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert nginx.get_json("/bot?action=start&port=%d&path=/&max_attempts=3" % port)["started"]
    st = wait_status(nginx, lambda s: s.get("done"))
    assert st["done"] is True and st["result"].startswith("gave up after 3 attempts")
    assert len(st["retries"]) == 3 and all(r["kind"] == "refused" for r in st["retries"])
