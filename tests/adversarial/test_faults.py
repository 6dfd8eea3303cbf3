"""Faults behind the proxies (SPEC §2/§3 errors, §6 drain): the origin dies in the middle of a
response (the client must see a reset / abort, never a complete-looking body: HTTP/2
RST_STREAM, HTTP/1.1 close before Content-Length or before the last chunk), the origin refuses
connections (502), cmux-proxy is killed and restarted on the same port under the preview proxy
(its HTTP/2 session reconnects), and a graceful drain (SIGTERM) completes in-flight work — on
each proxy alone and through the whole chain (client → preview proxy → cmux-proxy over TLS/h2 →
origin).

    cd tests/adversarial && /usr/bin/python3 -m unittest -v test_faults
"""

import json
import signal
import threading
import unittest

from _support import (MiB, NO_ERROR, SLOW, Bystander, CmuxTarget, PreviewTarget,
                      ProxyTestCase, RawH2, harness, socket_closed_within, start_cmux,
                      start_preview, wait_until)

DROP_LENGTH = MiB  # origin.js /drop: Content-Length 1 MiB, 64 KiB written, then the socket dies


class FaultCases:
    def make_target(self):
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        self.target = self.make_target()

    def h1_drop(self, path):
        conn = self.target.h1_conn(timeout=10 * SLOW)
        self.addCleanup(conn.close)
        method, target, headers, body = self.target.h1_request("GET", path)
        conn.send(("\r\n".join([f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers])
                   + "\r\n\r\n").encode())
        status, _, hdrs, _ = conn.read_head()
        self.assertEqual(status, 200)
        h = dict(hdrs)
        closed, rest = socket_closed_within(conn.sock, 10 * SLOW)
        rest = conn.buf + rest
        self.assertTrue(closed, "the connection stayed open after the upstream died mid-body")
        if "content-length" in h:
            self.assertLess(len(rest), int(h["content-length"]),
                            "a complete Content-Length body after the upstream died")
        else:
            self.assertIn("chunked", h.get("transfer-encoding", ""), h)
            self.assertFalse(rest.endswith(b"0\r\n\r\n"),
                             "a terminal chunk after the upstream died: looks complete")

    def test_upstream_dies_mid_response_h1(self):
        with Bystander(self.target, "mixed") as by:
            for path in ("/drop", "/drop?chunked=1"):
                with self.subTest(path=path):
                    self.h1_drop(path)
            by.wait_more(1)
            by.stop()
            by.assert_unharmed(self)

    def test_upstream_dies_mid_response_h2(self):
        with Bystander(self.target, "mixed") as by:
            for path in ("/drop", "/drop?chunked=1"):
                with self.subTest(path=path):
                    c = self.target.raw_h2()
                    self.addCleanup(c.close)
                    c.wait_settings()
                    sid = c.request(self.target.h2_headers("GET", path))
                    st = c.streams[sid]
                    c.wait(lambda: st.ended, 10 * SLOW)
                    self.assertTrue(st.ended or c.closed, c.describe())
                    self.assertIsNotNone(st.reset_code if not c.closed else True,
                                         "the stream ended with END_STREAM after the upstream "
                                         f"died: {st.data_len} bytes; {c.describe()}")
                    self.assertNotEqual(st.reset_code, NO_ERROR, c.describe())
                    self.assertLess(st.data_len, DROP_LENGTH)
                    # The connection itself survives a reset stream.
                    if not c.closed:
                        sid2 = c.request(self.target.h2_headers("GET", "/echo?after-drop=1"))
                        c.wait(lambda: c.streams[sid2].ended, 10 * SLOW)
                        self.assertEqual(c.streams[sid2].status, 200, c.describe())
            by.wait_more(1)
            by.stop()
            by.assert_unharmed(self)

    def test_origin_refuses_is_502(self):
        dead = harness.free_port()
        conn = self.target.h1_conn()
        self.addCleanup(conn.close)
        method, target, headers, body = self.dead_request(dead)
        resp = conn.request(method, target, headers, body)
        self.assertEqual(resp.status, 502, resp.body[:200])
        c = self.target.raw_h2()
        self.addCleanup(c.close)
        c.wait_settings()
        sid = c.request(self.dead_h2_headers(dead))
        c.wait(lambda: c.streams[sid].ended, 10 * SLOW)
        self.assertEqual(c.streams[sid].status, 502, c.describe())


