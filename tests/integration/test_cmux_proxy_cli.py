"""cmux-proxy command line, environment, listeners, signals, metrics and logs (SPEC §2 Start,
Observability). Black-box: the built binary, a Node.js origin, curl.

    cd tests/integration && /usr/bin/python3 -m unittest -v test_cmux_proxy_cli
"""

import json
import re
import signal
import socket
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import ProxyTestCase, curl, port_header, wait_until  # noqa: E402


class HelpAndVersion(ProxyTestCase):
    def test_help_exits_zero_and_lists_options(self):
        cp = harness.run([harness.require_binary(harness.proxy_binary()), "--help"], timeout=10)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        out = (cp.stdout + cp.stderr).decode()
        for opt in ("--listen", "--upstream-host", "--allow-default-upstream",
                    "--require-local-host", "--tls-cert", "--tls-key", "--log-level",
                    "--log-format", "--metrics-listen", "--threads", "--drain-timeout"):
            self.assertIn(opt, out, f"--help does not mention {opt}")

    def test_version_exits_zero(self):
        cp = harness.run([harness.require_binary(harness.proxy_binary()), "--version"], timeout=10)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex((cp.stdout + cp.stderr).decode(), r"\d+\.\d+")

    def test_unknown_option_fails(self):
        cp = harness.run([harness.require_binary(harness.proxy_binary()), "--no-such-option"],
                         timeout=10)
        self.assertNotEqual(cp.returncode, 0)
        self.assertTrue(cp.stderr.strip(), "an unknown option needs an error message on stderr")

    def test_malformed_listen_address_fails(self):
        for bad in ("127.0.0.1", "127.0.0.1:99999", "256.1.1.1:80", "[::1]"):
            with self.subTest(listen=bad):
                cp = harness.run([harness.require_binary(harness.proxy_binary()),
                                  "--listen", bad], timeout=5)
                self.assertNotEqual(cp.returncode, 0, cp.stdout)
                self.assertTrue(cp.stderr.strip())


