# SPDX-License-Identifier: GPL-2.0-only
"""Plumbing for the strg end-to-end suite: processes, generated configs, HTTP clients.

Python stdlib only. Everything here is bounded in time: sockets carry timeouts, polls have
deadlines, subprocesses are waited for with a timeout and stopped by pid.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.dont_write_bytecode = True

import backend  # noqa: E402  (tools/backend.py: the modern pool and the byte pattern)

HOST = "127.0.0.1"
# How long a strgd may take to serve: its BPF programs are verified at start, which took 1.5 to
# 6 s on this 2-CPU machine under a CPU hog and parallel builds (a wait on the event, not a pace).
START_S = 45.0
PROXY_PORT = 8080
LEGACY_PORTS = (9001, 9002)
MODERN_PORT = 9101
PP_PORT = 9401  # the "pp" pool: nginx behind a PROXY protocol listen, strgd sends PROXY v2
BIG_SIZE = 100 * 1024 * 1024
UPLOAD_SIZE = 20 * 1024 * 1024

SERVER_TIMEOUT_MS = 1000
CONNECT_TIMEOUT_MS = 1000
DOWN_HOLD_MS = 1000

# (methods, prefix, pool): the routing table every proxy flavour is configured with.
ROUTES = [
    ((), "/", "legacy"),
    (("GET", "HEAD"), "/v1/getSalesLeads", "modern"),
    ((), "/v1/getMarketingEvents", "modern"),
    ((), "/__sha256", "modern"),
    ((), "/__sleep", "modern"),
    ((), "/__headers", "modern"),
    ((), "/__bytes", "modern"),
    ((), "/__unsolicited", "modern"),
    ((), "/__extra", "modern"),
    ((), "/__chunked", "modern"),
    ((), "/__close", "modern"),
    ((), "/__status", "modern"),
    ((), "/__upgrade", "modern"),
    ((), "/__reset", "modern"),
    ((), "/pp", "pp"),
]


class HarnessError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Processes


# What a sanitizer writes when it finds something (ASan, LSan, UBSan): any of these in a strgd's
# stderr fails the test that ran it.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer",
                   "AddressSanitizer:DEADLYSIGNAL", "LeakSanitizer has encountered")
# strgd's own log lines: "2026-01-02T03:04:05.678Z strgd warn: ...".
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z strgd (warn|info|debug): ")


def sanitizer_report(text):
    """The first lines of a sanitizer's report in text, or "" when there is none."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKS):
            return " | ".join(x.strip() for x in lines[i:i + 6] if x.strip())
    return ""


