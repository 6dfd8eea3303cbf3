"""cmux-preview-proxy TLS interception over the real chain (SPEC §3 "Listener", "CONNECT and TLS
interception", "WebSocket"; issue 4 "Integration"): client -> preview proxy -> cmux-proxy (TLS,
throwaway test CA, reached through --resolve) -> Node.js origin.

A routed context's CONNECT to a loopback host is answered `200`; a TLS ClientHello is terminated
with a leaf for the CONNECT host signed by the proxy's local CA (`--ca-dir`, a temp dir from the
harness), ALPN h2/http1.1, and the requests inside go through cmux-proxy like absolute-form ones.
Checked with curl (--http2 / --http1.1, `--cacert <ca.crt>`), `openssl s_client -proxy`,
python ssl + python3-h2, raw WebSocket frames; leaf SANs (DNS, IPv4, IPv6), validity and the
served chain; plain HTTP inside a routed tunnel; unrouted and interception-off tunnels stay raw;
the CA files (mode, reuse, replacement of a corrupted ca.crt); TLS directly on the listener
(curl `-x https://…`, HTTP/2 over TLS to the proxy); the `connect-mitm` log event.

    cd tests/integration && /usr/bin/python3 -m unittest -v test_preview_proxy_mitm
"""

import base64
import hashlib
import json
import os
import re
import socket
import ssl
import stat
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import MORPH_ROUTE, ProxyTestCase, curl, wait_until  # noqa: E402

MiB = 1024 * 1024
CTX_ROUTED, CTX_UNROUTED = 0, 1
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.S)
MAX_LEAF_DAYS = 397


def header_names(echo: dict) -> list:
    return [n.lower() for n in echo["rawHeaders"][::2]]


def openssl(*args, input: bytes | None = None) -> str:
    cp = harness.run(["openssl", *args], timeout=20, input=input)
    if cp.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed: {cp.stderr.decode()}")
    return cp.stdout.decode("utf-8", "replace")


def cert_text(pem: bytes) -> str:
    return openssl("x509", "-noout", "-text", input=pem)


def cert_validity_days(pem: bytes) -> float:
    out = openssl("x509", "-noout", "-startdate", "-enddate", input=pem)
    dates = dict(line.split("=", 1) for line in out.strip().splitlines())
    start = ssl.cert_time_to_seconds(dates["notBefore"])
    end = ssl.cert_time_to_seconds(dates["notAfter"])
    return (end - start) / 86400.0


def normalize_pem(pem: bytes) -> bytes:
    return b"\n".join(line.strip() for line in pem.strip().splitlines())


