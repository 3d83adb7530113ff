/* Values as the kubelet's and containerd's configurations and the command line write
 * them: Go durations, eviction thresholds (a share or a Kubernetes quantity) and link
 * speeds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bale/doctor.h"
#include "bale/text.h"

typedef struct unit {
	const char *name;
	double factor;
} unit;

/* The longest unit name that text starts with, or NULL. */
static const unit *find_unit(const unit *units, const char *text, size_t *len)
{
	const unit *best = NULL;
	*len = 0;
	for (const unit *u = units; u->name; u++) {
		size_t n = strlen(u->name);
		if ((!best || n > *len) && strncmp(text, u->name, n) == 0) {
			best = u;
			*len = n;
		}
	}
	return best;
}

static int bad(bale_error **err, const char *what, const char *text, const char *want)
{
	char quoted[BALE_TEXT_QUOTE_SIZE];
	bale_text_quote(quoted, sizeof(quoted), text);
	return bale_error_set(err, BALE_EUSAGE, "%s %s: want %s", what, quoted, want);
}

/* A non-negative decimal number at *text (strtod, but no hex, inf or nan). */
static bool read_number(const char **text, double *out)
{
	const char *p = *text;
	if (!((*p >= '0' && *p <= '9') || *p == '.'))
		return false;
	char *end = NULL;
	*out = strtod(p, &end);
	if (end == p || !isfinite(*out) || *out < 0)
		return false;
	for (const char *q = p; q < end; q++)
		if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
		      *q == '+' || *q == '-'))
			return false;
	*text = end;
	return true;
}

int bale_doctor_parse_duration(const char *text, double *seconds, bale_error **err)
{
	static const unit units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"ms", 1e-3},
	                             {"s", 1},     {"m", 60},    {"h", 3600},         {NULL, 0}};
	const char *p = text;
	double total = 0;
	if (strcmp(text, "0") == 0) {
		*seconds = 0;
		return 0;
	}
	if (!*p)
		return bad(err, "duration", text, "a Go duration such as 2m or 1m30s");
	while (*p) {
		double n;
		size_t len;
		const unit *u;
		if (!read_number(&p, &n) || !(u = find_unit(units, p, &len)))
			return bad(err, "duration", text, "a Go duration such as 2m or 1m30s");
		total += n * u->factor;
		p += len;
	}
	*seconds = total;
	return 0;
}

int bale_doctor_parse_threshold(const char *text, bale_doctor_threshold *out, bale_error **err)
{
	/* Kubernetes quantities: binary and decimal suffixes, and exponents (read by strtod) */
	static const unit units[] = {{"Ki", 1024.0},
	                             {"Mi", 1048576.0},
	                             {"Gi", 1073741824.0},
	                             {"Ti", 1099511627776.0},
	                             {"Pi", 1125899906842624.0},
	                             {"Ei", 1152921504606846976.0},
	                             {"m", 1e-3},
	                             {"k", 1e3},
	                             {"M", 1e6},
	                             {"G", 1e9},
	                             {"T", 1e12},
	                             {"P", 1e15},
	                             {"E", 1e18},
	                             {"", 1},
	                             {NULL, 0}};
	const char *p = text;
	double n;
	size_t len;
	const unit *u;
	if (!read_number(&p, &n))
		return bad(err, "eviction threshold", text, "a percentage or a quantity (10Gi)");
	if (strcmp(p, "%") == 0) {
		if (n > 100)
			return bad(err, "eviction threshold", text, "at most 100%");
		*out = (bale_doctor_threshold){.set = true, .percent = n, .bytes = -1};
		return 0;
	}
	if (!(u = find_unit(units, p, &len)) || p[len] || n * u->factor >= 9.2e18)
		return bad(err, "eviction threshold", text, "a percentage or a quantity (10Gi)");
	*out = (bale_doctor_threshold){.set = true, .bytes = (int64_t)(n * u->factor)};
	return 0;
}

int bale_doctor_parse_rate(const char *text, double *bytes_per_second, bale_error **err)
{
	static const unit units[] = {{"bit", 1.0 / 8},  {"kbit", 1e3 / 8},  {"Kbit", 1e3 / 8},
	                             {"Mbit", 1e6 / 8}, {"Gbit", 1e9 / 8},  {"Tbit", 1e12 / 8},
	                             {"B", 1},          {"kB", 1e3},        {"KB", 1e3},
	                             {"MB", 1e6},       {"GB", 1e9},        {"TB", 1e12},
	                             {"KiB", 1024.0},   {"MiB", 1048576.0}, {"GiB", 1073741824.0},
	                             {"bps", 1.0 / 8},  {"kbps", 1e3 / 8},  {"Kbps", 1e3 / 8},
	                             {"Mbps", 1e6 / 8}, {"Gbps", 1e9 / 8},  {NULL, 0}};
	static const char want[] = "a rate such as 100Mbit, 1Gbit or 50MB/s";
	const char *p = text;
	double n;
	size_t len;
	const unit *u;
	if (!read_number(&p, &n) || n <= 0 || !(u = find_unit(units, p, &len)))
		return bad(err, "--link-speed", text, want);
	p += len;
	if (strcmp(p, "/s") != 0 && strcmp(p, "ps") != 0 && *p)
		return bad(err, "--link-speed", text, want);
	*bytes_per_second = n * u->factor;
	return 0;
}
