/* SPDX-License-Identifier: GPL-2.0-only */
/* The status page (statuspage.html) as one NUL-terminated string in strgd: strg_status_page. */
	.section .rodata
	.global strg_status_page
	.type strg_status_page, @object
strg_status_page:
	.incbin "user/observe/statuspage.html"
	.byte 0
	.size strg_status_page, . - strg_status_page
	.section .note.GNU-stack, "", @progbits
