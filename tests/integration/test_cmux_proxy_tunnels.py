"""cmux-proxy upgrades and tunnels (SPEC §2 Upgrade, WebSocket, CONNECT): WebSocket over
HTTP/1.1 (python3-websockets), RFC 8441 extended CONNECT over h2c (python3-h2), generic
Upgrade with half-close, refused upgrades, CONNECT over HTTP/1.1 and h2c.

    cd tests/integration && /usr/bin/python3 -m unittest -v test_cmux_proxy_tunnels
"""

import asyncio
import hashlib
import json
import socket
import sys
import threading
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import ProxyTestCase  # noqa: E402

MiB = 1024 * 1024


parse_http_bytes = harness.parse_http_bytes

class WebSocketH1(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="ws-origin")
        cls.proxy_ = cls.class_proxy()

    def run_async(self, coro, timeout=20):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    def test_websocket_echo(self):
        import websockets

        async def session():
            uri = f"ws://{self.proxy_.hostport}/ws/chat?room=1"
            async with websockets.connect(
                    uri, compression=None, max_size=None, open_timeout=10,
                    extra_headers=[("X-Cmux-Port-Internal", str(self.origin_.port))]) as ws:
                hdrs = ws.response_headers
                await ws.send("hello text")
                text = await ws.recv()
                blob = bytes(range(256)) * 4096  # 1 MiB binary message
                await ws.send(blob)
                echoed = await ws.recv()
                await ws.ping(b"are-you-there")
                return hdrs, text, echoed, blob

        hdrs, text, echoed, blob = self.run_async(session())
        self.assertEqual(hdrs.get("x-origin-name"), "ws-origin")
        self.assertEqual(hdrs.get("x-origin-url"), "/ws/chat?room=1")
        self.assertEqual(text, "hello text")
        self.assertIsInstance(echoed, bytes)
        self.assertEqual(echoed, blob)

    def test_websocket_host_override_and_host_pattern(self):
        import websockets

        async def session():
            # Routed by the Host pattern (no port header); Host is replaced by the override.
            uri = f"ws://app-{self.origin_.port}.localhost:{self.proxy_.port}/ws"
            async with websockets.connect(
                    uri, host=self.proxy_.host, port=self.proxy_.port, compression=None,
                    extra_headers=[("X-Cmux-Host-Override", "ws.example.test")]) as ws:
                await ws.send("x")
                return ws.response_headers, await ws.recv()

        hdrs, msg = self.run_async(session())
        self.assertEqual(msg, "x")
        self.assertEqual(hdrs.get("x-origin-host"), "ws.example.test")

    def test_websocket_to_closed_port_is_502(self):
        import websockets

        dead = harness.free_port()

        async def session():
            try:
                async with websockets.connect(
                        f"ws://{self.proxy_.hostport}/ws", compression=None,
                        extra_headers=[("X-Cmux-Port-Internal", str(dead))]):
                    return None
            except websockets.exceptions.InvalidStatusCode as exc:
                return exc.status_code

        self.assertEqual(self.run_async(session()), 502)


