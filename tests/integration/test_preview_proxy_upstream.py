"""cmux-preview-proxy's upstream side over the real chain (SPEC §3 Forwarding): one multiplexed
HTTP/2 connection per cmux-proxy origin shared by all contexts, reconnect after cmux-proxy dies,
HTTP/1.1 (`--no-http2`, an upstream whose TLS offers only http/1.1 or no ALPN), upstream TLS
verification (test CA via --upstream-ca, host name checked).

    cd tests/integration && /usr/bin/python3 -m unittest -v test_preview_proxy_upstream
"""

import asyncio
import hashlib
import json
import signal
import ssl
import subprocess
import sys
import threading
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import MORPH_HOST, MORPH_ORIGIN, MORPH_ROUTE, ProxyTestCase, wait_until  # noqa: E402

MiB = 1024 * 1024
WS1_IP = "127.18.0.1"


def cmux_metric(proxy, name, **labels) -> float:
    return harness.metric_sum(harness.scrape_metrics(proxy.metrics_addr), name, **labels)


class TlsRelay:
    """A TLS terminator with the test certificate that offers only `alpn` (None: no ALPN at all)
    and relays the decrypted bytes to a cleartext backend port (a cmux-proxy listener).
    asyncio in a thread of its own (SSL objects are never shared between threads)."""

    def __init__(self, certs, backend_port: int, alpn):
        self.backend_port = backend_port
        self.accepted = 0
        self.negotiated = []  # selected ALPN protocol per accepted connection
        self.sni = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(certs.cert), str(certs.key))
        if alpn is not None:
            self.ctx.set_alpn_protocols(alpn)
        self.ctx.sni_callback = lambda sslobj, name, ctx: self.sni.append(name)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ctx)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer):
        self.accepted += 1
        sslobj = writer.get_extra_info("ssl_object")
        self.negotiated.append(sslobj.selected_alpn_protocol() if sslobj else None)
        try:
            back_r, back_w = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            writer.close()
            return

        async def pipe(r, w):
            try:
                while True:
                    data = await r.read(65536)
                    if not data:
                        break
                    w.write(data)
                    await w.drain()
            except Exception:  # noqa: BLE001 - a peer went away
                pass
            finally:
                try:
                    w.close()
                except Exception:  # noqa: BLE001
                    pass

        await asyncio.gather(pipe(reader, back_w), pipe(back_r, writer))

    def close(self):
        async def _close():
            self.server.close()

        try:
            asyncio.run_coroutine_threadsafe(_close(), self.loop).result(5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)