def error_lines(text, allowed=()):
    """The stderr lines of a strgd that say something went wrong and that no test expected:
    a line outside strgd's log format (a fatal message, a crash) or one that says "error",
    less those matching a regex of allowed."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if LOG_LINE.match(line) and not re.search(r"(?i)\berror\b(?! rate)", line):
            continue
        if any(re.search(a, line) for a in allowed):
            continue
        out.append(line)
    return out


_sanitized = {}


def sanitized(env):
    """Whether the strgd under test is built with ASan (its RSS says little then)."""
    binary = getattr(env.flavour, "binary", None)
    if binary not in _sanitized:
        try:
            _sanitized[binary] = b"__asan_init" in Path(binary).read_bytes()
        except (OSError, TypeError):
            _sanitized[binary] = False
    return _sanitized[binary]


def is_strgd(argv):
    """Whether argv runs strgd (directly or through setpriv, prlimit, nsenter...)."""
    return any(os.path.basename(str(a)) == "strgd" for a in argv)


class Proc:
    """A child process with its output in files, stopped by pid. A strgd is audited when it has
    exited (problems()): its exit status (expect_status, 0 by default: after SIGTERM it must
    exit 0), no sanitizer report and no unexpected error line in its stderr (allow())."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_path = Path(workdir) / ("%s.out" % name)
        self.err_path = Path(workdir) / ("%s.err" % name)
        self.err_offset = self.err_path.stat().st_size if self.err_path.exists() else 0
        self.audit = is_strgd(self.argv)
        self.expect_status = 0
        self.allowed = []
        self.notes = []  # problems found while stopping it
        self.killed = False  # stopped with SIGKILL on purpose: no exit status to check
        self.reported = False
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=err, cwd=str(ROOT), env=env)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)
            if sig == signal.SIGKILL:
                self.killed = True

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def expect(self, status=None, allow=()):
        """What this process is expected to do: exit with status, log lines matching allow."""
        if status is not None:
            self.expect_status = status
        self.allowed += list(allow)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signal, wait up to timeout, then SIGKILL. Returns the exit status."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if sig == signal.SIGKILL:
                self.killed = True
            if self.wait(timeout) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.wait(5.0)
                if not self.killed:
                    self.notes.append("still running %.0f s after signal %d: killed" % (
                        timeout, sig))
                self.killed = True
        return self.popen.poll()

    def problems(self):
        """What went wrong with this strgd once it has exited, in words ([] when nothing did or
        it still runs, or for another program)."""
        if not self.audit or self.alive():
            return []
        out = list(self.notes)
        rc = self.popen.poll()
        if not self.killed and rc != self.expect_status:
            out.append("exit status %s, want %s" % (rc, self.expect_status))
        text = self.stderr_text()
        san = sanitizer_report(text)
        if san:
            out.append("sanitizer report: %s" % san[:600])
        errs = error_lines(text, self.allowed)
        if errs and not san:
            out.append("unexpected stderr line: %s%s" % (
                errs[0][:300], " (and %d more)" % (len(errs) - 1) if len(errs) > 1 else ""))
        return ["%s (pid %d): %s" % (self.name, self.pid, "; ".join(out))] if out else []

    def stderr_text(self, since_start=True):
        try:
            data = self.err_path.read_bytes()
        except OSError:
            return ""
        if since_start:
            data = data[self.err_offset:]
        return data.decode("utf-8", "replace")

    def stderr_tail(self, lines=8):
        text = self.stderr_text().rstrip("\n").splitlines()
        return " | ".join(text[-lines:])


