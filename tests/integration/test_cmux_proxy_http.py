"""cmux-proxy as an HTTP proxy (SPEC §2 Headers/Protocols, §6 strictness and limits): header
hygiene, trailers, large streamed bodies with bounded memory, keep-alive and pipelining, h2
concurrency, TLS with ALPN, upstream failures, strict HTTP/1.1 parsing, graceful drain.
Clients: curl, h2load, nghttp, python3-h2, raw sockets.

    cd tests/integration && /usr/bin/python3 -m unittest -v test_cmux_proxy_http
"""

import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import CURL_PROTOCOLS, ProxyTestCase, curl, port_header, wait_until  # noqa: E402

MiB = 1024 * 1024


def header_pairs(echo) -> list:
    raw = echo["rawHeaders"]
    return [(k.lower(), v) for k, v in zip(raw[::2], raw[1::2])]


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class HeaderHygiene(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="hygiene")
        cls.proxy_ = cls.class_proxy()

    def raw_request(self, head: bytes):
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        self.addCleanup(conn.close)
        conn.send(head)
        return conn.read_response()

    def test_request_hop_by_hop_and_internal_headers_stripped_h1(self):
        resp = self.raw_request(
            b"GET /echo HTTP/1.1\r\n"
            b"Host: client.example\r\n"
            b"X-Cmux-Port-Internal: %d\r\n"
            b"X-Cmux-Host-Override: override.example\r\n"
            b"Connection: keep-alive, X-Secret-Hop, x-other-hop\r\n"
            b"X-Secret-Hop: secret-1\r\n"
            b"X-Other-Hop: secret-2\r\n"
            b"Keep-Alive: timeout=5, max=1000\r\n"
            b"Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n"
            b"Proxy-Connection: keep-alive\r\n"
            b"TE: trailers, deflate\r\n"
            b"Trailer: X-Never-Sent\r\n"
            b"X-Keep: kept\r\n"
            b"\r\n" % self.origin_.port)
        self.assertEqual(resp.status, 200, resp.body)
        echo = json.loads(resp.body)
        pairs = header_pairs(echo)
        names = [k for k, _ in pairs]
        for gone in ("x-secret-hop", "x-other-hop", "proxy-authorization", "proxy-connection",
                     "te", "trailer", "x-cmux-port-internal", "x-cmux-host-override"):
            self.assertNotIn(gone, names, pairs)
        # The proxy may speak its own Connection/Keep-Alive upstream, never the client's.
        for k, v in pairs:
            self.assertNotIn("x-secret-hop", v.lower(), pairs)
            self.assertNotIn("max=1000", v, pairs)
        self.assertIn(("x-keep", "kept"), pairs)
        self.assertEqual(echo["host"], "override.example")

    def test_request_hop_by_hop_and_internal_headers_stripped_h2(self):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        st = c.request("GET", "/echo", [
            ("x-cmux-port-internal", str(self.origin_.port)),
            ("x-cmux-host-override", "override.example"),
            ("proxy-authorization", "Basic c2VjcmV0OnNlY3JldA=="),
            ("te", "trailers"),
            ("x-keep", "kept"),
        ])
        self.assertEqual(st.status, 200, bytes(st.data))
        pairs = header_pairs(json.loads(bytes(st.data)))
        names = [k for k, _ in pairs]
        for gone in ("proxy-authorization", "te", "x-cmux-port-internal", "x-cmux-host-override"):
            self.assertNotIn(gone, names, f"{gone} reached the HTTP/1.1 upstream: {pairs}")
        self.assertIn(("x-keep", "kept"), pairs)

    def test_response_hop_by_hop_stripped(self):
        path = ("/headers?connection=x-secret,%20x-other&x-secret=1&x-other=2"
                "&keep-alive=timeout%3D7&proxy-authenticate=Basic&proxy-connection=close"
                "&x-visible=yes")
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url(path),
                         *port_header(self.origin_.port))
                self.assertEqual((r.rc, r.status), (0, 200), r.stderr)
                names = [k for k, _ in r.headers]
                for gone in ("x-secret", "x-other", "proxy-authenticate", "proxy-connection"):
                    self.assertNotIn(gone, names, r.headers)
                self.assertNotIn("timeout=7", r.header_all("keep-alive"))
                self.assertNotIn("x-secret", " ".join(r.header_all("connection")).lower())
                self.assertEqual(r.header("x-visible"), "yes")
                self.assertEqual(r.body, b"headers\n")

    def test_connection_header_cannot_remove_routing(self):
        resp = self.raw_request(
            b"GET /echo HTTP/1.1\r\nHost: x\r\n"
            b"Connection: X-Cmux-Port-Internal, X-Cmux-Host-Override\r\n"
            b"X-Cmux-Port-Internal: %d\r\n"
            b"X-Cmux-Host-Override: routed.example\r\n\r\n" % self.origin_.port)
        self.assertEqual(resp.status, 200, resp.body)
        echo = json.loads(resp.body)
        self.assertEqual(echo["host"], "routed.example")
        self.assertFalse([k for k, _ in header_pairs(echo) if k.startswith("x-cmux-")])

    def test_set_cookies_preserved_in_order(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url("/set-cookies"),
                         *port_header(self.origin_.port))
                self.assertEqual(r.status, 200, r.stderr)
                self.assertEqual(r.header_all("set-cookie"),
                                 ["a=1; Path=/", "b=2; Path=/; HttpOnly", "c=3; Path=/; Secure"])

    def test_repeated_request_headers_preserved_in_order(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url("/echo"),
                         *port_header(self.origin_.port), "-H", "X-Multi: 1", "-H", "X-Other: a",
                         "-H", "X-Multi: 2", "-H", "X-Multi: 3")
                self.assertEqual(r.status, 200, r.stderr)
                got = [(k, v) for k, v in header_pairs(r.json()) if k in ("x-multi", "x-other")]
                self.assertEqual(got, [("x-multi", "1"), ("x-other", "a"), ("x-multi", "2"),
                                       ("x-multi", "3")])


