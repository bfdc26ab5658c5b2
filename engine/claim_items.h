/* claim_items.h: the items a claimed batch carries, in order: the events
 * of fold and map jobs (one or several per job) and the commands of command
 * jobs (one, or several for a batched send), each with the claim index of
 * its job, so that a failed item fails its job. */
#ifndef ES_CLAIM_ITEMS_H
#define ES_CLAIM_ITEMS_H

#include <stddef.h>

#include "event.h"
#include "store.h"

/* Decodes the events of every job of a fold or map claim, in order, into
 * one malloc'd array (*events, *n; event_array_free), with the claim index
 * of each event's job in (*job_of)[i] (malloc'd). 0, or -1 with a diag and
 * nothing allocated. */
int claim_events(const es_claim *c, es_event **events, size_t **job_of, size_t *n);

/* The commands of a claim, in order: each job holds one (its payload is the
 * command JSON) or several (a batched send: codec_strings_encode). */
typedef struct claim_commands {
    char **json;    /* json[i] points into its job's payload, or is owned */
    char *owned;    /* owned[i]: json[i] was decoded (freed with the list) */
    size_t *job_of; /* claim index of the job of command i */
    size_t n;
} claim_commands;

/* Lists the commands of claim c into *l (claim_commands_free). 0, or -1
 * with a diag. */
int claim_commands_list(const es_claim *c, claim_commands *l);
void claim_commands_free(claim_commands *l);

/* Sets job->skip_payload (es_job) when the command job holds several
 * commands: its payload without command `item` (0-based in the job), the
 * one that failed. Leaves it NULL for a job of one command. 0, or -1 with
 * a diag. */
int claim_skip_command(es_job *job, size_t item);

/* The same for a fold or map job: its payload without the event whose id
 * is event_id. 0, or -1 with a diag. */
int claim_skip_event(es_job *job, const char *event_id);

#endif
