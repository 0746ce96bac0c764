# SPDX-License-Identifier: GPL-2.0-only
"""Observability tests of the strg end-to-end suite (kernel mode with two workers only: each test
starts the strgd instances it needs, in the data-path modes it names).

After a known mix of requests (200, 404 and 500 from backends, strgd's own 502/503 for a pool
whose backend is down, 400 for malformed heads) every view of the counters says the same per
route, pool and status class: Prometheus' /metrics, `strgctl stats -j`, /stats.json and the
access log, in user-space, default and `splice always` modes. promtool accepts the metrics and
the shipped alerting rules; a real Prometheus server scrapes strgd and answers PromQL with the
same counts; headless Chromium renders the status page with the figures of /stats.json; strgctl
top shows them in a terminal (tmux).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import harness as h
from harness import RawConn, request

S = None  # the suite module, set by register()

DEAD_PORT = 9197  # nothing listens there: the "dead" pool's backend
RULES = h.ROOT / "tools" / "prometheus" / "strg-alerts.yml"

# (what, method, path, connection group, expected (route text, pool, class)); a group's requests
# share one keep-alive connection, so from the second on the kernel carries them (kernel modes).
MIX = (
    [("legacy", "/a/%d", "A", ("/", "legacy", "2xx"))] * 6 +
    [("modern", "/v1/getSalesLeads/%d", "B", ("GET,HEAD /v1/getSalesLeads", "modern", "2xx"))] * 5 +
    [("404", "/__status/404", "C", ("/__status", "modern", "4xx"))] * 4 +
    [("500", "/__status/500", "C", ("/__status", "modern", "5xx"))] * 3
)
DEAD = 2       # requests to the dead pool: 502 (refused), then 503 (held down)
MALFORMED = 2  # heads strgd refuses with 400, before any route


def info(name, text):
    """A measurement line under the test's result line."""
    print("     %s: %s" % (name, text), flush=True)


def expected():
    want = {}
    for _, _, _, key in MIX:
        want[key] = want.get(key, 0) + 1
    want[("/deadpool", "dead", "5xx")] = DEAD
    want[(None, None, "4xx")] = MALFORMED
    return want


def start_observed(env, tag, port, mport, flags=(), splice=None, extra=()):
    """A strgd with the metrics listener and a JSON access log; returns (proc, log path)."""
    log = env.tmp / ("access-%s.log" % tag)
    cfg = env.tmp / ("%s.conf" % tag)
    lines = ["pool dead %s:%d" % (h.HOST, DEAD_PORT), "route /deadpool dead fallback none",
             "metrics %s:%d" % (h.HOST, mport), "access-log %s json" % log, "workers 2"]
    cfg.write_text(h.strgd_config(listen_port=port, splice=splice, extra=lines + list(extra)))
    argv = [env.flavour.binary] + list(flags) + ["--pin-dir", env.flavour.pin_dir(cfg),
                                                  "-c", str(cfg)]
    proc = env.spawn("strgd-%s" % tag, argv)
    h.wait_port(port, 5.0, proc)
    h.wait_port(mport, 5.0, proc)
    return proc, log


def send_mix(port):
    """The known mix; every answer checked on the way."""
    groups = {}
    for what, path, group, (_, pool, cls) in MIX:
        groups.setdefault(group, []).append((what, path, pool, cls))
    for group, reqs in groups.items():
        with RawConn(port=port) as c:
            for i, (what, path, pool, cls) in enumerate(reqs):
                c.send(request("GET", path % i if "%d" in path else path))
                resp = c.read_response()
                S.check(resp.status // 100 == int(cls[0]),
                        "%s request %d (%s): status %s" % (what, i, path, resp.status))
    for i in range(DEAD):
        with RawConn(port=port) as c:
            c.send(request("GET", "/deadpool/%d" % i))
            resp = c.read_response()
            S.check(resp.status in (502, 503), "dead pool: status %s" % resp.status)
    for _ in range(MALFORMED):
        with RawConn(port=port) as c:
            c.send(b"GARBAGE\r\n\r\n")
            resp = c.read_response()
            S.check(resp.status == 400, "malformed head: status %s" % resp.status)