class CmuxProxyFaults(FaultCases, ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="fault-origin")

    def make_target(self):
        return CmuxTarget(start_cmux(self), self.origin_)

    def dead_request(self, port):
        return "GET", "/echo", [("Host", "x"), ("X-Cmux-Port-Internal", str(port))], b""

    def dead_h2_headers(self, port):
        return [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/echo"),
                ("x-cmux-port-internal", str(port))]

    def test_graceful_drain_completes_in_flight(self):
        """SIGTERM with 5 HTTP/2 streams and an HTTP/1.1 upload in flight: GOAWAY NO_ERROR at
        once, new connections refused, every in-flight exchange completes correctly, exit 0."""
        proxy = self.target.proxy
        c = self.target.raw_h2()
        self.addCleanup(c.close)
        c.wait_settings()
        sids = [c.request(self.target.h2_headers("GET", f"/slow?ms=1500&drain={i}"))
                for i in range(5)]
        up = self.target.h1_conn(timeout=20)
        self.addCleanup(up.close)
        body = harness.pattern_bytes(300_000)
        method, target, headers, _ = self.target.h1_request("POST", "/echo?drain-upload=1")
        up.send(("\r\n".join([f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers]
                             + [f"Content-Length: {len(body)}"]) + "\r\n\r\n").encode()
                + body[:100_000])
        wait_until(lambda: all(f"GET /slow?ms=1500&drain={i}" in self.origin_.stats()["recent"]
                               for i in range(5)), timeout=10 * SLOW)
        proxy.send_signal(signal.SIGTERM)
        c.wait(lambda: c.goaway is not None, 5 * SLOW)
        self.assertIsNotNone(c.goaway, f"no GOAWAY on SIGTERM: {c.describe()}")
        self.assertEqual(c.goaway.error_code, NO_ERROR, c.describe())
        self.assertGreaterEqual(c.goaway.last_stream_id, max(sids))
        wait_until(lambda: harness.connection_refused(proxy.host, proxy.port), timeout=3 * SLOW,
                   message="still accepting connections while draining")
        up.send(body[100_000:])
        resp = up.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.body)["bodyLength"], len(body))
        c.wait(lambda: all(c.streams[s].ended for s in sids), 10 * SLOW)
        for i, s in enumerate(sids):
            st = c.streams[s]
            self.assertEqual((st.status, st.reset_code), (200, None), c.describe())
            self.assertEqual(bytes(st.data), b"slow 1500\n")
        self.assertEqual(proxy.wait(timeout=10 * SLOW), 0)


class PreviewProxyFaults(FaultCases, ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="fault-origin")

    def make_target(self):
        return PreviewTarget(start_preview(self), self.origin_)

    def dead_request(self, port):
        return "GET", f"http://127.0.0.1:{port}/echo", [
            ("Host", f"127.0.0.1:{port}"), ("Proxy-Authorization", self.target.auth)], b""

    def dead_h2_headers(self, port):
        return [(":method", "GET"), (":scheme", "http"), (":authority", f"127.0.0.1:{port}"),
                (":path", "/echo"), ("proxy-authorization", self.target.auth)]