class OneUpstreamConnection(ProxyTestCase):
    """SPEC §3/§6: one HTTP/2 connection from the preview proxy to each cmux-proxy origin carries
    all concurrent requests of all contexts."""

    def test_200_concurrent_requests_from_3_contexts_over_one_connection(self):
        self.check_one_connection()

    def test_one_connection_with_two_io_threads(self):
        # Client connections spread over two I/O threads still share the one session.
        self.check_one_connection("--threads", "2")

    def check_one_connection(self, *extra):
        certs = self.make_certs()
        app = self.origin(name="app")
        ws1 = self.origin(host=WS1_IP, name="ws1-app")
        cmux = self.tls_cmux_proxy(certs)
        routes = [MORPH_ROUTE, "https://cmux-abc123-base-3000.cmux.app/",
                  "https://manaflow-abc123-ws1-8080.cmux.sh/"]
        pp = self.preview(*[a for r in routes for a in ("--route", r)],
                          *harness.resolve_args(cmux), "--upstream-ca", certs.ca_cert, *extra)
        for ctx in pp.contexts:
            self.assertEqual(ctx["route"]["cmuxProxyOrigin"], MORPH_ORIGIN, ctx)
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_connections_total"), 0)

        def target(ctx):
            return (ws1.port, "ws1-app") if ctx == 2 else (app.port, "app")

        def one(i):
            ctx = i % 3
            port, _ = target(ctx)
            return pp.request(ctx, "POST", f"http://localhost:{port}/echo?i={i}",
                              body=f"request {i}".encode(), timeout=30)

        n = 200
        results = harness.concurrent(n, one)
        for i, resp in enumerate(results):
            self.assertNotIsInstance(resp, Exception, f"request {i}: {resp!r}")
            self.assertEqual(resp.status, 200, (i, resp.body[:200]))
            echo = json.loads(resp.body)
            port, name = target(i % 3)
            self.assertEqual((echo["name"], echo["url"], echo["host"], echo["bodyLength"]),
                             (name, f"/echo?i={i}", f"localhost:{port}", len(f"request {i}")))
        wait_until(lambda: cmux_metric(cmux, "cmux_proxy_requests_total", protocol="http2") >= n,
                   timeout=10, message="cmux-proxy did not count 200 HTTP/2 requests")
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_requests_total", protocol="http2"), n)
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_requests_total", protocol="http1.1"), 0)
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_connections_total"), 1,
                         "the preview proxy opened more than one connection to cmux-proxy")

        # The same with 99 concurrent HTTP/2 streams of a client (h2c prior knowledge).
        c = harness.H2Client(pp.host, pp.port)
        self.addCleanup(c.close)
        sids = []
        for i in range(99):
            ctx = i % 3
            port, name = target(ctx)
            sid = c.start([(":method", "GET"), (":scheme", "http"),
                           (":authority", f"localhost:{port}"), (":path", f"/echo?h2={i}"),
                           ("proxy-authorization", pp.auth_header(ctx)[1])], end_stream=True)
            sids.append((sid, name, i))
        for sid, name, i in sids:
            st = c.wait_end(sid, timeout=30)
            self.assertEqual(st.status, 200, (i, bytes(st.data)[:200]))
            self.assertEqual(json.loads(bytes(st.data))["name"], name)
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_connections_total"), 1)


    def test_h2load_from_three_contexts_over_one_connection(self):
        # h2load (h2c prior knowledge to the preview proxy, :authority = the loopback target)
        # from the three contexts at once: every request succeeds, one connection upstream.
        certs = self.make_certs()
        app = self.origin(name="app")
        cmux = self.tls_cmux_proxy(certs)
        routes = [MORPH_ROUTE, "https://cmux-abc123-base-3000.cmux.app/",
                  "https://cmux-abc123-base-5173.cmux.dev/"]
        pp = self.preview(*[a for r in routes for a in ("--route", r)],
                          *harness.resolve_args(cmux), "--upstream-ca", certs.ca_cert)
        n = 1500
        procs = [subprocess.Popen(
            ["h2load", "-n", str(n), "-c", "3", "-m", "50",
             "-H", f":authority: localhost:{app.port}",
             "-H", f"proxy-authorization: {pp.auth_header(ctx)[1]}",
             f"http://{pp.hostport}/echo?ctx={ctx}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE) for ctx in range(3)]
        for ctx, proc in enumerate(procs):
            try:
                out, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError(f"h2load of context {ctx} did not finish")
            text = out.decode()
            self.assertEqual(proc.returncode, 0, text + err.decode())
            self.assertIn(f"requests: {n} total, {n} started, {n} done, {n} succeeded, 0 failed",
                          text)
            self.assertIn(f"status codes: {n} 2xx", text)
        wait_until(lambda: cmux_metric(cmux, "cmux_proxy_requests_total", protocol="http2")
                   >= 3 * n, timeout=10, message="cmux-proxy did not count every request")
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_connections_total"), 1)
        self.assertEqual(app.stats()["requests"], 3 * n)


class RestartUpstream(ProxyTestCase):
    def start_cmux(self, certs, port):
        return self.tls_cmux_proxy(certs, "--listen", f"127.0.0.1:{port}")

    def test_kill_and_restart_cmux_proxy(self):
        certs = self.make_certs()
        app = self.origin(name="app")
        port = harness.free_port()
        cmux = self.start_cmux(certs, port)
        pp = self.preview("--route", MORPH_ROUTE, *harness.resolve_args(cmux),
                          "--upstream-ca", certs.ca_cert)
        url = f"http://localhost:{app.port}/echo"
        self.assertEqual(pp.request(0, "GET", url).status, 200)

        # A request in flight when cmux-proxy dies fails (502: nothing of it was sent yet).
        inflight = {}

        def slow():
            try:
                inflight["resp"] = pp.request(0, "GET", f"http://localhost:{app.port}"
                                                        f"/slow?ms=20000", timeout=15)
            except Exception as exc:  # noqa: BLE001
                inflight["resp"] = exc

        t = threading.Thread(target=slow, daemon=True)
        t.start()
        wait_until(lambda: any("/slow?ms=20000" in r for r in app.stats()["recent"]), timeout=10,
                   message="the slow request never reached the origin")
        cmux.send_signal(signal.SIGKILL)
        cmux.wait()
        t.join(15)
        self.assertFalse(t.is_alive(), "the in-flight request hangs after cmux-proxy died")
        resp = inflight["resp"]
        # Nothing of the response had been sent: the client gets a 502 (SPEC §3 Errors).
        self.assertNotIsInstance(resp, Exception, f"in-flight request: {resp!r}")
        self.assertEqual(resp.status, 502, resp.body[:200])

        # While cmux-proxy is down: a clean 502, quickly.
        self.assertEqual(pp.request(0, "GET", url, timeout=10).status, 502)

        # Restarted on the same port: new requests reconnect.
        cmux2 = self.start_cmux(certs, port)
        wait_until(lambda: pp.request(0, "GET", url, timeout=10).status == 200, timeout=15,
                   message="requests did not succeed again after cmux-proxy restarted")
        for i in range(20):
            resp = pp.request(0, "GET", f"{url}?after={i}")
            self.assertEqual(resp.status, 200, resp.body[:200])
            self.assertEqual(json.loads(resp.body)["url"], f"/echo?after={i}")
        self.assertEqual(cmux_metric(cmux2, "cmux_proxy_connections_total"), 1)
        wait_until(lambda: cmux_metric(cmux2, "cmux_proxy_requests_total", protocol="http2")
                   >= 20, timeout=5, message="the new connection is not HTTP/2")

    def test_goaway_on_graceful_restart(self):
        # SIGTERM makes cmux-proxy send GOAWAY; the preview proxy opens a new session to the
        # restarted one.
        certs = self.make_certs()
        app = self.origin(name="app")
        port = harness.free_port()
        cmux = self.start_cmux(certs, port)
        pp = self.preview("--route", MORPH_ROUTE, *harness.resolve_args(cmux),
                          "--upstream-ca", certs.ca_cert)
        url = f"http://localhost:{app.port}/echo"
        self.assertEqual(pp.request(0, "GET", url).status, 200)
        self.assertEqual(cmux.stop(), 0)
        cmux2 = self.start_cmux(certs, port)
        wait_until(lambda: pp.request(0, "GET", url, timeout=10).status == 200, timeout=15,
                   message="requests did not succeed again after a graceful restart")
        for _ in range(5):
            self.assertEqual(pp.request(0, "GET", url).status, 200)
        self.assertEqual(cmux_metric(cmux2, "cmux_proxy_connections_total"), 1)


class Http1Upstream(ProxyTestCase):
    """HTTP/1.1 to the cmux-proxy origin: by `--no-http2`, or because the upstream's TLS offers
    only http/1.1 (or no ALPN): the request still works (SPEC §3 fallback)."""

    def exercise(self, pp, app, ctx=0):
        url = f"http://localhost:{app.port}"
        resp = pp.request(ctx, "GET", f"{url}/echo?x=1")
        self.assertEqual(resp.status, 200, resp.body[:300])
        echo = json.loads(resp.body)
        self.assertEqual((echo["name"], echo["host"], echo["url"]),
                         ("app", f"localhost:{app.port}", "/echo?x=1"))
        self.assertFalse([n for n in echo["rawHeaders"][::2] if n.lower().startswith("x-cmux-")])
        body = harness.pattern_bytes(2 * MiB)
        resp = pp.request(ctx, "POST", f"{url}/echo/up", body=body, timeout=30)
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.body)["bodySha256"], hashlib.sha256(body).hexdigest())
        n = 3 * MiB
        resp = pp.request(ctx, "GET", f"{url}/bytes/{n}", timeout=30)
        self.assertEqual(resp.status, 200)
        self.assertEqual(hashlib.sha256(resp.body).hexdigest(), harness.pattern_sha256(n))
        results = harness.concurrent(10, lambda i: pp.request(ctx, "GET", f"{url}/echo?c={i}",
                                                      timeout=30))
        for i, r in enumerate(results):
            self.assertNotIsInstance(r, Exception, repr(r))
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body)["url"], f"/echo?c={i}")
        return 13  # requests made

    def assertOnlyHttp1(self, cmux, n):
        wait_until(lambda: cmux_metric(cmux, "cmux_proxy_requests_total", protocol="http1.1")
                   >= n, timeout=5, message=f"cmux-proxy did not count {n} HTTP/1.1 requests")
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_requests_total", protocol="http2"), 0,
                         "the preview proxy spoke HTTP/2 to an HTTP/1.1-only upstream")

    def test_no_http2_flag(self):
        certs = self.make_certs()
        app = self.origin(name="app")
        cmux = self.tls_cmux_proxy(certs)
        pp = self.preview("--no-http2", "--route", MORPH_ROUTE, *harness.resolve_args(cmux),
                          "--upstream-ca", certs.ca_cert)
        n = self.exercise(pp, app)
        self.assertOnlyHttp1(cmux, n)

    def relay_chain(self, alpn):
        certs = self.make_certs()
        app = self.origin(name="app")
        cmux = self.proxy("--upstream-host", "127.0.0.1", "--metrics-listen", "127.0.0.1:0",
                          expect_metrics=True)  # cleartext: HTTP/1.1 and h2c
        relay = TlsRelay(certs, cmux.port, alpn)
        self.addCleanup(relay.close)
        pp = self.preview("--route", MORPH_ROUTE,
                          "--resolve", f"{MORPH_HOST}:443:127.0.0.1:{relay.port}",
                          "--upstream-ca", certs.ca_cert)
        return app, cmux, relay, pp

    def test_tls_upstream_offering_only_http11(self):
        app, cmux, relay, pp = self.relay_chain(["http/1.1"])
        n = self.exercise(pp, app)
        self.assertOnlyHttp1(cmux, n)
        self.assertGreaterEqual(relay.accepted, 1)
        self.assertEqual(set(relay.negotiated), {"http/1.1"})
        self.assertIn(MORPH_HOST, relay.sni, "SNI must be the target host")
        # Later requests keep working (the origin is remembered as HTTP/1.1-only).
        for i in range(5):
            self.assertEqual(pp.request(0, "GET", f"http://localhost:{app.port}/echo?r={i}")
                             .status, 200)
        self.assertOnlyHttp1(cmux, n + 5)

    def test_tls_upstream_without_alpn(self):
        app, cmux, relay, pp = self.relay_chain(None)
        n = self.exercise(pp, app)
        self.assertOnlyHttp1(cmux, n)
        self.assertEqual(set(relay.negotiated), {None})

    def test_tls_upstream_offering_h2_is_used_over_one_connection(self):
        # Control for the two tests above: the same relay offering h2 gets HTTP/2.
        app, cmux, relay, pp = self.relay_chain(["h2", "http/1.1"])
        for i in range(5):
            self.assertEqual(pp.request(0, "GET", f"http://localhost:{app.port}/echo?i={i}")
                             .status, 200)
        self.assertEqual(relay.negotiated, ["h2"])
        wait_until(lambda: cmux_metric(cmux, "cmux_proxy_requests_total", protocol="http2") >= 5,
                   timeout=5, message="HTTP/2 was not used although ALPN selected h2")

    def test_cleartext_http_route(self):
        # `--route http://…`: the cmux-proxy origin is http:// (cmux-proxy without TLS).
        app = self.origin(name="app")
        cmux = self.proxy("--upstream-host", "127.0.0.1", "--metrics-listen", "127.0.0.1:0",
                          expect_metrics=True)
        pp = self.preview("--route", f"http://{MORPH_HOST}/",
                          *harness.resolve_args(cmux, port=80))
        self.assertEqual(pp.context(0)["route"]["cmuxProxyOrigin"], f"http://{MORPH_HOST}")
        resp = pp.request(0, "GET", f"http://localhost:{app.port}/echo")
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertEqual(json.loads(resp.body)["host"], f"localhost:{app.port}")
        wait_until(lambda: cmux_metric(cmux, "cmux_proxy_requests_total") >= 1, timeout=5,
                   message="the request did not pass through cmux-proxy")


