"""HTTP/2 flood attacks on both proxies (SPEC §6 Limits): rapid reset (CVE-2023-44487),
"MadeYouReset" (peer-caused stream errors), CONTINUATION flood (CVE-2024-27316 family), HPACK bomb,
SETTINGS / PING (read and unread) / empty DATA / PRIORITY / unknown-frame floods
(CVE-2019-9511…9518). Each test writes raw frames (hyperframe, hpack) on one connection and
asserts
  - the outcome: GOAWAY ENHANCE_YOUR_CALM or INTERNAL_ERROR and a close (SPEC §6: "Every flood
    ends with GOAWAY (ENHANCE_YOUR_CALM or INTERNAL_ERROR) and a close for the offending
    connection"), or the per-stream answer the SPEC gives (431 / RST_STREAM for the HPACK bomb);
  - that a well-behaved client on other connections (one persistent h2c connection and fresh
    HTTP/1.1 connections) keeps getting correct answers before, during and after the attack;
  - that the proxy's peak RSS (VmHWM) stays bounded.
cmux-proxy is attacked over h2c; the preview proxy over h2c with Proxy-Authorization (an unrouted
context that reaches the origin directly), and over its own TLS listener (ALPN h2).

    cd tests/adversarial && /usr/bin/python3 -m unittest -v test_h2_floods
"""

import unittest

from _support import (CANCEL, ENHANCE_YOUR_CALM, FLOOD_GOAWAY_CODES, SETTINGS_INITIAL_WINDOW_SIZE,
                      SLOW, Bystander, CmuxTarget, MemWatch, PreviewTarget, ProxyTestCase, RawH2,
                      error_name, start_cmux, start_preview, tls_client_context)

FLOOD_FRAMES = 5000  # SPEC §6: glitch burst ~1000 then 33/s; 5000 sent at once is well beyond
RESET_PAIRS = 3000  # SPEC §6: peer resets burst 1000 then 33/s
CLOSE_WAIT = 8.0 * SLOW  # how long the offending connection may take to be closed