class ChainFaults(ProxyTestCase):
    """client → cmux-preview-proxy (routed context) → cmux-proxy (TLS, one HTTP/2 session) →
    origin."""

    def setUp(self):
        super().setUp()
        self.certs = self.make_certs()
        self.app = self.origin(name="chain-app")
        self.cmux_port = harness.free_port()
        self.cmux = self.start_cmux()
        self.pp = self.preview("--route", harness.MORPH_ROUTE, "--route", "none",
                               *harness.resolve_args(self.cmux), "--upstream-ca",
                               self.certs.ca_cert)
        self.url = f"http://localhost:{self.app.port}"

    def start_cmux(self):
        return self.tls_cmux_proxy(self.certs, "--listen", f"127.0.0.1:{self.cmux_port}")

    def routed(self, path, timeout=15):
        return self.pp.request(0, "GET", self.url + path, timeout=timeout)

    def routed_h2(self, path):
        c = RawH2(self.pp.host, self.pp.port)
        self.addCleanup(c.close)
        c.wait_settings()
        sid = c.request([(":method", "GET"), (":scheme", "http"),
                         (":authority", f"localhost:{self.app.port}"), (":path", path),
                         ("proxy-authorization", self.pp.auth_header(0)[1])])
        c.wait(lambda: c.streams[sid].ended, 15 * SLOW)
        return c, c.streams[sid]

    def test_upstream_dies_mid_response_through_chain(self):
        for path in ("/drop", "/drop?chunked=1"):
            with self.subTest(proto="h2", path=path):
                c, st = self.routed_h2(path)
                self.assertTrue(st.ended or c.closed, c.describe())
                self.assertTrue(st.reset_code not in (None, NO_ERROR) or c.closed,
                                f"complete-looking stream after the origin died: "
                                f"{st.data_len} bytes; {c.describe()}")
                self.assertLess(st.data_len, DROP_LENGTH)
            with self.subTest(proto="h1", path=path):
                conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
                self.addCleanup(conn.close)
                conn.send((f"GET {self.url}{path} HTTP/1.1\r\nHost: localhost:{self.app.port}\r\n"
                           f"Proxy-Authorization: {self.pp.auth_header(0)[1]}\r\n\r\n").encode())
                status, _, hdrs, _ = conn.read_head()
                self.assertEqual(status, 200)
                h = dict(hdrs)
                closed, rest = socket_closed_within(conn.sock, 15 * SLOW)
                rest = conn.buf + rest
                self.assertTrue(closed)
                if "content-length" in h:
                    self.assertLess(len(rest), int(h["content-length"]))
                else:
                    self.assertFalse(rest.endswith(b"0\r\n\r\n"), "terminal chunk after a drop")
        # The shared upstream session is unharmed.
        self.assertEqual(self.routed("/echo?after=1").status, 200)

    def test_cmux_proxy_restart_session_reconnects(self):
        self.assertEqual(self.routed("/echo?before=1").status, 200)
        self.cmux.send_signal(signal.SIGKILL)
        self.cmux.wait()
        self.assertEqual(self.routed("/echo?down=1", timeout=10).status, 502)
        self.cmux = self.start_cmux()
        wait_until(lambda: self.routed("/echo?probe=1", timeout=10).status == 200,
                   timeout=15 * SLOW, message="no success after cmux-proxy came back")
        for i in range(10):
            resp = self.routed(f"/echo?after={i}")
            self.assertEqual(resp.status, 200, resp.body[:200])
            self.assertEqual(json.loads(resp.body)["url"], f"/echo?after={i}")
        c, st = self.routed_h2("/echo?after-h2=1")
        self.assertEqual(st.status, 200, c.describe())
        samples = harness.scrape_metrics(self.cmux.metrics_addr)
        self.assertEqual(harness.metric_sum(samples, "cmux_proxy_connections_total"), 1,
                         "the preview proxy did not use one HTTP/2 session after the restart")

    def test_drain_of_cmux_proxy_completes_chain_requests(self):
        """SIGTERM to cmux-proxy while requests of the preview proxy's shared HTTP/2 session are
        in flight: they complete; after a restart new requests succeed."""
        results = {}

        def slow(i):
            try:
                results[i] = self.routed(f"/slow?ms=1500&chain-drain={i}", timeout=20)
            except Exception as exc:  # noqa: BLE001
                results[i] = exc
        threads = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(3)]
        for t in threads:
            t.start()
        wait_until(lambda: sum(1 for r in self.app.stats()["recent"] if "chain-drain=" in r) == 3,
                   timeout=10 * SLOW, message="the slow requests never reached the origin")
        self.cmux.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(20)
        for i in range(3):
            r = results.get(i)
            self.assertNotIsInstance(r, Exception, repr(r))
            self.assertEqual((r.status, r.body), (200, b"slow 1500\n"))
        self.assertEqual(self.cmux.wait(timeout=10 * SLOW), 0)
        self.cmux = self.start_cmux()
        wait_until(lambda: self.routed("/echo?after-drain=1", timeout=10).status == 200,
                   timeout=15 * SLOW, message="no success after cmux-proxy was restarted")


if __name__ == "__main__":
    unittest.main()
