#include "bale/log.h"

#include <stdarg.h>
#include <stdio.h>

void bale_log_printf(const bale_log *log, bale_log_level level, const char *fmt, ...)
{
	if (!log || !log->message || level > log->level)
		return;
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log->message(log->payload, level, text);
}