class MitmChain(ProxyTestCase):
    """The chain, started once per class: origin on 127.0.0.1, cmux-proxy with TLS, a preview
    proxy (interception on, the default) with a routed and an unrouted context, logging on."""

    @classmethod
    def setUpClass(cls):
        cls.certs = cls.class_certs()
        cls.origin_ = cls.class_origin(name="app")
        cls.cmux = cls.class_tls_cmux_proxy(cls.certs)
        cls.pp = cls.class_preview("--route", MORPH_ROUTE, "--route", "none", "--log",
                                   *cls.chain_args())
        cls.ca = cls.pp.ca_cert_path

    @classmethod
    def chain_args(cls) -> list:
        return [*harness.resolve_args(cls.cmux), "--upstream-ca", cls.certs.ca_cert]

    # helpers
    def cmux_requests(self) -> float:
        return harness.metric_sum(harness.scrape_metrics(self.cmux.metrics_addr),
                                  "cmux_proxy_requests_total")

    def cmux_tunnels(self) -> float:
        return harness.metric_sum(harness.scrape_metrics(self.cmux.metrics_addr),
                                  "cmux_proxy_tunnels_total")

    def ca_pem(self, pp=None) -> bytes:
        return (pp or self.pp).ca_cert_path.read_bytes()

    def assertCleanAtOrigin(self, echo: dict, host: str):
        self.assertEqual(echo["name"], "app")
        self.assertEqual(echo["host"], host)
        names = header_names(echo)
        self.assertFalse([n for n in names if n.startswith("x-cmux-")], names)
        self.assertNotIn("proxy-authorization", names)
        self.assertNotIn("proxy-connection", names)

    def open_connect(self, ctx, target: str, pp=None) -> harness.HttpConn:
        pp = pp or self.pp
        conn = harness.HttpConn(pp.host, pp.port, timeout=15)
        self.addCleanup(conn.close)
        conn.send((f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
                   f"Proxy-Authorization: {pp.auth_header(ctx)[1]}\r\n\r\n").encode())
        status, _, _, head = conn.read_head()
        self.assertEqual(status, 200, head)
        self.assertEqual(conn.buf, b"", "bytes after the 200 before the client spoke")
        return conn

    def tls_in_tunnel(self, conn: harness.HttpConn, server_hostname: str, alpn, pp=None):
        """Wraps the tunnel of `conn` in TLS trusting only the proxy's CA; returns the socket."""
        ctx = ssl.create_default_context(cadata=self.ca_pem(pp).decode())
        ctx.set_alpn_protocols(list(alpn))
        conn.sock = ctx.wrap_socket(conn.sock, server_hostname=server_hostname)
        return conn.sock

    def s_client(self, target: str, *extra, ctx: int = CTX_ROUTED) -> str:
        """`openssl s_client -proxy` through the preview proxy to `target`; returns stdout."""
        c = self.pp.context(ctx)
        cp = harness.run(["openssl", "s_client", "-proxy", self.pp.hostport,
                          "-proxy_user", c["username"], "-proxy_pass", f"pass:{c['password']}",
                          "-connect", target, "-CAfile", self.ca, "-showcerts", *extra],
                         timeout=20, input=b"")
        out = cp.stdout.decode("utf-8", "replace")
        self.assertIn("BEGIN CERTIFICATE", out, cp.stderr.decode("utf-8", "replace"))
        return out

    def assertServedChain(self, out: str, san_line: str):
        """The chain a client printed (PEM blocks in `out`): leaf (with `san_line` in its SAN,
        <= 397 days, verifying against ca.crt) + the CA itself."""
        certs = PEM_RE.findall(out.encode())
        self.assertEqual(len(certs), 2, "the served chain must be leaf + CA")
        leaf, served_ca = certs
        self.assertEqual(normalize_pem(served_ca), normalize_pem(self.ca_pem()),
                         "the second certificate must be the proxy's CA")
        text = cert_text(leaf)
        san = re.search(r"X509v3 Subject Alternative Name:.*?\n\s*(.*)\n", text)
        self.assertIsNotNone(san, text)
        self.assertIn(san_line, [s.strip() for s in san.group(1).split(",")], san.group(1))
        self.assertLessEqual(cert_validity_days(leaf), MAX_LEAF_DAYS)
        self.assertGreater(cert_validity_days(leaf), 0)
        leaf_file = harness.make_temp_dir(self.addCleanup, "cmux-test-leaf-") / "leaf.pem"
        leaf_file.write_bytes(leaf)
        self.assertIn(f"{leaf_file}: OK", openssl("verify", "-CAfile", self.ca, leaf_file))


