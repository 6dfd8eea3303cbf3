"""Configurable limits of both proxies under attack (SPEC §6 Limits): connection exhaustion
(--max-connections: extra connections refused cleanly, the first N keep working), stream
exhaustion (--max-concurrent-streams: REFUSED_STREAM beyond it), oversized header blocks
(--max-header-bytes → 431 over HTTP/1.1 and HTTP/2), oversized bodies (--max-body-bytes → 413),
and an upstream that never completes the TCP handshake (--connect-timeout → 502 in bounded time).

    cd tests/adversarial && /usr/bin/python3 -m unittest -v test_limits
"""

import json
import socket
import time
import unittest


from _support import (PROTOCOL_ERROR, REFUSED_STREAM, harness, SETTINGS_MAX_CONCURRENT_STREAMS, SLOW, Bystander,
                      CmuxTarget, MemWatch, PreviewTarget, ProxyTestCase, error_name,
                      socket_closed_within, start_cmux, start_preview, wait_until)

MAX_CONNECTIONS = 6


class LimitCases:
    def make_target(self, *flags):
        raise NotImplementedError

    def get(self, conn, i, prefix="conn"):
        method, target, headers, body = self.target.h1_request("GET", f"/echo?{prefix}={i}")
        resp = conn.request(method, target, headers, body)
        self.assertEqual(resp.status, 200, resp.body[:200])
        self.assertEqual(json.loads(resp.body)["url"], f"/echo?{prefix}={i}")

    def test_max_connections(self):
        """N+k connections: the extra ones are refused cleanly (closed, or 503 then closed),
        the first N keep working, and a slot freed is usable again."""
        self.target = self.make_target("--max-connections", str(MAX_CONNECTIONS))
        mem = MemWatch(self.target.proxy)
        first = []
        for i in range(MAX_CONNECTIONS):
            c = self.target.h1_conn()
            self.addCleanup(c.close)
            self.get(c, i)
            first.append(c)
        refused = []
        for i in range(4):
            s = socket.create_connection((self.target.host, self.target.port), timeout=5)
            self.addCleanup(s.close)
            method, target, headers, body = self.target.h1_request("GET", f"/echo?extra={i}")
            try:
                s.sendall(("\r\n".join([f"{method} {target} HTTP/1.1"]
                                       + [f"{k}: {v}" for k, v in headers]) + "\r\n\r\n").encode())
            except (BrokenPipeError, ConnectionResetError):
                pass
            closed, got = socket_closed_within(s, 5 * SLOW)
            refused.append((closed, got))
            self.assertTrue(closed, f"extra connection #{i} beyond --max-connections "
                                    f"{MAX_CONNECTIONS} was served / kept open: {got[:200]!r}")
            if got:
                self.assertRegex(got, rb"^HTTP/1\.1 503 ", f"extra connection #{i}: {got[:200]!r}")
        self.assertNotIn("GET /echo?extra=0", self.target.origin.stats()["recent"])
        # The first N are unharmed.
        for i, c in enumerate(first):
            self.get(c, i, "again")
        # Freeing a slot lets a new connection in.
        first.pop().close()

        def new_connection_works():
            c = self.target.h1_conn(timeout=5)
            try:
                self.get(c, 99, "after-free")
                return True
            finally:
                c.close()
        wait_until(new_connection_works, timeout=5 * SLOW,
                   message="a connection slot freed by a client was not reusable")
        mem.assert_bounded(self)

    def test_max_concurrent_streams(self):
        """SETTINGS_MAX_CONCURRENT_STREAMS from --max-concurrent-streams. A client that opens more
        streams than it acknowledged breaks the protocol: nghttp2 (like nghttpx) treats that as a
        connection error, GOAWAY PROTOCOL_ERROR, rather than RFC 9113 §5.1.2's stream error
        (docs/security.md). What matters here: nothing beyond the limit reaches the origin."""
        self.target = self.make_target("--max-concurrent-streams", "4")
        c = self.target.raw_h2()
        self.addCleanup(c.close)
        settings = c.wait_settings()
        self.assertEqual(settings.get(SETTINGS_MAX_CONCURRENT_STREAMS), 4, settings)
        sids = [c.request(self.target.h2_headers("GET", f"/slow?ms=1500&mcs={i}"))
                for i in range(7)]
        c.wait(lambda: c.goaway is not None or all(c.streams[s].ended for s in sids), 15 * SLOW)
        self.assertIsNotNone(c.goaway, c.describe())
        self.assertEqual(c.goaway.error_code, PROTOCOL_ERROR, c.describe())
        recent = self.target.origin.stats()["recent"]
        self.assertLessEqual(sum(1 for r in recent if "&mcs=" in r), 4, recent[-10:])
        for i in range(4, 7):
            self.assertFalse(any(f"&mcs={i}" in r for r in recent), recent[-10:])

    def test_max_header_bytes(self):
        """--max-header-bytes 4096: an 8 KiB header block is refused with 431 on HTTP/1.1 and
        on HTTP/2, and never forwarded; a 2 KiB one passes."""
        self.target = self.make_target("--max-header-bytes", "4096")
        big = [("x-big-%d" % i, "v" * 1000) for i in range(8)]
        small = [("x-small", "v" * 2000)]
        # HTTP/1.1
        for name, fields, want in (("big", big, 431), ("small", small, 200)):
            with self.subTest(proto="h1", case=name):
                conn = self.target.h1_conn()
                self.addCleanup(conn.close)
                method, target, headers, body = self.target.h1_request(
                    "GET", f"/echo?mhb-h1={name}", fields)
                resp = conn.request(method, target, headers, body)
                self.assertEqual(resp.status, want, resp.body[:200])
        # HTTP/2
        for name, fields, want in (("big", big, 431), ("small", small, 200)):
            with self.subTest(proto="h2", case=name):
                c = self.target.raw_h2()
                self.addCleanup(c.close)
                c.wait_settings()
                sid = c.request(self.target.h2_headers("GET", f"/echo?mhb-h2={name}", fields))
                c.wait(lambda: c.streams[sid].ended, 10 * SLOW)
                st = c.streams[sid]
                if want == 431:
                    self.assertTrue(st.status == 431 or st.reset_code is not None,
                                    f"8 KiB of headers over HTTP/2: status {st.status}, "
                                    f"{c.describe()}")
                else:
                    self.assertEqual(st.status, 200, c.describe())
        recent = self.target.origin.stats()["recent"]
        self.assertNotIn("GET /echo?mhb-h1=big", recent)
        self.assertNotIn("GET /echo?mhb-h2=big", recent)
        self.assertIn("GET /echo?mhb-h1=small", recent)

    def test_max_body_bytes(self):
        """--max-body-bytes 1000: a 5000-byte upload gets 413 and never completes upstream."""
        self.target = self.make_target("--max-body-bytes", "1000")
        before = self.target.origin.stats()
        conn = self.target.h1_conn()
        self.addCleanup(conn.close)
        method, target, headers, body = self.target.h1_request("POST", "/echo?mbb=1",
                                                               body=b"x" * 5000)
        resp = conn.request(method, target, headers, body)
        self.assertEqual(resp.status, 413, resp.body[:200])
        c = self.target.raw_h2()
        self.addCleanup(c.close)
        c.wait_settings()
        sid = c.request(self.target.h2_headers("POST", "/echo?mbb=2"), end_stream=False)
        c.send(c.data_frame(sid, b"y" * 5000, end_stream=True))
        c.wait(lambda: c.streams[sid].ended, 10 * SLOW)
        st = c.streams[sid]
        self.assertTrue(st.status == 413 or st.reset_code is not None, c.describe())
        self.assertEqual(self.target.origin.stats()["echoCompleted"], before["echoCompleted"])

    def test_connect_timeout(self):
        """An upstream whose accept queue is full never answers the SYN: with
        --connect-timeout 1 the request gets 502 within a few seconds (not the kernel's
        2-minute SYN retry), and other requests keep working meanwhile."""
        self.target = self.make_target("--connect-timeout", "1")
        # A listener with backlog 0 that never accepts; fill its queue so further SYNs drop.
        black = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(black.close)
        black.bind(("127.0.0.1", 0))
        black.listen(0)
        port = black.getsockname()[1]
        fillers = []
        for _ in range(4):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
            self.addCleanup(f.close)
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(probe.close)
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", port))
            self.skipTest("the kernel accepted beyond the backlog; no black-hole port")
        except (socket.timeout, OSError):
            pass
        with Bystander(self.target, "mixed") as by:
            t0 = time.monotonic()
            resp = self.blackhole_request(port)
            elapsed = time.monotonic() - t0
            by.wait_more(1)
            by.stop()
            by.assert_unharmed(self)
        self.assertEqual(resp.status, 502, resp.body[:200])
        self.assertLess(elapsed, 1 + 4 * SLOW, f"502 only after {elapsed:.1f} s")


class CmuxProxyLimits(LimitCases, ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="limits-origin")

    def make_target(self, *flags):
        return CmuxTarget(start_cmux(self, *flags), self.origin_)

    def blackhole_request(self, port):
        conn = harness.HttpConn(self.target.host, self.target.port, timeout=20)
        self.addCleanup(conn.close)
        return conn.request("GET", "/echo", [("Host", "x"), ("X-Cmux-Port-Internal", str(port))])


class PreviewProxyLimits(LimitCases, ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="limits-origin")

    def make_target(self, *flags):
        return PreviewTarget(start_preview(self, *flags), self.origin_)

    def blackhole_request(self, port):
        conn = harness.HttpConn(self.target.host, self.target.port, timeout=20)
        self.addCleanup(conn.close)
        return conn.request("GET", f"http://127.0.0.1:{port}/echo",
                            [("Host", f"127.0.0.1:{port}"),
                             ("Proxy-Authorization", self.target.auth)])


if __name__ == "__main__":
    unittest.main()