def port_open(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, timeout=15.0, proc=None):
    """Poll until something accepts on port; fail early if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and not proc.alive():
            raise HarnessError("%s exited with status %s before listening on %d: %s" % (
                proc.name, proc.returncode, port, proc.stderr_tail()))
        time.sleep(0.05)
    raise HarnessError("nothing listens on port %d after %.1f s" % (port, timeout))


def wait_port_closed(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(port):
            return True
        time.sleep(0.05)
    return False


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Proxy flavours: strgd (the real thing) and HAProxy (a stand-in to debug the harness)


def control_path(listen_port=PROXY_PORT):
    """The control socket of the strgd listening on listen_port in this run."""
    return "/tmp/strg-it-ctl-%d-%d/strgd.sock" % (os.getpid(), listen_port)


def ctl_line(line, timeout=5.0, port=PROXY_PORT):
    """One command on a strgd's control socket (the main one's by default) without spawning
    strgctl (for tight loops); returns the reply text."""
    wait_until(lambda: os.path.exists(control_path(port)), 5.0)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(control_path(port))
        s.sendall(line.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode()


def strgctl(*args, user=None, timeout=10):
    """Run strgctl against the main strgd; user="nobody" runs it unprivileged."""
    # strgd opens its control socket once its data path is set up, a little after it listens.
    wait_until(lambda: os.path.exists(control_path()), 5.0)
    argv = [str(ROOT / "strgctl"), "-s", control_path()] + [str(a) for a in args]
    if user:
        argv = ["setpriv", "--reuid=%s" % user, "--regid=65534", "--clear-groups"] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def strgd_config(listen_port=PROXY_PORT, modern=(MODERN_PORT,), legacy=LEGACY_PORTS,
                 pp=(PP_PORT,), splice=None, extra=(), route_opts=""):
    # Pools legacy and modern come first (lines 3 and 4: suite.config_check edits them).
    lines = [
        "# generated by tests/integration/harness.py",
        "listen %s:%d" % (HOST, listen_port),
        "pool legacy " + " ".join("%s:%d" % (HOST, p) for p in legacy),
        "pool modern " + " ".join("%s:%d" % (HOST, p) for p in modern),
        "pool pp " + " ".join("%s:%d" % (HOST, p) for p in pp) + " proxy-protocol",
    ]
    for methods, prefix, pool in ROUTES:
        # route_opts ("fallback none", say) go on every route but the default one.
        lines.append("route %s%s %s%s" % (",".join(methods) + " " if methods else "", prefix, pool,
                                          " " + route_opts if route_opts and prefix != "/"
                                          else ""))
    lines += [
        "timeout server %d" % SERVER_TIMEOUT_MS,
        "timeout connect %d" % CONNECT_TIMEOUT_MS,
        "down-hold %d" % DOWN_HOLD_MS,
    ]
    if splice:
        lines.append("splice %s" % splice)
    lines.append("control %s" % control_path(listen_port))
    lines.append("sticky cookie strg_user")
    lines.append("state-file %s" % os.path.join(os.path.dirname(control_path(listen_port)),
                                                "state"))
    lines.extend(extra)
    return "\n".join(lines) + "\n"


def haproxy_config(listen_port=PROXY_PORT, modern=(MODERN_PORT,), legacy=LEGACY_PORTS,
                   pp=(PP_PORT,)):
    lines = [
        "# generated by tests/integration/harness.py (HAProxy stand-in for strgd)",
        "global",
        "    maxconn 4000",
        "defaults",
        "    mode http",
        "    timeout connect %dms" % CONNECT_TIMEOUT_MS,
        "    timeout server %dms" % SERVER_TIMEOUT_MS,
        "    timeout client 30s",
        "    timeout http-keep-alive 30s",
        "    option forwardfor",
        "    option redispatch",
        "    retries 1",
        "frontend fe",
        "    bind %s:%d" % (HOST, listen_port),
        "    http-request set-header X-Forwarded-Proto http",
        '    http-request add-header Via "1.1 strg"',
    ]
    # Longest prefix first; the "/" route is the default backend.
    routes = sorted(enumerate(ROUTES), key=lambda r: -len(r[1][1]))
    for i, (methods, prefix, pool) in routes:
        if prefix == "/":
            continue
        lines.append("    acl r%d_path path %s" % (i, prefix))
        lines.append("    acl r%d_path path_beg %s/" % (i, prefix))
        cond = "r%d_path" % i
        if methods:
            lines.append("    acl r%d_meth method %s" % (i, " ".join(methods)))
            cond += " r%d_meth" % i
        lines.append("    use_backend %s if %s" % (pool, cond))
    default = [pool for m, p, pool in ROUTES if p == "/"][0]
    lines.append("    default_backend %s" % default)
    for name, ports, opts in (("legacy", legacy, ""), ("modern", modern, ""),
                              ("pp", pp, " send-proxy-v2")):
        lines.append("backend %s" % name)
        lines.append("    balance source")
        for j, p in enumerate(ports):
            lines.append("    server %s%d %s:%d%s" % (name, j, HOST, p, opts))
    return "\n".join(lines) + "\n"


class Flavour:
    name = "?"
    graceful_signal = signal.SIGTERM
    logs_listening = False
    has_config_check = False

    def describe(self):
        return self.name

    def config(self, **kw):
        raise NotImplementedError

    def argv(self, cfg_path):
        raise NotImplementedError


class Strgd(Flavour):
    name = "strgd"
    logs_listening = True
    has_config_check = True

    def __init__(self, binary, mode):
        self.binary = str(binary)
        # "user" or "kernel", 2 workers; "user-w1" or "kernel-w1": one worker.
        base, _, workers = mode.partition("-w")
        if base not in ("user", "kernel") or workers not in ("", "1"):
            raise HarnessError("STRG_IT_MODE must be user, kernel, user-w1 or kernel-w1, "
                               "not %r" % mode)
        self.mode = base
        self.workers = int(workers or 2)
        self.mode_flags = ["--no-bpf"] if base == "user" else []

    def describe(self):
        return "%s (mode %s, workers %d: %s)" % (self.binary, self.mode, self.workers,
                                                 " ".join(self.argv("FILE")))

    def config(self, **kw):
        # Kernel mode hands every connection to the splice after its first request.
        kw["extra"] = ["workers %d" % self.workers] + list(kw.get("extra", ()))
        return strgd_config(splice="always" if self.mode == "kernel" else None, **kw)

    def pin_dir(self, cfg_path):
        """Where the strgd started with cfg_path pins its maps (one directory per instance)."""
        return "/sys/fs/bpf/strg-it-%d-%s" % (os.getpid(), Path(cfg_path).stem)

    def argv(self, cfg_path):
        pins = ["--pin-dir", self.pin_dir(cfg_path)]
        return [self.binary] + self.mode_flags + pins + ["-c", str(cfg_path)]

    def check_argv(self, cfg_path):
        return [self.binary, "-t", "-c", str(cfg_path)]


class HAProxy(Flavour):
    name = "haproxy"
    graceful_signal = signal.SIGUSR1  # HAProxy's soft stop; SIGTERM is its hard stop

    def __init__(self, binary="/usr/sbin/haproxy"):
        self.binary = binary

    def config(self, **kw):
        return haproxy_config(**kw)

    def argv(self, cfg_path):
        return [self.binary, "-db", "-f", str(cfg_path)]


# ---------------------------------------------------------------------------------------------
# The environment: legacy pool (nginx), modern pool (tools/backend.py), the proxy


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format strg '$request_method $request_uri $status';
    access_log {tmp}/nginx-access.log strg;
    client_body_temp_path {tmp}/nginx-tmp/body;
    proxy_temp_path {tmp}/nginx-tmp/proxy;
    fastcgi_temp_path {tmp}/nginx-tmp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-tmp/uwsgi;
    scgi_temp_path {tmp}/nginx-tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_max_body_size 200m;
    default_type text/plain;
    sendfile on;
    server {{
        {listens}
        add_header X-Pool legacy always;
        add_header X-Backend legacy:$server_port always;
        add_header X-Backend-Conn $connection always;
        location / {{ return 200 "legacy $request_method $uri\\n"; }}
        location = /big.bin {{ root {tmp}/www; }}
        # Answers with "Connection: close", then the backend closes its end.
        location ^~ /close/ {{ keepalive_timeout 0; alias {tmp}/www/; }}
    }}
    # The "pp" pool: every connection must start with a PROXY protocol header (v1 or v2); the
    # answer names the client and the address it connected to as that header tells them.
    server {{
        listen {host}:{pp_port} proxy_protocol;
        access_log {tmp}/nginx-pp-access.log strg;
        add_header X-Pool pp always;
        add_header X-Backend pp:$server_port always;
        add_header X-Backend-Conn $connection always;
        location / {{ return 200 "pp $proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port $request_method $uri\n"; }}
    }}
}}
"""


