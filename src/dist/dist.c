/* The only file that calls MPI. */
#include "deepfried/dist.h"
#include "deepfried/clock.h"

#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* An MPI call failed: the communicator may be unusable, so later
 * agreements do not try it again (df_dist_agree then leaves the failure
 * unagreed and the CLI aborts the job). */
static int comm_broken;

static int mpi_fail(df_error *err, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    comm_broken = 1;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error code %d", rc);
    return df_fail(err, DF_ESYS, "MPI %s failed: %s", what, msg);
}

/* Set by the launchers we know: Open MPI's mpirun, PMIx and PMI (srun,
 * MPICH's hydra). */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE", "MPI_LOCALNRANKS", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

static void host_name(df_dist *d)
{
    if (gethostname(d->host, sizeof d->host) != 0)
        snprintf(d->host, sizeof d->host, "unknown host");
    d->host[sizeof d->host - 1] = '\0';
}

static int mpi_setup(df_dist *d, int *argc, char ***argv, df_error *err)
{
    int already = 0, rc = MPI_Initialized(&already);
    if (rc != MPI_SUCCESS)
        return df_fail(err, DF_ESYS, "MPI_Initialized failed (code %d)", rc);
    if (!already) {
        /* the layers run OpenMP threads beside MPI; only the main thread
         * calls MPI */
        int provided = MPI_THREAD_SINGLE;
        rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS)
            return df_fail(err, DF_ESYS, "MPI_Init_thread failed (code %d)", rc);
        d->initialized = 1;
        if (provided < MPI_THREAD_FUNNELED)
            return df_fail(err, DF_ESYS,
                           "this MPI provides thread level %d, below MPI_THREAD_FUNNELED: "
                           "deepfried runs OpenMP threads beside MPI (rebuild MPI with "
                           "thread support)", provided);
    }
    /* errors come back as codes, so we can say what failed */
    if ((rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "Comm_set_errhandler");
    if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, &d->rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(MPI_COMM_WORLD, &d->size)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "Comm_rank/Comm_size");
    MPI_Comm node;
    rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                             &node);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "Comm_split_type (ranks per node)");
    if ((rc = MPI_Comm_rank(node, &d->local_rank)) == MPI_SUCCESS)
        rc = MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);
    return rc == MPI_SUCCESS ? DF_OK : mpi_fail(err, rc, "Comm_rank/Comm_size (node)");
}

int df_dist_init(df_dist *d, int *argc, char ***argv, df_error *err)
{
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
    host_name(d);
    if (!launched_by_mpi()) {
        /* srun without an MPI plugin we know (--mpi=none): N tasks, each
         * would train alone as a world of one */
        const char *tasks = getenv("SLURM_STEP_NUM_TASKS");
        long n = tasks ? strtol(tasks, NULL, 10) : 1;
        if (n > 1)
            return df_fail(err, DF_EINPUT,
                           "srun started %ld tasks, but not through an MPI plugin deepfried "
                           "recognises (none of OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK is "
                           "set): each would train alone in the same run directory. Use "
                           "srun --mpi=pmix (srun --mpi=list shows the plugins), or mpirun",
                           n);
        return DF_OK;
    }
    d->mpi = 1;
    return mpi_setup(d, argc, argv, err);
}

void df_dist_finalize(df_dist *d)
{
    if (d->initialized) {
        MPI_Finalize();
        d->initialized = 0;
    }
}

void df_dist_abort(df_dist *d, int status)
{
    if (d->mpi && d->size > 1)
        MPI_Abort(MPI_COMM_WORLD, status);
}

/* How much a failure weighs when several ranks fail at once: bad input
 * (the user's to fix) before a run-time failure before a signal stop. */
static int failure_weight(int rc)
{
    switch (rc) {
    case DF_OK:
        return 0;
    case DF_ESTOPPED:
        return 1;
    case DF_EINPUT:
    case DF_EMISMATCH:
        return 3;
    default:
        return 2;
    }
}

/* What the failing rank tells the others. */
typedef struct failure_note {
    int code;
    int n_failed;
    char host[sizeof ((df_dist *)0)->host];
    char msg[sizeof ((df_error *)0)->msg];
} failure_note;

