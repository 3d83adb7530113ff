/* A resolved image's memory: what the pull engine allocates for it, freed in one place. */
#include <stdlib.h>

#include "bale/image.h"

void bale_image_free(bale_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n_manifests; i++) {
		free(img->manifests[i].layers);
		free(img->manifests[i].positions);
		free(img->manifests[i].foreign);
		free(img->manifests[i].foreign_positions);
	}
	free(img->manifests);
	free(img->indexes);
	free(img->ref);
	free(img->domain);
	free(img->repository);
	free(img);
}