def http_get(port, path, timeout=5.0):
    with urllib.request.urlopen("http://%s:%d%s" % (h.HOST, port, path), timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def classes_of_stats(doc):
    """(route, pool, class) -> count, from `stats -j` or /stats.json."""
    out = {}
    for r in doc["routes"]:
        for p in r["pools"]:
            for cls, n in p["status"].items():
                if n and cls != "unknown":
                    out[(r["route"], p["pool"], cls)] = n
    for p in doc["unrouted"]:
        for cls, n in p["status"].items():
            if n and cls != "unknown":
                out[(None, None, cls)] = n
    return out


METRIC_RE = re.compile(r'^strg_http_requests_total\{route="((?:[^"\\]|\\.)*)",'
                       r'pool="((?:[^"\\]|\\.)*)",code="(\w+)"\} (\d+)$')


def classes_of_metrics(text):
    out = {}
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if m and int(m.group(4)) and m.group(3) != "unknown":
            route, pool = m.group(1) or None, m.group(2) or None
            out[(route, pool, m.group(3))] = int(m.group(4))
    return out


def access_lines(path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def classes_of_log(lines):
    out = {}
    for e in lines:
        key = (e["route"] or None, e["pool"] or None, "%dxx" % (e["status"] // 100))
        out[key] = out.get(key, 0) + 1
    return out


# The README's one-liner: per route, each pool's requests and 5xx, from the named counters map.
JQ_PROGRAM = ('map(.formatted.value) | group_by(.route)[] | [.[0].route] + map("\\(.pool): '
              '\\(.stats.requests) requests, \\(.stats.status[5]) 5xx") | join("  ")')


def check_bpftool_counters(env, tag, port):
    """bpftool prints the named counters map, keyed by route id and pool, with the counts of
    the mix the test sent (route ids from the route table); the README's jq one-liner turns it
    into one line per route."""
    cfg = env.tmp / ("%s.conf" % tag)
    pinned = "%s/counters" % env.flavour.pin_dir(cfg)
    ids = {r["path"]: r["id"] for r in json.loads(
        h.ctl_line("route show -j", port=port).split("\n", 1)[1])["routes"]}
    want = {}
    for (route, pool, cls), n in expected().items():
        path = route.split()[-1] if route else None
        key = (ids[path], route, pool) if route else (0, "(no route)", "-")
        req, err = want.get(key, (0, 0))
        want[key] = (req + n, err + (n if cls == "5xx" else 0))

    def dump():
        r = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", pinned],
                           capture_output=True, text=True, timeout=10)
        got = {}
        for e in json.loads(r.stdout or "[]"):
            k, v = e["formatted"]["key"], e["formatted"]["value"]
            if v["stats"]["requests"]:  # every route has its slots; the mix used some
                got[(k["route_id"], v["route"], v["pool"])] = (v["stats"]["requests"],
                                                               v["stats"]["status"][5])
        return got

    got = h.wait_until(lambda: dump() == want and dump(), 3.0)  # refreshed every second
    S.check(got == want, "%s: bpftool counters %r, want %r" % (tag, dump(), want))
    out = subprocess.run("bpftool -j map dump pinned %s | jq -r '%s'" % (pinned, JQ_PROGRAM),
                         shell=True, capture_output=True, text=True, timeout=10).stdout
    line = [l for l in out.splitlines() if l.startswith("/__status  ")]
    S.check(line == ["/__status  modern: 7 requests, 3 5xx"],
            "%s: the README's jq one-liner printed %r" % (tag, out))


def metrics_views_agree(env):
    """After the known mix, /metrics, strgctl stats -j, /stats.json and the access log count the
    same per route, pool and status class, in user space, default and splice always modes; the
    kernel carried part of it in the last two (and logged what it carried); promtool accepts the
    metrics and the alerting rules."""
    want = expected()
    total = sum(want.values())
    modes = (("user", ["--no-bpf"], None), ("default", [], None), ("always", [], "always"))
    for i, (tag, flags, splice) in enumerate(modes):
        port, mport = 8120 + i, 9920 + i
        proc, log = start_observed(env, tag, port, mport, flags, splice)
        try:
            send_mix(port)
            # The kernel's lines come through its event ring: give them a moment.
            h.wait_until(lambda: len(access_lines(log)) >= total, 5.0)
            stats = json.loads(h.ctl_line("stats -j", port=port).split("\n", 1)[1])
            status, ctype, page = http_get(mport, "/stats.json")
            S.check(status == 200 and ctype.startswith("application/json"),
                    "%s: /stats.json: %s %s" % (tag, status, ctype))
            _, ctype, metrics = http_get(mport, "/metrics")
            S.check(ctype.startswith("text/plain; version=0.0.4"),
                    "%s: /metrics Content-Type %r" % (tag, ctype))
            lines = access_lines(log)
            views = {"strgctl stats -j": classes_of_stats(stats),
                     "/stats.json": classes_of_stats(json.loads(page)),
                     "/metrics": classes_of_metrics(metrics),
                     "access log": classes_of_log(lines)}
            for name, got in views.items():
                S.check(got == want, "%s: %s counts %r, want %r" % (tag, name, got, want))
            kernel = sum(p["kernel"] for r in stats["routes"] for p in r["pools"])
            logged = sum(1 for e in lines if e["kernel"])
            if tag == "user":
                S.check(kernel == 0 and logged == 0, "user: kernel %d, logged %d" % (
                    kernel, logged))
            else:
                S.check(kernel >= 10 and logged == kernel,
                        "%s: the kernel carried %d requests and the log has %d of its lines "
                        "(want the same, at least 10)" % (tag, kernel, logged))
            if tag != "user":
                check_bpftool_counters(env, tag, port)
            ids = [e["request_id"] for e in lines]
            S.check(len(set(ids)) == len(ids) and all(ids), "%s: request ids %r" % (tag, ids))
            if shutil.which("promtool"):
                r = subprocess.run(["promtool", "check", "metrics"], input=metrics, text=True,
                                   capture_output=True, timeout=30)
                S.check(r.returncode == 0, "%s: promtool check metrics: %s%s" % (
                    tag, r.stdout[-500:], r.stderr[-500:]))
            else:
                raise S.Fail("promtool not installed (tools/deps test installs prometheus)")
        finally:
            proc.stop(signal.SIGTERM, 3.0)
    r = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True,
                       text=True, timeout=30)
    S.check(r.returncode == 0, "promtool check rules %s: %s%s" % (RULES, r.stdout[-500:],
                                                                  r.stderr[-500:]))
    info("metrics_views_agree", "%d requests counted alike by 4 views in 3 modes" % total)


def prometheus_scrapes_strgd(env):
    """A real Prometheus server scrapes strgd's /metrics; PromQL over its HTTP API returns the
    mix's counts (per class, and requests the kernel carried)."""
    prom = shutil.which("prometheus")
    if not prom:
        raise S.Fail("prometheus not installed (tools/deps test installs it)")
    port, mport, pport = 8123, 9923, 9930
    proc, _ = start_observed(env, "prom", port, mport)
    pdir = env.tmp / "prometheus"
    pdir.mkdir(exist_ok=True)
    pcfg = pdir / "prometheus.yml"
    pcfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files: ['%s']\n"
                    "scrape_configs:\n  - job_name: strg\n    static_configs:\n"
                    "      - targets: ['%s:%d']\n" % (RULES, h.HOST, mport))
    server = env.spawn("prometheus", [prom, "--config.file=%s" % pcfg,
                                      "--storage.tsdb.path=%s" % (pdir / "data"),
                                      "--web.listen-address=%s:%d" % (h.HOST, pport)])
    try:
        send_mix(port)
        want = expected()

        def query(q):
            url = "/api/v1/query?query=" + urllib.parse.quote(q)
            try:
                _, _, body = http_get(pport, url)
            except (urllib.error.URLError, OSError):  # 503 until its storage is ready
                return None
            doc = json.loads(body)
            return doc["data"]["result"] if doc.get("status") == "success" else None

        def counts():
            res = query("sum by (route, pool, code) (strg_http_requests_total)")
            if not res:
                return None
            # Prometheus drops empty labels: the unrouted requests' route and pool.
            return {(m["metric"].get("route") or None, m["metric"].get("pool") or None,
                     m["metric"]["code"]): int(float(m["value"][1]))
                    for m in res if float(m["value"][1]) and m["metric"]["code"] != "unknown"}

        h.wait_port(pport, 20.0, server)
        got = h.wait_until(lambda: counts() == want and counts(), 30.0)
        S.check(got == want, "PromQL sum by (route, pool, code): %r, want %r" % (counts(), want))
        kernel = query("sum(strg_http_requests_kernel_total)")
        stats = json.loads(h.ctl_line("stats -j", port=port).split("\n", 1)[1])
        k_stats = sum(p["kernel"] for r in stats["routes"] for p in r["pools"])
        S.check(kernel and int(float(kernel[0]["value"][1])) == k_stats,
                "PromQL kernel total %r, strgctl says %d" % (kernel, k_stats))
        # What the mix allows: the kernel takes a connection after its first request, so it
        # can carry each group's later requests at most (the dead pool's and the malformed
        # ones are single-request connections); metrics_views_agree sees at least 10.
        groups = {}
        for _, _, group, _ in MIX:
            groups[group] = groups.get(group, 0) + 1
        most = sum(n - 1 for n in groups.values())
        S.check(10 <= k_stats <= most, "the kernel carried %d requests of the mix; at most %d "
                "were on connections it held (and at least 10)" % (k_stats, most))
        info("prometheus_scrapes_strgd", "PromQL counts equal the mix (%d requests, %d by "
               "the kernel)" % (sum(want.values()), k_stats))
    finally:
        server.stop(signal.SIGTERM, 5.0)
        proc.stop(signal.SIGTERM, 3.0)


def keep_failing(port, stop):
    """Modern's /__status answers 500 and 404, one request every 20 ms until stop is set."""
    with RawConn(port=port) as c:
        i = 0
        while not stop.is_set():
            c.send(request("GET", "/__status/%d" % (500 if i % 2 else 404)))
            c.read_response()
            i += 1
            stop.wait(0.02)


def status_page_in_chromium(env):
    """Headless Chromium loads the status page: its DOM lists every route with legacy and
    modern side by side, the request and 5xx counts it shows are those of /stats.json, and the
    route where modern fails (while legacy does not) is marked with the alert that fires."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise S.Fail("chromium not installed (tools/deps test installs it)")
    port, mport = 8124, 9924
    proc, _ = start_observed(env, "page", port, mport)
    stop = threading.Event()
    failing = threading.Thread(target=keep_failing, args=(port, stop))
    try:
        send_mix(port)
        _, _, page = http_get(mport, "/stats.json")
        before = json.loads(page)
        failing.start()
        time.sleep(1.5)  # strgd's rates cover the failing traffic
        profile = env.tmp / "chromium-profile"
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--user-data-dir=%s" % profile,
                            "--virtual-time-budget=1000", "--dump-dom",
                            "http://%s:%d/" % (h.HOST, mport)],
                           capture_output=True, text=True, timeout=90)
        stop.set()
        failing.join(10)
        S.check(r.returncode == 0 and "<html" in r.stdout,
                "chromium exit %d: %s" % (r.returncode, r.stderr[-600:]))
        dom = r.stdout
        _, _, page = http_get(mport, "/stats.json")
        after = json.loads(page)
        cells = {}
        for row in re.finditer(r'<tr class="route-row[^"]*" data-route="([^"]*)"[^>]*>(.*?)</tr>',
                               dom, re.S):
            route = row.group(1).replace("&amp;", "&")
            for cell in re.finditer(r'<td data-pool="([^"]+)" data-field="(requests|5xx)"'
                                    r'[^>]*>(\d+)</td>', row.group(2)):
                cells[(route, cell.group(1), cell.group(2))] = int(cell.group(3))

        def shown(doc):
            out = {}
            for rt in doc["routes"]:
                for p in rt["pools"]:
                    out[(rt["route"], p["pool"], "requests")] = p["requests"]
                    out[(rt["route"], p["pool"], "5xx")] = p["status"]["5xx"]
            return out

        low, high = shown(before), shown(after)
        # /__status took requests while the page loaded: its figures lie between the two reads;
        # every other route's are exactly /stats.json's.
        S.check(set(cells) == set(high), "status page cells %r, /stats.json has %r" % (
            sorted(cells), sorted(high)))
        for key, n in cells.items():
            ok = low[key] <= n <= high[key] if key[0] == "/__status" else n == high[key]
            S.check(ok, "status page shows %s = %d, /stats.json %d (before %d)" % (
                key, n, high[key], low[key]))
        head = re.search(r'<tr><th class="route" rowspan="2">route</th>(.*?)</tr>', dom, re.S)
        pools = re.findall(r'<th class="pool"[^>]*>(\w+)</th>', head.group(1)) if head else []
        S.check(pools[:2] == ["legacy", "modern"],
                "pool columns %r, want legacy and modern first" % pools)
        # /__status fails half its requests on modern, and legacy does not serve it: it fires.
        S.check('<li class="alert">StrgModernErrorsAboveLegacy on /__status</li>' in dom,
                "the page does not mark modern's errors on /__status: %r" % re.findall(
                    r'<ul id="alerts".*?</ul>', dom, re.S))
        S.check(re.search(r'<tr class="route-row firing" data-route="/__status"', dom),
                "the /__status row is not marked")
        S.check(not re.search(r'<tr class="route-row firing" data-route="/"', dom),
                "the / row is marked, its legacy answers had no 5xx")
        info("status_page_in_chromium", "%d route rows, cells equal /stats.json, the failing "
             "route marked" % len({k[0] for k in cells}))
    finally:
        stop.set()
        if failing.is_alive():
            failing.join(10)
        proc.stop(signal.SIGTERM, 3.0)


def strgctl_top_in_tmux(env):
    """strgctl top in a terminal (tmux): the screen shows every route with its pools side by
    side and their figures; q quits it."""
    tmux = shutil.which("tmux")
    if not tmux:
        raise S.Fail("tmux not installed (tools/deps test installs it)")
    port, mport = 8125, 9925
    proc, _ = start_observed(env, "top", port, mport)
    session = "strg-top-%d" % os.getpid()
    sock = h.control_path(port)
    try:
        send_mix(port)
        subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "220", "-y", "40",
                        "%s -s %s top" % (h.ROOT / "strgctl", sock)], check=True, timeout=10)

        def screen():
            return subprocess.run([tmux, "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True, timeout=10).stdout

        shown = h.wait_until(lambda: "/v1/getSalesLeads" in screen() and screen(), 10.0)
        S.check(shown, "top never showed the routes: %r" % screen())
        text = screen()
        S.check(re.search(r"\| legacy .*\| modern ", text), "no legacy and modern columns: %r" %
                text)
        for route in ("/", "GET,HEAD /v1/getSalesLeads", "/__status", "/deadpool"):
            S.check(re.search(r"(?m)^%s\s" % re.escape(route), text),
                    "route %s missing from top: %r" % (route, text))
        S.check(re.search(r"\d+\.\d", text), "no figures on the screen: %r" % text)
        subprocess.run([tmux, "send-keys", "-t", session, "q"], timeout=10)
        gone = h.wait_until(lambda: subprocess.run(
            [tmux, "has-session", "-t", session], capture_output=True).returncode != 0, 5.0)
        S.check(gone, "strgctl top did not quit on q")
        info("strgctl_top_in_tmux", "screen: %s" % " / ".join(
            l.strip() for l in text.splitlines()[3:6]))
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
        proc.stop(signal.SIGTERM, 3.0)


def latencies_for(port, seconds):
    """Keep-alive GETs on one connection for that long: each one's latency, in seconds."""
    out = []
    with RawConn(port=port, timeout=10.0) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            c.send(request("GET", "/a/lat"))
            resp = c.read_response(timeout=10.0)
            out.append(time.perf_counter() - t0)
            S.check(resp.status == 200, "a request during the test: %r" % resp)
    return sorted(out)


FLOOD_SCRIPT = """
end=$((SECONDS + %d))
while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -m 10 -w '%%{http_code} %%{size_download}\\n' %s >> %s
done
"""


def metrics_flood_spares_the_data_path(env):
    """With 1 000 routes (a /metrics of about 2.8 MB) and one worker, 8 clients looping on
    /metrics without pause leave the worker's own requests about as fast as without them:
    their median latency stays within 3 times the one measured without the flood (plus 5 ms),
    and every flooder got whole answers. Views are built on the listener's thread, at most once
    a second for all readers; before, each one was rendered on worker 0's loop (tens of ms)."""
    port, mport = 8125, 9925
    routes = ["route /r%d modern" % i for i in range(1000)]
    cfg = env.tmp / "flood.conf"
    cfg.write_text(h.strgd_config(listen_port=port, splice="never", extra=routes + [
        "metrics %s:%d" % (h.HOST, mport), "workers 1"]))
    proc = env.spawn("strgd-flood", [env.flavour.binary, "--pin-dir",
                                     env.flavour.pin_dir(cfg), "-c", str(cfg)])
    flooders = []
    try:
        h.wait_port(port, 10.0, proc)
        h.wait_port(mport, 5.0, proc)
        status, _, text = http_get(mport, "/metrics", timeout=10.0)
        S.check(status == 200 and len(text) > 2000000, "/metrics: %d bytes" % len(text))
        base = latencies_for(port, 2.0)
        outs = [env.tmp / ("flood-%d.out" % i) for i in range(8)]
        for i, out in enumerate(outs):
            script = FLOOD_SCRIPT % (8, "http://%s:%d/metrics" % (h.HOST, mport), out)
            flooders.append(env.spawn("flood-%d" % i, ["timeout", "20", "bash", "-c", script]))
        # The flood is on once every flooder had an answer.
        S.check(h.wait_until(lambda: all(o.exists() and o.read_text() for o in outs), 8.0),
                "the flooders got no answer within 8 s")
        during = latencies_for(port, 3.0)
        for f in flooders:
            f.wait(25.0)
        answers = [line.split() for o in outs for line in o.read_text().splitlines()]
    finally:
        for f in flooders:
            f.stop(signal.SIGTERM, 2.0)
        proc.stop(signal.SIGTERM, 5.0)
    p50 = lambda v: v[len(v) // 2]  # noqa: E731
    p99 = lambda v: v[len(v) * 99 // 100]  # noqa: E731
    bad = [a for a in answers if a[0] != "200" or int(a[1]) < 2000000]
    S.check(not bad, "flood answers that were not a whole /metrics: %r" % bad[:5])
    S.check(p50(during) <= 3 * p50(base) + 0.005,
            "worker 0's median latency: %.2f ms during the flood, %.2f ms without it (%d and "
            "%d requests)" % (p50(during) * 1e3, p50(base) * 1e3, len(during), len(base)))
    info("metrics_flood_spares_the_data_path", "1 000 routes, /metrics %.1f MB; worker 0 p50 "
         "%.2f ms, p99 %.2f ms (%d requests in 2 s) without the flood; with 8 clients looping on "
         "/metrics (%d answers in 8 s): p50 %.2f ms, p99 %.2f ms (%d requests in 3 s)"
         % (len(text) / 1e6, p50(base) * 1e3, p99(base) * 1e3, len(base), len(answers),
            p50(during) * 1e3, p99(during) * 1e3, len(during)))


METRICS_TESTS = [
    metrics_views_agree,
    prometheus_scrapes_strgd,
    status_page_in_chromium,
    strgctl_top_in_tmux,
    metrics_flood_spares_the_data_path,
]


def register(suite):
    """Add the observability tests (kernel mode with two workers: they run once per suite)."""
    global S
    S = suite
    for fn in METRICS_TESTS:
        suite.test(fn)
