/* A bundle's index, opened for the lookups of the preflight and of the pinning run. */
#include "k8s/k8s_private.h"

#include "bale/index_db.h"

int k8s_open_index(bale_bundle_reader **reader, sqlite3 **db, const char *path, bale_error **err)
{
	const bale_bundle_head *head = NULL;
	int rc = bale_bundle_open(reader, path, err);
	if (rc == 0 && (rc = bale_bundle_read_head(*reader, &head, err)) == 0 &&
	    (rc = bale_bundle_read_index(*reader, &head, err)) == 0)
		rc = bale_index_db_open_bytes(db, head->index_db, head->index_db_len, err);
	return rc < 0 ? bale_error_wrap(err, "%s", path) : 0;
}
