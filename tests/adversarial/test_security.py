"""Security properties of both proxies (issue 7, SPEC §2/§3):
  - no open proxy: cmux-proxy reaches only its upstream host and the workspace IPs, whatever the
    client puts in the target, Host, :authority, X-Cmux-Host-Override, X-Cmux-Workspace-Internal
    or a CONNECT; the preview proxy rejects every unauthenticated use with 407 (HTTP/1.1 request,
    origin-form, CONNECT, upgrade, h2c stream, h2 CONNECT, RFC 8441, over its TLS listener too);
  - `Connection:` naming a routing or auth header cannot remove the routing decision or the
    authentication (they are read before the hop-by-hop strip);
  - credentials (and query strings, Authorization, cookies) never appear in the logs, at the most
    verbose level;
  - the local CA key is mode 0600 even under umask 000, and the CA is name-constrained.

    cd tests/adversarial && /usr/bin/python3 -m unittest -v test_security
"""

import base64
import json
import os
import socket
import stat
import subprocess
import unittest

from _support import SLOW, PreviewTarget, ProxyTestCase, RawH2, harness, tls_client_context

ELSEWHERE_IP = "127.0.0.2"  # "an arbitrary host": on loopback, but not cmux-proxy's upstream


class CmuxProxyNotAnOpenProxy(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.elsewhere = cls.class_origin(host=ELSEWHERE_IP, name="elsewhere")
        cls.proxy_ = cls.class_proxy("--upstream-host", "127.0.0.1")

    def setUp(self):
        super().setUp()
        self.port = self.elsewhere.port
        if not harness.connection_refused("127.0.0.1", self.port):
            self.skipTest(f"127.0.0.1:{self.port} is in use; the test needs it free")

    def assertElsewhereUntouched(self, before):
        after = self.elsewhere.stats()
        # +1: the stats() call itself is a connection to that origin.
        self.assertEqual(after["connections"], before["connections"] + 1,
                         f"cmux-proxy connected to {ELSEWHERE_IP}: {after['recent'][-5:]}")
        self.assertEqual(after["requests"], before["requests"])

    def test_h1_tricks(self):
        p = self.port
        e = f"{ELSEWHERE_IP}:{p}"
        cases = {
            "absolute-form": f"GET http://{e}/echo HTTP/1.1\r\nHost: {e}\r\n"
                             f"X-Cmux-Port-Internal: {p}\r\n\r\n",
            "host": f"GET /echo HTTP/1.1\r\nHost: {e}\r\nX-Cmux-Port-Internal: {p}\r\n\r\n",
            "host-override": f"GET /echo HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: {p}\r\n"
                             f"X-Cmux-Host-Override: {e}\r\n\r\n",
            "connect": f"CONNECT {e} HTTP/1.1\r\nHost: {e}\r\nX-Cmux-Port-Internal: {p}\r\n\r\n",
            "connect-no-port-header": f"CONNECT {e} HTTP/1.1\r\nHost: {e}\r\n\r\n",
            "host-pattern": f"GET /echo HTTP/1.1\r\nHost: {ELSEWHERE_IP}-{p}.localhost\r\n\r\n",
        }
        for ws in (ELSEWHERE_IP, f"../{ELSEWHERE_IP}", f"workspace-1/../../{ELSEWHERE_IP}",
                   f"{e}", "evil.example", "workspace-1\r\nX-Injected: 1", "%31%32%37.0.0.2",
                   "127.0.0.2/"):
            cases[f"workspace={ws!r}"] = (f"GET /echo HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal:"
                                          f" {p}\r\nX-Cmux-Workspace-Internal: {ws}\r\n\r\n")
        for name, req in cases.items():
            with self.subTest(case=name):
                before = self.elsewhere.stats()
                conn = harness.HttpConn(self.proxy_.host, self.proxy_.port, timeout=10)
                try:
                    try:
                        conn.send(req.encode("latin-1"))
                        resp = conn.read_response("CONNECT" if name.startswith("connect")
                                                  else "GET")
                        self.assertNotEqual(resp.header("x-origin-name"), "elsewhere", name)
                        self.assertFalse(resp.status == 200 and name.startswith("connect"),
                                         f"{name}: CONNECT tunnel opened: {resp.raw_head!r}")
                    except EOFError:
                        pass  # refused by closing: fine
                finally:
                    conn.close()
                self.assertElsewhereUntouched(before)

    def test_h2_tricks(self):
        p = self.port
        e = f"{ELSEWHERE_IP}:{p}"
        cases = {
            "authority": [(":method", "GET"), (":scheme", "http"), (":authority", e),
                          (":path", "/echo"), ("x-cmux-port-internal", str(p))],
            "host-override": [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                              (":path", "/echo"), ("x-cmux-port-internal", str(p)),
                              ("x-cmux-host-override", e)],
            "connect": [(":method", "CONNECT"), (":authority", e), ("x-cmux-port-internal", str(p))],
            "workspace": [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                          (":path", "/echo"), ("x-cmux-port-internal", str(p)),
                          ("x-cmux-workspace-internal", ELSEWHERE_IP)],
            "absolute-path": [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                              (":path", f"http://{e}/echo"), ("x-cmux-port-internal", str(p))],
        }
        for name, hdrs in cases.items():
            with self.subTest(case=name):
                before = self.elsewhere.stats()
                c = RawH2(self.proxy_.host, self.proxy_.port)
                self.addCleanup(c.close)
                c.wait_settings()
                sid = c.request(hdrs, end_stream=name != "connect")
                c.wait(lambda: c.streams[sid].ended or c.streams[sid].status is not None,
                       10 * SLOW)
                st = c.streams[sid]
                if name == "connect":
                    self.assertNotEqual(st.status, 200, f"h2 CONNECT to {e} opened a tunnel")
                self.assertNotEqual(dict(st.headers or []).get("x-origin-name"), "elsewhere")
                self.assertElsewhereUntouched(before)


class PreviewProxyAuthentication(ProxyTestCase):
    """Every unauthenticated use of the preview proxy gets 407 with the Basic challenge and
    reaches nothing."""

    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="auth-origin")
        cls.pp = cls.class_preview("--route", "none", "--route", harness.MORPH_ROUTE)

    def setUp(self):
        super().setUp()
        self.target = PreviewTarget(self.pp, self.origin_)

    def bad_credentials(self):
        ctx = self.pp.context(0)
        token = base64.b64encode(f"{ctx['username']}:{ctx['password']}".encode()).decode()
        return {
            "missing": None,
            "wrong password": harness.basic_auth(ctx["username"], "0" * 24),
            "other user": harness.basic_auth("wc-9-deadbeef", ctx["password"]),
            "empty": "",
            "basic only": "Basic",
            "bad base64": "Basic " + token[:-3] + "!!!",
            "no colon": "Basic " + base64.b64encode(ctx["username"].encode()).decode(),
            "bearer": "Bearer " + token,
            "huge": "Basic " + "A" * 100_000,
            "nul": "Basic " + base64.b64encode(f"{ctx['username']}\0:{ctx['password']}".encode())
                   .decode(),
            "password prefix": harness.basic_auth(ctx["username"], ctx["password"][:-1]),
        }

    def assert407(self, status, headers, what):
        self.assertEqual(status, 407, what)
        challenge = [v for k, v in headers if k.lower() == "proxy-authenticate"]
        self.assertEqual(challenge, ['Basic realm="Cmux Preview Proxy"'], what)

    def h1(self, head: str, method="GET"):
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=10)
        try:
            conn.send(head.encode("latin-1"))
            try:
                return conn.read_response(method)
            except EOFError:
                return None
        finally:
            conn.close()

    def test_h1_unauthenticated_uses(self):
        a = self.target.origin_authority
        for cred_name, cred in self.bad_credentials().items():
            auth = "" if cred is None else f"Proxy-Authorization: {cred}\r\n"
            forms = {
                "absolute": (f"GET http://{a}/echo HTTP/1.1\r\nHost: {a}\r\n{auth}\r\n", "GET"),
                "origin-form": (f"GET /echo HTTP/1.1\r\nHost: {a}\r\n{auth}\r\n", "GET"),
                "connect": (f"CONNECT {a} HTTP/1.1\r\nHost: {a}\r\n{auth}\r\n", "CONNECT"),
                "connect-routed-loopback": (f"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost"
                                            f":443\r\n{auth}\r\n", "CONNECT"),
                "upgrade": (f"GET http://{a}/ws HTTP/1.1\r\nHost: {a}\r\nConnection: Upgrade\r\n"
                            f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{auth}\r\n", "GET"),
                "connection-strips-auth": (f"GET http://{a}/echo HTTP/1.1\r\nHost: {a}\r\n"
                                           f"Connection: Proxy-Authorization\r\n{auth}\r\n", "GET"),
            }
            for form, (head, method) in forms.items():
                with self.subTest(cred=cred_name, form=form):
                    before = self.origin_.stats()["connections"]
                    resp = self.h1(head, method)
                    if cred_name == "huge" and resp is not None and resp.status == 431:
                        continue  # refused as an oversized head: also not served
                    self.assertIsNotNone(resp, "closed without a 407")
                    self.assert407(resp.status, resp.headers, f"{cred_name}/{form}")
                    # +1: the stats() call itself is a connection to the origin.
                    self.assertEqual(self.origin_.stats()["connections"], before + 1,
                                     "an unauthenticated request reached the origin")

    def h2_cases(self):
        a = self.target.origin_authority
        return {
            "get": ([(":method", "GET"), (":scheme", "http"), (":authority", a), (":path", "/echo")],
                    True),
            "connect": ([(":method", "CONNECT"), (":authority", a)], False),
            "extended-connect": ([(":method", "CONNECT"), (":protocol", "websocket"),
                                  (":scheme", "http"), (":authority", a), (":path", "/ws"),
                                  ("sec-websocket-version", "13")], False),
        }

    def run_h2_cases(self, make_conn):
        for cred_name, cred in list(self.bad_credentials().items())[:4]:
            for name, (hdrs, end) in self.h2_cases().items():
                with self.subTest(cred=cred_name, form=name):
                    before = self.origin_.stats()["connections"]
                    c = make_conn()
                    self.addCleanup(c.close)
                    c.wait_settings()
                    extra = [] if cred is None else [("proxy-authorization", cred)]
                    sid = c.request(hdrs + extra, end_stream=end)
                    c.wait(lambda: c.streams[sid].status is not None or c.streams[sid].ended,
                           10 * SLOW)
                    st = c.streams[sid]
                    self.assert407(st.status, st.headers or [], f"{cred_name}/{name}: "
                                                                f"{c.describe()}")
                    self.assertEqual(self.origin_.stats()["connections"], before + 1,
                                     "an unauthenticated request reached the origin")

    def test_h2c_unauthenticated_uses(self):
        self.run_h2_cases(lambda: RawH2(self.pp.host, self.pp.port))

    def test_tls_listener_unauthenticated_uses(self):
        ctx = tls_client_context(self.pp.ca_cert_path)
        self.run_h2_cases(lambda: RawH2(self.pp.host, self.pp.port, tls=ctx,
                                        server_hostname="localhost"))
        # HTTP/1.1 over the TLS listener
        import ssl
        h1ctx = ssl.create_default_context(cafile=str(self.pp.ca_cert_path))
        h1ctx.set_alpn_protocols(["http/1.1"])
        a = self.target.origin_authority
        with socket.create_connection((self.pp.host, self.pp.port), timeout=10) as raw:
            with h1ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(f"GET http://{a}/echo HTTP/1.1\r\nHost: {a}\r\n\r\n".encode())
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        self.assertRegex(data, rb"^HTTP/1\.1 407 ")
        self.assertIn(b'Proxy-Authenticate: Basic realm="Cmux Preview Proxy"'.lower(), data.lower())

    def test_connection_header_cannot_strip_valid_auth(self):
        """Valid credentials + `Connection: Proxy-Authorization`: authenticated (the auth is read
        before hop-by-hop stripping), and the header still never reaches the origin."""
        a = self.target.origin_authority
        resp = self.h1(f"GET http://{a}/echo?conn-auth=1 HTTP/1.1\r\nHost: {a}\r\n"
                       f"Connection: keep-alive, Proxy-Authorization\r\n"
                       f"Proxy-Authorization: {self.target.auth}\r\n\r\n")
        self.assertEqual(resp.status, 200, resp.body[:200])
        raw = json.loads(resp.body)["rawHeaders"]
        self.assertNotIn("proxy-authorization", [k.lower() for k in raw[::2]])


class CmuxProxyConnectionHeaderTricks(ProxyTestCase):
    """`Connection: X-Cmux-*` cannot remove the routing decision (SPEC §2)."""

    @classmethod
    def setUpClass(cls):
        cls.ws1 = cls.class_origin(host="127.18.0.1", name="ws1")
        cls.proxy_ = cls.class_proxy()

    def test_connection_lists_routing_headers(self):
        for proto in ("h1", "h2"):
            with self.subTest(proto=proto):
                hdrs = [("x-cmux-port-internal", str(self.ws1.port)),
                        ("x-cmux-workspace-internal", "workspace-1"),
                        ("x-cmux-host-override", "routed.example")]
                if proto == "h1":
                    conn = harness.HttpConn(self.proxy_.host, self.proxy_.port)
                    self.addCleanup(conn.close)
                    resp = conn.request("GET", "/echo?conn-route=1", [
                        ("Host", "x"),
                        ("Connection", "X-Cmux-Port-Internal, X-Cmux-Workspace-Internal, "
                                       "X-Cmux-Host-Override")] + hdrs)
                    status, body, name = resp.status, resp.body, resp.header("x-origin-name")
                else:
                    # HTTP/2 forbids Connection (RFC 9113 §8.2.2): refused or ignored, never a
                    # routing change.
                    c = RawH2(self.proxy_.host, self.proxy_.port)
                    self.addCleanup(c.close)
                    c.wait_settings()
                    sid = c.request([(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                                     (":path", "/echo?conn-route=2"),
                                     ("connection", "x-cmux-port-internal")] + hdrs)
                    c.wait(lambda: c.streams[sid].ended, 10 * SLOW)
                    st = c.streams[sid]
                    if st.status != 200:
                        self.assertTrue(st.reset_code is not None or 400 <= (st.status or 400)
                                        < 500, c.describe())
                        continue
                    status, body, name = st.status, bytes(st.data), st.header("x-origin-name")
                self.assertEqual((status, name), (200, "ws1"), body[:200])
                echo = json.loads(body)
                self.assertEqual(echo["host"], "routed.example")
                self.assertFalse([k for k in echo["rawHeaders"][::2]
                                  if k.lower().startswith("x-cmux-")], echo["rawHeaders"])


class ChainSecurity(ProxyTestCase):
    """Through the chain (preview proxy, routed context → cmux-proxy → origin): the page cannot
    pick another port / workspace, not even by listing the routing headers in Connection; and
    nothing secret is logged by either proxy at its most verbose level."""

    def setUp(self):
        super().setUp()
        certs = self.make_certs()
        self.app = self.origin(name="app")
        self.other = self.origin(name="other-app")
        self.cmux = self.tls_cmux_proxy(certs, "--log-level", "debug")
        self.pp = self.preview("--route", harness.MORPH_ROUTE, "--route", "none",
                               *harness.resolve_args(self.cmux), "--upstream-ca", certs.ca_cert,
                               "--log", env={"CMUX_PREVIEW_PROXY_LOG": "1"})

    def test_page_cannot_reroute_with_connection_or_internal_headers(self):
        a = f"localhost:{self.app.port}"
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=15)
        self.addCleanup(conn.close)
        resp = conn.request("GET", f"http://{a}/echo?reroute=1", [
            ("Host", a), self.pp.auth_header(0),
            ("Connection", "X-Cmux-Port-Internal, X-Cmux-Host-Override, "
                           "X-Cmux-Workspace-Internal, Proxy-Authorization"),
            ("X-Cmux-Port-Internal", str(self.other.port)),
            ("X-Cmux-Workspace-Internal", "workspace-1"),
            ("X-Cmux-Host-Override", "evil.example")])
        self.assertEqual(resp.status, 200, resp.body[:200])
        self.assertEqual(resp.header("x-origin-name"), "app")
        echo = json.loads(resp.body)
        self.assertEqual(echo["host"], a)
        self.assertFalse([k for k in echo["rawHeaders"][::2]
                          if k.lower().startswith("x-cmux-") or k.lower() == "proxy-authorization"])
        self.assertEqual(self.other.stats()["requests"], 0)

    def test_credentials_never_logged(self):
        ctx0, ctx1 = self.pp.context(0), self.pp.context(1)
        secrets = {}
        for i, ctx in enumerate((ctx0, ctx1)):
            secrets[f"password{i}"] = ctx["password"]
            secrets[f"token{i}"] = base64.b64encode(
                f"{ctx['username']}:{ctx['password']}".encode()).decode()
        wrong = "wrongpass" + "7" * 15
        secrets["wrong password"] = wrong
        secrets["wrong token"] = base64.b64encode(f"{ctx0['username']}:{wrong}".encode()).decode()
        secrets["query"] = "querysecret4711"
        secrets["userinfo"] = "userinfosecret4711"
        secrets["authorization"] = "authzsecret4711"
        secrets["cookie"] = "cookiesecret4711"
        app = f"localhost:{self.app.port}"
        direct = f"127.0.0.1:{self.app.port}"
        extra = [("Authorization", f"Bearer {secrets['authorization']}"),
                 ("Cookie", f"session={secrets['cookie']}")]
        # routed (through cmux-proxy), unrouted (direct), wrong credentials, CONNECT, h2c
        for ctx, target in ((0, f"http://{app}/echo?token={secrets['query']}"),
                            (1, f"http://{direct}/echo?token={secrets['query']}"),
                            (0, f"http://user:{secrets['userinfo']}@{app}/echo?x=1")):
            resp = self.pp.request(ctx, "GET", target, headers=extra,
                                   host=target.split("/")[2].split("@")[-1])
            self.assertIn(resp.status, (200, 400), resp.body[:200])
        r = self.pp.request(None, "GET", f"http://{app}/echo", headers=[
            ("Proxy-Authorization", harness.basic_auth(ctx0["username"], wrong))])
        self.assertEqual(r.status, 407)
        conn = harness.HttpConn(self.pp.host, self.pp.port, timeout=10)
        self.addCleanup(conn.close)
        r = conn.request("CONNECT", direct, [("Host", direct), self.pp.auth_header(1)])
        self.assertEqual(r.status, 200)
        conn.close()
        c = RawH2(self.pp.host, self.pp.port)
        self.addCleanup(c.close)
        c.wait_settings()
        sid = c.request([(":method", "GET"), (":scheme", "http"), (":authority", app),
                         (":path", f"/echo?token={secrets['query']}"),
                         ("proxy-authorization", self.pp.auth_header(0)[1]),
                         ("authorization", f"Bearer {secrets['authorization']}")])
        c.wait(lambda: c.streams[sid].ended, 15 * SLOW)
        self.assertEqual(c.streams[sid].status, 200, c.describe())
        # Straight at cmux-proxy too, with secrets in headers and the query.
        r = harness.curl("-k", "--http2", self.cmux.url(f"/echo?token={secrets['query']}",
                                                        scheme="https"),
                         "-H", f"X-Cmux-Port-Internal: {self.app.port}",
                         "-H", f"Proxy-Authorization: Basic {secrets['token0']}",
                         "-H", f"Authorization: Bearer {secrets['authorization']}",
                         "-H", f"Cookie: session={secrets['cookie']}")
        self.assertEqual(r.status, 200, r.stderr)
        harness.wait_until(lambda: len(self.pp.log_events()) >= 5, timeout=5,
                           message="the preview proxy logged nothing")
        self.pp.stop()
        self.cmux.stop()
        logs = {"cmux-preview-proxy": self.pp.stderr_text(), "cmux-proxy": self.cmux.stderr_text()}
        self.assertTrue(logs["cmux-proxy"].strip(), "cmux-proxy logged nothing at debug level")
        for who, text in logs.items():
            for name, secret in secrets.items():
                self.assertNotIn(secret, text, f"{who} logged the {name}")


class LocalCaFiles(ProxyTestCase):
    def test_ca_key_mode_0600_under_umask_000(self):
        ca_dir = harness.make_temp_dir(self.addCleanup, "cmux-adv-ca-") / "certs"
        old = os.umask(0)
        try:
            pp = self.preview("--ca-dir", str(ca_dir))
        finally:
            os.umask(old)
        key = ca_dir / "ca.key"
        self.assertTrue(key.is_file())
        self.assertEqual(stat.S_IMODE(key.stat().st_mode), 0o600, "ca.key must be mode 0600")
        self.assertFalse(stat.S_IMODE(ca_dir.stat().st_mode) & 0o022,
                         f"{ca_dir} is group/world-writable: "
                         f"{oct(stat.S_IMODE(ca_dir.stat().st_mode))}")
        for f in ca_dir.iterdir():
            self.assertFalse(stat.S_IMODE(f.stat().st_mode) & 0o022,
                             f"{f.name} is group/world-writable")
        text = subprocess.run(["openssl", "x509", "-in", str(ca_dir / "ca.crt"), "-noout", "-text"],
                              capture_output=True, text=True, timeout=30).stdout
        self.assertIn("X509v3 Name Constraints: critical", text)
        for name in ("DNS:localhost", "DNS:.localhost", "DNS:.cmux.local", "DNS:.manaflow.local",
                     "IP:127.0.0.0/255.0.0.0"):
            self.assertIn(name, text)
        pp.stop()


if __name__ == "__main__":
    unittest.main()
