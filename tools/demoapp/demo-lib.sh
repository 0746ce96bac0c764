# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash disable=SC2154  # sourced by tools/demo, which sets the variables
# The helpers of tools/demo (sourced by it): start the application and strgd, run strgctl and
# the clients with what they print indented, screenshots with headless Chromium, the counters.
# They use tools/demo's variables: dir, pins, pids (the application), busy (a client or Chromium
# running), strgd_pid, door, the ports, step, shots.

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: nothing listens on port $1" >&2
	return 1
}

port_free() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		echo "demo: port $1 is taken; set $2 to another port" >&2
		return 1
	fi
}

# The application: the monolith and the two new services, the leads service with its bug (a
# difference from the monolith on 10 % of its answers).
start_app() {
	port_free "$front" STRG_DEMO_PORT && port_free "$p_mono" STRG_DEMO_MONOLITH &&
		port_free "$p_leads" STRG_DEMO_LEADS && port_free "$p_events" STRG_DEMO_EVENTS &&
		port_free "$p_status" STRG_DEMO_STATUS
	python3 tools/demoapp/monolith.py --port "$p_mono" 2>>"$dir/app.log" &
	pids+=($!)
	python3 tools/demoapp/service.py --name leads --port "$p_leads" --diff 10 2>>"$dir/app.log" &
	pids+=($!)
	python3 tools/demoapp/service.py --name events --port "$p_events" 2>>"$dir/app.log" &
	pids+=($!)
	wait_port "$p_mono" && wait_port "$p_leads" && wait_port "$p_events"
}

start_strgd() {
	cat >"$dir/strgd.conf" <<-CONF
		listen $door
		pool monolith 127.0.0.1:$p_mono
		pool leads 127.0.0.1:$p_leads
		pool events 127.0.0.1:$p_events
		route / monolith
		sticky cookie session
		metrics 127.0.0.1:$p_status
		control $dir/strgd.sock
		state-file $dir/state
	CONF
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
	./strgd -c "$dir/strgd.conf" --pin-dir "$pins" 2>>"$dir/strgd.log" &
	strgd_pid=$!
	for _ in $(seq 100); do
		grep -q ' listening on ' "$dir/strgd.log" && [ -S "$dir/strgd.sock" ] && return 0
		kill -0 "$strgd_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "demo: strgd did not start:" >&2
	sed 's/^/    /' "$dir/strgd.log" >&2
	return 1
}

# The strgd log line that says which data path it runs, without its time stamp.
data_path() {
	sed -n 's/.* info: \(data path: [^;]*\).*/\1/p' "$dir/strgd.log" | head -1
}

say() { printf '%s\n' "$*"; }

# run [-o FILE] CMD...: CMD in the background (its output to FILE, stderr to FILE.err), waited
# for. bash runs a trap only once its foreground command has ended, and not at all when that
# command handled the Ctrl-C itself (Chromium does): waiting with 'wait' lets the trap run at
# once. Its pid is in busy meanwhile, so the clean-up stops it.
run() {
	local p rc=0
	if [ "$1" = -o ]; then
		"${@:3}" >"$2" 2>"$2.err" &
	else
		"$@" &
	fi
	p=$!
	busy+=("$p")
	wait "$p" || rc=$?
	unset 'busy[${#busy[@]}-1]'
	return "$rc"
}

heading() {
	if [ "$step" -eq 1 ] && [ "$1" != 1 ]; then
		read -r -p "    [Enter: next step] " _ || true
	fi
	printf '\n== %s. %s\n' "$1" "$2"
}

indent() { sed 's/^/      /'; }

ctl() {
	say "    \$ strgctl $*"
	./strgctl -s "$dir/strgd.sock" "$@" 2>&1 | indent
	return "${PIPESTATUS[0]}"
}

ctl_quiet() { ./strgctl -s "$dir/strgd.sock" "$@"; }

# ctl_cut N ARGS...: as ctl, its output cut after N lines (the rest counted).
ctl_cut() {
	local n=$1 out rc=0
	shift
	say "    \$ strgctl $*"
	out=$(./strgctl -s "$dir/strgd.sock" "$@" 2>&1) || rc=$?
	printf '%s\n' "$out" | awk -v n="$n" 'NR <= n { print } END { if (NR > n) printf "... (%d lines more)\n", NR - n }' | indent
	return "$rc"
}

client() { run python3 tools/demoapp/client.py "$1" "$door" "${@:2}"; }

# A request to a service's own port (not through the front door), printed as curl.
service_knob() {
	say "    \$ curl -X POST '127.0.0.1:$1/__demo/set?$2'"
	curl -sf -X POST "http://127.0.0.1:$1/__demo/set?$2" | indent
}

has_chromium() { command -v chromium >/dev/null; }