int df_dist_agree(df_dist *d, int rc, df_error *err)
{
    d->agreed = 0;
    if (rc != DF_OK && err && err->code == DF_OK)
        err->code = rc;
    if (!d->mpi || d->size == 1) {
        d->agreed = rc != DF_OK;
        return rc;
    }
    if (comm_broken)
        return rc != DF_OK ? rc : df_fail(err, DF_ESYS, "MPI failed earlier on this rank");
    /* healthy path: one allreduce of one int */
    int n_failed = rc != DF_OK;
    int mrc = MPI_Allreduce(MPI_IN_PLACE, &n_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        df_error local = *err;
        mpi_fail(err, mrc, "agreement on failures");
        if (rc != DF_OK)
            *err = local;
        return rc != DF_OK ? rc : DF_ESYS;
    }
    if (n_failed == 0)
        return DF_OK;
    /* the heaviest failure, the lowest rank among equals, tells everyone */
    struct { int weight, rank; } who = {failure_weight(rc), d->rank};
    mrc = MPI_Allreduce(MPI_IN_PLACE, &who, 1, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD);
    failure_note *note = calloc(1, sizeof *note);
    if (mrc == MPI_SUCCESS && note && who.rank == d->rank) {
        note->code = rc;
        note->n_failed = n_failed;
        snprintf(note->host, sizeof note->host, "%s", d->host);
        snprintf(note->msg, sizeof note->msg, "%s", err->msg);
    }
    failure_note spare;   /* out of memory: still join the broadcast */
    failure_note *buf = note ? note : &spare;
    if (mrc == MPI_SUCCESS)
        mrc = MPI_Bcast(buf, (int)sizeof *buf, MPI_BYTE, who.rank, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS || !note) {
        free(note);
        if (mrc != MPI_SUCCESS)
            return rc != DF_OK ? rc : mpi_fail(err, mrc, "broadcast of a failure");
        return rc != DF_OK ? rc : df_fail(err, DF_ENOMEM, "out of memory agreeing on a failure");
    }
    int code = note->code != DF_OK ? note->code : DF_ESYS;
    if (note->n_failed == d->size)   /* every rank knows the cause */
        df_fail(err, code, "%s", note->msg);
    else
        df_fail(err, code, "rank %d (%s): %s", who.rank, note->host, note->msg);
    free(note);
    d->agreed = 1;
    return code;
}

int df_dist_bcast_bytes(df_dist *d, void *buf, size_t n, df_error *err)
{
    if (!d->mpi)
        return DF_OK;
    unsigned char *p = buf;
    /* MPI counts are int: send in pieces below 1 GiB */
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int rc = MPI_Bcast(p, chunk, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "broadcast");
        p += chunk;
        n -= (size_t)chunk;
    }
    return DF_OK;
}

int df_dist_bcast_floats(df_dist *d, float *buf, size_t n, df_error *err)
{
    return df_dist_bcast_bytes(d, buf, n * sizeof(float), err);
}

int df_dist_sum_doubles(df_dist *d, double *v, int n, df_error *err)
{
    if (!d->mpi)
        return DF_OK;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? DF_OK : mpi_fail(err, rc, "allreduce of step statistics");
}

int df_dist_first_differing(df_dist *d, uint64_t v, int *rank, uint64_t *rank0_value,
                            uint64_t *value, df_error *err)
{
    *rank = -1;
    *rank0_value = *value = v;
    if (!d->mpi || d->size == 1)
        return DF_OK;
    uint64_t ref = v;
    int rc = MPI_Bcast(&ref, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "broadcast of the parameter checksum");
    struct { int differs, rank; } who = {ref != v, d->rank};
    /* MINLOC over (0 = differs, 1 = same): the lowest differing rank */
    who.differs = ref != v ? 0 : 1;
    rc = MPI_Allreduce(MPI_IN_PLACE, &who, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "allreduce of the parameter checksums");
    *rank0_value = ref;
    if (who.differs == 0) {
        *rank = who.rank;
        uint64_t theirs = v;
        rc = MPI_Bcast(&theirs, 1, MPI_UINT64_T, who.rank, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "broadcast of the parameter checksum");
        *value = theirs;
    }
    return DF_OK;
}

/* ---- bucketed gradient allreduce ---- */

/* bfloat16: the top half of a float32, rounded to nearest even. Sending
 * gradients in 16 bits halves the bytes; the sums are float32 (below). */