class H2ToH1Downgrade(ProxyTestCase):
    """Requests that are malformed in HTTP/2 (RFC 9113 §8.1.1, §8.2) must never turn into
    something else on the HTTP/1.1 upstream: no header injection, no body smuggling."""

    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="downgrade")
        cls.proxy_ = cls.class_proxy()

    def assertRefused(self, st, before, why="RFC 9113 §8.1.1: malformed, must not be forwarded"):
        self.assertTrue(st.reset_code is not None or (st.status is not None and 400 <= st.status < 500),
                        f"{why}; answered {st.status}: {bytes(st.data)[:300]!r}")
        after = self.origin_.stats()
        self.assertEqual(after["echoCompleted"], before["echoCompleted"],
                         f"the origin got the malformed request: {after['recent'][-3:]}")
        self.assertEqual(after["clientErrors"], before["clientErrors"])

    def send(self, headers, body=None):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        before = self.origin_.stats()
        base = [(":method", "POST" if body is not None else "GET"), (":scheme", "http"),
                (":authority", "x"), (":path", "/echo"),
                ("x-cmux-port-internal", str(self.origin_.port))]
        sid = c.start(base + headers, end_stream=body is None)
        if body is not None:
            c.send_data(sid, body, end_stream=True)
        try:
            st = c.wait_end(sid)
        except AssertionError:
            st = c.streams[sid]  # the server closed the connection: also a refusal
            if st.status is None and st.reset_code is None:
                st.reset_code = -1
        return st, before

    def test_crlf_in_header_value_is_not_injected(self):
        st, before = self.send([("x-evil", "a\r\nx-injected: 1")])
        self.assertRefused(st, before)

    def test_content_length_mismatch_is_not_forwarded(self):
        # DATA longer than content-length: the excess must never reach the upstream connection,
        # where it would be the next request.
        st, before = self.send([("content-length", "5")],
                               body=b"helloGET /echo?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertRefused(st, before)
        self.assertNotIn("GET /echo?smuggled=1", self.origin_.stats()["recent"])

    def test_transfer_encoding_in_h2_request_is_malformed(self):
        st, before = self.send([("transfer-encoding", "chunked")], body=b"0\r\n\r\n")
        self.assertRefused(st, before, "RFC 9113 §8.2.2: transfer-encoding makes an h2 request "
                                       "malformed")

    def test_transfer_encoding_with_content_length_in_h2_is_malformed(self):
        body = b"0\r\n\r\nGET /echo?smuggled=2 HTTP/1.1\r\nHost: x\r\n\r\n"
        st, before = self.send([("content-length", str(len(body))),
                                ("transfer-encoding", "chunked")], body=body)
        self.assertRefused(st, before, "RFC 9113 §8.2.2: transfer-encoding makes an h2 request "
                                       "malformed")
        self.assertNotIn("GET /echo?smuggled=2", self.origin_.stats()["recent"])

    def test_connection_specific_header_in_h2_request_is_malformed(self):
        st, before = self.send([("connection", "keep-alive, x-hop"), ("x-hop", "1")])
        if st.status == 200:
            # Tolerated instead of rejected (RFC 9113 §8.2.2 says malformed): then at least the
            # SPEC §2 hygiene applies, names listed in Connection never reach the upstream.
            names = [k for k, _ in header_pairs(json.loads(bytes(st.data)))]
            self.assertNotIn("x-hop", names, "listed in Connection, yet forwarded")
            self.assertNotIn("connection", names)
        else:
            self.assertRefused(st, before)


class ExpectContinue(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="expect")
        cls.proxy_ = cls.class_proxy()

    def test_expect_100_continue_gets_interim_response(self):
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port, timeout=3)
        self.addCleanup(conn.close)
        conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n" % self.origin_.port)
        # The client holds the body back until 100 Continue (curl would stall for 1 s).
        status, _, _, head = conn.read_head()
        self.assertEqual(status, 100, head)
        conn.send(b"hello")
        resp = conn.read_response("POST")
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.body)["bodyLength"], 5)


class Trailers(ProxyTestCase):
    BODY = b"first part\nsecond part\nthird part\n"

    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="trailers")
        cls.proxy_ = cls.class_proxy()

    def test_response_trailers_h1(self):
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        self.addCleanup(conn.close)
        resp = conn.request("GET", "/trailers", [("Host", "x"), ("TE", "trailers"),
                                                 ("X-Cmux-Port-Internal", str(self.origin_.port))])
        self.assertEqual(resp.status, 200)
        self.assertIn("chunked", (resp.header("transfer-encoding") or "").lower(),
                      "trailers need a chunked HTTP/1.1 response")
        self.assertEqual(resp.body, self.BODY)
        self.assertEqual(resp.trailers, [("x-checksum", hashlib.sha256(self.BODY).hexdigest())])

    def test_response_trailers_h2(self):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        st = c.request("GET", "/trailers", [("te", "trailers"),
                                            ("x-cmux-port-internal", str(self.origin_.port))])
        self.assertEqual(st.status, 200)
        self.assertIsNone(st.reset_code)
        self.assertEqual(bytes(st.data), self.BODY)
        self.assertEqual(st.trailers, [("x-checksum", hashlib.sha256(self.BODY).hexdigest())])

    def test_request_trailers_h1(self):
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        self.addCleanup(conn.close)
        conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n"
                  b"Transfer-Encoding: chunked\r\nTrailer: x-request-sum\r\n\r\n"
                  b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-request-sum: abc123\r\n\r\n"
                  % self.origin_.port)
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp.body)
        echo = json.loads(resp.body)
        self.assertEqual(echo["bodyLength"], 11)
        self.assertEqual(echo["rawTrailers"], ["x-request-sum", "abc123"])

    def test_request_trailers_h2(self):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        st = c.request("POST", "/echo", [("x-cmux-port-internal", str(self.origin_.port))],
                       body=b"hello world", trailers=[("x-request-sum", "abc123")])
        self.assertEqual(st.status, 200, bytes(st.data))
        echo = json.loads(bytes(st.data))
        self.assertEqual(echo["bodyLength"], 11)
        self.assertEqual([k.lower() for k in echo["rawTrailers"][::2]], ["x-request-sum"])
        self.assertEqual(echo["rawTrailers"][1], "abc123")