class GenericUpgrade(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="upgrade-origin")
        cls.proxy_ = cls.class_proxy()

    def upgrade(self, proto=b"echo-proto", extra=b"", port=None):
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port, timeout=10)
        self.addCleanup(conn.close)
        conn.send(b"GET /upgrade HTTP/1.1\r\nHost: up.localhost\r\nConnection: Upgrade\r\n"
                  b"Upgrade: " + proto + b"\r\nX-Cmux-Port-Internal: "
                  + str(port or self.origin_.port).encode() + b"\r\n" + extra + b"\r\n")
        return conn

    def test_echo_protocol_with_half_close(self):
        conn = self.upgrade()
        status, _, headers, _ = conn.read_head()
        hdrs = dict(headers)
        self.assertEqual(status, 101)
        self.assertEqual(hdrs.get("upgrade", "").lower(), "echo-proto")
        self.assertIn("upgrade", hdrs.get("connection", "").lower())
        self.assertEqual(hdrs.get("x-origin-host"), "up.localhost")

        conn.send(b"ping-1")
        self.assertEqual(conn.read_exact(6), b"ping-1")

        # 4 MiB both ways at once: the relay must not deadlock or lose bytes.
        blob = harness.pattern_bytes(4 * MiB)
        writer = threading.Thread(target=conn.send, args=(blob,))
        writer.start()
        got = conn.read_exact(len(blob))
        writer.join(10)
        self.assertEqual(got, blob)

        # Half-close: our FIN reaches the origin, which still answers on its open half.
        conn.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(conn.read_to_close(), b"<echo-proto:eof>")

    def test_upgrade_host_override(self):
        conn = self.upgrade(extra=b"X-Cmux-Host-Override: upgraded.example\r\n")
        status, _, headers, _ = conn.read_head()
        self.assertEqual(status, 101)
        self.assertEqual(dict(headers).get("x-origin-host"), "upgraded.example")

    def test_refused_upgrade_is_a_normal_response(self):
        conn = self.upgrade(b"refuse")
        resp = conn.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"upgrade refused\n")
        self.assertEqual(resp.header("x-origin-name"), "upgrade-origin")

    def test_upgrade_to_closed_port_is_502(self):
        conn = self.upgrade(port=harness.free_port())
        resp = conn.read_response()
        self.assertProxyError(resp.status, resp.header("content-type"), resp.body, 502,
                              "upstream request error: ", prefix=True)