class Listeners(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="default")

    def assertServes(self, addr: "harness.Addr"):
        r = curl("-g", f"http://{addr.hostport}/echo", *port_header(self.origin_.port))
        self.assertEqual(r.status, 200, f"{addr.printed}: {r.stderr} {r.text}")
        self.assertEqual(r.json()["name"], "default")

    def settled_addrs(self, proxy):
        """All listener lines: they are flushed before the first request is served, so after a
        served request the list is final."""
        self.assertServes(proxy.addrs[0])
        return proxy.addrs

    def test_comma_lists_and_repeats(self):
        p = self.proxy("--listen", "127.0.0.1:0,127.0.0.2:0", "--listen", "127.0.0.3:0",
                       expect_listeners=3)
        addrs = self.settled_addrs(p)
        self.assertEqual(sorted(a.host for a in addrs), ["127.0.0.1", "127.0.0.2", "127.0.0.3"])
        for a in addrs:
            self.assertNotEqual(a.port, 0, "the real port is printed, not 0")
            self.assertServes(a)

    def test_listening_lines_are_the_only_stdout(self):
        p = self.proxy("--listen", "127.0.0.1:0", "--log-level", "debug")
        self.settled_addrs(p)
        for line in p.stdout_lines:
            self.assertRegex(line, harness.LISTEN_RE, "logs belong on stderr, not stdout")

    def test_env_cmux_listen_used_without_listen(self):
        p = self.proxy(env={"CMUX_LISTEN": "127.0.0.4:0,127.0.0.5:0"}, expect_listeners=2)
        addrs = self.settled_addrs(p)
        self.assertEqual(sorted(a.host for a in addrs), ["127.0.0.4", "127.0.0.5"])

    def test_listen_replaces_env(self):
        p = self.proxy("--listen", "127.0.0.6:0", env={"CMUX_LISTEN": "127.0.0.4:0,127.0.0.5:0"})
        addrs = self.settled_addrs(p)
        self.assertEqual([a.host for a in addrs], ["127.0.0.6"])

    def test_duplicates_dropped(self):
        port = harness.free_port_everywhere()
        p = self.proxy("--listen", f"127.0.0.1:{port},127.0.0.1:{port}",
                       "--listen", f"127.0.0.1:{port}")
        addrs = self.settled_addrs(p)
        self.assertEqual([a.printed for a in addrs], [f"127.0.0.1:{port}"])

    def test_any_address_shadows_other_ipv4_on_same_port(self):
        port = harness.free_port_everywhere()
        p = self.proxy("--listen", f"127.0.0.1:{port},0.0.0.0:{port}",
                       "--listen", f"127.0.0.2:{port}")
        addrs = self.settled_addrs(p)
        self.assertEqual([a.printed for a in addrs], [f"0.0.0.0:{port}"])
        for host in ("127.0.0.1", "127.0.0.2"):
            self.assertServes(harness.Addr(host, port, host))

    def test_ipv6_is_not_shadowed_by_any_address(self):
        port = harness.free_port_everywhere()
        p = self.proxy("--listen", f"0.0.0.0:{port},[::1]:{port}", expect_listeners=2)
        addrs = self.settled_addrs(p)
        self.assertEqual(sorted(a.printed for a in addrs), sorted([f"0.0.0.0:{port}",
                                                                   f"[::1]:{port}"]))
        self.assertServes(harness.Addr("::1", port, f"[::1]:{port}"))

    def test_ipv6_port_zero_printed_in_brackets(self):
        p = self.proxy("--listen", "[::1]:0")
        line = next(l for l in p.stdout_lines if l.startswith("cmux-proxy listening on"))
        self.assertRegex(line, r"^cmux-proxy listening on \[::1\]:[1-9]\d*$")
        self.assertServes(p.addrs[0])

    def test_bind_failure_with_no_listener_exits_nonzero(self):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            p = self.proxy("--listen", f"127.0.0.1:{port}", expect_listeners=None)
            code = p.wait(timeout=10)
        self.assertNotEqual(code, 0)
        self.assertFalse(p.addrs, "nothing was bound, so nothing may be reported as listening")
        self.assertIn(str(port), p.stderr_text(), "the error should name the address")

    def test_bind_failure_with_another_listener_runs_on(self):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            p = self.proxy("--listen", f"127.0.0.1:{port},127.0.0.2:0")
            addrs = self.settled_addrs(p)
            self.assertEqual([a.host for a in addrs], ["127.0.0.2"])
            self.assertTrue(p.alive())
            wait_until(lambda: str(port) in p.stderr_text(),
                       message="no error on stderr for the listener that could not bind")
        p.stop()


class UpstreamHost(ProxyTestCase):
    def test_ipv6_upstream_host(self):
        origin = self.origin("::1", name="v6")
        for args, env in ((["--upstream-host", "::1"], None),
                          ([], {"CMUX_UPSTREAM_HOST": "::1"})):
            with self.subTest(args=args, env=env):
                p = self.proxy(*args, env=env)
                r = curl(p.url("/echo"), *port_header(origin.port))
                self.assertEqual(r.status, 200, r.text)
                echo = r.json()
                self.assertEqual(echo["name"], "v6")
                self.assertEqual(echo["localAddress"], "::1")

    def test_upstream_host_env_and_flag_precedence(self):
        a = self.origin("127.18.5.5", name="five")
        b = self.origin("127.18.6.6", name="six", port=a.port)
        p = self.proxy(env={"CMUX_UPSTREAM_HOST": "127.18.5.5"})
        r = curl(p.url("/echo"), *port_header(a.port))
        self.assertEqual((r.status, r.json()["name"]), (200, "five"))
        p = self.proxy("--upstream-host", "127.18.6.6", env={"CMUX_UPSTREAM_HOST": "127.18.5.5"})
        r = curl(p.url("/echo"), *port_header(b.port))
        self.assertEqual((r.status, r.json()["name"]), (200, "six"))