# shot NAME URL [SIZE]: headless Chromium loads URL (its scripts run for 3 s of virtual time) and writes
# SHOTS/NAME.png, and prints who answered each panel of the page as the browser shows it.
shot() {
	[ -n "$shots" ] || return 0
	if ! has_chromium; then
		say "    (no screenshot: chromium is not installed; tools/deps test installs it)"
		return 0
	fi
	mkdir -p "$shots"
	local png dom
	png=$(realpath -m "$shots/$1.png")
	dom=$dir/$1.dom
	run -o "$dom" timeout 90 chromium --headless --no-sandbox --disable-gpu \
		--disable-dev-shm-usage --disable-crash-reporter --disable-breakpad --hide-scrollbars \
		--user-data-dir="$dir/chromium" --window-size="${3:-1100,480}" \
		--virtual-time-budget=3000 --screenshot="$png" --dump-dom "$2" || true
	if [ -s "$png" ]; then
		say "    screenshot: $png ($(stat -c %s "$png") bytes)"
	else
		say "    screenshot: $png was not written: $(tail -1 "$dom.err")"
		return 0
	fi
	# The page's panels as the browser rendered them (the status page has none).
	python3 - "$dom" <<-'PY'
		import re, sys
		names = {"leads": "sales leads", "events": "marketing events", "orders": "orders",
		         "login": "login"}
		pat = r'<section class="panel" id="panel-(\w+)" data-served-by="([^"]*)" data-status="(\d+)"'
		for m in re.finditer(pat, open(sys.argv[1]).read()):
		    print("      in Chromium: %-17s <- %-9s (%s)" % (names.get(m[1], m[1]), m[2], m[3]))
	PY
}

# The counters of the bpftool command of the README ("Watching a cutover"), for this strgd.
bpftool_counters() {
	if [ ! -e "$pins/counters" ]; then
		say "    (no pinned counters: strgd runs without its kernel path here)"
		return 0
	fi
	say "    \$ PIN=$pins"
	say "    \$ bpftool -j map dump pinned \"\$PIN/counters\" | jq -r 'map(.formatted.value)"
	say "        | group_by(.route)[] | [.[0].route] + map(\"\\(.pool): \\(.stats.requests) requests, \\(.stats.status[5]) 5xx\")"
	say "        | join(\"  \")'"
	bpftool -j map dump pinned "$pins/counters" | jq -r 'map(.formatted.value)
	  | group_by(.route)[] | [.[0].route] + map("\(.pool): \(.stats.requests) requests, \(.stats.status[5]) 5xx")
	  | join("  ")' | indent
}

stop_strgd() {
	local rc=0
	kill -TERM "$strgd_pid"
	wait "$strgd_pid" || rc=$?
	strgd_pid=
	say "    strgd stopped (SIGTERM): exit $rc"
}

# Shadow traffic: the route keeps its pool (the monolith answers every user), a copy of each
# request goes to the leads service, strgd compares the two answers and reports the share that
# differ. The field that names the system that answered differs by design and is ignored.
shadow_route() {
	ctl route set GET /v1/getSalesLeads monolith shadow leads ignore-header X-Served-By \
		ignore-json served_by
}

# "COMPARED MISMATCHES FIELD" of the route's shadow, from 'strgctl shadow show -j' (FIELD: the
# field that differed most often, beyond noise, or -).
shadow_figures() {
	ctl_quiet -j shadow show GET /v1/getSalesLeads | python3 -c '
import json, sys
def find(o):
    if isinstance(o, dict):
        if "mismatch_percent" in o:
            return o
        o = list(o.values())
    if isinstance(o, list):
        for v in o:
            f = find(v)
            if f:
                return f
f = find(json.load(sys.stdin)) or {}
fields = [x for x in f.get("fields", []) if not x.get("noise")]
fields.sort(key=lambda x: -x.get("legacy_vs_modern", 0))
print(f.get("compared", 0), f.get("mismatches", 0), fields[0]["field"] if fields else "-")'
}

# shadow_report FIGURES [NOTE]: the share of the answers compared that differed.
shadow_report() {
	local c m field
	read -r c m field <<<"$1"
	awk -v c="$c" -v m="$m" -v f="$field" -v w="${2:-}" 'BEGIN {
		printf "    the shadow reports: %.1f %% of %d compared answers differ%s\n",
			c ? 100 * m / c : 0, c, (m && f != "-") ? " (most often: " f ")" : ""
		if (w != "") print "    (" w ")"
	}'
}

shadow_step() {
	shadow_route
	say "    50 users ask 10 times each; each answer is the monolith's:"
	client users 50 --rounds 10
	sleep 0.5 # the last copies' answers
	ctl_cut 10 shadow show GET /v1/getSalesLeads
	shadow_report "$(shadow_figures)" \
		"the leads service was built to differ from the monolith on 10 % of its answers"
}

# After the fix: the comparisons forgotten, the same users again.
shadow_again() {
	ctl shadow reset GET /v1/getSalesLeads
	say "    the same 50 users ask 10 times each again:"
	client users 50 --rounds 10
	sleep 0.5
	ctl_cut 5 shadow show GET /v1/getSalesLeads
	shadow_report "$(shadow_figures)" "after the fix"
}
