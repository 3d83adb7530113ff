#include <string.h>

#include "bale/store.h"

int bale_store_open(bale_sink **out, const char *spec, bale_error **err)
{
	if (strncmp(spec, "oci:", 4) == 0 && spec[4])
		return bale_store_oci_open(out, spec + 4, BALE_STORE_STAGED, err);
	if (strncmp(spec, "containerd", 10) == 0 || strncmp(spec, "registry://", 11) == 0)
		return bale_error_set(err, BALE_EUSAGE,
		                      "store \"%s\": only oci:DIR stores are available in this "
		                      "version",
		                      spec);
	return bale_error_set(err, BALE_EUSAGE, "unknown store \"%s\" (want oci:DIR)", spec);
}
