/* Counter-based random numbers: every draw is a pure function of a key and a
 * counter, so the same (seed, purpose, index) gives the same number on any
 * rank, in any order, after any resume. There is no hidden global state. */
#ifndef DEEPFRIED_RNG_H
#define DEEPFRIED_RNG_H

#include <stdint.h>

/* What a key is for; mixed into every key so streams never collide. */
enum df_rng_purpose {
    DF_RNG_INIT = 1,     /* parameter initialisation: (seed, layer, tensor) */
    DF_RNG_SHUFFLE = 2,  /* epoch order: (seed, epoch) */
    DF_RNG_DROPOUT = 3   /* dropout masks: (seed, step, sample, layer, point) */
};

/* SplitMix64 finaliser: a bijective 64-bit mixer. */
uint64_t df_mix64(uint64_t x);

/* A key derived from up to four 64-bit words (unused words 0). */
uint64_t df_rng_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* The counter-th 64-bit draw of stream key. */
uint64_t df_rng_u64(uint64_t key, uint64_t counter);

/* Uniform in [0, 1) with 24 bits (exactly representable as float). */
float df_rng_uniform(uint64_t key, uint64_t counter);

/* Standard normal (Box-Muller on draws 2*counter and 2*counter+1). */
double df_rng_normal(uint64_t key, uint64_t counter);

/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t df_rng_below(uint64_t key, uint64_t *counter, uint64_t n);

/* A sequential stream over one key, for code that draws many numbers. */
typedef struct df_rng_stream {
    uint64_t key;
    uint64_t counter;
} df_rng_stream;

static inline df_rng_stream df_rng_stream_make(uint64_t key)
{
    df_rng_stream s = {key, 0};
    return s;
}
uint64_t df_rng_next_u64(df_rng_stream *s);
float df_rng_next_uniform(df_rng_stream *s);
double df_rng_next_normal(df_rng_stream *s);

/* Fisher-Yates permutation of [0, n) drawn from key. */
void df_rng_permutation(uint64_t key, int32_t *perm, int64_t n);

#endif