class CurlThroughInterception(MitmChain):
    def intercepted_curl(self, url: str, *args, ctx: int = CTX_ROUTED):
        return curl("--cacert", self.ca, *self.pp.curl_args(ctx), *args, url)

    def test_curl_https_http2_inside_tunnel(self):
        port = self.origin_.port
        before = self.cmux_requests()
        r = self.intercepted_curl(f"https://localhost:{port}/echo?via=h2", "--http2")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.http_version, "2", "curl did not negotiate HTTP/2 inside the tunnel")
        echo = r.json()
        self.assertCleanAtOrigin(echo, f"localhost:{port}")
        self.assertEqual(echo["url"], "/echo?via=h2")
        wait_until(lambda: self.cmux_requests() >= before + 1, timeout=5,
                   message="the intercepted request did not pass through cmux-proxy")

    def test_curl_https_http1_inside_tunnel(self):
        port = self.origin_.port
        before = self.cmux_requests()
        # A client-sent internal header must not pick another port (SPEC §3 target rewriting).
        r = self.intercepted_curl(f"https://localhost:{port}/echo?via=h1", "--http1.1",
                                  "-H", "X-Cmux-Port-Internal: 1", "-H", "X-Through: mitm")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.http_version, "1.1")
        echo = r.json()
        self.assertCleanAtOrigin(echo, f"localhost:{port}")
        self.assertIn("x-through", header_names(echo))
        wait_until(lambda: self.cmux_requests() >= before + 1, timeout=5,
                   message="the intercepted request did not pass through cmux-proxy")

    def test_curl_https_ip_targets(self):
        # The origin listens on 127.0.0.1 only: [::1]:<port> answers only through cmux-proxy
        # (X-Cmux-Port-Internal), so a 200 there proves the routing as well as the IP leaf.
        port = self.origin_.port
        for host, authority in (("127.0.0.1", f"127.0.0.1:{port}"),
                                ("[::1]", f"[::1]:{port}")):
            for version in ("--http2", "--http1.1"):
                with self.subTest(host=host, version=version):
                    r = self.intercepted_curl(f"https://{authority}/echo", version)
                    self.assertEqual(r.rc, 0, r.stderr)
                    self.assertEqual(r.status, 200, r.text)
                    self.assertCleanAtOrigin(r.json(), authority)

    def test_plain_http_inside_routed_tunnel(self):
        port = self.origin_.port
        before = self.cmux_requests()

        def mitm_events():
            return [e for e in self.pp.log_events()
                    if e.get("event") == "connect-mitm" and e.get("port") == port]

        events_before = len(mitm_events())
        r = curl(*self.pp.curl_args(CTX_ROUTED), "-p", "--http1.1",
                 f"http://localhost:{port}/echo?plain=1")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.status, 200, r.text)
        echo = r.json()
        self.assertCleanAtOrigin(echo, f"localhost:{port}")
        self.assertEqual(echo["url"], "/echo?plain=1")
        wait_until(lambda: self.cmux_requests() >= before + 1, timeout=5,
                   message="plain HTTP in the tunnel did not pass through cmux-proxy")
        # served by the proxy itself (interception), not piped to cmux-proxy as a tunnel
        wait_until(lambda: len(mitm_events()) > events_before, timeout=5,
                   message="no connect-mitm event for the plain tunnel")

    def test_plain_http_inside_tunnel_is_rewritten_not_piped(self):
        # Interception serves the HTTP itself (the request is re-sent through cmux-proxy), so
        # several requests on one tunnel each reach the origin with the tunnel's authority.
        port = self.origin_.port
        conn = self.open_connect(CTX_ROUTED, f"localhost:{port}")
        before = self.cmux_requests()
        for i in range(3):
            resp = conn.request("GET", f"/echo?n={i}", [("Host", f"localhost:{port}")])
            self.assertEqual(resp.status, 200, resp.body)
            echo = json.loads(resp.body)
            self.assertCleanAtOrigin(echo, f"localhost:{port}")
            self.assertEqual(echo["url"], f"/echo?n={i}")
        wait_until(lambda: self.cmux_requests() >= before + 3, timeout=5,
                   message="requests in the plain tunnel did not pass through cmux-proxy")

    def test_streamed_5mb_download_and_upload_over_h2(self):
        port = self.origin_.port
        n = 5 * MiB
        r = self.intercepted_curl(f"https://localhost:{port}/bytes/{n}", "--http2")
        self.assertEqual((r.rc, r.status, r.http_version), (0, 200, "2"), r.stderr)
        self.assertEqual(len(r.body), n)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), harness.pattern_sha256(n))
        tmp = harness.make_temp_dir(self.addCleanup, "cmux-test-upload-")
        sha = harness.write_pattern_file(tmp / "up.bin", n)
        r = self.intercepted_curl(f"https://localhost:{port}/echo", "--http2",
                                  "--data-binary", f"@{tmp / 'up.bin'}",
                                  "-H", "Content-Type: application/octet-stream")
        self.assertEqual((r.rc, r.status, r.http_version), (0, 200, "2"), r.stderr)
        echo = r.json()
        self.assertEqual((echo["bodyLength"], echo["bodySha256"]), (n, sha))