class Bodies(ProxyTestCase):
    BIG = 200 * MiB

    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="bodies")
        cls.proxy_ = cls.class_proxy()
        cls.tmp = tempfile.TemporaryDirectory(prefix="cmux-bodies-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.big_file = Path(cls.tmp.name) / "upload.bin"
        cls.big_sha = harness.write_pattern_file(cls.big_file, cls.BIG)

    def download(self, proto, path, n):
        out = Path(self.tmp.name) / f"download-{proto}.bin"
        cp = harness.run(["curl", "-sS", *CURL_PROTOCOLS[proto], "-o", out,
                          "-w", "%{http_code}", self.proxy_.url(path),
                          *port_header(self.origin_.port)], timeout=90)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout, b"200")
        self.assertEqual(out.stat().st_size, n)
        self.assertEqual(file_sha256(out), harness.pattern_sha256(n))
        out.unlink()

    def test_large_bodies_stream_with_bounded_memory(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(direction="upload", proto=proto):
                r = curl(*CURL_PROTOCOLS[proto], "-T", self.big_file, self.proxy_.url("/echo"),
                         *port_header(self.origin_.port), timeout=90)
                self.assertEqual((r.rc, r.status), (0, 200), r.stderr + r.text)
                echo = r.json()
                self.assertEqual(echo["bodyLength"], self.BIG)
                self.assertEqual(echo["bodySha256"], self.big_sha)
            with self.subTest(direction="download", proto=proto):
                self.download(proto, f"/bytes/{self.BIG}", self.BIG)
        hwm_kb = self.proxy_.status_kb("VmHWM")
        if harness.sanitizer_build():
            return  # ASan keeps freed blocks in quarantine, TSan shadows: RSS says nothing here
        self.assertLess(hwm_kb, 100 * 1024,
                        f"proxy peak RSS {hwm_kb} kB after 4 x 200 MiB: bodies are buffered")

    def test_chunked_upload(self):
        n = 24 * MiB + 123
        data = harness.pattern_bytes(n)
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                # curl -T - reads stdin of unknown length: chunked on HTTP/1.1, DATA on h2.
                r = curl(*CURL_PROTOCOLS[proto], "-T", "-", self.proxy_.url("/echo"),
                         *port_header(self.origin_.port), input=data, timeout=60)
                self.assertEqual((r.rc, r.status), (0, 200), r.stderr + r.text)
                echo = r.json()
                self.assertEqual(echo["bodyLength"], n)
                self.assertEqual(echo["bodySha256"], harness.pattern_sha256(n))

    def test_small_bodies_both_framings(self):
        for proto in CURL_PROTOCOLS:
            for chunked in (False, True):
                with self.subTest(proto=proto, chunked=chunked):
                    args = ["-H", "Transfer-Encoding: chunked"] if chunked else []
                    r = curl(*CURL_PROTOCOLS[proto], "--data-binary", "hello body",
                             *args, self.proxy_.url("/echo"), *port_header(self.origin_.port))
                    self.assertEqual(r.status, 200, r.stderr)
                    echo = r.json()
                    self.assertEqual(echo["method"], "POST")
                    self.assertEqual(echo["bodyLength"], 10)
                    self.assertEqual(echo["bodySha256"], hashlib.sha256(b"hello body").hexdigest())

    def test_downloads_content_length_and_chunked(self):
        n = 3 * MiB + 17
        for proto in CURL_PROTOCOLS:
            for query in ("", "?chunked=1"):
                with self.subTest(proto=proto, query=query):
                    self.download(proto, f"/bytes/{n}{query}", n)
            with self.subTest(proto=proto, framing="content-length kept"):
                r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url("/bytes/1000"),
                         *port_header(self.origin_.port))
                self.assertEqual(r.header("content-length"), "1000")

    def test_large_bodies_keep_the_connection_in_sync(self):
        # Bodies larger than what comes with the head, back to back on one HTTP/1.1 client
        # connection: the part relayed socket to socket (splice) ends exactly where the next
        # response begins. (curl 7.88 cannot reuse a prior-knowledge h2c connection,
        # curl/curl#10634; HTTP/2 framing is covered by the other tests here.)
        sizes = (300_000, 5, 1_000_003, 70_000)
        outs = [Path(self.tmp.name) / f"sync-{i}.bin" for i in range(len(sizes))]
        args = sum((["-o", out, self.proxy_.url(f"/bytes/{n}")] for n, out in zip(sizes, outs)), [])
        cp = harness.run(["curl", "-sS", "--http1.1", *port_header(self.origin_.port),
                          "-w", "%{http_code} %{num_connects}\n", *args], timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.decode().split("\n")[:4], ["200 1", "200 0", "200 0", "200 0"])
        for n, out in zip(sizes, outs):
            self.assertEqual(file_sha256(out), harness.pattern_sha256(n), f"body of {n} bytes")

    def test_empty_body_responses(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto, method="HEAD"):
                # (curl -I writes the head into -o; body-lessness is checked below and in the
                # raw keep-alive test)
                r = curl(*CURL_PROTOCOLS[proto], "-I", self.proxy_.url("/bytes/12345"),
                         *port_header(self.origin_.port))
                self.assertEqual((r.rc, r.status), (0, 200), r.stderr)
                self.assertEqual(r.header("content-length"), "12345")
            for code in (204, 304):
                with self.subTest(proto=proto, status=code):
                    r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url(f"/status/{code}"),
                             *port_header(self.origin_.port))
                    self.assertEqual((r.rc, r.status, r.body), (0, code, b""), r.stderr)

    def test_empty_body_responses_h2_have_no_data(self):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        hdrs = [("x-cmux-port-internal", str(self.origin_.port))]
        st = c.request("HEAD", "/bytes/4321", hdrs)
        self.assertEqual((st.status, st.header("content-length"), bytes(st.data)),
                         (200, "4321", b""))
        for code in (204, 304):
            st = c.request("GET", f"/status/{code}", hdrs)
            self.assertEqual((st.status, bytes(st.data), st.reset_code), (code, b"", None))
        st = c.request("GET", "/echo?after=empty", hdrs)
        self.assertEqual(st.status, 200)

    def test_empty_body_responses_keep_h1_connection_in_sync(self):
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        self.addCleanup(conn.close)
        hdrs = [("Host", "x"), ("X-Cmux-Port-Internal", str(self.origin_.port))]
        r = conn.request("HEAD", "/bytes/777", hdrs)
        self.assertEqual((r.status, r.header("content-length")), (200, "777"))
        r = conn.request("GET", "/status/204", hdrs)
        self.assertEqual(r.status, 204)
        self.assertIsNone(r.header("transfer-encoding"))
        self.assertIn(r.header("content-length"), (None, "0"))
        r = conn.request("GET", "/status/304", hdrs)
        self.assertEqual(r.status, 304)
        # If any of the above had carried stray body bytes this would not parse.
        r = conn.request("GET", "/echo?after=empty", hdrs)
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["url"], "/echo?after=empty")
        self.assertEqual(conn.buf, b"")