class FloodCases:
    """The attacks; subclasses say which proxy (self.target) is attacked."""

    def make_target(self):
        raise NotImplementedError

    def raw(self, **kwargs) -> RawH2:
        return self.target.raw_h2(**kwargs)

    def setUp(self):
        super().setUp()
        self.target = self.make_target()
        self.mem = None

    # -- assertions ------------------------------------------------------------------------

    def assertFloodEnded(self, conn: RawH2, codes=FLOOD_GOAWAY_CODES, what="flood"):
        conn.wait_closed(CLOSE_WAIT)
        self.assertIsNotNone(conn.goaway, f"{self.target.name}: no GOAWAY after the {what}: "
                                          f"{conn.describe()}")
        self.assertIn(conn.goaway.error_code, codes,
                      f"{self.target.name}: GOAWAY {error_name(conn.goaway.error_code)} after "
                      f"the {what}, expected one of {[error_name(c) for c in codes]}: "
                      f"{conn.describe()}")
        self.assertTrue(conn.closed, f"{self.target.name}: the offending connection stays open "
                                     f"after GOAWAY: {conn.describe()}")

    def run_attack(self, attack, bystander_mode="mixed"):
        """Runs attack() with a bystander before/during/after it and a memory watch."""
        mem = MemWatch(self.target.proxy)
        with Bystander(self.target, bystander_mode) as by:
            before = by.count()
            result = attack()
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self, min_ok=before + 2)
        mem.assert_bounded(self)
        self.assertTrue(self.target.proxy.alive(), f"{self.target.name} died during the attack")
        return result

    # -- attacks -------------------------------------------------------------------------------

    def test_rapid_reset(self):
        """CVE-2023-44487: HEADERS immediately followed by RST_STREAM, again and again."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            hdrs = self.target.h2_headers("GET", "/slow?ms=2000&rapid-reset=1")
            # The first block fills the dynamic table; every later one is identical.
            blocks = [c.header_block(hdrs), c.header_block(hdrs)]
            batch = bytearray()
            for i in range(RESET_PAIRS):
                sid = c.new_sid()
                batch += c.headers_frame(sid, blocks[min(i, 1)]) + c.rst_frame(sid, CANCEL)
                if len(batch) > 64 * 1024:
                    if not c.send(bytes(batch)):
                        break
                    batch.clear()
                    if c.goaway or c.closed:
                        break
            if batch and not c.closed and not c.goaway:
                c.send(bytes(batch))
            self.assertFloodEnded(c, what="rapid reset")
            return c
        self.run_attack(attack)

    def test_made_you_reset(self):
        """Peer-caused stream errors (MadeYouReset, CVE-2025-8671 family): requests the *server*
        must reset at once — HEADERS without `:path` (RFC 9113 §8.3.1: malformed → stream error
        PROTOCOL_ERROR) — again and again, each one closed by the server, so no concurrency
        limit is ever reached. SPEC §6 counts peer-caused stream errors as glitches →
        GOAWAY."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            hdrs = [h for h in self.target.h2_headers("GET", "/echo?made-you-reset=1")
                    if h[0] != ":path"]
            blocks = [c.header_block(hdrs), c.header_block(hdrs)]
            # Paced like the real attack: 50 at a time (below MAX_CONCURRENT_STREAMS), the next
            # batch once the server has reset them.
            sent = 0
            while sent < RESET_PAIRS and not (c.goaway or c.closed):
                batch = bytearray()
                sids = []
                for _ in range(50):
                    sid = c.new_sid()
                    sids.append(sid)
                    batch += c.headers_frame(sid, blocks[min(sent, 1)])
                    sent += 1
                if not c.send(bytes(batch)):
                    break
                if not c.wait(lambda: c.goaway or all(c.streams[s].ended for s in sids),
                              5 * SLOW):
                    self.fail(f"the server did not reset malformed streams: {c.describe()}")
            self.assertFloodEnded(c, what="flood of server-side stream resets")
            self.assertNotIn(b"max concurrent streams", bytes(c.goaway.additional_data),
                             "the server did not reset the malformed streams itself")
            return c
        self.run_attack(attack)

    def test_continuation_flood(self):
        """CONTINUATION frames without END_HEADERS, each carrying a new header (SPEC §6: at most
        16 CONTINUATION frames per header block) → connection error."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            sid = c.new_sid()
            first = c.header_block(self.target.h2_headers("GET", "/echo?continuation=1"))
            frames = bytearray(c.headers_frame(sid, first, end_stream=True, end_headers=False))
            for i in range(2000):
                frag = c.header_block([(f"x-cont-{i}", "v" * 64)])
                frames += c.continuation_frame(sid, frag)
            c.send(bytes(frames))
            self.assertFloodEnded(c, what="CONTINUATION flood")
            st = c.streams[sid]
            self.assertIsNone(st.status, "the endless header block was answered as a request")
            return c
        self.run_attack(attack)
        self.assertNotIn("GET /echo?continuation=1", self.target.origin.stats()["recent"])

    def test_continuation_flood_empty_frames(self):
        """Empty CONTINUATION frames (no header bytes at all): a per-block byte limit never
        trips, only the frame count does."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            sid = c.new_sid()
            first = c.header_block(self.target.h2_headers("GET", "/echo?continuation=2"))
            frames = c.headers_frame(sid, first, end_stream=True, end_headers=False)
            frames += c.continuation_frame(sid, b"") * FLOOD_FRAMES
            c.send(frames)
            self.assertFloodEnded(c, what="empty CONTINUATION flood")
            return c
        self.run_attack(attack)

    def test_hpack_bomb(self):
        """A 4 KiB header put into the HPACK dynamic table once, then referenced with one byte
        28 000 times per block (a HEADERS and a CONTINUATION frame of 16 KiB): ~115 MB of
        decoded headers per 32 KB block, on 8 streams. SPEC §6: header block > 64 KiB → 431 (or
        the stream/connection is refused); never buffered."""
        refs = 28000
        streams = 8

        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            base = self.target.h2_headers("GET", "/echo?hpack-bomb=1")
            # Self-check of the construction with a local decoder: the bomb is what it claims.
            import hpack
            probe_enc, probe_dec = hpack.Encoder(), hpack.Decoder(max_header_list_size=1 << 30)
            probe = probe_enc.encode(base + [("x-bomb", "a" * 4050)]) + b"\xbe" * 10
            self.assertEqual(sum(1 for k, _ in probe_dec.decode(probe) if k == "x-bomb"), 11)
            sids = []
            for _ in range(streams):
                sid = c.new_sid()
                sids.append(sid)
                block = c.header_block(base + [("x-bomb", "a" * 4050)]) + b"\xbe" * refs
                parts = [block[i:i + 16384] for i in range(0, len(block), 16384)]
                frames = c.headers_frame(sid, parts[0], end_headers=len(parts) == 1)
                for j, part in enumerate(parts[1:], 2):
                    frames += c.continuation_frame(sid, part, end_headers=j == len(parts))
                if not c.send(frames) or c.closed:
                    break
            c.wait(lambda: c.closed or all(c.streams[s].ended for s in sids), CLOSE_WAIT)
            for sid in sids:
                st = c.streams[sid]
                answered = st.status == 431 or st.reset_code is not None
                terminated = c.goaway is not None or c.closed
                self.assertTrue(answered or terminated,
                                f"stream {sid}: neither 431, RST_STREAM nor GOAWAY after an "
                                f"HPACK bomb: status {st.status}; {c.describe()}")
                self.assertFalse(st.status is not None and st.status < 400,
                                 f"the HPACK bomb was forwarded (status {st.status})")
            if c.goaway is not None:
                self.assertNotIn(c.goaway.error_code, (0, 6), c.describe())  # FRAME_SIZE: a test bug
            return c
        self.run_attack(attack)
        self.assertNotIn("GET /echo?hpack-bomb=1", self.target.origin.stats()["recent"])

    def test_settings_flood(self):
        """CVE-2019-9515: SETTINGS frames (each changing INITIAL_WINDOW_SIZE), ACKs read."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            frames = b"".join(c.settings_frame({SETTINGS_INITIAL_WINDOW_SIZE: 65535 - (i % 2)})
                              for i in range(FLOOD_FRAMES))
            c.send(frames)
            self.assertFloodEnded(c, (ENHANCE_YOUR_CALM,), what="SETTINGS flood")
            return c
        self.run_attack(attack)

    def test_ping_flood(self):
        """CVE-2019-9512: PING frames as fast as possible, ACKs read (no outbound queue builds
        up, so only a glitch counter can stop it)."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            c.send(c.ping_frame(b"pingpong") * FLOOD_FRAMES)
            self.assertFloodEnded(c, (ENHANCE_YOUR_CALM,), what="PING flood")
            return c
        self.run_attack(attack)

    def test_ping_flood_without_reading_acks(self):
        """CVE-2019-9512 proper: PINGs with a tiny receive buffer, never reading the ACKs, so the
        proxy's outbound queue is what grows. The proxy must stop taking input before that
        queue is large (SPEC §6: queued output bounded), close the connection and keep its
        memory bounded. (A GOAWAY cannot be required here: a server that closes with the
        flood still unread in its receive buffer makes the kernel send RST, which may discard
        the GOAWAY before the client reads it; if one arrives its code is checked.)"""
        sent = 40000

        def attack():
            c = self.raw(rcvbuf=4096)
            self.addCleanup(c.close)
            c.wait_settings()
            c.send(c.ping_frame(b"pingpong") * sent, read=False, timeout=3 * SLOW)
            # Now read: what the proxy queued comes out, then the close.
            c.wait_closed(CLOSE_WAIT)
            self.assertTrue(c.closed, f"the connection of an unread PING flood stays open: "
                                      f"{c.describe()}")
            if c.goaway is not None:
                self.assertIn(c.goaway.error_code, FLOOD_GOAWAY_CODES, c.describe())
            acks = c.counts.get("PingFrame", 0)
            self.assertLess(acks, sent // 4, f"the proxy answered {acks} of {sent} PINGs that "
                                             f"were never read: its output queue is unbounded")
            return c
        self.run_attack(attack)

    def test_empty_data_flood(self):
        """CVE-2019-9518: empty DATA frames (no END_STREAM) on an open request stream."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            sid = c.request(self.target.h2_headers("POST", "/echo?empty-data=1"),
                            end_stream=False)
            c.send(c.data_frame(sid, b"") * FLOOD_FRAMES)
            self.assertFloodEnded(c, (ENHANCE_YOUR_CALM,), what="empty DATA flood")
            return c
        self.run_attack(attack)

    def test_priority_flood(self):
        """CVE-2019-9513 (resource loop): PRIORITY frames for ever new idle streams, each
        reshuffling the dependency tree."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            frames = b"".join(c.priority_frame(2 * i + 1, depends_on=2 * i - 1 if i else 0,
                                               exclusive=True)
                              for i in range(FLOOD_FRAMES))
            c.send(frames)
            self.assertFloodEnded(c, (ENHANCE_YOUR_CALM,), what="PRIORITY flood")
            return c
        self.run_attack(attack)

    def test_unknown_frame_flood(self):
        """Frames of an unknown type (RFC 9113 §4.1: ignored) as a flood."""
        def attack():
            c = self.raw()
            self.addCleanup(c.close)
            c.wait_settings()
            c.send(c.unknown_frame(0xFA, 0, b"x" * 16) * FLOOD_FRAMES)
            self.assertFloodEnded(c, (ENHANCE_YOUR_CALM,), what="unknown-frame flood")
            return c
        self.run_attack(attack)