class PythonThroughInterception(MitmChain):
    def test_h2_concurrent_streams_in_intercepted_tunnel(self):
        # python3-h2 inside the TLS of an intercepted tunnel: a 5 MB download and a 5 MB upload
        # multiplexed on one connection, flow control end to end.
        port = self.origin_.port
        conn = self.open_connect(CTX_ROUTED, f"localhost:{port}")
        sock = self.tls_in_tunnel(conn, "localhost", ["h2", "http/1.1"])
        self.assertEqual(sock.selected_alpn_protocol(), "h2")
        c = harness.H2Client("localhost", port, timeout=20, sock=sock)
        self.addCleanup(c.close)
        n = 5 * MiB
        down = c.start([(":method", "GET"), (":scheme", "https"),
                        (":authority", f"localhost:{port}"), (":path", f"/bytes/{n}")],
                       end_stream=True)
        body = harness.pattern_bytes(n)
        up = c.start([(":method", "POST"), (":scheme", "https"),
                      (":authority", f"localhost:{port}"), (":path", "/echo"),
                      ("content-length", str(n))])
        c.send_data(up, body, end_stream=True)
        st_up = c.wait_end(up)
        st_down = c.wait_end(down)
        self.assertEqual(st_down.status, 200)
        self.assertIsNone(st_down.reset_code)
        self.assertEqual(hashlib.sha256(bytes(st_down.data)).hexdigest(),
                         harness.pattern_sha256(n))
        self.assertEqual(st_up.status, 200, bytes(st_up.data[:200]))
        echo = json.loads(bytes(st_up.data))
        self.assertEqual((echo["bodyLength"], echo["bodySha256"]),
                         (n, hashlib.sha256(body).hexdigest()))
        self.assertCleanAtOrigin(echo, f"localhost:{port}")

    def test_websocket_over_intercepted_tls(self):
        port = self.origin_.port
        conn = self.open_connect(CTX_ROUTED, f"localhost:{port}")
        sock = self.tls_in_tunnel(conn, "localhost", ["http/1.1"])
        self.assertEqual(sock.selected_alpn_protocol(), "http/1.1")
        key = base64.b64encode(os.urandom(16)).decode()
        conn.send((f"GET /ws/mitm?x=1 HTTP/1.1\r\nHost: localhost:{port}\r\n"
                   "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                   f"Sec-WebSocket-Key: {key}\r\n\r\n").encode())
        status, _, headers, head = conn.read_head()
        self.assertEqual(status, 101, head)
        hdrs = dict(headers)
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.assertEqual(hdrs.get("sec-websocket-accept"), want)
        self.assertEqual(hdrs.get("x-origin-name"), "app")
        self.assertEqual(hdrs.get("x-origin-host"), f"localhost:{port}")
        self.assertEqual(hdrs.get("x-origin-url"), "/ws/mitm?x=1")

        def read_frame():
            while True:
                parsed = harness.ws_parse_frame(conn.buf)
                if parsed:
                    fin, op, masked, payload, consumed = parsed
                    conn.buf = conn.buf[consumed:]
                    return fin, op, masked, payload
                if not conn._fill():
                    raise EOFError("WebSocket closed before a whole frame arrived")

        for i in range(50):
            payload = (f"message {i} " * (i + 1)).encode()
            opcode = 1 if i % 2 == 0 else 2
            conn.send(harness.ws_frame(payload, opcode=opcode, mask=True))
            self.assertEqual(read_frame(), (True, opcode, False, payload), f"message {i}")
        conn.send(harness.ws_frame((1000).to_bytes(2, "big"), opcode=8, mask=True))
        self.assertEqual(read_frame()[1], 8)


class LeafCertificates(MitmChain):
    def test_leaf_for_localhost_alpn_h2_verifies(self):
        out = self.s_client(f"localhost:{self.origin_.port}", "-servername", "localhost",
                            "-alpn", "h2", "-verify_hostname", "localhost")
        self.assertIn("ALPN protocol: h2", out)
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertServedChain(out, "DNS:localhost")

    def test_leaf_alpn_http11(self):
        out = self.s_client(f"localhost:{self.origin_.port}", "-servername", "localhost",
                            "-alpn", "http/1.1", "-verify_hostname", "localhost")
        self.assertIn("ALPN protocol: http/1.1", out)
        self.assertIn("Verify return code: 0 (ok)", out)

    def test_leaf_for_ipv4(self):
        out = self.s_client(f"127.0.0.1:{self.origin_.port}", "-verify_ip", "127.0.0.1")
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertServedChain(out, "IP Address:127.0.0.1")

    def test_leaf_for_ipv6(self):
        # openssl 3.0 s_client -proxy sends `CONNECT ::1:<port>` (no brackets), which is not an
        # authority-form target; curl sends `CONNECT [::1]:<port>` and prints the served chain.
        cp = harness.run(["curl", "-sS", "-o", os.devnull, "--cacert", self.ca,
                          *self.pp.curl_args(CTX_ROUTED), "-w", "%{num_certs}\n%{certs}",
                          f"https://[::1]:{self.origin_.port}/echo"], timeout=20)
        self.assertEqual(cp.returncode, 0, cp.stderr.decode())  # verified, IP SAN checked
        out = cp.stdout.decode("utf-8", "replace")
        self.assertEqual(out.split("\n", 1)[0], "2", "the served chain must be leaf + CA")
        self.assertServedChain(out, "IP Address:0:0:0:0:0:0:0:1")

    def test_leaf_for_ipv6_with_python_ssl(self):
        port = self.origin_.port
        conn = self.open_connect(CTX_ROUTED, f"[::1]:{port}")
        sock = self.tls_in_tunnel(conn, "::1", ["http/1.1"])  # hostname check = IP SAN check
        cert = sock.getpeercert()
        self.assertIn(("IP Address", "0:0:0:0:0:0:0:1"), cert["subjectAltName"])
        life = (ssl.cert_time_to_seconds(cert["notAfter"])
                - ssl.cert_time_to_seconds(cert["notBefore"])) / 86400.0
        self.assertLessEqual(life, MAX_LEAF_DAYS)
        resp = conn.request("GET", "/echo", [("Host", f"[::1]:{port}")])
        self.assertEqual(resp.status, 200)
        self.assertCleanAtOrigin(json.loads(resp.body), f"[::1]:{port}")

    def test_ca_certificate(self):
        text = cert_text(self.ca_pem())
        self.assertIn("Cmux Preview Proxy CA", text)
        self.assertRegex(text, r"CA:TRUE")
        self.assertIn("X509v3 Name Constraints", text)
        self.assertIn("DNS:localhost", text.split("X509v3 Name Constraints", 1)[1])
        key = self.pp.ca_dir / "ca.key"
        self.assertEqual(stat.S_IMODE(key.stat().st_mode), 0o600, "ca.key must be mode 0600")


class RawTunnels(MitmChain):
    def listener(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(10)
        return srv

    def test_unrouted_connect_is_not_intercepted(self):
        srv = self.listener()
        port = srv.getsockname()[1]
        conn = self.open_connect(CTX_UNROUTED, f"127.0.0.1:{port}")
        peer, _ = srv.accept()
        self.addCleanup(peer.close)
        peer.settimeout(10)
        # Something that looks like a TLS ClientHello: a raw tunnel relays it untouched.
        hello = b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03" + bytes(range(38))
        conn.send(hello)
        got = b""
        while len(got) < len(hello):
            chunk = peer.recv(65536)
            self.assertTrue(chunk, "the tunnel closed early")
            got += chunk
        self.assertEqual(got, hello)
        reply = b"\x15\x03\x03\x00\x02\x02\x28 raw reply"
        peer.sendall(reply)
        self.assertEqual(conn.read_exact(len(reply)), reply)

    def test_unrouted_https_target_gets_no_leaf(self):
        # A real ClientHello on an unrouted tunnel to a plain-HTTP origin: the origin gets the
        # TLS bytes (and rejects them), the client never sees a certificate of our CA.
        port = self.origin_.port
        before = self.origin_.stats()["clientErrors"]
        conn = self.open_connect(CTX_UNROUTED, f"127.0.0.1:{port}")
        with self.assertRaises((ssl.SSLError, OSError)) as cm:
            self.tls_in_tunnel(conn, "127.0.0.1", ["http/1.1"])
        self.assertNotIsInstance(cm.exception, ssl.SSLCertVerificationError)
        wait_until(lambda: self.origin_.stats()["clientErrors"] >= before + 1, timeout=5,
                   message="the ClientHello did not reach the origin raw")


class InterceptionOff(ProxyTestCase):
    """`--no-tls-intercept` and CMUX_PREVIEW_TLS_MITM=0/off: a routed CONNECT is a raw tunnel
    through cmux-proxy, so a ClientHello reaches the (plain-HTTP) origin untouched."""

    @classmethod
    def setUpClass(cls):
        cls.certs = cls.class_certs()
        cls.origin_ = cls.class_origin(name="app")
        cls.cmux = cls.class_tls_cmux_proxy(cls.certs)

    def start(self, *args, env=None):
        return self.preview("--route", MORPH_ROUTE, *harness.resolve_args(self.cmux),
                            "--upstream-ca", self.certs.ca_cert, *args, env=env)

    def tunnels(self) -> float:
        return harness.metric_sum(harness.scrape_metrics(self.cmux.metrics_addr),
                                  "cmux_proxy_tunnels_total")

    def assertRawTunnel(self, pp):
        port = self.origin_.port
        before_errors = self.origin_.stats()["clientErrors"]
        before_tunnels = self.tunnels()
        r = curl("--cacert", pp.ca_cert_path, *pp.curl_args(0), "--http1.1",
                 f"https://localhost:{port}/echo")
        self.assertNotEqual(r.rc, 0, "TLS succeeded: the CONNECT was intercepted")
        self.assertNotEqual(r.status, 200)
        wait_until(lambda: self.origin_.stats()["clientErrors"] >= before_errors + 1, timeout=5,
                   message="the ClientHello did not reach the origin raw")
        wait_until(lambda: self.tunnels() >= before_tunnels + 1, timeout=5,
                   message="the routed CONNECT did not become a cmux-proxy tunnel")
        # Plain HTTP inside: the bytes arrive as sent (header case kept: nobody re-encoded them).
        conn = harness.HttpConn(pp.host, pp.port, timeout=15)
        self.addCleanup(conn.close)
        conn.send((f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n"
                   f"Proxy-Authorization: {pp.auth_header(0)[1]}\r\n\r\n").encode())
        self.assertEqual(conn.read_head()[0], 200)
        resp = conn.request("GET", "/echo", [("Host", "raw.example"), ("X-MiXeD-CaSe", "1")])
        self.assertEqual(resp.status, 200)
        echo = json.loads(resp.body)
        self.assertEqual(echo["rawHeaders"], ["Host", "raw.example", "X-MiXeD-CaSe", "1"])

    def test_no_tls_intercept_flag(self):
        self.assertRawTunnel(self.start("--no-tls-intercept"))

    def test_env_off_values(self):
        for value in ("0", "off"):
            with self.subTest(value=value):
                pp = self.start(env={"CMUX_PREVIEW_TLS_MITM": value})
                self.assertRawTunnel(pp)
                pp.stop()

    def test_env_on_value_intercepts(self):
        pp = self.start(env={"CMUX_PREVIEW_TLS_MITM": "yes"})
        r = curl("--cacert", pp.ca_cert_path, *pp.curl_args(0), "--http2",
                 f"https://localhost:{self.origin_.port}/echo")
        self.assertEqual((r.rc, r.status, r.http_version), (0, 200, "2"), r.stderr)


class LocalCaFiles(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = cls.class_certs()
        cls.origin_ = cls.class_origin(name="app")
        cls.cmux = cls.class_tls_cmux_proxy(cls.certs)

    def start(self, ca_dir, *args):
        return self.preview("--route", MORPH_ROUTE, *harness.resolve_args(self.cmux),
                            "--upstream-ca", self.certs.ca_cert, "--ca-dir", ca_dir, *args)

    def assertIntercepts(self, pp):
        r = curl("--cacert", pp.ca_cert_path, *pp.curl_args(0), "--http2",
                 f"https://localhost:{self.origin_.port}/echo")
        self.assertEqual((r.rc, r.status, r.http_version), (0, 200, "2"), r.stderr)
        self.assertEqual(r.json()["host"], f"localhost:{self.origin_.port}")

    def test_created_then_reused_across_restart(self):
        ca_dir = harness.make_temp_dir(self.addCleanup, "cmux-test-ca-dir-") / "certs"
        pp = self.start(ca_dir)
        self.assertIntercepts(pp)
        key, crt = ca_dir / "ca.key", ca_dir / "ca.crt"
        self.assertEqual(stat.S_IMODE(key.stat().st_mode), 0o600)
        self.assertIn(b"-----BEGIN CERTIFICATE-----", crt.read_bytes())
        first_crt, first_key = crt.read_bytes(), key.read_bytes()
        pp.stop()
        pp2 = self.start(ca_dir)
        self.assertIntercepts(pp2)
        self.assertEqual(crt.read_bytes(), first_crt, "the CA was not reused across a restart")
        self.assertEqual(key.read_bytes(), first_key)

    def test_corrupted_ca_is_replaced_with_a_warning(self):
        ca_dir = harness.make_temp_dir(self.addCleanup, "cmux-test-ca-dir-")
        pp = self.start(ca_dir)
        self.assertIntercepts(pp)
        pp.stop()
        old = (ca_dir / "ca.crt").read_bytes()
        (ca_dir / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot a certificate\n"
                                        b"-----END CERTIFICATE-----\n")
        pp2 = self.start(ca_dir, "--log")
        self.assertTrue(pp2.alive())
        new = (ca_dir / "ca.crt").read_bytes()
        self.assertNotEqual(new, old)
        self.assertIn("Cmux Preview Proxy CA", cert_text(new))
        self.assertEqual(stat.S_IMODE((ca_dir / "ca.key").stat().st_mode), 0o600)
        self.assertIntercepts(pp2)
        events = [e for e in pp2.log_events() if e.get("event") == "ca-warning"]
        self.assertTrue(events, pp2.stderr_text()[-2000:])
        self.assertTrue(events[0].get("message"))

    def test_mismatched_key_is_replaced(self):
        # A valid ca.crt with somebody else's key: the pair is unusable, so it is replaced.
        ca_dir = harness.make_temp_dir(self.addCleanup, "cmux-test-ca-dir-")
        pp = self.start(ca_dir)
        pp.stop()
        (ca_dir / "ca.key").write_bytes(self.certs.ca_key.read_bytes())
        os.chmod(ca_dir / "ca.key", 0o600)
        pp2 = self.start(ca_dir, "--log")
        self.assertIntercepts(pp2)
        self.assertTrue([e for e in pp2.log_events() if e.get("event") == "ca-warning"],
                        pp2.stderr_text()[-2000:])


class TlsListener(MitmChain):
    """TLS directly on the listener (first byte 0x16): leaf for localhost/127.0.0.1/::1."""

    def https_proxy_args(self, ctx: int = CTX_ROUTED) -> list:
        c = self.pp.context(ctx)
        return ["--proxy-cacert", self.ca,
                "-x", f"https://{c['username']}:{c['password']}@127.0.0.1:{self.pp.port}"]

    def test_curl_https_proxy_http_target(self):
        port = self.origin_.port
        before = self.cmux_requests()
        r = curl(*self.https_proxy_args(), f"http://localhost:{port}/echo?tlsproxy=1")
        self.assertEqual((r.rc, r.status), (0, 200), r.stderr)
        echo = r.json()
        self.assertCleanAtOrigin(echo, f"localhost:{port}")
        self.assertEqual(echo["url"], "/echo?tlsproxy=1")
        wait_until(lambda: self.cmux_requests() >= before + 1, timeout=5,
                   message="the request did not pass through cmux-proxy")

    def test_curl_https_proxy_https_target_intercepted(self):
        port = self.origin_.port
        for version, want in (("--http2", "2"), ("--http1.1", "1.1")):
            with self.subTest(version=version):
                r = curl(*self.https_proxy_args(), "--cacert", self.ca, version,
                         f"https://localhost:{port}/echo")
                self.assertEqual((r.rc, r.status, r.http_version), (0, 200, want), r.stderr)
                self.assertCleanAtOrigin(r.json(), f"localhost:{port}")

    def test_curl_https_proxy_without_credentials_is_407(self):
        r = curl("--proxy-cacert", self.ca, "-x", f"https://127.0.0.1:{self.pp.port}",
                 f"http://localhost:{self.origin_.port}/echo")
        self.assertEqual((r.rc, r.status), (0, 407), r.stderr)
        self.assertEqual(r.header("proxy-authenticate"), 'Basic realm="Cmux Preview Proxy"')

    def test_listener_certificate(self):
        for host, verify, san in (("127.0.0.1", ["-verify_ip", "127.0.0.1"],
                                   "IP Address:127.0.0.1"),
                                  ("localhost", ["-verify_hostname", "localhost",
                                                 "-servername", "localhost"], "DNS:localhost")):
            with self.subTest(host=host):
                cp = harness.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.pp.port}",
                                  "-CAfile", self.ca, "-showcerts", "-alpn", "h2", *verify],
                                 timeout=20, input=b"")
                out = cp.stdout.decode("utf-8", "replace")
                self.assertIn("ALPN protocol: h2", out, cp.stderr.decode())
                self.assertIn("Verify return code: 0 (ok)", out)
                self.assertServedChain(out, san)
        if harness.ipv6_available():
            # the SAN lists ::1 as well (SPEC §3 listener; the test listener is IPv4 only)
            out = harness.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.pp.port}",
                               "-CAfile", self.ca, "-verify_ip", "::1"], timeout=20,
                              input=b"").stdout.decode()
            self.assertIn("Verify return code: 0 (ok)", out)

    def h2_over_tls(self):
        ctx = ssl.create_default_context(cadata=self.ca_pem().decode())
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        raw = socket.create_connection(("127.0.0.1", self.pp.port), timeout=15)
        sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.assertEqual(sock.selected_alpn_protocol(), "h2")
        c = harness.H2Client("127.0.0.1", self.pp.port, timeout=15, sock=sock)
        self.addCleanup(c.close)
        return c

    def test_h2_over_tls_to_listener(self):
        port = self.origin_.port
        c = self.h2_over_tls()
        before = self.cmux_requests()
        auth = ("proxy-authorization", self.pp.auth_header(CTX_ROUTED)[1])
        sids = [c.start([(":method", "GET"), (":scheme", "http"),
                         (":authority", f"localhost:{port}"), (":path", f"/echo?h2tls={i}"),
                         auth], end_stream=True) for i in range(3)]
        for i, sid in enumerate(sids):
            st = c.wait_end(sid)
            self.assertEqual(st.status, 200, bytes(st.data[:200]))
            echo = json.loads(bytes(st.data))
            self.assertCleanAtOrigin(echo, f"localhost:{port}")
            self.assertEqual(echo["url"], f"/echo?h2tls={i}")
        wait_until(lambda: self.cmux_requests() >= before + 3, timeout=5,
                   message="the requests did not pass through cmux-proxy")
        # without credentials: 407 on the same connection
        st = c.request("GET", "/echo", authority=f"localhost:{port}")
        self.assertEqual(st.status, 407)

    def test_h2_over_tls_connect_stream_with_tls_inside(self):
        # What Chromium does with an https:// proxy over HTTP/2 for an https page: a CONNECT
        # stream, then TLS inside it, intercepted by the same proxy (leaf for localhost).
        port = self.origin_.port
        c = self.h2_over_tls()
        sid = c.start([(":method", "CONNECT"), (":authority", f"localhost:{port}"),
                       ("proxy-authorization", self.pp.auth_header(CTX_ROUTED)[1])])
        st = c.wait_response(sid)
        self.assertEqual(st.status, 200, st.headers)
        inner = ssl.create_default_context(cadata=self.ca_pem().decode())
        inner.set_alpn_protocols(["http/1.1"])
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = inner.wrap_bio(incoming, outgoing, server_hostname="localhost")

        def flush():
            data = outgoing.read()
            if data:
                c.send_data(sid, data)

        def feed():
            start = getattr(feed, "pos", 0)
            c.pump_until(lambda: len(st.data) > start or st.ended)
            self.assertFalse(st.ended and len(st.data) == start, "the CONNECT stream ended")
            incoming.write(bytes(st.data[start:]))
            feed.pos = len(st.data)

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                flush()
                feed()
        flush()
        self.assertEqual(tls.selected_alpn_protocol(), "http/1.1")
        self.assertIn(("DNS", "localhost"), tls.getpeercert()["subjectAltName"])
        tls.write(f"GET /echo?inner=1 HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        flush()
        plain = b""
        while harness.parse_http_bytes(plain) is None:
            try:
                plain += tls.read(65536)
            except ssl.SSLWantReadError:
                feed()
        status, _, body = harness.parse_http_bytes(plain)
        self.assertEqual(status, 200, plain[:300])
        self.assertCleanAtOrigin(json.loads(body), f"localhost:{port}")


class Logging(MitmChain):
    def test_connect_mitm_event_and_no_credentials(self):
        port = self.origin_.port
        r = curl("--cacert", self.ca, *self.pp.curl_args(CTX_ROUTED), "--http2",
                 f"https://localhost:{port}/echo?logged=1")
        self.assertEqual((r.rc, r.status), (0, 200), r.stderr)

        def mitm_events():
            return [e for e in self.pp.log_events()
                    if e.get("event") == "connect-mitm" and e.get("port") == port]

        events = wait_until(mitm_events, timeout=5,
                            message="no connect-mitm event after the tunnel closed")
        self.assertEqual(events[-1].get("host"), "localhost")
        self.assertEqual(events[-1].get("method"), "CONNECT")
        inner = wait_until(lambda: [e for e in self.pp.log_events()
                                    if e.get("intercepted") is True
                                    and e.get("path", "").startswith("/echo")], timeout=5,
                           message="no log event with intercepted=true for the inner request")
        self.assertNotEqual(inner[-1].get("event"), "connect-mitm")
        stderr = self.pp.stderr_text()
        for ctx in self.pp.contexts:
            self.assertNotIn(ctx["password"], stderr)
        auth = self.pp.auth_header(CTX_ROUTED)[1].split(" ", 1)[1]
        self.assertNotIn(auth, stderr)


if __name__ == "__main__":
    unittest.main()