class KeepAlive(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="keepalive")
        cls.proxy_ = cls.class_proxy()

    def test_curl_reuses_one_connection(self):
        urls = [self.proxy_.url(f"/echo?n={i}") for i in range(4)]
        before = self.origin_.stats()["connections"]
        cp = harness.run(["curl", "-sS", "--http1.1", *port_header(self.origin_.port),
                          "-w", "%{http_code} %{num_connects}\n",
                          *sum((["-o", "/dev/null", u] for u in urls), [])], timeout=20)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        lines = cp.stdout.decode().split("\n")[:4]
        self.assertEqual(lines, ["200 1", "200 0", "200 0", "200 0"],
                         "the proxy closed a keep-alive connection")
        after = self.origin_.stats()["connections"]
        self.assertLessEqual(after - before, 2, "upstream connections are not reused (pool)")

    def test_http10_client(self):
        r = curl("--http1.0", self.proxy_.url("/echo?v=10"), *port_header(self.origin_.port))
        self.assertEqual((r.rc, r.status), (0, 200), r.stderr)
        self.assertEqual(r.json()["url"], "/echo?v=10")

    def test_pipelined_request_after_a_large_body(self):
        # An upload with a Content-Length moves from socket to socket (splice on plain
        # HTTP/1.1): exactly its bytes, whatever part came with the head, and the request
        # pipelined right behind it is read as the next request.
        p = self.origin_.port
        for n in (3, 70_000, 1_000_003):
            with self.subTest(body=n):
                conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
                self.addCleanup(conn.close)
                conn.send(b"POST /echo?n=%d HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n"
                          b"Content-Length: %d\r\n\r\n" % (n, p, n) + harness.pattern_bytes(n) +
                          b"GET /echo?after=%d HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n\r\n" % (n, p))
                first, second = conn.read_response(), conn.read_response()
                self.assertEqual(first.status, 200)
                echo = json.loads(first.body)
                self.assertEqual((echo["bodyLength"], echo["bodySha256"]), (n, harness.pattern_sha256(n)))
                self.assertEqual((second.status, json.loads(second.body)["url"]), (200, f"/echo?after={n}"))

    def test_pipelined_requests_answered_in_order(self):
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        self.addCleanup(conn.close)
        p = self.origin_.port
        reqs = b"".join([
            b"GET /slow?ms=150 HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n\r\n" % p,
            b"POST /echo?n=2 HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n"
            b"Content-Length: 3\r\n\r\nabc" % p,
            b"GET /status/201 HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n\r\n" % p,
            b"GET /echo?n=4 HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n\r\n" % p,
        ])
        conn.send(reqs)
        r1, r2, r3, r4 = (conn.read_response() for _ in range(4))
        self.assertEqual((r1.status, r1.body), (200, b"slow 150\n"))
        self.assertEqual((r2.status, json.loads(r2.body)["url"]), (200, "/echo?n=2"))
        self.assertEqual(json.loads(r2.body)["bodyLength"], 3)
        self.assertEqual(r3.status, 201)
        self.assertEqual((r4.status, json.loads(r4.body)["url"]), (200, "/echo?n=4"))