class CmuxProxyH2Floods(FloodCases, ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="flood-origin")

    def make_target(self):
        return CmuxTarget(start_cmux(self), self.origin_)


class PreviewProxyH2Floods(FloodCases, ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="flood-origin")

    def make_target(self):
        return PreviewTarget(start_preview(self), self.origin_)


class PreviewProxyTlsFloods(ProxyTestCase):
    """The preview proxy's own TLS listener (ALPN h2), as Chromium uses it."""

    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="flood-origin")

    def setUp(self):
        super().setUp()
        self.target = PreviewTarget(start_preview(self), self.origin_)
        self.tls = tls_client_context(self.target.proxy.ca_cert_path)

    def test_rapid_reset_over_tls(self):
        mem = MemWatch(self.target.proxy)
        with Bystander(self.target, "mixed") as by:
            c = self.target.raw_h2(tls=self.tls, server_hostname="localhost")
            self.addCleanup(c.close)
            c.wait_settings()
            hdrs = self.target.h2_headers("GET", "/slow?ms=2000&tls-rapid-reset=1")
            blocks = [c.header_block(hdrs), c.header_block(hdrs)]
            batch = bytearray()
            for i in range(RESET_PAIRS):
                sid = c.new_sid()
                batch += c.headers_frame(sid, blocks[min(i, 1)]) + c.rst_frame(sid, CANCEL)
            c.send(bytes(batch))
            c.wait_closed(CLOSE_WAIT)
            self.assertIsNotNone(c.goaway, f"no GOAWAY after rapid reset over TLS: {c.describe()}")
            self.assertIn(c.goaway.error_code, FLOOD_GOAWAY_CODES, c.describe())
            self.assertTrue(c.closed, c.describe())
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        mem.assert_bounded(self)

    def test_ping_flood_over_tls(self):
        mem = MemWatch(self.target.proxy)
        with Bystander(self.target, "h2") as by:
            c = self.target.raw_h2(tls=self.tls, server_hostname="localhost")
            self.addCleanup(c.close)
            c.wait_settings()
            c.send(c.ping_frame(b"tlsping!") * FLOOD_FRAMES)
            c.wait_closed(CLOSE_WAIT)
            self.assertIsNotNone(c.goaway, f"no GOAWAY after a PING flood over TLS: "
                                           f"{c.describe()}")
            self.assertEqual(c.goaway.error_code, ENHANCE_YOUR_CALM, c.describe())
            self.assertTrue(c.closed, c.describe())
            by.wait_more(2)
            by.stop()
            by.assert_unharmed(self)
        mem.assert_bounded(self)


if __name__ == "__main__":
    unittest.main()