class AllowDefaultUpstream(ProxyTestCase):
    """A Host pattern naming workspace-7 without a workspace header: by default (true) the
    default upstream host gets it, with false the workspace IP 127.18.0.7 does."""

    @classmethod
    def setUpClass(cls):
        cls.ws = cls.class_origin("127.18.0.7", name="workspace-7")
        cls.default = cls.class_origin("127.0.0.1", name="default", port=cls.ws.port)

    def who(self, proxy):
        r = curl(proxy.url("/echo"), "-H", f"Host: workspace-7-{self.ws.port}.localhost")
        self.assertEqual(r.status, 200, r.text)
        return r.json()["name"]

    def test_default_is_true(self):
        self.assertEqual(self.who(self.proxy()), "default")

    def test_flag_values(self):
        for args, want in ((["--allow-default-upstream=false"], "workspace-7"),
                           (["--allow-default-upstream=true"], "default"),
                           (["--allow-default-upstream"], "default")):
            with self.subTest(args=args):
                self.assertEqual(self.who(self.proxy(*args)), want)

    def test_env_values(self):
        for value, want in (("0", "workspace-7"), ("false", "workspace-7"), ("no", "workspace-7"),
                            ("off", "workspace-7"), ("1", "default"), ("true", "default"),
                            ("yes", "default"), ("on", "default")):
            with self.subTest(CMUX_ALLOW_DEFAULT_UPSTREAM=value):
                p = self.proxy(env={"CMUX_ALLOW_DEFAULT_UPSTREAM": value})
                self.assertEqual(self.who(p), want)

    def test_flag_overrides_env(self):
        p = self.proxy("--allow-default-upstream=true", env={"CMUX_ALLOW_DEFAULT_UPSTREAM": "0"})
        self.assertEqual(self.who(p), "default")


class Signals(ProxyTestCase):
    def test_sigterm_and_sigint_exit_zero(self):
        origin = self.origin()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                p = self.proxy()
                r = curl(p.url("/echo"), *port_header(origin.port))
                self.assertEqual(r.status, 200)
                self.assertEqual(p.stop(sig, timeout=12, expect_code=None), 0, p.stderr_text())

    def test_sigterm_right_after_start_is_never_lost(self):
        # As the preview proxy's test of the same name: docs/operations.md "Signals, drain and exit status".
        for i in range(12):
            with self.subTest(start=i):
                p = self.proxy()
                self.assertEqual(p.stop(timeout=15), 0)

    def test_glibc_tunables_set_at_start_and_the_users_kept(self):
        harness.check_heap_tunables(self, lambda env: self.proxy(env=env))

    def test_sigterm_with_idle_keepalive_connections_exits_promptly(self):
        origin = self.origin()
        p = self.proxy()
        conn = harness.HttpConn(p.host, p.port)
        self.addCleanup(conn.close)
        resp = conn.request("GET", "/echo", [("Host", "x"), ("X-Cmux-Port-Internal",
                                                             str(origin.port))])
        self.assertEqual(resp.status, 200)
        # An idle keep-alive connection is not an in-flight request: no 10 s drain wait.
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=5), 0)


PROM_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?$")


class Metrics(ProxyTestCase):
    def scrape(self, addr):
        r = curl(f"http://{addr.hostport}/metrics")
        self.assertEqual(r.status, 200, r.text)
        self.assertTrue((r.header("content-type") or "").startswith("text/plain"),
                        r.header("content-type"))
        samples = []
        for line in r.text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            m = PROM_SAMPLE.match(line)
            self.assertIsNotNone(m, f"not Prometheus text: {line!r}")
            samples.append((m.group(1), m.group(2) or "", float(m.group(3))))
        return r.text, samples

    def test_metrics_listener_and_request_counts(self):
        origin = self.origin()
        p = self.proxy("--metrics-listen", "127.0.0.1:0", expect_metrics=True)
        line = next(l for l in p.stdout_lines if l.startswith("cmux-proxy metrics on"))
        self.assertRegex(line, r"^cmux-proxy metrics on 127\.0\.0\.1:[1-9]\d*$")
        # the metrics port is not announced as a proxy listener
        self.assertEqual(len(p.addrs), 1)
        maddr = p.metrics_addr
        self.assertNotEqual(maddr.port, p.port)

        for _ in range(3):
            self.assertEqual(curl("--http1.1", p.url("/echo"), *port_header(origin.port)).status,
                             200)
        self.assertEqual(curl("--http2-prior-knowledge", p.url("/echo"),
                              *port_header(origin.port)).status, 200)
        self.assertEqual(curl(p.url("/echo")).status, 400)

        def counted():
            text, samples = self.scrape(maddr)
            req = [s for s in samples if "request" in s[0].lower() and not s[0].endswith(
                ("_bucket", "_sum"))]
            ok = [s for s in req if re.search(r'="200"', s[1])]
            bad = [s for s in req if re.search(r'="400"', s[1])]
            return (sum(s[2] for s in ok) >= 4 and sum(s[2] for s in bad) >= 1
                    and len({s[1] for s in ok}) >= 2) and (text, samples)

        text, samples = wait_until(counted, timeout=5,
                                   message="/metrics does not count requests by protocol and "
                                           "status (want >=3 h1 + 1 h2 with status 200, 1 400)")
        self.assertIn("# TYPE", text)