class ClientGone(ProxyTestCase):
    """An HTTP/1.1 client that closes its connection while the answer is still being waited for
    ends the exchange: the request is cancelled all the way to the origin, over an HTTP/2 and an
    HTTP/1.1 upstream alike (the watch on the client starts once the wait turns slow)."""

    def check(self, *extra):
        certs = self.make_certs()
        app = self.origin(name="app")
        cmux = self.tls_cmux_proxy(certs)
        pp = self.preview("--route", MORPH_ROUTE, *harness.resolve_args(cmux),
                          "--upstream-ca", certs.ca_cert, *extra)
        before = app.stats()["aborted"]
        path = "/slow?ms=10000&gone=1"
        conn = harness.HttpConn(pp.host, pp.port)
        self.addCleanup(conn.close)
        name, value = pp.auth_header(0)
        conn.send(f"GET http://localhost:{app.port}{path} HTTP/1.1\r\n"
                  f"Host: localhost:{app.port}\r\n{name}: {value}\r\n\r\n".encode())
        wait_until(lambda: f"GET {path}" in app.stats()["recent"], timeout=5,
                   message="the request did not reach the origin")
        conn.close()
        wait_until(lambda: app.stats()["aborted"] > before, timeout=5,
                   message="closing the client connection did not cancel the origin request")

    def test_over_http2_upstream(self):
        self.check()

    def test_over_http1_upstream(self):
        self.check("--no-http2")


class UpstreamTls(ProxyTestCase):
    def test_untrusted_upstream_certificate_is_502(self):
        certs = self.make_certs()
        app = self.origin(name="app")
        cmux = self.tls_cmux_proxy(certs)
        pp = self.preview("--route", MORPH_ROUTE, *harness.resolve_args(cmux))  # no --upstream-ca
        resp = pp.request(0, "GET", f"http://localhost:{app.port}/echo")
        self.assertEqual(resp.status, 502, resp.body[:300])
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_requests_total"), 0)
        self.assertEqual(app.request_count(), 0)

    def test_certificate_for_another_host_is_502(self):
        certs = self.make_certs(names=("other.example.test",))
        app = self.origin(name="app")
        cmux = self.tls_cmux_proxy(certs)
        pp = self.preview("--route", MORPH_ROUTE, *harness.resolve_args(cmux),
                          "--upstream-ca", certs.ca_cert)
        resp = pp.request(0, "GET", f"http://localhost:{app.port}/echo")
        self.assertEqual(resp.status, 502, resp.body[:300])
        self.assertEqual(cmux_metric(cmux, "cmux_proxy_requests_total"), 0)
        self.assertEqual(app.request_count(), 0)


if __name__ == "__main__":
    unittest.main()
