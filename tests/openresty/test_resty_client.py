"""resty.wskit.client inside nginx requests, talking to python3-websockets.
Each case runs in /client?case=NAME and answers JSON (client_cases.lua)."""
import hashlib
import socket
import time

from or_peer import big_payload


def case(nginx, peer, name, **extra):
    q = "case=%s&port=%d&tls_port=%d&bad_tls_port=%d" % (
        name, peer.port, peer.tls_port, peer.bad_tls_port)
    for k, v in extra.items():
        q += "&%s=%s" % (k, v)
    r = nginx.get_json("/client?" + q)
    assert "lua_error" not in r, r
    return r


def wait_for(cond, seconds=5):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_echo_subprotocol_and_compression(nginx, peer):
    r = case(nginx, peer, "echo")
    assert r["text"] == "hello" and r["text_typ"] == "text"
    assert r["binary"] == "AAEC" and r["binary_typ"] == "binary"
    assert r["long_ok"] is True
    assert r["protocol"] == "a"  # we offered b, a; the peer supports a, c
    assert r["compression"] is True
    assert r["close"] == 1


def test_fragmented_1mib_both_ways(nginx, peer):
    r = case(nginx, peer, "big")
    data = big_payload()
    assert r["len"] == len(data) and r["typ"] == "binary"
    assert r["md5"] == hashlib.md5(data).hexdigest()
    assert r["peer"] == "ok"  # our fragmented echo arrived whole and equal


def test_close_code_from_peer(nginx, peer):
    r = case(nginx, peer, "close_code")
    assert (r["typ"], r["code"], r["reason"]) == ("close", 4003, "bye")
    assert r["after"] == "closed" and r["fatal"] is True
    assert r["info"]["code"] == 4003 and r["info"]["clean"] is True


def test_close_code_from_client(nginx, peer):
    before = len(peer.seen["/echo"])
    r = case(nginx, peer, "client_close")
    assert (r["typ"], r["code"]) == ("close", 4002)
    assert r["info"]["sent_code"] == 4002
    assert wait_for(lambda: len(peer.seen["/echo"]) > before)
    assert 4002 in peer.seen["/echo"]


def test_max_payload_len_crossed_is_1009(nginx, peer):
    r = case(nginx, peer, "too_big")
    assert r.get("data") is None and r["fatal"] is True
    assert "1009" in r["err"] or "too big" in r["err"] or "limit" in r["err"], r["err"]
    assert r["info"]["sent_code"] == 1009
    assert wait_for(lambda: 1009 in peer.seen["/send"])


def test_refused_handshake_gives_status_and_body(nginx, peer):
    r = case(nginx, peer, "rejected")
    assert r["ok"] is False
    assert r["status"] == 403 and r["body"] == "go away\n"
    assert "403" in r["err"]


def test_connection_refused_is_classified(nginx, peer):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = case(nginx, peer, "refused", closed_port=port)
    assert r.get("ok") is None and "failed to connect" in r["err"]
    assert r["failure"]["kind"] == "refused"


def test_open_timeout_bounds_a_silent_handshake(nginx, peer):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)  # the kernel accepts; nobody answers
    try:
        r = case(nginx, peer, "open_timeout", silent_port=s.getsockname()[1])
    finally:
        s.close()
    assert r.get("ok") is None and "timed out" in r["err"]
    assert r["failure"]["kind"] == "timeout"
    assert 0.25 <= r["took"] < 2


def test_tls_verified_by_default(nginx, peer):
    r = case(nginx, peer, "tls_verified")
    assert r["ok"] is True and r["echo"] == "over tls"


def test_tls_untrusted_certificate_fails(nginx, peer):
    r = case(nginx, peer, "tls_untrusted")
    assert r["ok"] is False and "ssl handshake failed" in r["err"]
    assert r["failure"]["kind"] == "tls_verify"


def test_tls_without_verification_when_asked(nginx, peer):
    r = case(nginx, peer, "tls_noverify")
    assert r["ok"] is True and r["echo"] == "over tls"


def test_tls_client_certificate(nginx, peer, certs):
    r = case(nginx, peer, "tls_client_cert", mtls_port=peer.mtls_port,
             cert=certs["good"][1], key=certs["good"][2])
    assert r["with"]["ok"] is True and r["with"]["echo"] == "over tls"
    assert r["without"]["ok"] is False


def test_timeout_is_not_fatal(nginx, peer):
    r = case(nginx, peer, "timeout")
    assert r["err"] == "timeout" and r["fatal"] is False
    assert r["after"] == "wake"


def test_ping_and_its_pong(nginx, peer):
    r = case(nginx, peer, "ping")
    assert r["typ"] == "pong" and r["id"] == 1 and r["acked"] == 1
    assert r["latency_ok"] is True and r["bytes"] > 0


def test_invalid_utf8_text_is_refused_not_fatal(nginx, peer):
    r = case(nginx, peer, "utf8_out")
    assert r.get("ok") is None and "UTF-8" in r["err"]
    assert r["fatal"] is False and r["after"] == "still fine"


def test_request_response(nginx, peer):
    r = case(nginx, peer, "rpc")
    assert r["sum"] == 3
    assert r["fail_code"] == 42 and "rpc error 42" in r["fail_err"]
    assert r["never"] == "timeout"
    assert r["plain"] == "plain"
    assert r["asked"] == "asked:42"
    assert r["concurrent"] == [30, 2]


def test_set_keepalive_reuses_the_connection_and_its_state(nginx, peer):
    before = peer.connections["/echo"]
    r = case(nginx, peer, "keepalive")
    assert r["keepalive"] == 1 and r["connected"] == 1
    assert r["reused"] == 1 and r["same"] is True
    assert peer.connections["/echo"] == before + 1  # one TCP connection for both
