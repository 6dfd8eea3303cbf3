"""cmux-preview-proxy over the real chain (SPEC §3, §5): client -> preview proxy -> cmux-proxy
(this project's binary, TLS with a throwaway test CA and ALPN h2, reached through a `--resolve`
override as port-39379-morphvm-abc123.http.cloud.morph.so:443) -> Node.js origin.

Routed loopback requests (curl -x --proxy-user, raw HTTP/1.1, python3-h2 prior knowledge) land on
the requested port with the right Host and without internal or proxy headers; unrouted contexts
reach their targets unchanged; missing/wrong credentials get 407 on every path; errors are
400/502. The other files: test_preview_proxy_upstream (one connection, restart, HTTP/1.1
fallback, upstream TLS), test_preview_proxy_tunnels (CONNECT, WebSocket),
test_preview_proxy_cli (context lines, ports, logging).

    cd tests/integration && /usr/bin/python3 -m unittest -v test_preview_proxy
"""

import hashlib
import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import MORPH_ROUTE, ProxyTestCase, curl  # noqa: E402

MiB = 1024 * 1024
REALM = 'Basic realm="Cmux Preview Proxy"'
WS1_ROUTE = "https://cmux-abc123-ws1-8080.cmux.app/"  # same cmux-proxy origin, workspace ws1
WS1_IP = "127.18.0.1"  # SPEC §2: workspace "ws1" -> 127.18.0.1
CTX_BASE, CTX_WS1, CTX_UNROUTED = 0, 1, 2
APP_NAME = "app.example.test"  # not loopback; --resolve'd to the origin
FORBIDDEN_AT_ORIGIN = ("proxy-authorization", "proxy-connection", "proxy-authenticate")


def header_names(echo: dict) -> list:
    return [n.lower() for n in echo["rawHeaders"][::2]]


def echo_header(echo: dict, name: str):
    raw = echo["rawHeaders"]
    for i in range(0, len(raw), 2):
        if raw[i].lower() == name.lower():
            return raw[i + 1]
    return None


class ChainCase(ProxyTestCase):
    """The chain, started once per class: an origin on 127.0.0.1, an origin on the workspace IP
    of ws1, cmux-proxy with TLS, and a preview proxy with three contexts: routed base, routed
    workspace ws1, unrouted."""

    preview_extra_args: tuple = ()

    @classmethod
    def setUpClass(cls):
        cls.certs = cls.class_certs()
        cls.origin_ = cls.class_origin(name="app")
        cls.ws1_origin = cls.class_origin(host=WS1_IP, name="ws1-app")
        cls.cmux = cls.class_tls_cmux_proxy(cls.certs)
        # A non-loopback name that --resolve sends to the origin (SPEC §3 `resolve`: connect
        # overrides), to show that such targets are forwarded unchanged without DNS.
        cls.pp = cls.class_preview("--route", MORPH_ROUTE, "--route", WS1_ROUTE, "--route", "none",
                                   *harness.resolve_args(cls.cmux),
                                   "--resolve", f"{APP_NAME}:80:127.0.0.1:{cls.origin_.port}",
                                   "--upstream-ca", cls.certs.ca_cert, *cls.preview_extra_args)

    # helpers
    def cmux_metrics(self):
        return harness.scrape_metrics(self.cmux.metrics_addr)

    def cmux_requests(self, **labels) -> float:
        return harness.metric_sum(self.cmux_metrics(), "cmux_proxy_requests_total", **labels)

    def cmux_connections(self) -> float:
        return harness.metric_sum(self.cmux_metrics(), "cmux_proxy_connections_total")

    def assertThroughCmux(self, fn, n: int = 1):
        """Runs fn(); asserts cmux-proxy answered n more requests meanwhile (it was routed)."""
        before = self.cmux_requests()
        result = fn()
        harness.wait_until(lambda: self.cmux_requests() >= before + n, timeout=5,
                           message=f"cmux-proxy did not see the request(s) ({n})")
        return result

    def curl_via(self, ctx: int, url: str, *args, timeout: float = 30):
        return curl(*self.pp.curl_args(ctx), "--noproxy", "", *args, url, timeout=timeout)

    def assertEcho(self, r, name: str, host: str, url: str, method: str = "GET") -> dict:
        """r (a CurlResult or RawResponse) is the origin's /echo answer: from origin `name`,
        with Host `host`, target `url`, over HTTP/1.1, and no internal/proxy header arrived."""
        status = r.status
        body = r.body
        self.assertEqual(status, 200, body[:500])
        echo = json.loads(body)
        self.assertEqual(echo["name"], name, "the request landed on the wrong origin")
        self.assertEqual(echo["method"], method)
        self.assertEqual(echo["url"], url)
        self.assertEqual(echo["host"], host)
        self.assertEqual(echo["httpVersion"], "1.1")
        names = header_names(echo)
        leaked = [n for n in names if n.startswith("x-cmux-") or n in FORBIDDEN_AT_ORIGIN]
        self.assertEqual(leaked, [],
                         f"headers that must never reach the origin: {echo['rawHeaders']}")
        self.assertEqual(names.count("host"), 1, echo["rawHeaders"])
        return echo


