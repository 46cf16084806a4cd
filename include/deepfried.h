/* deepfried: deep fried convnets (Adaptive Fastfood layers) trained
 * data-parallel over MPI. One include for the whole library. */
#ifndef DEEPFRIED_H
#define DEEPFRIED_H

#include "deepfried/checkpoint.h"
#include "deepfried/compress.h"
#include "deepfried/config.h"
#include "deepfried/data.h"
#include "deepfried/dist.h"
#include "deepfried/error.h"
#include "deepfried/fastfood.h"
#include "deepfried/fwht.h"
#include "deepfried/layers.h"
#include "deepfried/metrics.h"
#include "deepfried/model.h"
#include "deepfried/net.h"
#include "deepfried/rng.h"
#include "deepfried/solver.h"
#include "deepfried/svd.h"
#include "deepfried/train.h"

/* Exit statuses of the deepfried program (documented in --help). */
enum {
    DF_EXIT_OK = 0,
    DF_EXIT_FAILURE = 1,     /* I/O, MPI or numeric failure */
    DF_EXIT_BAD_INPUT = 2,   /* bad config, data, checkpoint or command line */
    DF_EXIT_REQUEUE = 75     /* checkpointed on a signal: requeue, --resume auto */
};

#endif
