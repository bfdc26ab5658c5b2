/* replay_writer.c: the replay's write-behind thread (see replay_writer.h).
 * One slot: the caller waits for the unit in progress before handing over
 * the next, so at most one page is written while one is folded. The
 * thread's diag is copied out (diag is thread-local) for the caller. */
#include "replay_writer.h"
#include "diag.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct replay_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    replay_unit_fn run;
    replay_unit_free_fn free_unit;
    void *ud;
    void *unit;         /* handed over, not yet finished */
    int quit;
    int failed;         /* a unit failed: code and message below */
    diag_code code;
    char message[1024];
};

static void *writer_main(void *arg)
{
    replay_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->unit && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->unit) break;
        void *unit = w->unit;
        int skip = w->failed;
        pthread_mutex_unlock(&w->mu);
        int rc = skip ? 0 : w->run(w->ud, unit);
        w->free_unit(unit);
        pthread_mutex_lock(&w->mu);
        if (rc != 0) {
            w->failed = 1;
            w->code = diag_code_get();
            snprintf(w->message, sizeof w->message, "%s", diag_message());
        }
        w->unit = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

replay_writer *replay_writer_new(replay_unit_fn run, replay_unit_free_fn free_unit, void *ud)
{
    replay_writer *w = calloc(1, sizeof *w);
    if (!w) {
        diag_set(DIAG_INTERNAL, "out of memory");
        return NULL;
    }
    w->run = run;
    w->free_unit = free_unit;
    w->ud = ud;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        diag_set(DIAG_INTERNAL, "cannot start the replay writer thread");
        return NULL;
    }
    return w;
}

/* Waits (w->mu held) until no unit is in progress; 0 or -1 with its diag. */
static int wait_idle(replay_writer *w)
{
    while (w->unit) pthread_cond_wait(&w->cv, &w->mu);
    if (!w->failed) return 0;
    diag_set(w->code, "%s", w->message);
    return -1;
}

int replay_writer_submit(replay_writer *w, void *unit)
{
    pthread_mutex_lock(&w->mu);
    int rc = wait_idle(w);
    if (rc == 0) {
        w->unit = unit;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc != 0) w->free_unit(unit);
    return rc;
}

int replay_writer_drain(replay_writer *w)
{
    pthread_mutex_lock(&w->mu);
    int rc = wait_idle(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void replay_writer_free(replay_writer *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
