/* Everything MPI. The rest of deepfried sees ranks, a broadcast, a
 * bucketed gradient sum and an agreed vector of per-step statistics and
 * stop flags; no other file includes mpi.h. */
#ifndef DEEPFRIED_DIST_H
#define DEEPFRIED_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "deepfried/error.h"

typedef struct df_dist {
    int rank, size;         /* in the world communicator */
    int local_rank, local_size; /* on this node */
    int mpi;                /* 1: ranks talk over MPI; 0: a plain process */
    int initialized;        /* we called MPI_Init and must finalise */
    int agreed;             /* the last df_dist_agree returned a failure that
                               every rank holds (same status, same message) */
    char host[64];          /* this rank's host name, for messages */
} df_dist;

/* Under a launcher (mpirun, srun with PMIx/PMI): MPI_Init. Started as a
 * plain process: a world of one without MPI at all, so a single run needs
 * no MPI runtime (no daemon, no plugins), and every collective below is
 * the identity. */
int df_dist_init(df_dist *d, int *argc, char ***argv, df_error *err);
void df_dist_finalize(df_dist *d);
/* End every rank of the job now with this exit status (MPI_Abort): for a
 * failure the others could not be told of. A world of one: nothing. */
void df_dist_abort(df_dist *d, int status);

/* Every rank passes its local status (and err's message where it failed);
 * every rank returns the same: DF_OK if all succeeded, else the status of
 * the heaviest failure (bad input > run-time > stopped; the lowest rank
 * among equals) with err holding that rank's message, prefixed
 * "rank R (HOST): " unless every rank failed. Call it after every step
 * that can fail on one rank and before the next collective. One allreduce
 * of an int when all succeed. Sets d->agreed. */
int df_dist_agree(df_dist *d, int rc, df_error *err);
/* Rank 0's buffer to everyone. */
int df_dist_bcast_floats(df_dist *d, float *buf, size_t n, df_error *err);
int df_dist_bcast_bytes(df_dist *d, void *buf, size_t n, df_error *err);

/* Sum of doubles over ranks, in place (statistics and stop flags: a
 * flag any rank raises is > 0 on every rank afterwards). */
int df_dist_sum_doubles(df_dist *d, double *v, int n, df_error *err);
/* Compare v with rank 0's on every rank: *rank is the lowest rank whose
 * v differs from rank 0's (-1: all equal), *rank0_value rank 0's v and
 * *value that rank's. The same on every rank. */
int df_dist_first_differing(df_dist *d, uint64_t v, int *rank, uint64_t *rank0_value,
                            uint64_t *value, df_error *err);

/* Gradient summation in buckets of bucket_bytes, each started with a
 * non-blocking allreduce as soon as backward has finished it. */
typedef struct df_reducer df_reducer;

df_reducer *df_reducer_create(df_dist *d, float *grads, size_t n,
                              size_t bucket_bytes, int bf16, df_error *err);
void df_reducer_free(df_reducer *r);
/* A step begins: nothing sent yet. */
void df_reducer_begin(df_reducer *r);
/* grads[0, ready) are final: start every bucket that is now complete.
 * Matches df_grads_ready_fn. */
void df_reducer_ready(void *reducer, size_t ready);
/* Start what is left, wait for all; grads then hold the sum over ranks. */
int df_reducer_finish(df_reducer *r, df_error *err);
/* Bytes this rank sent into allreduces in the last step, and the seconds
 * finish spent waiting (communication backward did not hide). */
uint64_t df_reducer_bytes(const df_reducer *r);
double df_reducer_wait_seconds(const df_reducer *r);

#endif