static uint16_t float_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u)          /* Inf/NaN: keep, quiet NaN */
        return (uint16_t)((u >> 16) | ((u & 0xffffu) ? 0x40u : 0u));
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* bf16 on the wire, float32 sums: each bucket is cut into P pieces; an
 * alltoall gives rank p the p-th piece of every rank, rank p adds those P
 * bf16 values in float32 (in rank order, so the bits do not depend on
 * timing) and rounds the sum to bf16 once, and an allgather returns every
 * summed piece to every rank. Each rank sends 2 (P-1)/P of the bucket's
 * bf16 bytes, what a ring allreduce sends; no partial sum is ever rounded
 * to bf16 (an allreduce with a bf16 operator would round at every step of
 * its reduction tree or ring: P-1 times on a ring). docs/data-parallel.md. */

struct df_reducer {
    int mpi;                /* 0: a world of one, nothing to send */
    int size, rank;
    float *grads;
    size_t n;
    size_t bucket;          /* floats per bucket */
    size_t started;         /* grads[0, started) are in flight */
    int n_buckets, n_req;
    MPI_Request *req;       /* per bucket: the allreduce, or the bf16 alltoall */
    MPI_Request *req2;      /* per bucket: the bf16 allgather */
    size_t *first, *count;  /* per bucket: its range of grads */
    uint64_t bytes;
    double wait_seconds;
    int error;              /* first MPI error code of the step */
    int bf16;
    size_t slot;            /* bf16: elements per bucket in stage and pieces */
    uint16_t *stage;        /* bf16: what this rank sends, then the summed bucket */
    uint16_t *pieces;       /* bf16: the P pieces of this rank's share */
};

df_reducer *df_reducer_create(df_dist *d, float *grads, size_t n,
                              size_t bucket_bytes, int bf16, df_error *err)
{
    if (n > INT32_MAX) {
        df_fail(err, DF_EINPUT, "%zu gradients exceed MPI's int count", n);
        return NULL;
    }
    df_reducer *r = df_calloc(1, sizeof *r, err);
    if (!r)
        return NULL;
    r->mpi = d->mpi;
    r->size = d->size > 0 ? d->size : 1;
    r->rank = d->rank;
    r->grads = grads;
    r->n = n;
    r->bf16 = bf16;
    /* a bucket holds bucket_bytes on the wire */
    r->bucket = bucket_bytes / (bf16 ? sizeof(uint16_t) : sizeof(float));
    if (r->bucket < 1)
        r->bucket = 1;
    if (r->bucket > INT32_MAX / 2)
        r->bucket = INT32_MAX / 2;
    r->n_buckets = (int)((n + r->bucket - 1) / r->bucket) + 1;
    size_t nb = (size_t)r->n_buckets;
    r->req = df_calloc(nb, sizeof(MPI_Request), err);
    r->req2 = r->req ? df_calloc(nb, sizeof(MPI_Request), err) : NULL;
    r->first = r->req2 ? df_calloc(nb, sizeof(size_t), err) : NULL;
    r->count = r->first ? df_calloc(nb, sizeof(size_t), err) : NULL;
    int ok = r->count != NULL;
    if (ok && bf16) {
        size_t P = (size_t)r->size, piece = (r->bucket + P - 1) / P, total;
        r->slot = piece * P;
        ok = df_mul_size(nb, r->slot, &total) == 0;
        if (!ok)
            df_fail(err, DF_ENOMEM, "bf16 buffers for %zu gradients on %d ranks overflow", n,
                    r->size);
        r->stage = ok ? df_calloc(total, sizeof(uint16_t), err) : NULL;
        r->pieces = r->stage ? df_calloc(total, sizeof(uint16_t), err) : NULL;
        ok = r->pieces != NULL;
    }
    if (!ok) {
        df_reducer_free(r);
        return NULL;
    }
    return r;
}

void df_reducer_free(df_reducer *r)
{
    if (!r)
        return;
    free(r->stage);
    free(r->pieces);
    free(r->first);
    free(r->count);
    free(r->req2);
    free(r->req);
    free(r);
}

void df_reducer_begin(df_reducer *r)
{
    r->started = 0;
    r->n_req = 0;
    r->bytes = 0;
    r->wait_seconds = 0.0;
    r->error = MPI_SUCCESS;
}

