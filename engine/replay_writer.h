/* replay_writer.h: a one-deep write-behind for the replay: each page's unit
 * of work (shadow rows and checkpoint) runs on a thread of its own while
 * the caller folds the next page. Units run one at a time, in submission
 * order; a failure is reported by the next call (submit or drain) with its
 * diag, and later units are dropped unrun. */
#ifndef ES_REPLAY_WRITER_H
#define ES_REPLAY_WRITER_H

typedef struct replay_writer replay_writer;

/* Runs one unit on the writer thread: 0, or -1 with a diag. */
typedef int (*replay_unit_fn)(void *ud, void *unit);
/* Frees a unit, run or not. */
typedef void (*replay_unit_free_fn)(void *unit);

/* Starts the thread. NULL with a diag on failure. */
replay_writer *replay_writer_new(replay_unit_fn run, replay_unit_free_fn free_unit, void *ud);

/* Waits for the unit in progress, then hands `unit` (always taken) to the
 * thread. 0, or -1 with the diag of the unit that failed (then `unit` is
 * freed unrun). */
int replay_writer_submit(replay_writer *w, void *unit);

/* Waits until every unit submitted has run. 0, or -1 with the diag of the
 * one that failed. */
int replay_writer_drain(replay_writer *w);

/* Drains (a failure is dropped), stops the thread and frees. NULL is a
 * no-op. */
void replay_writer_free(replay_writer *w);

#endif