class ExtendedConnectH2(ProxyTestCase):
    """RFC 8441: WebSocket over an HTTP/2 stream, translated to an HTTP/1.1 upgrade upstream."""

    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="ws-h2-origin")
        cls.proxy_ = cls.class_proxy()

    def client(self):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        return c

    def open_ws(self, c, port, extra=(), version="13"):
        from h2.settings import SettingCodes

        settings = c.wait_settings()
        self.assertEqual(settings.get(SettingCodes.ENABLE_CONNECT_PROTOCOL), 1,
                         "SETTINGS_ENABLE_CONNECT_PROTOCOL not advertised")
        sid = c.start([(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                       (":path", "/ws/h2?x=1"), (":authority", "ws.localhost"),
                       ("sec-websocket-version", version), ("x-cmux-port-internal", str(port)),
                       *extra])
        return sid, c.wait_response(sid)

    def ws_roundtrip(self, c, sid, payload: bytes, opcode=1):
        c.send_data(sid, harness.ws_frame(payload, opcode=opcode, mask=True))
        st = c.streams[sid]
        start = len(st.data)

        def frame():
            return harness.ws_parse_frame(bytes(st.data[start:]))

        c.pump_until(lambda: frame() is not None or st.ended)
        parsed = frame()
        self.assertIsNotNone(parsed, "no WebSocket frame came back")
        fin, op, masked, data, consumed = parsed
        del st.data[start:start + consumed]
        return fin, op, masked, data

    def test_websocket_over_h2_stream(self):
        c = self.client()
        sid, st = self.open_ws(c, self.origin_.port)
        self.assertEqual(st.status, 200, st.headers)
        self.assertFalse(st.ended)
        self.assertEqual(st.header("x-origin-url"), "/ws/h2?x=1")
        self.assertEqual(st.header("x-origin-host"), "ws.localhost")
        fin, op, masked, data = self.ws_roundtrip(c, sid, b"hello over h2")
        self.assertEqual((fin, op, masked, data), (True, 1, False, b"hello over h2"))
        fin, op, masked, data = self.ws_roundtrip(c, sid, bytes(range(256)) * 300, opcode=2)
        self.assertEqual((op, masked, data), (2, False, bytes(range(256)) * 300))
        # A second WebSocket on the same connection works independently.
        sid2, st2 = self.open_ws(c, self.origin_.port)
        self.assertEqual(st2.status, 200)
        self.assertEqual(self.ws_roundtrip(c, sid2, b"second")[3], b"second")
        self.assertEqual(self.ws_roundtrip(c, sid, b"first again")[3], b"first again")
        # Close handshake: the origin answers with a close frame.
        close = self.ws_roundtrip(c, sid, (1000).to_bytes(2, "big"), opcode=8)
        self.assertEqual(close[1], 8)

    def test_websocket_over_h2_flow_control_both_ways(self):
        c = self.client()
        sid, st = self.open_ws(c, self.origin_.port)
        self.assertEqual(st.status, 200)
        blob = harness.pattern_bytes(MiB)  # far beyond the 64 KiB stream window
        fin, op, masked, data = self.ws_roundtrip(c, sid, blob, opcode=2)
        self.assertEqual((op, len(data)), (2, len(blob)))
        self.assertEqual(data, blob)

    def test_websocket_over_h2_refused_by_origin_is_not_200(self):
        # The origin answers the translated upgrade with 400 (unsupported version): relayed as
        # a normal response, never as the 200 that would mean "tunnel open".
        c = self.client()
        sid, st = self.open_ws(c, self.origin_.port, version="99")
        c.wait_end(sid)
        self.assertEqual(st.status, 400, st.headers)

    def test_websocket_over_h2_host_override(self):
        c = self.client()
        sid, st = self.open_ws(c, self.origin_.port, [("x-cmux-host-override", "h2ws.example")])
        self.assertEqual(st.status, 200)
        self.assertEqual(st.header("x-origin-host"), "h2ws.example")

    def test_websocket_over_h2_to_closed_port_is_502(self):
        c = self.client()
        sid, st = self.open_ws(c, harness.free_port())
        self.assertEqual(st.status, 502)
        c.wait_end(sid)
        self.assertTrue(bytes(st.data).startswith(b"upstream request error: "), bytes(st.data))


class ConnectH1(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="connect-origin")
        cls.proxy_ = cls.class_proxy()

    def connect(self, port):
        conn = harness.HttpConn(self.proxy_.host, self.proxy_.port, timeout=10)
        self.addCleanup(conn.close)
        conn.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  b"X-Cmux-Port-Internal: %d\r\n\r\n" % (port, port, port))
        return conn

    def test_connect_tunnel_to_origin(self):
        conn = self.connect(self.origin_.port)
        status, _, headers, head = conn.read_head()
        self.assertEqual(status, 200, head)
        self.assertIsNone(dict(headers).get("content-length"), "a 200 to CONNECT has no body")
        # Plain HTTP/1.1 to the origin through the raw tunnel, twice on the same connection.
        for i in range(2):
            resp = conn.request("POST", f"/echo?tunnel={i}",
                                [("Host", "tunneled.example"), ("X-Through", "tunnel")],
                                body=b"tunnel body")
            self.assertEqual(resp.status, 200)
            echo = json.loads(resp.body)
            self.assertEqual(echo["host"], "tunneled.example")
            self.assertEqual(echo["url"], f"/echo?tunnel={i}")
            self.assertEqual(echo["bodyLength"], 11)
            names = [n.lower() for n in echo["rawHeaders"][::2]]
            self.assertEqual(names, ["host", "x-through", "content-length"],
                             "a raw tunnel must not touch the bytes")

    def test_connect_tunnel_half_close(self):
        conn = self.connect(self.origin_.port)
        status, _, _, _ = conn.read_head()
        self.assertEqual(status, 200)
        conn.send(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        conn.sock.shutdown(socket.SHUT_WR)
        data = conn.read_to_close()
        parsed = parse_http_bytes(data)
        self.assertIsNotNone(parsed, data[:300])
        self.assertEqual(parsed[0], 200)

    def test_client_reset_while_the_origin_streams_leaves_the_proxy_alive(self):
        # A TCP-to-TCP tunnel is spliced; splice(2) into a socket the peer reset raises SIGPIPE
        # (it has no MSG_NOSIGNAL), which killed cmux-proxy. The client half-closes (the proxy's
        # socket goes to CLOSE_WAIT), then closes with unread data (a RST): the next splice
        # into it fails with EPIPE.
        server = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(server.close)
        stop = threading.Event()

        def stream():
            while not stop.is_set():
                try:
                    peer, _ = server.accept()
                except OSError:
                    return
                with peer:
                    try:
                        while not stop.is_set():
                            peer.sendall(b"x" * 65536)
                    except OSError:
                        pass

        thread = threading.Thread(target=stream, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(stop.set)
        port = server.getsockname()[1]
        for _ in range(5):
            conn = self.connect(port)
            status, _, _, _ = conn.read_head()
            self.assertEqual(status, 200)
            self.assertGreater(len(conn.sock.recv(65536)), 0)
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.recv(65536)
            conn.close()
        resp = self.connect(self.origin_.port)
        status, _, _, _ = resp.read_head()
        self.assertEqual(status, 200)
        got = resp.request("GET", "/echo", [("Host", "after.example")])
        self.assertEqual(got.status, 200)
        self.assertTrue(self.proxy_.alive(), "cmux-proxy died (SIGPIPE from splice?)")

    def test_connect_to_closed_port_is_502_never_200(self):
        conn = self.connect(harness.free_port())
        resp = conn.read_response("CONNECT")
        self.assertTrue(resp.raw_head.startswith(b"HTTP/1.1 502"), resp.raw_head)
        self.assertProxyError(resp.status, resp.header("content-type"), resp.body, 502,
                              "upstream request error: ", prefix=True)


class ConnectH2(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="connect-h2-origin")
        cls.proxy_ = cls.class_proxy()

    def open(self, port):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        sid = c.start([(":method", "CONNECT"), (":authority", f"127.0.0.1:{port}"),
                       ("x-cmux-port-internal", str(port))])
        return c, sid, c.wait_response(sid)

    def test_connect_stream_tunnel(self):
        c, sid, st = self.open(self.origin_.port)
        self.assertEqual(st.status, 200, st.headers)
        self.assertFalse(st.ended)
        for i in range(2):
            start = len(st.data)
            c.send_data(sid, b"GET /echo?h2tunnel=%d HTTP/1.1\r\nHost: inner.example\r\n\r\n" % i)
            c.pump_until(lambda: parse_http_bytes(bytes(st.data[start:])) is not None
                         or st.ended)
            parsed = parse_http_bytes(bytes(st.data[start:]))
            self.assertIsNotNone(parsed, bytes(st.data[start:]))
            status, _, body = parsed
            echo = json.loads(body)
            self.assertEqual((status, echo["url"], echo["host"]),
                             (200, f"/echo?h2tunnel={i}", "inner.example"))
        # Closing our side (END_STREAM) ends the tunnel.
        c.send_data(sid, b"", end_stream=True)
        c.wait_end(sid)

    def test_connect_stream_large_transfer(self):
        c, sid, st = self.open(self.origin_.port)
        self.assertEqual(st.status, 200)
        n = 8 * MiB
        c.send_data(sid, b"GET /bytes/%d HTTP/1.1\r\nHost: big\r\n\r\n" % n)
        c.pump_until(lambda: parse_http_bytes(bytes(st.data)) is not None or st.ended,
                     timeout=30)
        parsed = parse_http_bytes(bytes(st.data))
        self.assertIsNotNone(parsed)
        self.assertEqual(hashlib.sha256(parsed[2]).hexdigest(), harness.pattern_sha256(n))

    def test_connect_stream_to_closed_port_is_502(self):
        c, sid, st = self.open(harness.free_port())
        self.assertEqual(st.status, 502)
        c.wait_end(sid)
        self.assertTrue(bytes(st.data).startswith(b"upstream request error: "), bytes(st.data))
        # The connection survives a failed tunnel.
        st2 = c.request("GET", "/echo", [("x-cmux-port-internal", str(self.origin_.port))])
        self.assertEqual(st2.status, 200)


if __name__ == "__main__":
    unittest.main()
