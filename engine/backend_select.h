/* backend_select.h: picks and opens the stores for the engine's options:
 * memory (tests), embedded SQLite (default), Redis queues, ClickHouse
 * event log and projection tables. */
#ifndef ES_BACKEND_SELECT_H
#define ES_BACKEND_SELECT_H

#include "engine.h"
#include "store.h"

/* Opens the stores `opt` asks for into `out`. 0, or -1 with a diag naming
 * the backend that failed (everything opened so far is closed again). */
int backends_open(const es_engine_options *opt, es_backends *out);

#endif