class RoutedHttp(ChainCase):
    def test_routed_get_lands_on_requested_port_with_host(self):
        port = self.origin_.port
        before_h2 = self.cmux_requests(protocol="http2")
        r = self.curl_via(CTX_BASE, f"http://localhost:{port}/echo?q=1&r=two",
                          "-H", "X-Custom-Header: kept")
        echo = self.assertEcho(r, "app", f"localhost:{port}", "/echo?q=1&r=two")
        self.assertEqual(echo_header(echo, "x-custom-header"), "kept")
        self.assertEqual(r.header("x-origin-name"), "app")
        # The hop to cmux-proxy is HTTP/2 (SPEC §3 Forwarding: a secure cmux-proxy origin).
        harness.wait_until(lambda: self.cmux_requests(protocol="http2") >= before_h2 + 1,
                           timeout=5, message="cmux-proxy saw no HTTP/2 request from the "
                                              "preview proxy")

    def test_requests_of_one_client_connection_keep_working(self):
        # Keep-alive on the client connection: several requests, each routed by its own target.
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
        self.addCleanup(conn.close)
        for i in range(5):
            port = self.origin_.port
            resp = conn.request("GET", f"http://localhost:{port}/echo?i={i}",
                                [("Host", f"localhost:{port}"), self.pp.auth_header(CTX_BASE)])
            self.assertEcho(resp, "app", f"localhost:{port}", f"/echo?i={i}")

    def test_loopback_spellings_are_routed_with_their_host(self):
        port = self.origin_.port
        hosts = ("localhost", "127.0.0.1", "127.0.0.2", "127.1.2.3", "app.localhost", "0.0.0.0",
                 "[::1]", "preview.cmux.local", "x.manaflow.local")
        for i, host in enumerate(hosts):
            with self.subTest(host=host):
                url = f"http://{host}:{port}/echo?h={i}"
                resp = self.assertThroughCmux(lambda: self.pp.request(CTX_BASE, "GET", url))
                self.assertEcho(resp, "app", f"{host}:{port}", f"/echo?h={i}")

    def test_loopback_spellings_with_odd_forms_are_routed(self):
        # Other spellings of the loopback addresses (SPEC §3): they must land on the requested
        # port through cmux-proxy (an origin listening on 127.0.0.1 only, so a direct connection
        # to ::1 would fail). The Host forwarded may be normalised; only the landing is checked.
        port = self.origin_.port
        for host in ("LOCALHOST", "App.LocalHost", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]",
                     "[::ffff:7f00:1]", "127.255.255.254"):
            with self.subTest(host=host):
                url = f"http://{host}:{port}/echo"
                resp = self.assertThroughCmux(lambda: self.pp.request(CTX_BASE, "GET", url))
                self.assertEqual(resp.status, 200, resp.body[:300])
                echo = json.loads(resp.body)
                self.assertEqual(echo["name"], "app")
                self.assertEqual(echo["host"].lower().rsplit(":", 1)[1], str(port))
                self.assertFalse([n for n in header_names(echo) if n.startswith("x-cmux-")])

    def test_ipv6_loopback_target_with_curl(self):
        port = self.origin_.port
        r = self.assertThroughCmux(
            lambda: self.curl_via(CTX_BASE, f"http://[::1]:{port}/echo", "-g"))
        self.assertEcho(r, "app", f"[::1]:{port}", "/echo")

    def test_default_port_80_is_the_requested_port(self):
        # No port in the URL: the requested port is 80; cmux-proxy is asked for port 80 (502
        # unless something serves 80 here). It must not land on the origin's port.
        before = self.origin_.request_count()
        resp = self.assertThroughCmux(
            lambda: self.pp.request(CTX_BASE, "GET", "http://localhost/echo"))
        self.assertNotEqual(resp.header("x-origin-name"), "app")
        self.assertEqual(self.origin_.request_count(), before)

    def test_streamed_upload_5mb(self):
        n = 5 * MiB
        tmp = harness.make_temp_dir(self.addCleanup)
        path = tmp / "upload.bin"
        sha = harness.write_pattern_file(path, n)
        port = self.origin_.port
        for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
            with self.subTest(extra=extra):
                r = self.curl_via(CTX_BASE, f"http://localhost:{port}/echo/upload",
                                  "--data-binary", f"@{path}",
                                  "-H", "Content-Type: application/octet-stream", *extra)
                echo = self.assertEcho(r, "app", f"localhost:{port}", "/echo/upload", "POST")
                self.assertEqual(echo["bodyLength"], n)
                self.assertEqual(echo["bodySha256"], sha)

    def test_streamed_download_5mb(self):
        n = 5 * MiB
        port = self.origin_.port
        for query in ("", "?chunked=1"):
            with self.subTest(query=query):
                r = self.curl_via(CTX_BASE, f"http://localhost:{port}/bytes/{n}{query}")
                self.assertEqual(r.status, 200, r.stderr)
                self.assertEqual(r.rc, 0, r.stderr)
                self.assertEqual(len(r.body), n)
                self.assertEqual(hashlib.sha256(r.body).hexdigest(), harness.pattern_sha256(n))

    def test_methods_and_status_codes_pass_through(self):
        port = self.origin_.port
        for method in ("PUT", "PATCH", "DELETE", "OPTIONS"):
            with self.subTest(method=method):
                resp = self.pp.request(CTX_BASE, method, f"http://localhost:{port}/echo/m",
                                       body=b"abc")
                echo = self.assertEcho(resp, "app", f"localhost:{port}", "/echo/m", method)
                self.assertEqual(echo["bodyLength"], 3)
        for code in (201, 204, 304, 404, 500):
            with self.subTest(code=code):
                resp = self.pp.request(CTX_BASE, "GET", f"http://localhost:{port}/status/{code}")
                self.assertEqual(resp.status, code)
        resp = self.pp.request(CTX_BASE, "HEAD", f"http://localhost:{port}/bytes/1000")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("content-length"), "1000")

    def test_response_trailers_pass_through(self):
        # /trailers: a chunked body with trailer x-checksum = sha256(body), through cmux-proxy
        # and HTTP/2 (routed) or straight (unrouted), to HTTP/1.1 and HTTP/2 clients.
        port = self.origin_.port
        for ctx, host in ((CTX_BASE, "localhost"), (CTX_UNROUTED, "127.0.0.1")):
            with self.subTest(ctx=ctx):
                resp = self.pp.request(ctx, "GET", f"http://{host}:{port}/trailers",
                                       [("TE", "trailers")])
                self.assertEqual(resp.status, 200)
                self.assertEqual(dict(resp.trailers).get("x-checksum"),
                                 hashlib.sha256(resp.body).hexdigest())
        c = harness.H2Client(self.pp.host, self.pp.port)
        self.addCleanup(c.close)
        st = c.request("GET", "/trailers", [("proxy-authorization",
                                              self.pp.auth_header(CTX_BASE)[1]),
                                             ("te", "trailers")], authority=f"localhost:{port}")
        self.assertEqual(st.status, 200)
        self.assertEqual(dict(st.trailers or []).get("x-checksum"),
                         hashlib.sha256(bytes(st.data)).hexdigest())

    def test_repeated_response_headers_pass_through(self):
        port = self.origin_.port
        resp = self.pp.request(CTX_BASE, "GET", f"http://localhost:{port}/set-cookies")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header_all("set-cookie"),
                         ["a=1; Path=/", "b=2; Path=/; HttpOnly", "c=3; Path=/; Secure"])

    def test_client_internal_headers_are_ignored(self):
        # A page cannot pick another port, workspace or Host: client X-Cmux-* headers are
        # removed before the proxy adds its own (SPEC §3). Workspace "workspace-9" would route
        # to 127.18.0.9 where nothing listens; port 1 is closed.
        port = self.origin_.port
        r = self.curl_via(CTX_BASE, f"http://localhost:{port}/echo",
                          "-H", "X-Cmux-Port-Internal: 1",
                          "-H", "X-Cmux-Workspace-Internal: workspace-9",
                          "-H", "X-Cmux-Host-Override: evil.example",
                          "-H", "x-cmux-port-internal: 2")
        self.assertEcho(r, "app", f"localhost:{port}", "/echo")

    def test_client_internal_headers_named_in_connection_are_ignored(self):
        port = self.origin_.port
        resp = self.pp.request(CTX_BASE, "GET", f"http://localhost:{port}/echo", [
            ("Connection", "keep-alive, X-Cmux-Port-Internal"), ("X-Cmux-Port-Internal", "1")])
        self.assertEcho(resp, "app", f"localhost:{port}", "/echo")

    def test_hop_by_hop_headers_not_forwarded(self):
        port = self.origin_.port
        for ctx, host in ((CTX_BASE, "localhost"), (CTX_UNROUTED, "127.0.0.1")):
            with self.subTest(ctx=ctx):
                resp = self.pp.request(ctx, "GET", f"http://{host}:{port}/echo", [
                    ("Proxy-Connection", "keep-alive"), ("Connection", "X-Drop-Me"),
                    ("X-Drop-Me", "1"), ("Keep-Alive", "timeout=5"), ("X-Keep-Me", "yes")])
                echo = self.assertEcho(resp, "app", f"{host}:{port}", "/echo")
                names = header_names(echo)
                for gone in ("x-drop-me", "keep-alive", "proxy-connection"):
                    self.assertNotIn(gone, names)
                self.assertEqual(echo_header(echo, "x-keep-me"), "yes")

    def test_workspace_route_reaches_the_workspace_ip(self):
        port = self.ws1_origin.port
        r = self.curl_via(CTX_WS1, f"http://localhost:{port}/echo")
        echo = self.assertEcho(r, "ws1-app", f"localhost:{port}", "/echo")
        self.assertEqual(echo["localAddress"], WS1_IP)

    def test_contexts_are_kept_apart(self):
        # The base context's requests go to 127.0.0.1, not to the workspace IP of ws1: the
        # ws1 origin's port is (almost surely) closed on 127.0.0.1.
        before = self.ws1_origin.request_count()
        port = self.ws1_origin.port
        if not harness.connection_refused("127.0.0.1", port):
            self.fail(f"port {port} is in use on 127.0.0.1 too; cannot tell the contexts apart")
        resp = self.pp.request(CTX_BASE, "GET", f"http://localhost:{port}/echo")
        self.assertEqual(resp.status, 502, resp.body[:300])
        self.assertEqual(self.ws1_origin.request_count(), before)

    def test_routed_closed_port_is_502(self):
        dead = harness.free_port()
        resp = self.pp.request(CTX_BASE, "GET", f"http://localhost:{dead}/echo")
        self.assertEqual(resp.status, 502, resp.body[:300])
        # The proxy keeps working.
        port = self.origin_.port
        self.assertEcho(self.pp.request(CTX_BASE, "GET", f"http://localhost:{port}/echo"),
                        "app", f"localhost:{port}", "/echo")

    def test_upstream_failure_mid_body_is_never_presented_as_complete(self):
        # The origin sends 64 KiB of a 1 MiB body, then drops its connection (/drop): the
        # response has started, so the client connection is closed / stream reset (SPEC §3).
        port = self.origin_.port
        for ctx, host in ((CTX_BASE, "localhost"), (CTX_UNROUTED, "127.0.0.1")):
            for query in ("", "?chunked=1"):
                with self.subTest(ctx=ctx, query=query):
                    conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
                    self.addCleanup(conn.close)
                    url = f"http://{host}:{port}/drop{query}"
                    conn.send((f"GET {url} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                               f"Proxy-Authorization: {self.pp.auth_header(ctx)[1]}\r\n\r\n")
                              .encode())
                    status, _, _, _ = conn.read_head()
                    self.assertEqual(status, 200)
                    with self.assertRaises(EOFError, msg="a truncated body was completed"):
                        self._read_body(conn, query)
        c = harness.H2Client(self.pp.host, self.pp.port)
        self.addCleanup(c.close)
        st = c.request("GET", "/drop", [("proxy-authorization", self.pp.auth_header(CTX_BASE)[1])],
                       authority=f"localhost:{port}")
        self.assertIsNotNone(st.reset_code, "HTTP/2: a truncated body ended with END_STREAM")

    @staticmethod
    def _read_body(conn, query):
        if query:  # chunked: the terminating chunk must never come
            while True:
                size = int(conn.read_until(b"\r\n")[:-2].split(b";")[0], 16)
                if size == 0:
                    return
                conn.read_exact(size + 2)
        conn.read_exact(MiB)

    def test_non_loopback_target_of_routed_context_is_not_rewritten(self):
        # A routed context's non-loopback target goes out unchanged (app.example.test:80 is
        # --resolve'd to the origin): Host as sent, cmux-proxy never sees it.
        before_req, before_conn = self.cmux_requests(), self.cmux_connections()
        r = self.curl_via(CTX_BASE, f"http://{APP_NAME}/echo?nl=1",
                          "-H", "X-Cmux-Port-Internal: 1")
        self.assertEcho(r, "app", APP_NAME, "/echo?nl=1")
        self.assertEqual(self.cmux_requests(), before_req)
        self.assertEqual(self.cmux_connections(), before_conn)


class UnroutedHttp(ChainCase):
    def test_unrouted_context_reaches_target_directly(self):
        port = self.origin_.port
        before_req = self.cmux_requests()
        before_conn = self.cmux_connections()
        r = self.curl_via(CTX_UNROUTED, f"http://127.0.0.1:{port}/echo?direct=1",
                          "-H", "X-Cmux-Port-Internal: 1")
        self.assertEcho(r, "app", f"127.0.0.1:{port}", "/echo?direct=1")
        r = self.curl_via(CTX_UNROUTED, f"http://{APP_NAME}/echo?direct=2")
        self.assertEcho(r, "app", APP_NAME, "/echo?direct=2")
        self.assertEqual(self.cmux_requests(), before_req, "the request went through cmux-proxy")
        self.assertEqual(self.cmux_connections(), before_conn)

    def test_absolute_form_with_a_different_host_header_is_refused(self):
        # An absolute-form target and a Host naming another authority are an ambiguity two hops
        # could resolve differently (SPEC §6, smuggling): 400, nothing forwarded. The same Host
        # (any case, default port spelled out or not) is fine.
        port = self.origin_.port
        before = self.cmux_requests()
        for ctx, host in ((CTX_UNROUTED, "127.0.0.1"), (CTX_BASE, "localhost")):
            resp = self.pp.request(ctx, "GET", f"http://{host}:{port}/echo?u=1", host="elsewhere.example")
            self.assertEqual(resp.status, 400)
        self.assertEqual(self.cmux_requests(), before)
        resp = self.pp.request(CTX_UNROUTED, "GET", f"http://127.0.0.1:{port}/echo?u=2", host=f"127.0.0.1:{port}")
        self.assertEcho(resp, "app", f"127.0.0.1:{port}", "/echo?u=2")
        resp = self.pp.request(CTX_BASE, "GET", f"http://localhost:{port}/echo?u=3", host=f"LOCALHOST:{port}")
        self.assertEcho(resp, "app", f"localhost:{port}", "/echo?u=3")

    def test_unrouted_upload_and_download(self):
        port = self.origin_.port
        body = harness.pattern_bytes(MiB + 7)
        resp = self.pp.request(CTX_UNROUTED, "POST", f"http://127.0.0.1:{port}/echo", body=body)
        echo = self.assertEcho(resp, "app", f"127.0.0.1:{port}", "/echo", "POST")
        self.assertEqual(echo["bodySha256"], hashlib.sha256(body).hexdigest())
        n = 3 * MiB
        r = self.curl_via(CTX_UNROUTED, f"http://127.0.0.1:{port}/bytes/{n}?chunked=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), harness.pattern_sha256(n))

    def test_idle_upstream_connection_closed_by_origin_is_not_an_error(self):
        # The origin drops each idle keep-alive connection right after answering
        # (/close-after?ms=0); the next GET through the proxy's pool must still succeed (a
        # request that got nothing back on a reused connection is retried, SPEC §3).
        port = self.origin_.port
        for i in range(20):
            resp = self.pp.request(CTX_UNROUTED, "GET", f"http://127.0.0.1:{port}/close-after?ms=0")
            self.assertEqual(resp.status, 200, resp.body[:200])
            resp = self.pp.request(CTX_UNROUTED, "GET", f"http://127.0.0.1:{port}/echo?n={i}")
            self.assertEqual(resp.status, 200, (i, resp.body[:200]))

    def test_unrouted_closed_port_is_502(self):
        dead = harness.free_port()
        resp = self.pp.request(CTX_UNROUTED, "GET", f"http://127.0.0.1:{dead}/echo")
        self.assertEqual(resp.status, 502, resp.body[:300])

    def test_unparsable_target_is_400(self):
        for target in ("http://localhost:99999/echo", "http://[::1/echo", "http://:80/echo",
                       "http://localhost:0/echo", "http://localhost:8x/echo"):
            for ctx in (CTX_BASE, CTX_UNROUTED):
                with self.subTest(target=target, ctx=ctx):
                    before = self.origin_.request_count()
                    resp = self.pp.request(ctx, "GET", target, host="localhost")
                    self.assertEqual(resp.status, 400, resp.body[:300])
                    self.assertEqual(self.origin_.request_count(), before)


class StrictHttp1(ChainCase):
    """SPEC §6: HTTP/1.1 input is strict on both proxies; an ambiguous message is never
    forwarded. Plus pipelining on the client connection."""

    def raw(self, data: bytes):
        resp, _ = harness.raw_exchange(self.pp.host, self.pp.port, data, timeout=10,
                                       wait_close=False)
        return resp

    def head(self, target: str, *extra: str) -> bytes:
        lines = [f"POST {target} HTTP/1.1", f"Host: {target.split('/')[2]}",
                 "Proxy-Authorization: " + self.pp.auth_header(CTX_BASE)[1], *extra]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def test_ambiguous_framing_is_400_and_not_forwarded(self):
        url = f"http://localhost:{self.origin_.port}/echo"
        cases = {
            "te+cl": self.head(url, "Transfer-Encoding: chunked", "Content-Length: 5")
            + b"5\r\nhello\r\n0\r\n\r\n",
            "te not chunked": self.head(url, "Transfer-Encoding: gzip") + b"hello",
            "cl list": self.head(url, "Content-Length: 5, 5") + b"hello",
            "cl differ": self.head(url, "Content-Length: 5", "Content-Length: 6") + b"hello!",
            "obs-fold": self.head(url, "X-Folded: a", " b", "Content-Length: 0"),
        }
        before = self.origin_.request_count()
        for name, data in cases.items():
            with self.subTest(case=name):
                resp = self.raw(data)
                self.assertIsNotNone(resp, "no response")
                self.assertEqual(resp.status, 400, resp.raw_head)
        self.assertEqual(self.origin_.request_count(), before)

    def test_limits(self):
        port = self.origin_.port
        auth = "Proxy-Authorization: " + self.pp.auth_header(CTX_BASE)[1]
        long_target = f"http://localhost:{port}/echo?" + "a" * 9000
        resp = self.raw(f"GET {long_target} HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n".encode())
        self.assertEqual(resp.status, 414)
        many = "".join(f"X-Field-{i}: v\r\n" for i in range(101))
        resp = self.raw(f"GET http://localhost:{port}/echo HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
                        f"{many}\r\n".encode())
        self.assertEqual(resp.status, 431)

    def test_pipelined_requests_answered_in_order(self):
        port = self.origin_.port
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
        self.addCleanup(conn.close)
        auth = self.pp.auth_header(CTX_BASE)[1]
        data = b"".join(
            (f"GET http://localhost:{port}/echo?p={i} HTTP/1.1\r\nHost: localhost:{port}\r\n"
             f"Proxy-Authorization: {auth}\r\n\r\n").encode() for i in range(3))
        conn.send(data)
        for i in range(3):
            self.assertEcho(conn.read_response(), "app", f"localhost:{port}", f"/echo?p={i}")


class Authentication(ChainCase):
    def assert407(self, resp):
        self.assertEqual(resp.status, 407, resp.body[:300])
        self.assertEqual(resp.header("proxy-authenticate"), REALM)

    def test_missing_credentials_get_407_with_curl(self):
        port = self.origin_.port
        before = self.origin_.request_count()
        r = curl("-x", self.pp.proxy_url, "--noproxy", "", f"http://localhost:{port}/echo")
        self.assertEqual(r.status, 407, r.text)
        self.assertEqual(r.header("proxy-authenticate"), REALM)
        self.assertEqual(self.origin_.request_count(), before)

    def test_wrong_credentials_get_407(self):
        port = self.origin_.port
        base, ws1 = self.pp.context(CTX_BASE), self.pp.context(CTX_WS1)
        cases = {
            "wrong password": harness.basic_auth(base["username"], "0" * 24),
            "unknown user": harness.basic_auth("wc-99-deadbeef", base["password"]),
            "other context's password": harness.basic_auth(base["username"], ws1["password"]),
            "empty": "Basic ",
            "not base64": "Basic !!!not-base64!!!",
            "no colon": "Basic " + __import__("base64").b64encode(
                base["username"].encode()).decode(),
            "bearer": "Bearer " + base["password"],
            "password with suffix": harness.basic_auth(base["username"], base["password"] + "x"),
            "password prefix": harness.basic_auth(base["username"], base["password"][:-1]),
        }
        before = self.origin_.request_count()
        for name, value in cases.items():
            with self.subTest(case=name):
                resp = self.pp.request(None, "GET", f"http://localhost:{port}/echo",
                                       [("Proxy-Authorization", value)])
                self.assert407(resp)
        self.assertEqual(self.origin_.request_count(), before)

    def test_wrong_credentials_with_curl(self):
        port = self.origin_.port
        base = self.pp.context(CTX_BASE)
        r = curl("-x", self.pp.proxy_url, "--noproxy", "", "--proxy-user",
                 f"{base['username']}:wrong", f"http://localhost:{port}/echo")
        self.assertEqual(r.status, 407, r.text)
        self.assertEqual(r.header("proxy-authenticate"), REALM)

    def test_every_request_on_a_connection_is_authenticated_on_its_own(self):
        # Credentials are per request, never remembered for the connection: on one keep-alive
        # connection, a request without them gets 407, and each request goes where its own
        # context says.
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
        self.addCleanup(conn.close)
        port, ws1_port = self.origin_.port, self.ws1_origin.port
        steps = [(CTX_BASE, port, "app"), (None, port, None), (CTX_WS1, ws1_port, "ws1-app"),
                 (CTX_BASE, port, "app"), (None, ws1_port, None)]
        for i, (ctx, p, name) in enumerate(steps):
            with self.subTest(step=i):
                headers = [("Host", f"localhost:{p}")]
                if ctx is not None:
                    headers.append(self.pp.auth_header(ctx))
                resp = conn.request("GET", f"http://localhost:{p}/echo?step={i}", headers)
                if name is None:
                    self.assert407(resp)
                    if "close" in (resp.header("connection") or "").lower():  # may close
                        conn.close()
                        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
                        self.addCleanup(conn.close)
                else:
                    self.assertEcho(resp, name, f"localhost:{p}", f"/echo?step={i}")

    def test_scheme_case_insensitive_and_spaces_ignored(self):
        port = self.origin_.port
        base = self.pp.context(CTX_BASE)
        token = harness.basic_auth(base["username"], base["password"]).split(" ", 1)[1]
        for value in (f"basic {token}", f"BASIC {token}", f"  Basic   {token}  "):
            with self.subTest(value=value):
                resp = self.pp.request(None, "GET", f"http://localhost:{port}/echo",
                                       [("Proxy-Authorization", value)])
                self.assertEcho(resp, "app", f"localhost:{port}", "/echo")

    def test_connect_without_or_with_wrong_credentials_gets_407(self):
        port = self.origin_.port
        base = self.pp.context(CTX_UNROUTED)
        for auth in (None, harness.basic_auth(base["username"], "nope")):
            with self.subTest(auth=auth):
                conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=10)
                self.addCleanup(conn.close)
                req = f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                if auth:
                    req += f"Proxy-Authorization: {auth}\r\n"
                conn.send((req + "\r\n").encode())
                resp = conn.read_response("CONNECT")
                self.assert407(resp)

    def test_upgrade_without_credentials_gets_407(self):
        port = self.origin_.port
        before = self.origin_.stats()["upgrades"]
        for ctx_auth in (None, "Basic d2MtMS0wMDAwMDAwMDpub3BlCg=="):
            with self.subTest(auth=ctx_auth):
                conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=10)
                self.addCleanup(conn.close)
                req = (f"GET http://localhost:{port}/ws HTTP/1.1\r\nHost: localhost:{port}\r\n"
                       "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
                if ctx_auth:
                    req += f"Proxy-Authorization: {ctx_auth}\r\n"
                conn.send((req + "\r\n").encode())
                resp = conn.read_response()
                self.assert407(resp)
        self.assertEqual(self.origin_.stats()["upgrades"], before)

    def test_h2c_request_without_credentials_gets_407(self):
        c = harness.H2Client(self.pp.host, self.pp.port)
        self.addCleanup(c.close)
        port = self.origin_.port
        st = c.request("GET", "/echo", authority=f"localhost:{port}")
        self.assertEqual(st.status, 407)
        self.assertEqual(st.header("proxy-authenticate"), REALM)
        bad = harness.basic_auth(self.pp.context(0)["username"], "x")
        st = c.request("GET", "/echo", [("proxy-authorization", bad)],
                       authority=f"localhost:{port}")
        self.assertEqual(st.status, 407)


class Http2Clients(ChainCase):
    """h2c prior knowledge from the client to the preview proxy (SPEC §3 Listener)."""

    def client(self):
        c = harness.H2Client(self.pp.host, self.pp.port)
        self.addCleanup(c.close)
        return c

    def auth(self, ctx):
        return ("proxy-authorization", self.pp.auth_header(ctx)[1])

    def test_h2c_get_and_post(self):
        c = self.client()
        port = self.origin_.port
        st = c.request("GET", "/echo?h2=1", [self.auth(CTX_BASE), ("x-cmux-port-internal", "1")],
                       authority=f"localhost:{port}")
        self.assertEqual(st.status, 200, bytes(st.data)[:300])
        echo = json.loads(bytes(st.data))
        self.assertEqual((echo["name"], echo["host"], echo["url"]),
                         ("app", f"localhost:{port}", "/echo?h2=1"))
        leaked = [n for n in header_names(echo)
                  if n.startswith("x-cmux-") or n in FORBIDDEN_AT_ORIGIN]
        self.assertEqual(leaked, [])
        body = harness.pattern_bytes(2 * MiB)
        st = c.request("POST", "/echo/h2post", [self.auth(CTX_BASE)], body=body,
                       authority=f"localhost:{port}", timeout=30)
        self.assertEqual(st.status, 200)
        echo = json.loads(bytes(st.data))
        self.assertEqual(echo["bodySha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(echo["method"], "POST")

    def test_h2c_download(self):
        c = self.client()
        n = 4 * MiB
        st = c.request("GET", f"/bytes/{n}", [self.auth(CTX_BASE)],
                       authority=f"localhost:{self.origin_.port}", timeout=30)
        self.assertEqual(st.status, 200)
        self.assertEqual(hashlib.sha256(bytes(st.data)).hexdigest(), harness.pattern_sha256(n))

    def test_h2c_concurrent_streams_of_several_contexts(self):
        c = self.client()
        sids = []
        for i in range(30):
            ctx = i % 3
            if ctx == CTX_BASE:
                authority, name = f"localhost:{self.origin_.port}", "app"
            elif ctx == CTX_WS1:
                authority, name = f"localhost:{self.ws1_origin.port}", "ws1-app"
            else:
                authority, name = f"127.0.0.1:{self.origin_.port}", "app"
            sid = c.start([(":method", "GET"), (":scheme", "http"), (":authority", authority),
                           (":path", f"/echo?i={i}"), self.auth(ctx)], end_stream=True)
            sids.append((sid, authority, name, i))
        for sid, authority, name, i in sids:
            st = c.wait_end(sid, timeout=20)
            self.assertEqual(st.status, 200, (i, bytes(st.data)[:200]))
            echo = json.loads(bytes(st.data))
            self.assertEqual((echo["name"], echo["host"], echo["url"]),
                             (name, authority, f"/echo?i={i}"))

    def test_h2c_bad_target_is_400_and_connection_survives(self):
        c = self.client()
        st = c.request("GET", "/echo", [self.auth(CTX_BASE)], authority="localhost:99999")
        self.assertEqual(st.status, 400)
        st = c.request("GET", "/echo", [self.auth(CTX_BASE)],
                       authority=f"localhost:{self.origin_.port}")
        self.assertEqual(st.status, 200)


if __name__ == "__main__":
    unittest.main()