class Logs(ProxyTestCase):
    SECRET_A = "Bearer sekrit-authorization-7d1f"
    SECRET_P = "Basic c2Vrcml0LXByb3h5LWF1dGgtOWUy"

    def _objects(self, text):
        out = []
        for line in text.splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    @staticmethod
    def _flatten(obj, prefix=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from Logs._flatten(v, f"{prefix}{k}.".lower())
        else:
            yield prefix.rstrip("."), obj

    def test_json_log_one_object_per_request_without_credentials(self):
        origin = self.origin()
        for level in ("info", "debug"):
            with self.subTest(level=level):
                p = self.proxy("--log-format", "json", "--log-level", level)
                r = curl(p.url("/echo?marker=json-log"), *port_header(origin.port),
                         "-H", f"Authorization: {self.SECRET_A}",
                         "-H", f"Proxy-Authorization: {self.SECRET_P}")
                self.assertEqual(r.status, 200)

                def request_line():
                    try:
                        objs = self._objects(p.stderr_text())
                    except json.JSONDecodeError:
                        return None
                    for o in objs:
                        flat = dict(self._flatten(o))
                        if any("/echo" in str(v) for v in flat.values()):
                            return flat
                    return None

                flat = wait_until(request_line, timeout=5,
                                  message="no JSON log object for the request on stderr")
                try:
                    self._objects(p.stderr_text())
                except json.JSONDecodeError as exc:
                    self.fail(f"--log-format json wrote a line that is not JSON: {exc}\n"
                              f"{p.stderr_text()[-2000:]}")
                self.assertTrue(any("status" in k and str(v) == "200" for k, v in flat.items()),
                                flat)
                self.assertTrue(any("method" in k and v == "GET" for k, v in flat.items()), flat)
                text = p.stderr_text()
                self.assertNotIn("sekrit-authorization", text)
                self.assertNotIn(self.SECRET_P.split()[1], text)

    def test_text_log_line_per_request(self):
        origin = self.origin()
        p = self.proxy("--log-level", "info")
        self.assertEqual(curl(p.url("/status/201?marker=text-log"),
                              *port_header(origin.port)).status, 201)
        wait_until(lambda: any("/status/201" in l and "201" in l.replace("/status/201", "")
                               for l in p.stderr_text().splitlines()),
                   timeout=5, message="no text log line with path and status")


class OtherOptions(ProxyTestCase):
    def test_threads_and_drain_timeout_accepted(self):
        origin = self.origin()
        p = self.proxy("--threads", "2", "--drain-timeout", "3", "--log-level", "warn")
        for _ in range(4):
            r = curl(p.url("/echo"), *port_header(origin.port))
            self.assertEqual(r.status, 200)

    def test_tls_key_without_cert_is_an_error(self):
        cp = subprocess.run([str(harness.require_binary(harness.proxy_binary())),
                             "--listen", "127.0.0.1:0", "--tls-key", "/nonexistent/key.pem"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=5)
        self.assertNotEqual(cp.returncode, 0)
        self.assertTrue(cp.stderr.strip())


if __name__ == "__main__":
    unittest.main()
