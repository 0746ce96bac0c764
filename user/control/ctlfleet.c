// SPDX-License-Identifier: GPL-2.0-only
/*
 * "fleet": every host's report (nodes/NAME in the store) beside this host's own view: the
 * revision each runs and how far behind the newest it is, whether its table hash is this
 * host's and the newest's, since when it has been out of touch with the store, and its last
 * refusal. The view
 * itself comes from the store follower (env->fleet_view); this file only words it.
 */
#include <errno.h>
#include <string.h>

#include "control/ctlfleet.h"
#include "control/ctlreply.h"
#include "control/ctlverb.h"

/* The newest revision a host reports (this one included) and the hash of that table. */
static json_int_t newest(json_t *view, const char **hash)
{
	json_int_t max = json_integer_value(json_object_get(view, "revision"));
	json_t *n;
	size_t i;

	*hash = json_string_value(json_object_get(view, "table_hash"));
	json_array_foreach(json_object_get(view, "nodes"), i, n)
	{
		json_int_t rev = json_integer_value(json_object_get(n, "revision"));

		if (rev > max) {
			max = rev;
			*hash = json_string_value(json_object_get(n, "table_hash"));
		}
	}
	return max;
}

/*
 * A host runs the newest table when its hash is the newest report's: the revisions hosts
 * report differ by writes that did not change the table (reports, refused objects), so a lag
 * in revisions is shown only for a host whose table is another.
 */
static void node_line(struct ctl_reply *r, json_t *n, const char *mine, const char *cur,
		      json_int_t max)
{
	const char *hash = json_string_value(json_object_get(n, "table_hash"));
	const char *stale = json_string_value(json_object_get(n, "stale_since"));
	const char *why = json_string_value(json_object_get(n, "rejected"));
	json_int_t rev = json_integer_value(json_object_get(n, "revision"));
	json_int_t bad = json_integer_value(json_object_get(n, "rejected_revision"));
	bool in_step = hash && cur && !strcmp(hash, cur);

	ctl_replyf(r, "  %-16s %-22s revision %-8lld %-12s table %s (%s)%s%s",
		   json_string_value(json_object_get(n, "node")),
		   json_string_value(json_object_get(n, "address")), (long long)rev,
		   in_step ? "in step" : "BEHIND", hash ? hash : "?",
		   hash && mine && !strcmp(hash, mine) ? "same as here" : "differs from here",
		   stale ? ", out of touch since " : "", stale ? stale : "");
	if (!in_step)
		ctl_replyf(r, ", %lld revisions behind", (long long)(max - rev));
	if (bad)
		ctl_replyf(r, ", refused revision %lld: %s", (long long)bad, why ? why : "");
	ctl_replyf(r, "\n");
}

int ctl_fleet_show(struct ctl_env *env, struct ctl_args *a, struct ctl_reply *r)
{
	json_t *view, *n;
	const char *mine, *cur;
	json_int_t max;
	size_t i;

	if (a->argc != 1)
		return ctl_fail(r, "fleet: expects no arguments");
	if (!env->fleet_view)
		return ctl_fail(r, "fleet: this strgd has no 'store' line: its table is its own");
	view = env->fleet_view(env);
	if (!view)
		return ctl_fail(r, "out of memory");
	ctl_replyf(r, "ok\n");
	if (a->json)
		return ctl_reply_json(r, view);
	mine = json_string_value(json_object_get(view, "table_hash"));
	max = newest(view, &cur);
	ctl_replyf(r, "this host: %s, revision %lld, table %s%s\n",
		   json_string_value(json_object_get(view, "node")),
		   (long long)json_integer_value(json_object_get(view, "revision")), mine,
		   json_integer_value(json_object_get(view, "stale_since_ms"))
			   ? ", OUT OF TOUCH with the store"
			   : "");
	ctl_replyf(r, "%zu host%s in nodes/:\n", json_array_size(json_object_get(view, "nodes")),
		   json_array_size(json_object_get(view, "nodes")) == 1 ? "" : "s");
	json_array_foreach(json_object_get(view, "nodes"), i, n)
	{
		node_line(r, n, mine, cur, max);
	}
	json_decref(view);
	return 0;
}
