"""Slow clients against both proxies (SPEC §6 timeouts): Slowloris (a request head trickled byte
by byte), a silent connection, an idle keep-alive / HTTP/2 connection, slow POST (a body that
stops), a zero HTTP/2 window, and TCP slow-read (a client that never reads its socket) over
HTTP/1.1 and HTTP/2. The proxies run with 2-second timeouts (--first-byte-timeout,
--header-timeout, --idle-timeout, --body-timeout, --send-timeout); each test asserts that the
offending connection / stream ends within the timeout plus slack, that the origin never sees a
completed request from it, that the proxy's memory stays bounded while it holds the slow
response, and that a well-behaved client on other connections is unaffected.

    cd tests/adversarial && /usr/bin/python3 -m unittest -v test_slow_clients
"""

import socket
import time
import unittest

from _support import (SETTINGS_INITIAL_WINDOW_SIZE, SHORT_TIMEOUT, SLOW, TIMEOUT_FLAGS, MiB,
                      Bystander, CmuxTarget, MemWatch, PreviewTarget, ProxyTestCase, error_name,
                      socket_closed_within, start_cmux, start_preview, wait_until)

SLACK = 4.0 * SLOW  # how much later than the configured timeout the close may come


class SlowCases:
    def make_target(self):
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        self.target = self.make_target()

    def origin_stats(self):
        return self.target.origin.stats()

    def connect(self, rcvbuf=None) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.connect((self.target.host, self.target.port))
        self.addCleanup(s.close)
        return s

    def test_slowloris_header_trickle(self):
        """A request head sent one byte every 50 ms (it would take ~25 s) is cut at the
        request-head timeout (2 s) — each byte must not restart the clock."""
        head = self.target.h1_head("GET", "/echo?slowloris=1",
                                   b"".join(b"X-Slow-%02d: %s\r\n" % (i, b"z" * 40)
                                            for i in range(10))) + b"\r\n"
        with Bystander(self.target, "mixed") as by:
            s = self.connect()
            t0 = time.monotonic()
            closed = False
            reply = b""
            for i in range(len(head)):
                try:
                    s.sendall(head[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                closed, got = socket_closed_within(s, 0.05)
                reply += got
                if closed or time.monotonic() - t0 > SHORT_TIMEOUT + SLACK:
                    break
            elapsed = time.monotonic() - t0
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        self.assertTrue(closed, f"a head trickled byte by byte was still accepted after "
                                f"{elapsed:.1f} s (header timeout {SHORT_TIMEOUT} s); sent "
                                f"{i + 1} of {len(head)} bytes")
        self.assertLessEqual(elapsed, SHORT_TIMEOUT + SLACK)
        if reply:
            self.assertRegex(reply, rb"^HTTP/1\.1 (408|400) ", reply[:200])
        after = self.origin_stats()
        self.assertNotIn("GET /echo?slowloris=1", after["recent"])

    def test_slowloris_h2_unfinished_header_block(self):
        """HTTP/2 Slowloris: HEADERS without END_HEADERS, then one small CONTINUATION every
        300 ms (at most 15, under the CONTINUATION limit) — the header block never ends, and
        nothing else may be sent on the connection meanwhile (RFC 9113 §6.10). The request-head
        timeout must end it (GOAWAY / close, or the stream reset)."""
        with Bystander(self.target, "mixed") as by:
            c = self.target.raw_h2()
            self.addCleanup(c.close)
            c.wait_settings()
            sid = c.new_sid()
            c.send(c.headers_frame(sid, c.header_block(
                self.target.h2_headers("GET", "/echo?slowloris-h2=1")), end_headers=False))
            t0 = time.monotonic()
            for i in range(15):
                if c.wait(lambda: c.closed or c.goaway or c.streams[sid].ended, 0.3):
                    break
                c.send(c.continuation_frame(sid, c.header_block([(f"x-slow-{i}", "z")])))
            c.wait(lambda: c.closed or c.goaway or c.streams[sid].ended,
                   max(0.0, SHORT_TIMEOUT + SLACK - (time.monotonic() - t0)))
            elapsed = time.monotonic() - t0
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        self.assertTrue(c.closed or c.goaway or c.streams[sid].ended,
                        f"an unfinished HTTP/2 header block was kept for {elapsed:.1f} s "
                        f"(header timeout {SHORT_TIMEOUT} s): {c.describe()}")
        self.assertLessEqual(elapsed, SHORT_TIMEOUT + SLACK)
        self.assertNotIn("GET /echo?slowloris-h2=1", self.origin_stats()["recent"])

    def test_pipelined_flood_without_reading(self):
        """HTTP/1.1 analogue of the unread PING flood: 20 000 pipelined GETs of 64 KiB each on
        one connection with a 4 KiB receive buffer, never read. The proxy must stop reading
        requests while responses are queued (bounded memory, bounded origin work) and drop the
        connection at the send timeout."""
        before = self.origin_stats()
        mem = MemWatch(self.target.proxy)
        with Bystander(self.target, "mixed") as by:
            s = self.connect(rcvbuf=4096)
            s.setblocking(False)
            one = self.target.h1_head("GET", "/bytes/65536?pipelined=1", b"\r\n")
            data = memoryview(one * 20000)
            t0 = time.monotonic()
            last = t0
            while data and time.monotonic() - last < 3 * SLOW:
                try:
                    n = s.send(data[:1 << 16])
                    data = data[n:]
                    last = time.monotonic()
                except BlockingIOError:
                    time.sleep(0.01)  # the proxy stopped reading: poll, that is the point
                except (BrokenPipeError, ConnectionResetError):
                    break
            s.setblocking(True)
            wait_until(lambda: self.origin_stats()["aborted"] > before["aborted"]
                       or not self._still_open(s), timeout=SHORT_TIMEOUT + SLACK + 4,
                       message="the proxy kept a pipelined connection nobody reads")
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        mem.assert_bounded(self)
        forwarded = self.origin_stats()["requests"] - before["requests"] - by.ok - 3
        self.assertLess(forwarded, 2000, f"the proxy forwarded {forwarded} of 20 000 pipelined "
                                         f"requests whose answers nobody reads")
        closed, _ = socket_closed_within(s, 10 * SLOW)
        self.assertTrue(closed, "the unread pipelined connection was not closed")

    @staticmethod
    def _still_open(s) -> bool:
        """False once the peer has closed or reset the connection (checked without reading
        the data: TCP_INFO state)."""
        import struct
        info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        state = struct.unpack("B", info[:1])[0]
        return state == 1  # TCP_ESTABLISHED; CLOSE_WAIT (8) once the peer sent FIN

    def test_silent_connection_closed(self):
        """A connection that never sends a byte is closed at the first-bytes timeout."""
        s = self.connect()
        t0 = time.monotonic()
        closed, got = socket_closed_within(s, SHORT_TIMEOUT + SLACK)
        self.assertTrue(closed, f"a silent connection was kept open for {SHORT_TIMEOUT + SLACK} s")
        self.assertGreaterEqual(time.monotonic() - t0, SHORT_TIMEOUT * 0.5)

    def test_idle_keep_alive_connection_closed(self):
        conn = self.target.h1_conn()
        self.addCleanup(conn.close)
        method, target, headers, body = self.target.h1_request("GET", "/echo?keepalive=1")
        self.assertEqual(conn.request(method, target, headers, body).status, 200)
        closed, _ = socket_closed_within(conn.sock, SHORT_TIMEOUT + SLACK)
        self.assertTrue(closed, "an idle keep-alive connection outlived the idle timeout")

    def test_idle_h2_connection_gets_goaway_and_close(self):
        c = self.target.raw_h2()
        self.addCleanup(c.close)
        c.wait_settings()
        sid = c.request(self.target.h2_headers("GET", "/echo?h2idle=1"))
        self.assertTrue(c.wait(lambda: c.streams[sid].ended, 10 * SLOW), c.describe())
        self.assertEqual(c.streams[sid].status, 200)
        t0 = time.monotonic()
        c.wait_closed(SHORT_TIMEOUT + SLACK)
        self.assertTrue(c.closed, f"an idle HTTP/2 connection outlived the idle timeout: "
                                  f"{c.describe()}")
        self.assertIsNotNone(c.goaway, f"idle HTTP/2 connection closed without GOAWAY: "
                                       f"{c.describe()}")
        self.assertGreaterEqual(time.monotonic() - t0, SHORT_TIMEOUT * 0.5)

    def test_slow_post_h1(self):
        """Slow POST (R.U.D.Y.): a head announcing 100 000 bytes, 10 bytes of body, then
        nothing. The proxy abandons it at the body timeout (408 or a close) and the origin never
        sees a completed request."""
        before = self.origin_stats()
        with Bystander(self.target, "mixed") as by:
            s = self.connect()
            s.sendall(self.target.h1_head("POST", "/echo?slow-post=1",
                                          b"Content-Length: 100000\r\n\r\n") + b"0123456789")
            t0 = time.monotonic()
            closed, got = socket_closed_within(s, SHORT_TIMEOUT + SLACK + 1)
            elapsed = time.monotonic() - t0
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        self.assertTrue(closed, f"a stalled request body kept its connection for {elapsed:.1f} s "
                                f"(body timeout {SHORT_TIMEOUT} s); got {got[:200]!r}")
        if got:
            self.assertRegex(got, rb"^HTTP/1\.1 408 ", got[:200])
        after = self.origin_stats()
        self.assertEqual(after["echoCompleted"], before["echoCompleted"],
                         "the origin got a complete request out of a stalled body")

    def test_slow_post_h2(self):
        """The same on an HTTP/2 stream: the stream is reset (or answered 408), the connection
        and its other streams live on."""
        before = self.origin_stats()
        c = self.target.raw_h2()
        self.addCleanup(c.close)
        c.wait_settings()
        sid = c.request(self.target.h2_headers("POST", "/echo?slow-post-h2=1",
                                               [("content-length", "100000")]), end_stream=False)
        c.send(c.data_frame(sid, b"0123456789"))
        t0 = time.monotonic()
        st = c.streams[sid]
        c.wait(lambda: st.ended, SHORT_TIMEOUT + SLACK + 1)
        elapsed = time.monotonic() - t0
        self.assertTrue(st.ended or c.closed,
                        f"a stalled HTTP/2 request body was kept for {elapsed:.1f} s: "
                        f"{c.describe()}")
        self.assertTrue(st.reset_code is not None or st.status == 408,
                        f"stalled body: status {st.status}, reset {error_name(st.reset_code)}")
        after = self.origin_stats()
        self.assertEqual(after["echoCompleted"], before["echoCompleted"])
        if not c.closed:
            sid2 = c.request(self.target.h2_headers("GET", "/echo?after-slow-post=1"))
            self.assertTrue(c.wait(lambda: c.streams[sid2].ended, 10 * SLOW), c.describe())
            self.assertEqual(c.streams[sid2].status, 200)

    def zero_window_requests(self, size: int, count: int, tag: str):
        """An HTTP/2 client that announces an initial stream window of 0, with `count` GETs
        of `size` bytes open on it: (client, stream ids)."""
        c = self.target.raw_h2(settings={SETTINGS_INITIAL_WINDOW_SIZE: 0})
        self.addCleanup(c.close)
        c.wait_settings()
        return c, [c.request(self.target.h2_headers("GET", f"/bytes/{size}?{tag}={i}"))
                   for i in range(count)]

    def test_zero_window_h2(self):
        """A client that announces an initial stream window of 0 and asks for 8 MiB on 20
        streams: nothing can be sent. The proxy must hold at most its bounded per-stream queue,
        and give the streams up at the send timeout (RST_STREAM or GOAWAY + close)."""
        before = self.origin_stats()
        mem = MemWatch(self.target.proxy)
        with Bystander(self.target, "mixed") as by:
            c, sids = self.zero_window_requests(8 * MiB, 20, "zero-window")
            t0 = time.monotonic()
            c.wait(lambda: c.closed or all(c.streams[s].ended for s in sids),
                   SHORT_TIMEOUT + SLACK + 2)
            elapsed = time.monotonic() - t0
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        mem.assert_bounded(self)
        open_streams = [s for s in sids if not c.streams[s].ended]
        self.assertTrue(c.closed or not open_streams,
                        f"{len(open_streams)} zero-window streams still open after "
                        f"{elapsed:.1f} s (send timeout {SHORT_TIMEOUT} s): {c.describe()}")
        for s in sids:
            self.assertLess(c.streams[s].data_len, 8 * MiB)
        wait_until(lambda: self.origin_stats()["aborted"] >= before["aborted"] + 20,
                   timeout=5 * SLOW, message="the upstream responses of the abandoned streams "
                                             "were not released")

    def test_zero_window_small_responses_h2(self):
        """Small responses to a client with a stream window of 0: each is queued whole and its
        handler is done, but the body cannot leave. The streams must still be given up at the
        send timeout (RST_STREAM, or GOAWAY + close), not stay open for the connection's life."""
        c, sids = self.zero_window_requests(1000, 5, "zero-window-small")
        t0 = time.monotonic()
        done = c.wait(lambda: c.closed or all(c.streams[s].reset_code is not None for s in sids),
                      SHORT_TIMEOUT + SLACK + 2)
        elapsed = time.monotonic() - t0
        self.assertTrue(done, f"zero-window streams with small responses still open after "
                              f"{elapsed:.1f} s (send timeout {SHORT_TIMEOUT} s): {c.describe()}")
        for s in sids:
            self.assertEqual(c.streams[s].data_len, 0)

    def test_slow_read_h1(self):
        """TCP slow read: GET 64 MiB with a 4 KiB receive buffer and never read. The proxy
        stops pulling from the origin (bounded memory) and drops the connection at the send
        timeout; the body is then visibly cut (EOF before Content-Length)."""
        n = 64 * MiB
        before = self.origin_stats()
        mem = MemWatch(self.target.proxy)
        with Bystander(self.target, "mixed") as by:
            s = self.connect(rcvbuf=4096)
            s.sendall(self.target.h1_head("GET", f"/bytes/{n}?slow-read=1", b"\r\n"))
            wait_until(lambda: self.origin_stats()["aborted"] > before["aborted"],
                       timeout=SHORT_TIMEOUT + SLACK + 4,
                       message="the proxy kept a response nobody reads (no send timeout)")
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        mem.assert_bounded(self)
        closed, got = socket_closed_within(s, 10 * SLOW)
        self.assertTrue(closed, "the slow reader's connection was not closed")
        self.assertLess(len(got), n, "the whole body arrived: the proxy never gave up")

    def test_slow_read_h2(self):
        """TCP slow read over HTTP/2: huge windows granted, a 4 KiB receive buffer, never read;
        4 streams of 32 MiB. The proxy's queued output per connection stays bounded (SPEC §6:
        1 MiB, then stop reading) and the connection is dropped at the send timeout."""
        n = 32 * MiB
        before = self.origin_stats()
        mem = MemWatch(self.target.proxy)
        with Bystander(self.target, "mixed") as by:
            c = self.target.raw_h2(settings={SETTINGS_INITIAL_WINDOW_SIZE: (1 << 31) - 1},
                                   rcvbuf=4096, auto_window=False)
            self.addCleanup(c.close)
            c.wait_settings()
            c.queue(c.window_update_frame(0, (1 << 31) - 1 - 65535))
            for i in range(4):
                sid = c.new_sid()
                c.queue(c.headers_frame(sid, c.header_block(
                    self.target.h2_headers("GET", f"/bytes/{n}?slow-read-h2={i}"))))
            c.flush(read=False)
            wait_until(lambda: self.origin_stats()["aborted"] >= before["aborted"] + 4,
                       timeout=SHORT_TIMEOUT + SLACK + 6,
                       message="the proxy kept responses nobody reads (no send timeout)")
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        mem.assert_bounded(self)
        c.wait_closed(10 * SLOW)
        self.assertTrue(c.closed, f"the slow reader's connection was not closed: {c.describe()}")
        for sid, st in c.streams.items():
            self.assertFalse(st.ended and st.reset_code is None and st.data_len >= n,
                             f"stream {sid} completed although its reader never read")


class CmuxProxySlowClients(SlowCases, ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="slow-origin")

    def make_target(self):
        return CmuxTarget(start_cmux(self, *TIMEOUT_FLAGS), self.origin_)


class PreviewProxySlowClients(SlowCases, ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="slow-origin")

    def make_target(self):
        return PreviewTarget(start_preview(self, *TIMEOUT_FLAGS), self.origin_)


if __name__ == "__main__":
    unittest.main()