class Env:
    def __init__(self, flavour, keep=False):
        self.flavour = flavour
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="strg-it-"))
        self.procs = []
        self.nginx = None
        self.modern = None
        self.proxy = None
        self.proxy_starts = 0
        self.modern_log = self.tmp / "modern.log"
        self.nginx_access = self.tmp / "nginx-access.log"
        self.nginx_pp_access = self.tmp / "nginx-pp-access.log"
        self.big_file = self.tmp / "www" / "big.bin"
        self.upload_file = self.tmp / "upload.bin"
        self.cfg_path = self.tmp / "strgd.conf"
        self._big_sha = None
        self._upload_sha = None

    # ---- lifecycle ----

    def make_fixtures(self, where):
        """The 100 MiB download and the 20 MiB upload in where, made once (the run's modes
        share them: STRG_IT_FIXTURES), with their sha256 beside them."""
        big, upload = where / "big.bin", where / "upload.bin"
        if not (where / "done").exists():
            backend.write_pattern_file(big, BIG_SIZE)
            # The upload starts at another offset of the pattern: not a prefix of the download.
            skip = 12345
            with open(upload, "wb") as f:
                for piece in backend.pattern_chunks(UPLOAD_SIZE + skip):
                    take = min(skip, len(piece))
                    skip -= take
                    f.write(piece[take:])
            (where / "big.sha256").write_text(backend.pattern_sha256(BIG_SIZE))
            (where / "upload.sha256").write_text(file_sha256(upload))
            (where / "done").write_text("")
        self._big_sha = (where / "big.sha256").read_text()
        self._upload_sha = (where / "upload.sha256").read_text()
        return big, upload

    def start_all(self):
        (self.tmp / "www").mkdir()
        (self.tmp / "nginx-tmp").mkdir()
        shared = os.environ.get("STRG_IT_FIXTURES")
        where = Path(shared) if shared else self.tmp / "fixtures"
        where.mkdir(exist_ok=True)
        big, self.upload_file = self.make_fixtures(where)
        os.symlink(big, self.big_file)  # nginx serves www/big.bin
        self.start_nginx()
        self.start_modern()
        self.cfg_path.write_text(self.flavour.config())
        self.start_proxy()

    def spawn(self, name, argv, env=None):
        p = Proc(name, argv, self.tmp, env=env)
        self.procs.append(p)
        return p

    def start_nginx(self):
        conf = self.tmp / "nginx.conf"
        listens = "\n        ".join("listen %s:%d;" % (HOST, p) for p in LEGACY_PORTS)
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, listens=listens, host=HOST,
                                          pp_port=PP_PORT))
        self.nginx = self.spawn("nginx", ["nginx", "-p", self.tmp, "-c", conf,
                                          "-e", self.tmp / "nginx-error.log"])
        for p in LEGACY_PORTS + (PP_PORT,):
            wait_port(p, 15.0, self.nginx)

    def start_modern(self):
        self.modern = self.spawn("modern", [sys.executable, ROOT / "tools" / "backend.py",
                                            "--name", "modern", "--port", MODERN_PORT,
                                            "--log", self.modern_log])
        wait_port(MODERN_PORT, 15.0, self.modern)

    def stop_modern(self):
        if self.modern is not None:
            self.modern.stop(signal.SIGKILL)
            self.modern = None
        if not wait_port_closed(MODERN_PORT, 2.0):
            raise HarnessError("modern backend port %d still open after stop" % MODERN_PORT)

    def wait_ready(self, proc, port):
        """Until proc serves on port. strgd listens before it loads its BPF programs (the
        kernel queues connections meanwhile, which can take seconds on a loaded machine): its
        'listening on' line says it serves."""
        wait_port(port, START_S, proc)
        if self.flavour.logs_listening and not wait_until(
                lambda: "listening on" in proc.stderr_text() or not proc.alive(), START_S):
            raise HarnessError("%s never said 'listening on' within %d s: %s" % (
                proc.name, START_S, proc.stderr_tail()))

    def start_proxy(self):
        self.proxy_starts += 1
        self.proxy = self.spawn(self.flavour.name, self.flavour.argv(self.cfg_path))
        self.wait_ready(self.proxy, PROXY_PORT)
        return self.proxy

    def restart_proxy_fresh(self):
        """Stop the main proxy and start it again from its configuration alone (state dropped)."""
        self.proxy.stop(signal.SIGTERM, 5.0)
        state = Path(os.path.dirname(control_path())) / "state"
        try:
            state.unlink()
        except OSError:
            pass
        return self.start_proxy()

    def spawn_extra_proxy(self, tag, port, env=None, **cfg_kw):
        """A second proxy instance with its own config (e.g. a pool with a dead backend), and
        variables added to its environment (env: a dict)."""
        cfg = self.tmp / ("%s.conf" % tag)
        cfg.write_text(self.flavour.config(listen_port=port, **cfg_kw))
        p = self.spawn("%s-%s" % (self.flavour.name, tag), self.flavour.argv(cfg),
                       env=dict(os.environ, **env) if env else None)
        self.wait_ready(p, port)
        return p

    def exited_problems(self):
        """Problems of the strgds that exited since the last call (each reported once)."""
        out = []
        for p in self.procs:
            if not p.reported and p.audit and not p.alive():
                p.reported = True
                out += p.problems()
        return out

    def stop_all(self):
        """Stop everything; returns the problems of the strgds stopped (exit, stderr)."""
        for p in reversed(self.procs):
            p.stop(signal.SIGTERM, 10.0 if p.audit else 3.0)
        problems = self.exited_problems()
        # strgd unpins its maps when it stops; one killed on purpose leaves them behind.
        for d in Path("/sys/fs/bpf").glob("strg-it-%d-*" % os.getpid()):
            shutil.rmtree(d, ignore_errors=True)
        for d in Path("/tmp").glob("strg-it-ctl-%d-*" % os.getpid()):
            shutil.rmtree(d, ignore_errors=True)
        for f in (self.big_file, self.tmp / "fixtures" / "big.bin",
                  self.tmp / "fixtures" / "upload.bin"):
            try:
                f.unlink()  # the shared ones stay for the next mode (run removes them)
            except OSError:
                pass
        if not self.keep and not problems:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    # ---- observations ----

    def modern_log_lines(self):
        try:
            return self.modern_log.read_text().splitlines()
        except OSError:
            return []

    def nginx_log_lines(self):
        try:
            return self.nginx_access.read_text().splitlines()
        except OSError:
            return []

    def nginx_pp_log_lines(self):
        try:
            return self.nginx_pp_access.read_text().splitlines()
        except OSError:
            return []

    def pin_dir(self):
        """The main proxy's BPF pin directory (strgd only)."""
        return self.flavour.pin_dir(self.cfg_path)

    def big_sha(self):
        if self._big_sha is None:
            self._big_sha = backend.pattern_sha256(BIG_SIZE)
        return self._big_sha

    def upload_sha(self):
        if self._upload_sha is None:
            self._upload_sha = file_sha256(self.upload_file)
        return self._upload_sha


