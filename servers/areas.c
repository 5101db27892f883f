/* areas.c - the callers' data ICAs a server keeps between calls (areas.h). */
#include "areas.h"

/* Keep ica (or mark it used again if it is kept already). */
static void keep(struct areas *a, struct ant_conn *c, struct ant_ica *ica)
{
	for (unsigned i = 0; i < a->n; i++)
		if (a->v[i].ica == ica) {
			a->v[i].used = ++a->clock;
			return;
		}
	if (a->n == AREAS_MAX) {
		unsigned lru = 0;
		for (unsigned i = 1; i < a->n; i++)
			if (a->v[i].used < a->v[lru].used)
				lru = i;
		ant_ica_release(c, a->v[lru].ica);
		a->v[lru] = a->v[--a->n];
	}
	a->v[a->n].ica = ica;
	a->v[a->n++].used = ++a->clock;
}

struct ant_ica *areas_take(struct areas *a, struct ant_conn *c, struct ant_item *it)
{
	/* Out of the page: an answer without it (an error, the end of a file)
	 * then does not carry it back, and this server's hold stays. */
	struct ant_ica *given = ant_item_take_data(it);
	if (given && given->writable) {
		keep(a, c, given);
		return given;
	}
	ant_ica_release(c, given);   /* read-only, or none */
	return NULL;
}
