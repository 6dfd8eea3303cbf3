"""Black-box tests of the LD_PRELOAD workspace network shim (SPEC §2 "Workspace network shim").

Real processes only: Python socket servers and probes and curl/getent run with
LD_PRELOAD=<build>/lib/libworkspace_net.so. Expected workspace IPs are computed here from the
spec's rule, independently of the C++ implementation.

Run:  CMUX_BUILD_DIR=/work/main/build /usr/bin/python3 -m unittest -v test_shim
"""

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

BUILD_DIR = Path(os.environ.get("CMUX_BUILD_DIR", "/work/main/build"))
SHIM = BUILD_DIR / "lib" / "libworkspace_net.so"
PROXY = BUILD_DIR / "bin" / "cmux-proxy"
PYTHON = "/usr/bin/python3"
CURL = shutil.which("curl") or "/usr/bin/curl"
GETENT = shutil.which("getent") or "/usr/bin/getent"
VALGRIND = shutil.which("valgrind")

DEADLINE_S = 10.0  # readiness deadline for every process we start
RUN_TIMEOUT_S = 30.0  # bound for one short-lived client process
VALGRIND_TIMEOUT_S = 180.0


def expected_ip(name: str) -> str:
    """SPEC §2 "Workspace IP", written independently of src/workspace/workspace_ip.cpp."""
    component = name.rsplit("/", 1)[-1]
    digits = re.search(r"[0-9]+$", component)
    if digits:
        n = int(digits.group(0))
    else:
        h = 0x811C9DC5
        for byte in component.lower().encode():
            h ^= byte
            h = (h * 0x01000193) & 0xFFFFFFFF
        n = h & 0xFFFF
    return f"127.18.{(n >> 8) & 255}.{n & 255}"