def file_sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            data = f.read(1 << 20)
            if not data:
                return h.hexdigest()
            h.update(data)


# ---------------------------------------------------------------------------------------------
# Raw-socket HTTP client


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order
        self.body = body

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def connection_close(self):
        return any("close" in v.lower() for v in self.header_all("Connection"))

    def pool(self):
        return self.header("X-Pool")

    def __repr__(self):
        return "<%s %d %s pool=%s body=%r>" % (self.version, self.status, self.reason, self.pool(),
                                               self.body[:60])


class ProtocolError(Exception):
    pass


class RawConn:
    """One client TCP connection speaking bytes; responses parsed with their framing."""

    def __init__(self, port=PROXY_PORT, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.send_error = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        """sendall; a reset/broken pipe is remembered (the peer may have answered and closed)."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.send_error = e

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        data = self.sock.recv(256 * 1024)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_until(self, marker, deadline, limit):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[:i + len(marker)])
                del self.buf[:i + len(marker)]
                return out
            if len(self.buf) > limit:
                raise ProtocolError("no %r within %d bytes" % (marker, limit))
            if not self._fill(deadline):
                raise ProtocolError("connection closed mid-message (have %d bytes: %r)" % (
                    len(self.buf), bytes(self.buf[:80])))

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ProtocolError("connection closed with %d of %d body bytes" % (
                    len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, timeout=None, head_only=False, skip_1xx=True):
        """Read one response. Raises socket.timeout, ProtocolError or ConnectionResetError."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            if not self.buf and not self._fill(deadline):
                raise ProtocolError("connection closed before a response")
            head = self._read_until(b"\r\n\r\n", deadline, 64 * 1024).decode("latin-1")
            lines = head[:-4].split("\r\n")
            m = re.match(r"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
            if not m:
                raise ProtocolError("bad status line %r" % lines[0])
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
            status = int(m.group(2))
            resp = Response(m.group(1), status, m.group(3) or "", headers, b"")
            if 100 <= status < 200:
                if skip_1xx:
                    continue
                return resp
            break
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if head_only or status in (204, 304):
            return resp
        if "chunked" in te:
            body = bytearray()
            while True:
                size_line = self._read_until(b"\r\n", deadline, 1024)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_until(b"\r\n", deadline, 64 * 1024) != b"\r\n":
                        pass
                    break
                body += self._read_exact(size, deadline)
                self._read_exact(2, deadline)
            resp.body = bytes(body)
        elif cl is not None:
            resp.body = self._read_exact(int(cl), deadline)
        else:
            while self._fill(deadline):
                pass
            resp.body = bytes(self.buf)
            self.buf.clear()
        return resp

    def wait_eof(self, timeout=2.0):
        """After the last response: 'eof', 'reset', 'timeout' or 'data:<bytes>'."""
        if self.buf:
            return "data:%r" % bytes(self.buf[:60])
        try:
            deadline = time.monotonic() + timeout
            if self._fill(deadline):
                return "data:%r" % bytes(self.buf[:60])
            return "eof"
        except socket.timeout:
            return "timeout"
        except ConnectionResetError:
            return "reset"


def request(method, target, host="h", headers=(), body=b"", version="HTTP/1.1"):
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    lines.extend(headers)
    if body and not any(h.lower().startswith(("content-length", "transfer-encoding"))
                        for h in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ---------------------------------------------------------------------------------------------
# curl


def curl(args, timeout=60, binary_out=False):
    """Run curl; returns CompletedProcess (stdout bytes if binary_out else text)."""
    argv = ["curl", "-sS", "--max-time", str(timeout)] + [str(a) for a in args]
    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout + 5,
                              text=not binary_out)
    except subprocess.TimeoutExpired:
        raise HarnessError("curl did not finish in %d s: %s" % (timeout + 5, " ".join(argv)))


def url(path, port=PROXY_PORT):
    return "http://%s:%d%s" % (HOST, port, path)


# ---- helpers the test modules share ----

def info(name, text):
    """A line of figures under a test's name in the run's output."""
    print("     %s: %s" % (name, text), flush=True)


def kernel_mode(env):
    return getattr(env.flavour, "mode", None) == "kernel"


def strgctl_at(port, *args, timeout=20):
    """strgctl against the strgd listening on port (CompletedProcess)."""
    argv = [str(ROOT / "strgctl"), "-s", control_path(port)] + [str(a) for a in args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def ctl_ok(check, line, port):
    """A control line to the strgd on port that must answer ok (check fails the test
    otherwise); the reply's text after "ok"."""
    r = ctl_line(line, port=port)
    check(r.startswith("ok\n"), "%s: %s" % (line, r.strip()[:300]))
    return r[3:]


def logged_backend(env, name, port, *opts, timeout=START_S):
    """tools/backend.py answering as pool name on port, logging each request head to a file
    of the test's own (the oracle of what was served): (proc, log path)."""
    log = env.tmp / ("%s-%d.log" % (name, port))
    proc = env.spawn("%s-%d" % (name, port), [sys.executable, ROOT / "tools" / "backend.py",
                                               "--name", name, "--port", port, "--log", log]
                     + [str(o) for o in opts])
    wait_port(port, timeout, proc)
    return proc, log


def register_by_mode(suite, both=(), once=(), kernel=()):
    """Add a module's tests for strgd: both data paths (the user and kernel modes, two
    workers), the user mode alone (once), the kernel mode alone."""
    mode = os.environ.get("STRG_IT_MODE", "user")
    if os.environ.get("STRG_IT_PROXY", "strgd") != "strgd":
        return
    chosen = {"user": list(both) + list(once), "kernel": list(both) + list(kernel)}
    for fn in chosen.get(mode, []):
        suite.test(fn)


def stats_pool_row(doc, route, pool):
    """The row of pool under route in a `strgctl stats -j` document, or None."""
    for r in doc["routes"]:
        if r["route"] == route:
            for p in r["pools"]:
                if p["pool"] == pool:
                    return p
    return None
