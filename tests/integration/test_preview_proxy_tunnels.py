"""cmux-preview-proxy tunnels over the real chain (SPEC §3 CONNECT, WebSocket): CONNECT of an
unrouted context straight to its target, CONNECT of a routed loopback target through cmux-proxy
(`--no-tls-intercept`: a CONNECT to cmux-proxy carrying the internal headers), bad CONNECT
targets, WebSocket upgrades in absolute form (raw frames) and over a CONNECT tunnel (the
`websockets` client), HTTP/2 CONNECT streams and RFC 8441 WebSockets from an h2c client.

    cd tests/integration && /usr/bin/python3 -m unittest -v test_preview_proxy_tunnels
"""

import asyncio
import base64
import hashlib
import json
import os
import socket
import sys
import threading
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import MORPH_ROUTE, ProxyTestCase, wait_until  # noqa: E402

MiB = 1024 * 1024
WS1_ROUTE = "https://cmux-abc123-ws1-8080.cmux.app/"
WS1_IP = "127.18.0.1"
CTX_BASE, CTX_UNROUTED, CTX_WS1 = 0, 1, 2
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


parse_http_bytes = harness.parse_http_bytes

class TunnelChain(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = cls.class_certs()
        cls.origin_ = cls.class_origin(name="app")
        cls.ws1_origin = cls.class_origin(host=WS1_IP, name="ws1-app")
        cls.cmux = cls.class_tls_cmux_proxy(cls.certs)
        cls.pp = cls.class_preview("--route", MORPH_ROUTE, "--route", "none", "--route", WS1_ROUTE,
                                   "--no-tls-intercept", *harness.resolve_args(cls.cmux),
                                   "--upstream-ca", cls.certs.ca_cert)

    def cmux_metric(self, name, **labels):
        return harness.metric_sum(harness.scrape_metrics(self.cmux.metrics_addr), name, **labels)

    def open_connect(self, ctx, target: str, auth: bool = True) -> harness.HttpConn:
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
        self.addCleanup(conn.close)
        req = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if auth:
            req += "Proxy-Authorization: %s\r\n" % self.pp.auth_header(ctx)[1]
        conn.send((req + "\r\n").encode())
        return conn

    def connect_ok(self, ctx, target: str) -> harness.HttpConn:
        conn = self.open_connect(ctx, target)
        status, _, headers, head = conn.read_head()
        self.assertEqual(status, 200, head)
        hdrs = dict(headers)
        self.assertNotIn("content-length", hdrs, "a 200 to CONNECT has no body")
        self.assertNotIn("transfer-encoding", hdrs)
        return conn

    def connect_status(self, ctx, target: str) -> int:
        conn = self.open_connect(ctx, target)
        resp = conn.read_response("CONNECT")
        return resp.status

    def echo_through(self, conn, i, host="tunneled.example"):
        resp = conn.request("POST", f"/echo?tunnel={i}", [("Host", host), ("X-Through", "tunnel")],
                            body=b"tunnel body")
        self.assertEqual(resp.status, 200)
        echo = json.loads(resp.body)
        self.assertEqual((echo["host"], echo["url"], echo["bodyLength"]),
                         (host, f"/echo?tunnel={i}", 11))
        return echo


class ConnectTunnels(TunnelChain):
    def test_connect_unrouted_direct(self):
        port = self.origin_.port
        before_tunnels = self.cmux_metric("cmux_proxy_tunnels_total")
        before_conns = self.cmux_metric("cmux_proxy_connections_total")
        conn = self.connect_ok(CTX_UNROUTED, f"127.0.0.1:{port}")
        for i in range(2):
            echo = self.echo_through(conn, i)
            self.assertEqual(echo["name"], "app")
            self.assertEqual([n.lower() for n in echo["rawHeaders"][::2]],
                             ["host", "x-through", "content-length"],
                             "a raw tunnel must not touch the bytes")
        self.assertEqual(self.cmux_metric("cmux_proxy_tunnels_total"), before_tunnels)
        self.assertEqual(self.cmux_metric("cmux_proxy_connections_total"), before_conns)

    def test_connect_unrouted_half_close(self):
        conn = self.connect_ok(CTX_UNROUTED, f"127.0.0.1:{self.origin_.port}")
        conn.send(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        conn.sock.shutdown(socket.SHUT_WR)
        parsed = parse_http_bytes(conn.read_to_close())
        self.assertIsNotNone(parsed)
        self.assertEqual(parsed[0], 200)

    def test_connect_unrouted_to_closed_port_is_502(self):
        dead = harness.free_port()
        conn = self.open_connect(CTX_UNROUTED, f"127.0.0.1:{dead}")
        resp = conn.read_response("CONNECT")
        self.assertTrue(resp.raw_head.startswith(b"HTTP/1.1 502"), resp.raw_head)

    def test_connect_bad_targets_are_400(self):
        for target in (":80", "localhost:0", "localhost:65536", "127.0.0.1:99999", "[::1]:0",
                       "[::1]:65536", "localhost:abc"):
            for ctx in (CTX_BASE, CTX_UNROUTED):
                with self.subTest(target=target, ctx=ctx):
                    self.assertEqual(self.connect_status(ctx, target), 400)

    def test_connect_routed_goes_through_cmux_proxy(self):
        port = self.origin_.port
        before = self.cmux_metric("cmux_proxy_tunnels_total")
        conn = self.connect_ok(CTX_BASE, f"localhost:{port}")
        for i in range(2):
            echo = self.echo_through(conn, i)
            self.assertEqual(echo["name"], "app")
            self.assertFalse([n for n in echo["rawHeaders"][::2]
                              if n.lower().startswith("x-cmux-")])
        wait_until(lambda: self.cmux_metric("cmux_proxy_tunnels_total") >= before + 1, timeout=5,
                   message="the routed CONNECT did not pass through cmux-proxy")

    def test_connect_routed_rides_the_http2_session(self):
        # With an HTTP/2 session to cmux-proxy up, a routed CONNECT is a CONNECT stream on it
        # (SPEC §3), not a new TCP connection.
        port = self.origin_.port
        self.assertEqual(self.pp.request(CTX_BASE, "GET", f"http://localhost:{port}/echo").status,
                         200)
        conns = self.cmux_metric("cmux_proxy_connections_total")
        tunnels = self.cmux_metric("cmux_proxy_tunnels_total")
        conn = self.connect_ok(CTX_BASE, f"localhost:{port}")
        self.assertEqual(self.echo_through(conn, 0)["name"], "app")
        wait_until(lambda: self.cmux_metric("cmux_proxy_tunnels_total") >= tunnels + 1, timeout=5,
                   message="the routed CONNECT did not pass through cmux-proxy")
        self.assertEqual(self.cmux_metric("cmux_proxy_connections_total"), conns,
                         "the routed CONNECT opened a new connection to cmux-proxy")

    def test_connect_routed_ipv6_loopback(self):
        # The origin listens on 127.0.0.1 only: [::1]:<port> works only through cmux-proxy.
        conn = self.connect_ok(CTX_BASE, f"[::1]:{self.origin_.port}")
        self.assertEqual(self.echo_through(conn, 0)["name"], "app")

    def test_connect_routed_workspace(self):
        # X-Cmux-Workspace-Internal travels with the CONNECT: cmux-proxy dials 127.18.0.1.
        conn = self.connect_ok(CTX_WS1, f"localhost:{self.ws1_origin.port}")
        echo = self.echo_through(conn, 0)
        self.assertEqual(echo["name"], "ws1-app")
        self.assertEqual(echo["localAddress"], WS1_IP)

    def test_connect_routed_large_transfers(self):
        conn = self.connect_ok(CTX_BASE, f"localhost:{self.origin_.port}")
        n = 8 * MiB
        conn.send(b"GET /bytes/%d HTTP/1.1\r\nHost: big\r\n\r\n" % n)
        resp = conn.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(hashlib.sha256(resp.body).hexdigest(), harness.pattern_sha256(n))
        body = harness.pattern_bytes(4 * MiB)
        writer = threading.Thread(target=conn.send, args=(
            b"POST /echo HTTP/1.1\r\nHost: big\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body,), daemon=True)
        writer.start()
        resp = conn.read_response()
        writer.join(10)
        self.assertEqual(json.loads(resp.body)["bodySha256"], hashlib.sha256(body).hexdigest())

    def test_connect_routed_half_close(self):
        conn = self.connect_ok(CTX_BASE, f"localhost:{self.origin_.port}")
        conn.send(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        conn.sock.shutdown(socket.SHUT_WR)
        parsed = parse_http_bytes(conn.read_to_close())
        self.assertIsNotNone(parsed)
        self.assertEqual(parsed[0], 200)

    def test_connect_routed_to_closed_port_is_502_never_200(self):
        dead = harness.free_port()
        conn = self.open_connect(CTX_BASE, f"localhost:{dead}")
        resp = conn.read_response("CONNECT")
        self.assertTrue(resp.raw_head.startswith(b"HTTP/1.1 502"), resp.raw_head)


class WebSocketTunnels(TunnelChain):
    def upgrade(self, ctx, authority, path="/ws/chat?room=1", extra=()):
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
        self.addCleanup(conn.close)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET http://{authority}{path} HTTP/1.1", f"Host: {authority}",
                 "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                 f"Sec-WebSocket-Key: {key}",
                 f"Proxy-Authorization: {self.pp.auth_header(ctx)[1]}", *extra]
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        return conn, key

    def upgrade_ok(self, ctx, authority, path="/ws/chat?room=1", extra=()):
        conn, key = self.upgrade(ctx, authority, path, extra)
        status, _, headers, head = conn.read_head()
        self.assertEqual(status, 101, head)
        hdrs = dict(headers)
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.assertEqual(hdrs.get("sec-websocket-accept"), want)
        self.assertEqual(hdrs.get("upgrade", "").lower(), "websocket")
        return conn, hdrs

    def read_frame(self, conn):
        while True:
            parsed = harness.ws_parse_frame(conn.buf)
            if parsed:
                fin, op, masked, payload, consumed = parsed
                conn.buf = conn.buf[consumed:]
                return fin, op, masked, payload
            if not conn._fill():
                raise EOFError("WebSocket closed before a whole frame arrived")

    def roundtrip(self, conn, payload, opcode=1):
        conn.send(harness.ws_frame(payload, opcode=opcode, mask=True))
        return self.read_frame(conn)

    def assertEchoes(self, conn):
        self.assertEqual(self.roundtrip(conn, b"hello through the preview proxy"),
                         (True, 1, False, b"hello through the preview proxy"))
        blob = harness.pattern_bytes(300 * 1024)
        self.assertEqual(self.roundtrip(conn, blob, opcode=2), (True, 2, False, blob))
        # ping -> pong with the same payload
        self.assertEqual(self.roundtrip(conn, b"are-you-there", opcode=9)[1:],
                         (10, False, b"are-you-there"))
        # close handshake
        fin, op, _, payload = self.roundtrip(conn, (1000).to_bytes(2, "big"), opcode=8)
        self.assertEqual(op, 8)

    def test_websocket_routed_absolute_form(self):
        port = self.origin_.port
        before = self.origin_.stats()["upgrades"]
        conn, hdrs = self.upgrade_ok(CTX_BASE, f"localhost:{port}",
                                     extra=["X-Cmux-Port-Internal: 1"])
        self.assertEqual(hdrs.get("x-origin-name"), "app")
        self.assertEqual(hdrs.get("x-origin-host"), f"localhost:{port}")
        self.assertEqual(hdrs.get("x-origin-url"), "/ws/chat?room=1")
        self.assertEchoes(conn)
        self.assertEqual(self.origin_.stats()["upgrades"], before + 1)

    def test_websocket_routed_ipv6_loopback(self):
        port = self.origin_.port
        conn, hdrs = self.upgrade_ok(CTX_BASE, f"[::1]:{port}")
        self.assertEqual(hdrs.get("x-origin-host"), f"[::1]:{port}")
        self.assertEqual(self.roundtrip(conn, b"v6")[3], b"v6")

    def test_websocket_routed_workspace(self):
        port = self.ws1_origin.port
        conn, hdrs = self.upgrade_ok(CTX_WS1, f"localhost:{port}")
        self.assertEqual(hdrs.get("x-origin-name"), "ws1-app")
        self.assertEqual(self.roundtrip(conn, b"ws1")[3], b"ws1")

    def test_websocket_unrouted(self):
        port = self.origin_.port
        conn, hdrs = self.upgrade_ok(CTX_UNROUTED, f"127.0.0.1:{port}", path="/ws/direct")
        self.assertEqual(hdrs.get("x-origin-host"), f"127.0.0.1:{port}")
        self.assertEqual(hdrs.get("x-origin-url"), "/ws/direct")
        self.assertEchoes(conn)

    def test_websocket_to_closed_port_is_502(self):
        dead = harness.free_port()
        for ctx, host in ((CTX_BASE, "localhost"), (CTX_UNROUTED, "127.0.0.1")):
            with self.subTest(ctx=ctx):
                conn, _ = self.upgrade(ctx, f"{host}:{dead}")
                resp = conn.read_response()
                self.assertEqual(resp.status, 502, resp.raw_head)

    def test_websocket_refused_by_origin_is_relayed(self):
        # The origin answers the upgrade with 400 (unsupported version): relayed, no tunnel.
        port = self.origin_.port
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
        self.addCleanup(conn.close)
        conn.send((f"GET http://localhost:{port}/ws HTTP/1.1\r\nHost: localhost:{port}\r\n"
                   "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 99\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   f"Proxy-Authorization: {self.pp.auth_header(CTX_BASE)[1]}\r\n\r\n").encode())
        resp = conn.read_response()
        self.assertEqual(resp.status, 400, resp.raw_head)

    def test_websockets_client_over_routed_connect_tunnel(self):
        # What Chromium does for ws:// through an HTTP proxy: CONNECT, then the handshake.
        import websockets

        port = self.origin_.port
        conn = self.connect_ok(CTX_BASE, f"localhost:{port}")
        self.assertEqual(conn.buf, b"")
        sock = conn.sock

        async def session():
            async with websockets.connect(f"ws://localhost:{port}/ws/tunnel", sock=sock,
                                          compression=None, max_size=None,
                                          open_timeout=10) as ws:
                hdrs = ws.response_headers
                await ws.send("text through a tunnel")
                text = await ws.recv()
                blob = bytes(range(256)) * 2048
                await ws.send(blob)
                return hdrs, text, await ws.recv(), blob

        hdrs, text, echoed, blob = asyncio.run(asyncio.wait_for(session(), 20))
        self.assertEqual(hdrs.get("x-origin-host"), f"localhost:{port}")
        self.assertEqual(hdrs.get("x-origin-url"), "/ws/tunnel")
        self.assertEqual(text, "text through a tunnel")
        self.assertEqual(echoed, blob)


class Http2ClientTunnels(TunnelChain):
    """CONNECT streams and RFC 8441 WebSockets from an h2c (prior knowledge) client."""

    def client(self):
        c = harness.H2Client(self.pp.host, self.pp.port)
        self.addCleanup(c.close)
        return c

    def auth(self, ctx):
        return ("proxy-authorization", self.pp.auth_header(ctx)[1])

    def tunnel_echo(self, c, sid, i):
        st = c.streams[sid]
        start = len(st.data)
        c.send_data(sid, b"GET /echo?h2tunnel=%d HTTP/1.1\r\nHost: inner.example\r\n\r\n" % i)
        c.pump_until(lambda: parse_http_bytes(bytes(st.data[start:])) is not None or st.ended)
        parsed = parse_http_bytes(bytes(st.data[start:]))
        self.assertIsNotNone(parsed, bytes(st.data[start:]))
        status, _, body = parsed
        return status, json.loads(body)

    def test_h2_connect_stream_unrouted_and_routed(self):
        c = self.client()
        for ctx, authority in ((CTX_UNROUTED, f"127.0.0.1:{self.origin_.port}"),
                               (CTX_BASE, f"localhost:{self.origin_.port}"),
                               (CTX_WS1, f"localhost:{self.ws1_origin.port}")):
            with self.subTest(ctx=ctx):
                sid = c.start([(":method", "CONNECT"), (":authority", authority), self.auth(ctx)])
                st = c.wait_response(sid)
                self.assertEqual(st.status, 200, st.headers)
                self.assertFalse(st.ended)
                for i in range(2):
                    status, echo = self.tunnel_echo(c, sid, i)
                    self.assertEqual((status, echo["host"], echo["url"]),
                                     (200, "inner.example", f"/echo?h2tunnel={i}"))
                    self.assertEqual(echo["name"], "ws1-app" if ctx == CTX_WS1 else "app")
                c.send_data(sid, b"", end_stream=True)
                c.wait_end(sid)

    def test_h2_connect_without_credentials_is_407(self):
        c = self.client()
        sid = c.start([(":method", "CONNECT"), (":authority", f"127.0.0.1:{self.origin_.port}")])
        st = c.wait_response(sid)
        self.assertEqual(st.status, 407)
        self.assertEqual(st.header("proxy-authenticate"), 'Basic realm="Cmux Preview Proxy"')

    def test_h2_connect_to_closed_port_is_502(self):
        c = self.client()
        dead = harness.free_port()
        for ctx, host in ((CTX_UNROUTED, "127.0.0.1"), (CTX_BASE, "localhost")):
            with self.subTest(ctx=ctx):
                sid = c.start([(":method", "CONNECT"), (":authority", f"{host}:{dead}"),
                               self.auth(ctx)])
                self.assertEqual(c.wait_response(sid).status, 502)

    def test_rfc8441_websocket_routed(self):
        from h2.settings import SettingCodes

        c = self.client()
        settings = c.wait_settings()
        self.assertEqual(settings.get(SettingCodes.ENABLE_CONNECT_PROTOCOL), 1,
                         "SETTINGS_ENABLE_CONNECT_PROTOCOL not advertised")
        port = self.origin_.port
        sid = c.start([(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                       (":path", "/ws/h2"), (":authority", f"localhost:{port}"),
                       ("sec-websocket-version", "13"), self.auth(CTX_BASE)])
        st = c.wait_response(sid)
        self.assertEqual(st.status, 200, st.headers)
        self.assertEqual(st.header("x-origin-host"), f"localhost:{port}")
        self.assertEqual(st.header("x-origin-url"), "/ws/h2")
        for payload, opcode in ((b"over h2", 1), (bytes(range(256)) * 400, 2)):
            start = len(st.data)
            c.send_data(sid, harness.ws_frame(payload, opcode=opcode, mask=True))

            def frame():
                return harness.ws_parse_frame(bytes(st.data[start:]))

            c.pump_until(lambda: frame() is not None or st.ended)
            parsed = frame()
            self.assertIsNotNone(parsed, "no WebSocket frame came back")
            fin, op, masked, data, _ = parsed
            self.assertEqual((fin, op, masked, data), (True, opcode, False, payload))


if __name__ == "__main__":
    unittest.main()
