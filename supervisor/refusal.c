/* refusal.c - the control protocol's answer when antd will not do what was asked: one shape for every command. */
#include <stdarg.h>
#include <stdio.h>

#include "refusal.h"

json_t *refusal(int usage, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s, s:s, s:b}", "ok", 0, "outcome", "refused", "error", text,
			 "usage", usage);
}
