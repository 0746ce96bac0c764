# SPDX-License-Identifier: GPL-2.0-only
# tools/bench/run's summary: strgd's default against HAProxy, its own better path and direct as
# paired ratios (each taken within one round, then their median, min-max and the rounds the
# default was ahead), and a Markdown table of the medians for the README.
#
# Input, one line per measured cell: "row workload round req/s cpu_us_per_request MB/s".
# Variables: rounds, dur (seconds per run), wls (workloads, in order), rowlist (rows, in order).

# The median of v[1..n], which it sorts in place (so v[1] and v[n] are the min and max after).
function median(v, n,   i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}

# The better of strgd's own two paths in round r of workload w (higher wins, or lower when low).
function best(a, w, r, low,   u, k) {
	u = a["strgd-user", w, r]; k = a["strgd-kernel", w, r]
	if (u == "" || k == "")
		return ""
	return (low ? u < k : u > k) ? u : k
}

# Row num's ratio (the default's when num is "") to row den (or "best") on workload w:
# "median (min-max) ahead/rounds"; num is ahead when the ratio is above 1 (below 1 when low: a
# cost).
function ratio(a, w, den, low, num,   r, n, v, ahead, x, y, q) {
	n = 0; ahead = 0
	if (num == "")
		num = "strgd"
	for (r = 1; r <= rounds; r++) {
		x = a[num, w, r]
		y = den == "best" ? best(a, w, r, low) : a[den, w, r]
		if (x == "" || y == "" || y == 0)
			continue
		q = x / y; v[++n] = q
		if (low ? q < 1 : q > 1)
			ahead++
	}
	if (!n)
		return "-"
	q = median(v, n)
	return sprintf("%.2f (%.2f-%.2f) %d/%d", q, v[1], v[n], ahead, n)
}

# Row j's median on workload w with its median CPU per request: "req/s [us]".
function cell(row, w,   r, n, m, v, c) {
	n = 0; m = 0
	for (r = 1; r <= rounds; r++) {
		if (val[row, w, r] == "")
			continue
		v[++n] = val[row, w, r]
		if (cpu[row, w, r] != "")
			c[++m] = cpu[row, w, r]
	}
	if (!n)
		return "-"
	return sprintf("%.0f [%.1f]", median(v, n), m ? median(c, m) : 0)
}

{
	val[$1, $2, $3] = $2 == "bulk" ? $6 : $4 # bulk: MB/s, as a reader compares it
	cpu[$1, $2, $3] = $5
	seen[$1] = 1
}

END {
	nw = split(wls, W, " ")
	nr = split(rowlist, R, " ")
	nk = split("haproxy best direct haproxy-splice", K, " ")
	label["haproxy"] = "default / HAProxy"
	label["best"] = "default / its better path (--no-bpf, splice always)"
	label["direct"] = "default / direct"
	label["haproxy-splice"] = "default / HAProxy with splice options"
	printf "\nstrgd default, paired ratios (each within one round): median (min-max) and rounds ahead\n"
	printf "  %-56s", "req/s (bulk: MB/s); ahead = ratio above 1"
	for (i = 1; i <= nw; i++)
		printf " %22s", W[i]
	printf "\n"
	for (k = 1; k <= nk; k++) {
		printf "  %-56s", label[K[k]]
		for (i = 1; i <= nw; i++)
			printf " %22s", ratio(val, W[i], K[k], 0)
		printf "\n"
	}
	printf "  %-56s", "machine CPU per request: default / HAProxy (ahead: < 1)"
	for (i = 1; i <= nw; i++)
		printf " %22s", ratio(cpu, W[i], "haproxy", 1)
	printf "\n"

	# A build against its base (STRGD_BASE: rows base, base-user, base-kernel), mode by mode.
	for (j = 1; j <= nr; j++) {
		if (R[j] !~ /^base/ || !(R[j] in seen))
			continue
		cur = "strgd" substr(R[j], 5)
		if (!(cur in seen))
			continue
		printf "  %-56s", cur " / " R[j]
		for (i = 1; i <= nw; i++)
			printf " %22s", ratio(val, W[i], R[j], 0, cur)
		printf "\n  %-56s", "  machine CPU per request, " cur " / " R[j]
		for (i = 1; i <= nw; i++)
			printf " %22s", ratio(cpu, W[i], R[j], 1, cur)
		printf "\n"
	}

	printf "\nFor the README (%d rounds of %s s, medians; [machine CPU us per request]):\n\n", rounds, dur
	printf "| req/s [us/rq] |"
	for (i = 1; i <= nw; i++)
		printf " %s |", W[i] == "bulk" ? "bulk 1 MiB c8, MB/s" : W[i]
	printf "\n|---|"
	for (i = 1; i <= nw; i++)
		printf "---|"
	printf "\n"
	for (j = 1; j <= nr; j++) {
		if (!(R[j] in seen))
			continue
		printf "| %s |", R[j]
		for (i = 1; i <= nw; i++)
			printf " %s |", cell(R[j], W[i])
		printf "\n"
	}
	for (k = 1; k <= nk; k++) {
		line = sprintf("| %s, median (min-max) ahead/rounds |", label[K[k]])
		any = 0
		for (i = 1; i <= nw; i++) {
			t = ratio(val, W[i], K[k], 0)
			any += t != "-"
			line = line " " t " |"
		}
		if (any)
			print line
	}
	line = "| machine CPU per request, default / HAProxy |"
	for (i = 1; i <= nw; i++)
		line = line " " ratio(cpu, W[i], "haproxy", 1) " |"
	print line
}