static size_t piece_of(const df_reducer *r, size_t count)
{
    return (count + (size_t)r->size - 1) / (size_t)r->size;
}

/* The payload is counted even in a world of one, so the figure printed
 * is the per-rank gradient volume the model needs at any rank count. */
static void start_range(df_reducer *r, size_t end)
{
    size_t first = r->started, count = end - first;
    int b = r->n_req++, rc = MPI_SUCCESS;
    r->first[b] = first;
    r->count[b] = count;
    if (r->bf16) {
        uint16_t *stage = r->stage + (size_t)b * r->slot;
        size_t piece = piece_of(r, count);
        for (size_t i = 0; i < count; i++)
            stage[i] = float_to_bf16(r->grads[first + i]);
        for (size_t i = count; i < piece * (size_t)r->size; i++)
            stage[i] = 0;
        if (r->mpi)
            rc = MPI_Ialltoall(stage, (int)piece, MPI_UINT16_T, r->pieces + (size_t)b * r->slot,
                               (int)piece, MPI_UINT16_T, MPI_COMM_WORLD, &r->req[b]);
        r->bytes += count * sizeof(uint16_t);
    } else {
        if (r->mpi)
            rc = MPI_Iallreduce(MPI_IN_PLACE, r->grads + first, (int)count, MPI_FLOAT,
                                MPI_SUM, MPI_COMM_WORLD, &r->req[b]);
        r->bytes += count * sizeof(float);
    }
    if (rc != MPI_SUCCESS && r->error == MPI_SUCCESS)
        r->error = rc;
    r->started = end;
}

void df_reducer_ready(void *reducer, size_t ready)
{
    df_reducer *r = reducer;
    while (ready - r->started >= r->bucket && ready > r->started)
        start_range(r, r->started + r->bucket);
    /* Give MPI a chance to progress what is in flight. */
    if (r->mpi && r->n_req > 0) {
        int flag;
        int rc = MPI_Testall(r->n_req, r->req, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS && r->error == MPI_SUCCESS)
            r->error = rc;
    }
}

/* bf16, after the alltoalls: sum this rank's share of every bucket in
 * float32, round once, and gather the summed pieces from every rank. */
static int sum_and_gather(df_reducer *r)
{
    const size_t P = (size_t)r->size;
    for (int b = 0; b < r->n_req; b++) {
        uint16_t *pieces = r->pieces + (size_t)b * r->slot;
        size_t piece = piece_of(r, r->count[b]);
        /* pieces[i] is read (p = 0) before it is overwritten by the sum */
        for (size_t i = 0; i < piece; i++) {
            float acc = 0.0f;
            for (size_t p = 0; p < P; p++)
                acc += bf16_to_float(pieces[p * piece + i]);
            pieces[i] = float_to_bf16(acc);
        }
        int rc = MPI_Iallgather(pieces, (int)piece, MPI_UINT16_T, r->stage + (size_t)b * r->slot,
                                (int)piece, MPI_UINT16_T, MPI_COMM_WORLD, &r->req2[b]);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    return MPI_Waitall(r->n_req, r->req2, MPI_STATUSES_IGNORE);
}

int df_reducer_finish(df_reducer *r, df_error *err)
{
    if (r->started < r->n)
        start_range(r, r->n);
    double t0 = df_clock_seconds();
    int rc = r->mpi ? MPI_Waitall(r->n_req, r->req, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    if (r->error != MPI_SUCCESS)
        return mpi_fail(err, r->error, "gradient allreduce");
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "gradient allreduce");
    if (r->bf16 && r->mpi && (rc = sum_and_gather(r)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "bf16 gradient sum (allgather)");
    r->wait_seconds = df_clock_seconds() - t0;
    if (r->bf16)
        for (int b = 0; b < r->n_req; b++) {
            const uint16_t *sum = r->stage + (size_t)b * r->slot;
            for (size_t i = 0; i < r->count[b]; i++)
                r->grads[r->first[b] + i] = bf16_to_float(sum[i]);
        }
    return DF_OK;
}

uint64_t df_reducer_bytes(const df_reducer *r)
{
    return r->bytes;
}

double df_reducer_wait_seconds(const df_reducer *r)
{
    return r->wait_seconds;
}