class Http2(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="h2")
        cls.proxy_ = cls.class_proxy()

    def test_server_settings(self):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        settings = c.wait_settings()
        from h2.settings import SettingCodes
        self.assertEqual(settings.get(SettingCodes.ENABLE_CONNECT_PROTOCOL), 1)
        self.assertEqual(settings.get(SettingCodes.MAX_CONCURRENT_STREAMS), 100)

    def test_concurrent_large_downloads_to_a_small_receive_buffer_arrive_intact(self):
        """Big DATA pieces leave from the upstream read buffer by reference; whatever the client's
        socket does not take at once must be kept (copied) before the proxy waits. A 4 KiB receive
        buffer makes most writes partial; six streams interleave their pieces in one batch."""
        import socket
        n = 3 * MiB
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(30)
        sock.connect((self.proxy_.host, self.proxy_.port))
        c = harness.H2Client(self.proxy_.host, self.proxy_.port, timeout=30, sock=sock)
        self.addCleanup(c.close)
        c.conn.increment_flow_control_window((1 << 30))
        c._flush()
        sids = [c.start([(":method", "GET"), (":scheme", "http"), (":authority", c.authority),
                         (":path", f"/bytes/{n}?i={i}"),
                         ("x-cmux-port-internal", str(self.origin_.port))], end_stream=True)
                for i in range(6)]
        for sid in sids:
            st = c.wait_end(sid, timeout=60)
            self.assertIsNone(st.reset_code, f"stream {sid} was reset")
            self.assertEqual(len(st.data), n, f"stream {sid}")
            self.assertEqual(hashlib.sha256(st.data).hexdigest(), harness.pattern_sha256(n),
                             f"stream {sid}: body corrupted")

    def test_100_concurrent_streams_on_one_connection(self):
        if not harness.tool_available("h2load"):
            self.fail("h2load missing: scripts/bootstrap installs nghttp2-client")
        cp = harness.run(["h2load", "-n100", "-c1", "-m100",
                          "-H", f"x-cmux-port-internal: {self.origin_.port}",
                          self.proxy_.url("/slow?ms=400")], timeout=60)
        out = cp.stdout.decode()
        self.assertEqual(cp.returncode, 0, out + cp.stderr.decode())
        self.assertRegex(out, r"requests: 100 total, 100 started, 100 done, 100 succeeded")
        self.assertRegex(out, r"status codes: 100 2xx")
        m = re.search(r"finished in ([\d.]+)(m?s)", out)
        secs = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        # 100 x 400 ms one after another would take 40 s.
        self.assertLess(secs, 5, f"streams were not served concurrently:\n{out}")

    def test_100_concurrent_uploads_on_one_connection(self):
        if not harness.tool_available("h2load"):
            self.fail("h2load missing: scripts/bootstrap installs nghttp2-client")
        with tempfile.TemporaryDirectory(prefix="cmux-h2load-") as tmp:
            body = Path(tmp) / "body"
            harness.write_pattern_file(body, 256 * 1024)
            cp = harness.run(["h2load", "-n200", "-c1", "-m100", "-d", body,
                              "-H", f"x-cmux-port-internal: {self.origin_.port}",
                              self.proxy_.url("/echo")], timeout=60)
        out = cp.stdout.decode()
        self.assertRegex(out, r"requests: 200 total, 200 started, 200 done, 200 succeeded", out)
        self.assertRegex(out, r"status codes: 200 2xx")

    def test_nghttp_many_uris(self):
        if not harness.tool_available("nghttp"):
            self.fail("nghttp missing: scripts/bootstrap installs nghttp2-client")
        uris = [self.proxy_.url(f"/echo?i={i}") for i in range(20)]
        cp = harness.run(["nghttp", "-n", "-s", "-H",
                          f"x-cmux-port-internal: {self.origin_.port}", *uris], timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        seen = self.origin_.stats()["recent"]
        missing = [i for i in range(20) if f"GET /echo?i={i}" not in seen]
        self.assertFalse(missing, f"requests that never reached the origin: {missing}")


class Tls(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="cmux-tls-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.cert, cls.key = harness.make_self_signed_cert(Path(cls.tmp.name))
        cls.origin_ = cls.class_origin(name="tls-origin")
        cls.proxy_ = cls.class_proxy("--tls-cert", cls.cert, "--tls-key", cls.key)

    def test_h2_and_http11_over_tls(self):
        for flag, version in (("--http2", "2"), ("--http1.1", "1.1")):
            with self.subTest(flag=flag):
                r = curl("--cacert", self.cert, flag, self.proxy_.url("/echo", scheme="https"),
                         *port_header(self.origin_.port))
                self.assertEqual(r.rc, 0, r.stderr)
                self.assertEqual((r.status, r.http_version), (200, version))
                self.assertEqual(r.json()["name"], "tls-origin")

    def test_tls_by_name_localhost(self):
        r = curl("--cacert", self.cert, "--http2", "--resolve",
                 f"localhost:{self.proxy_.port}:127.0.0.1",
                 f"https://localhost:{self.proxy_.port}/echo", *port_header(self.origin_.port))
        self.assertEqual((r.rc, r.status, r.http_version), (0, 200, "2"), r.stderr)

    def test_h2load_over_tls(self):
        if not harness.tool_available("h2load"):
            self.fail("h2load missing: scripts/bootstrap installs nghttp2-client")
        cp = harness.run(["h2load", "-n50", "-c2", "-m10",
                          "-H", f"x-cmux-port-internal: {self.origin_.port}",
                          self.proxy_.url("/echo", scheme="https")], timeout=60)
        out = cp.stdout.decode()
        self.assertRegex(out, r"Application protocol: h2")
        self.assertRegex(out, r"50 succeeded")


class UpstreamFailures(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="failing")
        cls.proxy_ = cls.class_proxy()

    def test_upstream_down_is_502(self):
        dead = harness.free_port()
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url("/echo"), *port_header(dead))
                self.assertCurlError(r, 502, "upstream request error: ", prefix=True)

    def test_upstream_drop_mid_body_is_never_a_complete_body(self):
        for proto in CURL_PROTOCOLS:
            for path in ("/drop", "/drop?chunked=1"):
                with self.subTest(proto=proto, path=path):
                    r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url(path),
                             *port_header(self.origin_.port))
                    self.assertNotEqual(r.rc, 0, f"curl saw a complete response of "
                                                 f"{len(r.body)} bytes after the upstream died")
                    self.assertLess(len(r.body), MiB)

    def test_malformed_upstream_response_is_502(self):
        for proto in CURL_PROTOCOLS:
            for case in ("te-cl", "te-gzip", "cl-list", "cl-differ", "obs-fold", "bare-lf", "nul",
                         "garbage"):
                with self.subTest(proto=proto, case=case):
                    r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url(f"/raw/{case}"),
                             *port_header(self.origin_.port))
                    self.assertCurlError(r, 502, "upstream request error: ", prefix=True)

    def test_close_delimited_upstream_body_is_relayed(self):
        want = b"body delimited by close\n" * 1000
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url("/raw/close-delimited"),
                         *port_header(self.origin_.port))
                self.assertEqual((r.rc, r.status), (0, 200), r.stderr)
                self.assertEqual(r.body, want)

    def test_bytes_past_content_length_are_not_relayed(self):
        # The body is larger than what comes with the head, so its rest moves from socket to
        # socket (splice on plain HTTP/1.1): exactly Content-Length bytes must, and the
        # client's connection stays usable (a second request rides it; HTTP/1.1 only: curl
        # 7.88 cannot reuse a prior-knowledge h2c connection, curl/curl#10634).
        p = self.origin_.port
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                out = Path(tempfile.mkdtemp(prefix="cmux-overrun-")) / "body"
                self.addCleanup(shutil.rmtree, out.parent)
                urls = ["-o", out, self.proxy_.url("/raw/cl-overrun")]
                if proto == "h1":
                    urls += ["-o", "/dev/null", self.proxy_.url("/echo?after=overrun")]
                cp = harness.run(["curl", "-sS", *CURL_PROTOCOLS[proto], *port_header(p),
                                  "-w", "%{http_code} %{num_connects}\n", *urls], timeout=20)
                self.assertEqual(cp.returncode, 0, cp.stderr)
                self.assertEqual(out.read_bytes(), b"x" * 100000)
                want = ["200 1", "200 0"] if proto == "h1" else ["200 1"]
                self.assertEqual(cp.stdout.decode().split("\n")[:len(want)], want,
                                 "the client's connection did not survive the overrun")

    def test_client_gone_mid_upload_is_never_a_complete_request(self):
        # The body moves socket to socket (splice on plain HTTP/1.1); a client that closes
        # after 300 000 of the 1 000 000 bytes it announced must cut the upstream request short.
        p = self.origin_.port
        before = self.origin_.stats()
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        conn.send(b"POST /echo?cut=1 HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n"
                  b"Content-Length: 1000000\r\n\r\n" % p + harness.pattern_bytes(300_000))
        wait_until(lambda: self.origin_.stats()["requests"] > before["requests"], timeout=10,
                   message="the upload never reached the origin")
        conn.close()
        wait_until(lambda: self.origin_.stats()["socketErrors"] > before["socketErrors"], timeout=10,
                   message="the origin's request was not cut short after the client went away")
        self.assertEqual(self.origin_.stats()["echoCompleted"], before["echoCompleted"])
        r = curl(self.proxy_.url("/echo?after=cut"), *port_header(p))
        self.assertEqual((r.rc, r.status), (0, 200), r.stderr)

    def test_upstream_connection_close_is_not_reused(self):
        # "Connection: close" from the origin: the pooled connection must not be reused.
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        self.addCleanup(conn.close)
        hdrs = [("Host", "x"), ("X-Cmux-Port-Internal", str(self.origin_.port))]
        for i in range(3):
            r = conn.request("GET", "/headers?connection=close&x-round=%d" % i, hdrs)
            self.assertEqual((r.status, r.header("x-round")), (200, str(i)))
            r = conn.request("GET", f"/echo?after-close={i}", hdrs)
            self.assertEqual(r.status, 200, r.body)

    def test_idle_upstream_connection_closed_by_origin_is_not_used(self):
        # Dev servers drop idle keep-alive connections (Node: after 5 s) without notice; the
        # next request must not fail on the dead pooled connection, with or without a body (a
        # body cannot be replayed: such a request must never be sent on it). Both requests go on
        # one client connection: one I/O thread, so one pool.
        body = b"b" * 3000
        port = str(self.origin_.port)
        for proto in CURL_PROTOCOLS:
            for method in ("GET", "POST"):
                with self.subTest(proto=proto, method=method):
                    if proto == "h1":
                        c = harness.HttpConn(self.proxy_.host, self.proxy_.port)
                        hdrs = [("Host", "x"), ("X-Cmux-Port-Internal", port)]
                        send = lambda m, path, b=b"": c.request(m, path, hdrs, b)
                    else:
                        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
                        hdrs = [("x-cmux-port-internal", port)]
                        send = lambda m, path, b=b"": c.request(m, path, hdrs, b or None, authority="x")
                    self.addCleanup(c.close)
                    before = self.origin_.stats()["droppedIdle"]
                    self.assertEqual(send("GET", "/close-after?ms=0").status, 200)
                    wait_until(lambda: self.origin_.stats()["droppedIdle"] > before,
                               message="origin did not close its side")
                    r = send(method, "/echo?after-idle-close", body if method == "POST" else b"")
                    self.assertEqual(r.status, 200, bytes(r.body if proto == "h1" else r.data))
                    echo = json.loads(bytes(r.body if proto == "h1" else r.data))
                    self.assertEqual((echo["method"], echo["bodyLength"]),
                                     (method, len(body) if method == "POST" else 0))

    def test_every_dead_idle_connection_is_skipped(self):
        # A restarted dev server leaves every pooled connection to it dead: none may be used.
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        hdrs = [("x-cmux-port-internal", str(self.origin_.port))]
        before = self.origin_.stats()["droppedIdle"]
        # Two requests in flight at once: two upstream connections, both pooled, both closed.
        sids = [c.start([(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                         (":path", f"/close-after?ms=0&delay=300&n={i}"), *hdrs], end_stream=True)
                for i in range(2)]
        for sid in sids:
            self.assertEqual(c.wait_end(sid).status, 200)
        wait_until(lambda: self.origin_.stats()["droppedIdle"] >= before + 2,
                   message="origin did not close both connections")
        r = c.request("GET", "/echo?after-two-closed", hdrs, authority="x")
        self.assertEqual(r.status, 200, bytes(r.data))

    def test_client_reset_cancels_upstream_request(self):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        before = self.origin_.stats()["aborted"]
        path = "/slow?ms=5000&cancel=1"
        sid = c.start([(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                       (":path", path), ("x-cmux-port-internal", str(self.origin_.port))],
                      end_stream=True)
        wait_until(lambda: f"GET {path}" in self.origin_.stats()["recent"])
        from h2.errors import ErrorCodes
        c.conn.reset_stream(sid, ErrorCodes.CANCEL)
        c._flush()
        wait_until(lambda: self.origin_.stats()["aborted"] > before, timeout=3,
                   message="RST_STREAM did not cancel the upstream request")

    def test_client_disconnect_cancels_upstream_request(self):
        before = self.origin_.stats()["aborted"]
        path = "/slow?ms=5000&disconnect=1"
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        conn.send(b"GET %s HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n\r\n"
                  % (path.encode(), self.origin_.port))
        wait_until(lambda: f"GET {path}" in self.origin_.stats()["recent"])
        conn.close()
        wait_until(lambda: self.origin_.stats()["aborted"] > before, timeout=3,
                   message="closing the client connection did not cancel the upstream request")

    def test_invalid_upstream_chunk_is_not_relayed_as_complete(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = curl(*CURL_PROTOCOLS[proto], self.proxy_.url("/raw/bad-chunk"),
                         *port_header(self.origin_.port))
                self.assertFalse(r.rc == 0 and r.status == 200,
                                 f"relayed as a complete 200: {r.body!r}")
                self.assertNotIn(b"hello", r.body)


class StrictHttp1(ProxyTestCase):
    """SPEC §6: ambiguous HTTP/1.1 requests get 400 and a closed connection and never reach
    the origin; over-long request lines 414, oversized header blocks 431."""

    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="strict")
        cls.proxy_ = cls.class_proxy()

    def head(self, method=b"POST", path=b"/echo", extra=b""):
        return (method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: "
                + str(self.origin_.port).encode() + b"\r\n" + extra)

    def expect_rejected(self, data: bytes, status: int, must_close: bool = True,
                        head_forwarded_ok: bool = False):
        before = self.origin_.stats()
        resp, closed = harness.raw_exchange(self.proxy_.host, self.proxy_.port, data, timeout=5,
                                            wait_close=must_close)
        self.assertIsNotNone(resp, "connection closed without a response")
        self.assertEqual(resp.status, status, resp.body)
        self.assertEqual((resp.header("content-type") or "").replace(" ", "").lower(),
                         "text/plain;charset=utf-8")
        if must_close:
            self.assertTrue(closed, "connection left open after a framing error")
        # A sentinel through a fresh connection; afterwards the origin must have seen it and
        # nothing else.
        sentinel = f"/echo?sentinel={id(data)}"
        r = curl(self.proxy_.url(sentinel), *port_header(self.origin_.port))
        self.assertEqual(r.status, 200)
        after = self.origin_.stats()
        if head_forwarded_ok:
            self.assertEqual(after["echoCompleted"], before["echoCompleted"] + 1,
                             "the origin received the whole ambiguous message")
        else:
            self.assertEqual(after["requests"], before["requests"] + 1,
                             f"the origin received the rejected request: {after['recent'][-3:]}")
            self.assertEqual(after["clientErrors"], before["clientErrors"])
        self.assertEqual(after["recent"][-1], f"GET {sentinel}")

    def test_ambiguous_framing_rejected(self):
        cases = {
            "te-not-final-chunked": b"Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "te-gzip-only": b"Transfer-Encoding: gzip\r\n\r\nhello",
            "te-and-cl": b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n\r\n",
            "cl-list": b"Content-Length: 5, 5\r\n\r\nhello",
            "cl-differ": b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "cl-not-a-number": b"Content-Length: 5x\r\n\r\nhello",
        }
        for name, extra in cases.items():
            with self.subTest(case=name):
                self.expect_rejected(self.head(extra=extra), 400)

    def test_malformed_fields_rejected(self):
        cases = {
            "obs-fold": b"X-Folded: a\r\n b\r\n\r\n",
            "bare-lf": b"X-Bare: a\nX-Next: b\r\n\r\n",
            "nul-in-value": b"X-Nul: a\x00b\r\n\r\n",
            "cr-in-value": b"X-Cr: a\rb\r\n\r\n",
            "space-before-colon": b"X-Space : 1\r\n\r\n",
        }
        for name, extra in cases.items():
            with self.subTest(case=name):
                self.expect_rejected(self.head(b"GET", extra=extra), 400)

    def test_bare_lf_request_line_rejected(self):
        data = (b"GET /echo HTTP/1.1\nHost: x\r\nX-Cmux-Port-Internal: %d\r\n\r\n"
                % self.origin_.port)
        self.expect_rejected(data, 400)

    def test_invalid_chunk_size_rejected(self):
        for name, body in (("not-hex", b"zz\r\nhello\r\n0\r\n\r\n"),
                           ("overflow", b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
                           ("negative", b"-5\r\nhello\r\n0\r\n\r\n")):
            with self.subTest(case=name):
                data = self.head(extra=b"Transfer-Encoding: chunked\r\n\r\n" + body)
                # The head may legitimately be on its way upstream before the body is parsed;
                # the message itself must never be completed there.
                self.expect_rejected(data, 400, head_forwarded_ok=True)

    def test_request_line_too_long_414(self):
        self.expect_rejected(self.head(b"GET", b"/echo?" + b"a" * (9 * 1024), b"\r\n"), 414,
                             must_close=False)

    def test_header_block_too_large_431(self):
        fields = b"".join(b"X-Big-%02d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
        self.expect_rejected(self.head(b"GET", extra=fields + b"\r\n"), 431, must_close=False)

    def test_too_many_fields_431(self):
        fields = b"".join(b"X-F-%03d: %d\r\n" % (i, i) for i in range(120))
        self.expect_rejected(self.head(b"GET", extra=fields + b"\r\n"), 431, must_close=False)

    def test_requests_just_below_limits_are_forwarded(self):
        big = b"".join(b"X-Big-%02d: %s\r\n" % (i, b"v" * 1100) for i in range(50))
        many = b"".join(b"X-F-%03d: %d\r\n" % (i, i) for i in range(90))
        long_path = b"/echo?" + b"a" * (7 * 1024)
        for name, data in (("55 KiB header block", self.head(b"GET", extra=big + b"\r\n")),
                           ("92 fields", self.head(b"GET", extra=many + b"\r\n")),
                           ("7 KiB request line", self.head(b"GET", long_path, b"\r\n"))):
            with self.subTest(case=name):
                conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
                self.addCleanup(conn.close)
                conn.send(data)
                resp = conn.read_response()
                self.assertEqual(resp.status, 200, resp.body[:200])

    def test_connection_stays_usable_after_valid_requests(self):
        # Control for the cases above: the same connection serves two well-formed requests.
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
        self.addCleanup(conn.close)
        for _ in range(2):
            conn.send(self.head(extra=b"Content-Length: 5\r\n\r\nhello"))
            self.assertEqual(conn.read_response().status, 200)


class GracefulDrain(ProxyTestCase):
    def slow_seen(self, origin, path):
        return lambda: f"GET {path}" in origin.stats()["recent"]

    def test_in_flight_h1_request_completes_and_new_connections_are_refused(self):
        origin = self.origin(name="drain")
        proxy = self.proxy()
        path = "/slow?ms=2500"
        client = subprocess.Popen(["curl", "-sS", "--max-time", "20", "-w", " %{http_code}",
                                   proxy.url(path), *port_header(origin.port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: client.poll() is None and client.kill())
        wait_until(self.slow_seen(origin, path), message="the slow request never arrived")
        proxy.send_signal(signal.SIGTERM)
        wait_until(lambda: harness.connection_refused(proxy.host, proxy.port), timeout=2,
                   message="still accepting connections after SIGTERM")
        self.assertIsNone(client.poll(), "the in-flight request ended before the drain check")
        self.assertTrue(proxy.alive(), "the proxy exited with a request in flight")
        out, err = client.communicate(timeout=20)
        self.assertEqual(client.returncode, 0, err)
        self.assertEqual(out, b"slow 2500\n 200")
        self.assertEqual(proxy.wait(timeout=10), 0)

    def test_in_flight_h2_stream_completes_after_goaway(self):
        # nghttp (not python3-h2, which refuses every frame after a GOAWAY) shows the frames.
        if not harness.tool_available("nghttp"):
            self.fail("nghttp missing: scripts/bootstrap installs nghttp2-client")
        origin = self.origin(name="drain-h2")
        proxy = self.proxy()
        path = "/slow?ms=1500"
        client = subprocess.Popen(["nghttp", "-v", "-t", "15", "-H",
                                   f"x-cmux-port-internal: {origin.port}", proxy.url(path)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: client.poll() is None and client.kill())
        wait_until(self.slow_seen(origin, path), message="the slow request never arrived")
        proxy.send_signal(signal.SIGTERM)
        out, err = client.communicate(timeout=20)
        text = out.decode("utf-8", "replace")
        self.assertEqual(client.returncode, 0, text[-2000:] + err.decode())
        goaway = re.search(r"recv GOAWAY frame.*?\n\s*\(last_stream_id=(\d+), error_code=(\w+)",
                           text, re.S)
        self.assertIsNotNone(goaway, f"no GOAWAY on SIGTERM:\n{text[-2000:]}")
        sid = int(re.search(r"send HEADERS frame <[^>]*stream_id=(\d+)>", text).group(1))
        self.assertGreaterEqual(int(goaway.group(1)), sid, "GOAWAY must not cut the in-flight stream")
        self.assertEqual(goaway.group(2), "NO_ERROR")
        self.assertIn(f"recv (stream_id={sid}) :status: 200", text)
        self.assertIn("slow 1500", text)
        self.assertLess(text.index("recv GOAWAY"), text.index("slow 1500"),
                        "GOAWAY should be sent at once, before the in-flight response ends")
        self.assertNotIn("RST_STREAM", text)
        self.assertEqual(proxy.wait(timeout=10), 0)

    def test_drain_timeout_bounds_shutdown(self):
        origin = self.origin(name="drain-timeout")
        proxy = self.proxy("--drain-timeout", "1")
        client = subprocess.Popen(["curl", "-sS", "--max-time", "30", proxy.url("/slow?ms=20000"),
                                   *port_header(origin.port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: client.poll() is None and client.kill())
        wait_until(self.slow_seen(origin, "/slow?ms=20000"))
        proxy.send_signal(signal.SIGTERM)
        self.assertEqual(proxy.wait(timeout=6), 0)
        client.communicate(timeout=10)
        self.assertNotEqual(client.returncode, 0, "a cut request must not look complete")


if __name__ == "__main__":
    unittest.main()