def clean_env(**overrides):
    """The test's environment minus anything that would change what the shim or curl does."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CMUX_")
        and k not in ("LD_PRELOAD", "LD_LIBRARY_PATH")
        and not k.lower().endswith("_proxy")
    }
    env.update(overrides)
    return env


def shim_env(workspace=None, **overrides):
    env = clean_env(LD_PRELOAD=str(SHIM))
    if workspace is not None:
        env["CMUX_WORKSPACE_INTERNAL"] = workspace
    env.update(overrides)
    return env


# A tiny HTTP/1.1 server: binds argv[1]:argv[2], prints "READY <ip> <port>" (the address really
# bound, from getsockname) and answers every request with "<answer> <local ip>:<local port>\n".
SERVER = r"""
import socket, sys, threading
host, port, answer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind((host, port))
srv.listen(128)
print("READY %s %d" % srv.getsockname(), flush=True)
def handle(conn):
    with conn:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        body = ("%s %s:%d\n" % ((answer,) + conn.getsockname())).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"""

# Runs a JSON list of socket operations and prints a JSON list of results (errors included).
PROBE = r"""
import json, socket, sys
FAMILIES = {"unspec": socket.AF_UNSPEC, "inet": socket.AF_INET, "inet6": socket.AF_INET6}
def run(op):
    kind = op[0]
    try:
        if kind == "bind":
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((op[1], op[2]))
                return list(s.getsockname())
        if kind == "connect":
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect((op[1], op[2]))
                return list(s.getpeername())
        if kind == "gai":
            res = socket.getaddrinfo(op[1], op[3], FAMILIES[op[2]], op[4])
            return [[int(f), int(t), p, list(sa[:2])] for f, t, p, _, sa in res]
        if kind == "http":
            with socket.create_connection((op[1], op[2]), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            return data.split(b"\r\n\r\n", 1)[1].decode()
        raise ValueError(kind)
    except OSError as e:
        return {"error": type(e).__name__, "errno": e.errno}
print(json.dumps([run(op) for op in json.loads(sys.argv[1])]))
"""

# Many threads make their first intercepted call at the same moment (races the lazy init).
THREADS = r"""
import json, socket, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
barrier = threading.Barrier(n)
results = [None] * n
def work(i):
    barrier.wait()
    try:
        if i % 3 == 0:
            results[i] = socket.getaddrinfo("localhost", port, socket.AF_INET,
                                            socket.SOCK_STREAM)[0][4][0]
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                results[i] = data.split(b"\r\n\r\n", 1)[1].decode()
    except OSError as e:
        results[i] = "error %r" % (e,)
threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results))
"""


class Proc:
    """A long-running child: stdout is a pipe read line by line with a deadline, stderr a file."""

    def __init__(self, argv, env, cwd=None):
        self.stderr_file = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.stderr_file)
        self._buf = b""

    def read_line(self, deadline):
        """Next stdout line; fails the test if none arrives before `deadline` (monotonic)."""
        fd = self.popen.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no output line from {self.popen.args[0]} in time; "
                                     f"stderr: {self.stderr()!r}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError(f"{self.popen.args[0]} exited "
                                         f"(rc={self.popen.wait()}); stderr: {self.stderr()!r}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def stderr(self):
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.popen.stdout.close()
        self.stderr_file.close()


def wait_connectable(ip, port, deadline):
    """Poll until a plain (unshimmed) TCP connect to ip:port succeeds."""
    while True:
        try:
            socket.create_connection((ip, port), timeout=1).close()
            return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{ip}:{port} not connectable: {e}") from e
            select.select([], [], [], 0.02)  # brief back-off between polls


def http_get(ip, port, headers=()):
    """Unshimmed HTTP/1.1 GET; returns the body text."""
    with socket.create_connection((ip, port), timeout=10) as s:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers)
        s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{head}Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


def free_port(ips):
    """A port that is free on every address in `ips` right now (kernel-chosen on the first)."""
    for _ in range(50):
        holders = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            holders.append(first)
            first.bind((ips[0], 0))
            port = first.getsockname()[1]
            for ip in ips[1:]:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                holders.append(s)
                s.bind((ip, port))
            return port
        except OSError:
            continue
        finally:
            for s in holders:
                s.close()
    raise AssertionError("no common free port found")


def run(argv, env, cwd=None, timeout=RUN_TIMEOUT_S):
    return subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


class WorkspaceShimTest(unittest.TestCase):
    WS_A = "workspace-a"
    WS_B = "workspace-b"

    @classmethod
    def setUpClass(cls):
        if not SHIM.is_file():
            raise AssertionError(f"{SHIM} not built (cmake --build --preset default "
                                 f"--target workspace_net)")
        cls.ip_a = expected_ip(cls.WS_A)
        cls.ip_b = expected_ip(cls.WS_B)
        assert cls.ip_a != cls.ip_b, (cls.ip_a, cls.ip_b)
        # Free on plain loopback too, so "nothing answers on 127.0.0.1:port" is meaningful.
        cls.port = free_port(["127.0.0.1", cls.ip_a, cls.ip_b])
        cls.servers = {}
        cls.bound = {}
        deadline = time.monotonic() + DEADLINE_S
        for ws in (cls.WS_A, cls.WS_B):
            proc = Proc([PYTHON, "-c", SERVER, "127.0.0.1", str(cls.port), ws], env=shim_env(ws))
            cls.addClassCleanup(proc.stop)
            cls.servers[ws] = proc
        for ws, proc in cls.servers.items():
            line = proc.read_line(deadline)
            m = re.fullmatch(r"READY (\S+) (\d+)", line)
            assert m, line
            cls.bound[ws] = (m.group(1), int(m.group(2)))
        for ip in (cls.ip_a, cls.ip_b):
            wait_connectable(ip, cls.port, deadline)

    def answer(self, ws):
        return f"{ws} {expected_ip(ws)}:{self.port}\n"

    def probe(self, ops, env, cwd=None):
        r = run([PYTHON, "-c", PROBE, json.dumps(ops)], env=env, cwd=cwd)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout), r.stderr

    def curl(self, url, env, extra=()):
        r = run([CURL, "-sS", "--noproxy", "*", "--max-time", "10", *extra, url], env=env)
        self.assertEqual(r.returncode, 0, f"curl {url}: {r.stderr}")
        return r.stdout

    # --- the IP rule this file relies on ----------------------------------------------------

    def test_expected_ip_rule_matches_spec_examples(self):
        self.assertEqual(expected_ip("workspace-1"), "127.18.0.1")
        self.assertEqual(expected_ip("workspace-258"), "127.18.1.2")
        self.assertEqual(expected_ip("team/workspace-7"), "127.18.0.7")
        self.assertEqual(expected_ip("Workspace-A"), expected_ip("workspace-a"))

    # --- two servers on the same port ---------------------------------------------------------

    def test_two_workspaces_bind_same_loopback_port_on_own_ips(self):
        self.assertEqual(self.bound[self.WS_A], (self.ip_a, self.port))
        self.assertEqual(self.bound[self.WS_B], (self.ip_b, self.port))
        # Unshimmed clients reach each server on its workspace IP ...
        self.assertEqual(http_get(self.ip_a, self.port), self.answer(self.WS_A))
        self.assertEqual(http_get(self.ip_b, self.port), self.answer(self.WS_B))
        # ... and neither took plain 127.0.0.1:port.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()

    def test_bind_conflict_inside_one_workspace_keeps_errno(self):
        ws_c = "workspace-c-shimtest"
        results, _ = self.probe(
            [["bind", "127.0.0.1", self.port], ["bind", "0.0.0.0", self.port]],
            shim_env(self.WS_A))
        for res in results:
            self.assertEqual(res, {"error": "OSError", "errno": 98})  # EADDRINUSE
        # A third workspace gets the same port on its own IP.
        results, _ = self.probe([["bind", "127.0.0.1", self.port]], shim_env(ws_c))
        self.assertEqual(results, [[expected_ip(ws_c), self.port]])

    def test_bind_wildcard_and_loopback_move_to_workspace_ip(self):
        results, _ = self.probe(
            [["bind", "0.0.0.0", 0], ["bind", "127.0.0.1", 0], ["bind", self.ip_b, 0]],
            shim_env(self.WS_A))
        self.assertEqual(results[0][0], self.ip_a)
        self.assertEqual(results[1][0], self.ip_a)
        self.assertEqual(results[2][0], self.ip_b)  # any other address: untouched

    # --- clients ---------------------------------------------------------------------------------

    def test_curl_127_0_0_1_reaches_own_workspace(self):
        url = f"http://127.0.0.1:{self.port}/"
        self.assertEqual(self.curl(url, shim_env(self.WS_A)), self.answer(self.WS_A))
        self.assertEqual(self.curl(url, shim_env(self.WS_B)), self.answer(self.WS_B))

    def test_curl_localhost_reaches_own_workspace(self):
        # curl resolves "localhost" itself (127.0.0.1 and ::1): the connect() rewrite carries it.
        url = f"http://localhost:{self.port}/"
        self.assertEqual(self.curl(url, shim_env(self.WS_A)), self.answer(self.WS_A))
        self.assertEqual(self.curl(url, shim_env(self.WS_B)), self.answer(self.WS_B))

    def test_getaddrinfo_localhost_answers_workspace_ip(self):
        ops = [
            ["http", "localhost", self.port],  # getaddrinfo + connect to the answer
            ["gai", "localhost", "unspec", self.port, socket.SOCK_STREAM],
            ["gai", "localhost", "inet", self.port, socket.SOCK_STREAM],
            ["gai", "LOCALHOST", "unspec", self.port, 0],
            ["gai", "localhost.", "unspec", self.port, 0],
            ["gai", "127.0.0.1", "unspec", self.port, socket.SOCK_DGRAM],
            ["gai", "127.0.0.1", "inet", None, 0],
        ]
        for ws, ip in ((self.WS_A, self.ip_a), (self.WS_B, self.ip_b)):
            shimmed, _ = self.probe(ops, shim_env(ws))
            self.assertEqual(shimmed[0], self.answer(ws))
            # Same socktype/protocol/port structure as a plain lookup of 127.0.0.1, only the
            # address differs (and no ::1 for AF_UNSPEC).
            plain, _ = self.probe(
                [["gai", "127.0.0.1", "inet", op[3], op[4]] for op in ops[1:]], clean_env())
            for got, want in zip(shimmed[1:], plain):
                self.assertIsInstance(got, list, got)
                self.assertEqual(got, [[f, t, p, [ip, port]] for f, t, p, (_, port) in want])

    def test_getaddrinfo_untouched_cases(self):
        ops = [
            ["gai", "localhost", "inet6", self.port, socket.SOCK_STREAM],
            ["gai", "127.0.0.2", "inet", self.port, socket.SOCK_STREAM],
            ["gai", "::1", "unspec", self.port, socket.SOCK_STREAM],
        ]
        shimmed, _ = self.probe(ops, shim_env(self.WS_A))
        plain, _ = self.probe(ops, clean_env())
        self.assertEqual(shimmed, plain)

    def test_connect_other_addresses_untouched(self):
        results, _ = self.probe(
            [["http", self.ip_b, self.port], ["connect", self.ip_b, self.port]],
            shim_env(self.WS_A))
        self.assertEqual(results, [self.answer(self.WS_B), [self.ip_b, self.port]])

    def test_connect_keeps_errno(self):
        closed = free_port(["127.0.0.1", self.ip_a])
        results, _ = self.probe([["connect", "127.0.0.1", closed]], shim_env(self.WS_A))
        self.assertEqual(results, [{"error": "ConnectionRefusedError", "errno": 111}])

    # --- switches --------------------------------------------------------------------------------

    def test_disable_leaves_everything_untouched(self):
        env = shim_env(self.WS_A, CMUX_PRELOAD_DISABLE="1", CMUX_PRELOAD_LOG="1")
        ops = [
            ["bind", "0.0.0.0", 0],
            ["bind", "127.0.0.1", 0],
            ["connect", "127.0.0.1", self.port],
            ["gai", "localhost", "unspec", self.port, socket.SOCK_STREAM],
        ]
        results, stderr = self.probe(ops, env)
        self.assertEqual(results[0][0], "0.0.0.0")
        self.assertEqual(results[1][0], "127.0.0.1")
        self.assertEqual(results[2], {"error": "ConnectionRefusedError", "errno": 111})
        plain, _ = self.probe(ops[3:], clean_env())
        self.assertEqual(results[3:], plain)
        self.assertEqual(stderr, "")
        # curl too: nothing listens on 127.0.0.1:port, so it must fail to connect (exit 7).
        r = run([CURL, "-sS", "--noproxy", "*", "--max-time", "10",
                 f"http://127.0.0.1:{self.port}/"], env=env)
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)

    def test_log_lines_on_stderr(self):
        env = shim_env(self.WS_A, CMUX_PRELOAD_LOG="1")
        results, stderr = self.probe(
            [["bind", "0.0.0.0", 0], ["connect", "127.0.0.1", self.port],
             ["gai", "localhost", "inet", self.port, socket.SOCK_STREAM]], env)
        lines = stderr.splitlines()
        self.assertIn(f"cmux-preload: bind 0.0.0.0:0 -> {self.ip_a}:0", lines)
        self.assertIn(f"cmux-preload: connect 127.0.0.1:{self.port} -> {self.ip_a}:{self.port}",
                      lines)
        self.assertIn(f"cmux-preload: getaddrinfo localhost -> {self.ip_a}", lines)
        self.assertEqual(len(lines), 3, stderr)
        # curl: one line for the rewritten connect, the body is untouched.
        r = run([CURL, "-sS", "--noproxy", "*", "--max-time", "10",
                 f"http://127.0.0.1:{self.port}/"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.answer(self.WS_A))
        self.assertIn(f"cmux-preload: connect 127.0.0.1:{self.port} -> {self.ip_a}:{self.port}",
                      r.stderr.splitlines())
        # Without the switch: silent.
        _, stderr = self.probe([["bind", "0.0.0.0", 0]], shim_env(self.WS_A))
        self.assertEqual(stderr, "")

    def test_cwd_basename_activates(self):
        with tempfile.TemporaryDirectory() as tmp:
            ws_dir = Path(tmp) / "workspace-7"
            other_dir = Path(tmp) / "not-a-workspace-7"
            ws_dir.mkdir()
            other_dir.mkdir()
            ops = [["bind", "0.0.0.0", 0], ["gai", "localhost", "inet", 80, socket.SOCK_STREAM]]
            results, _ = self.probe(ops, shim_env(), cwd=ws_dir)
            self.assertEqual(results[0][0], "127.18.0.7")
            self.assertEqual(results[1], [[socket.AF_INET, socket.SOCK_STREAM, 6,
                                           ["127.18.0.7", 80]]])
            # Other directory: untouched.
            results, _ = self.probe(ops, shim_env(), cwd=other_dir)
            self.assertEqual(results[0][0], "0.0.0.0")
            self.assertEqual(results[1][0][3][0], "127.0.0.1")
            # The environment variable wins over the directory.
            results, _ = self.probe(ops, shim_env(self.WS_B), cwd=ws_dir)
            self.assertEqual(results[0][0], self.ip_b)
            # An empty variable counts as unset.
            results, _ = self.probe(ops, shim_env(""), cwd=ws_dir)
            self.assertEqual(results[0][0], "127.18.0.7")
            # Disabled even there.
            results, _ = self.probe(ops, shim_env(CMUX_PRELOAD_DISABLE="1"), cwd=ws_dir)
            self.assertEqual(results[0][0], "0.0.0.0")

    def test_name_uses_last_path_component(self):
        results, _ = self.probe([["bind", "127.0.0.1", 0]], shim_env("org/team/workspace-258"))
        self.assertEqual(results[0][0], "127.18.1.2")

    def test_unmappable_name_leaves_calls_untouched(self):
        env = shim_env("workspace-" + "9" * 40, CMUX_PRELOAD_LOG="1")  # number overflow
        results, stderr = self.probe([["bind", "127.0.0.1", 0]], env)
        self.assertEqual(results[0][0], "127.0.0.1")
        self.assertIn("invalid workspace name", stderr)

    # --- thread safety and leaks -------------------------------------------------------------

    def test_concurrent_first_calls_from_many_threads(self):
        for _ in range(5):  # fresh processes: every round races the lazy initialisation
            r = run([PYTHON, "-c", THREADS, str(self.port), "48"], env=shim_env(self.WS_B))
            self.assertEqual(r.returncode, 0, r.stderr)
            results = json.loads(r.stdout)
            for i, res in enumerate(results):
                self.assertEqual(res, self.ip_b if i % 3 == 0 else self.answer(self.WS_B))

    def _valgrind(self, argv, env):
        if not VALGRIND:
            self.fail("valgrind missing: scripts/bootstrap installs it")
        r = run([VALGRIND, "--leak-check=full", "--errors-for-leak-kinds=definite",
                 "--error-exitcode=9", "--show-leak-kinds=definite,possible", *argv],
                env=env, timeout=VALGRIND_TIMEOUT_S)
        self.assertNotEqual(r.returncode, 9, r.stderr)
        self.assertNotIn("libworkspace_net", r.stderr)  # no error or loss record involves us
        self.assertIn("ERROR SUMMARY: 0 errors", r.stderr)
        m = re.search(r"definitely lost: ([\d,]+) bytes", r.stderr)
        self.assertTrue(m is None or m.group(1) == "0", r.stderr)
        return r

    def test_valgrind_curl_through_shim(self):
        env = shim_env(self.WS_A, CMUX_PRELOAD_LOG="1")
        r = self._valgrind([CURL, "-sS", "--noproxy", "*", "--max-time", "60",
                            f"http://127.0.0.1:{self.port}/"], env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.answer(self.WS_A))
        self.assertIn("cmux-preload: connect", r.stderr)  # the shim really was loaded

    def test_valgrind_getaddrinfo_freeaddrinfo(self):
        # getent ahosts = getaddrinfo(AF_UNSPEC, AI_CANONNAME) + freeaddrinfo.
        env = shim_env(self.WS_A, CMUX_PRELOAD_LOG="1")
        r = self._valgrind([GETENT, "ahosts", "localhost"], env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.ip_a, r.stdout)
        self.assertNotIn("127.0.0.1", r.stdout)
        self.assertIn(f"cmux-preload: getaddrinfo localhost -> {self.ip_a}", r.stderr)

    # --- with the proxy ------------------------------------------------------------------------

    def test_cmux_proxy_routes_to_each_workspace(self):
        self.assertTrue(PROXY.is_file(), f"{PROXY} not built yet")
        proxy = Proc([str(PROXY), "--listen", "127.0.0.1:0"], env=clean_env())
        self.addCleanup(proxy.stop)
        line = proxy.read_line(time.monotonic() + DEADLINE_S)
        m = re.fullmatch(r"cmux-proxy listening on 127\.0\.0\.1:(\d+)", line)
        self.assertIsNotNone(m, line)
        proxy_port = int(m.group(1))
        for ws in (self.WS_A, self.WS_B):
            body = self.curl(f"http://127.0.0.1:{proxy_port}/", clean_env(), extra=[
                "-H", f"X-Cmux-Workspace-Internal: {ws}",
                "-H", f"X-Cmux-Port-Internal: {self.port}"])
            self.assertEqual(body, self.answer(ws))


if __name__ == "__main__":
    unittest.main(verbosity=2)
