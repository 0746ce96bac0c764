// SPDX-License-Identifier: GPL-2.0-only
/* A control command's reply (ctlreply.h): text, JSON, errors, on the growing reply buffer. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "control/ctlreply.h"

void ctl_replyf(struct ctl_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_vprintf(&r->text, fmt, ap);
	va_end(ap);
}

int ctl_fail(struct ctl_reply *r, const char *fmt, ...)
{
	va_list ap;

	r->text.len = 0;
	ctl_replyf(r, "error: ");
	va_start(ap, fmt);
	reply_vprintf(&r->text, fmt, ap);
	va_end(ap);
	ctl_replyf(r, "\n");
	return -EINVAL;
}

void ctl_reply_error(struct ctl_reply *r, const char *msg)
{
	reply_error(&r->text, msg);
}

void ctl_reply_free(struct ctl_reply *r)
{
	reply_free(&r->text);
	memset(r, 0, sizeof(*r));
}

int ctl_reply_json(struct ctl_reply *r, json_t *doc)
{
	char *text = doc ? json_dumps(doc, REPLY_JSON_FLAGS) : NULL;

	json_decref(doc);
	if (!text)
		return ctl_fail(r, "out of memory for the JSON reply");
	ctl_replyf(r, "%s\n", text);
	free(text);
	return 0;
}
