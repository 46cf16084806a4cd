/* Counter-based RNG: a draw is df_mix64 of (key, counter), SplitMix64's
 * finaliser. Cheap, stateless, and the same on every rank. */
#include "deepfried/rng.h"

#include <math.h>

uint64_t df_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t df_rng_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    /* Chain the words through the mixer so (a,b) and (b,a) differ. */
    uint64_t k = df_mix64(seed ^ 0x6a09e667f3bcc909ULL);
    k = df_mix64(k ^ a);
    k = df_mix64(k ^ b);
    k = df_mix64(k ^ c);
    return df_mix64(k ^ d);
}

uint64_t df_rng_u64(uint64_t key, uint64_t counter)
{
    /* Two rounds: one round of a key-xor-counter is too regular across
     * neighbouring keys. */
    return df_mix64(df_mix64(key + counter * 0x9e3779b97f4a7c15ULL) ^ key);
}

float df_rng_uniform(uint64_t key, uint64_t counter)
{
    return (float)(df_rng_u64(key, counter) >> 40) * (1.0f / 16777216.0f);
}

double df_rng_normal(uint64_t key, uint64_t counter)
{
    /* 53-bit uniforms; u1 in (0, 1] so log() is finite. */
    double u1 = ((double)(df_rng_u64(key, 2 * counter) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(df_rng_u64(key, 2 * counter + 1) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t df_rng_below(uint64_t key, uint64_t *counter, uint64_t n)
{
    /* Rejection sampling over the largest multiple of n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t r = df_rng_u64(key, (*counter)++);
        if (r < limit)
            return r % n;
    }
}

uint64_t df_rng_next_u64(df_rng_stream *s)
{
    return df_rng_u64(s->key, s->counter++);
}

float df_rng_next_uniform(df_rng_stream *s)
{
    return df_rng_uniform(s->key, s->counter++);
}

double df_rng_next_normal(df_rng_stream *s)
{
    return df_rng_normal(s->key, s->counter++);
}

void df_rng_permutation(uint64_t key, int32_t *perm, int64_t n)
{
    uint64_t counter = 0;
    for (int64_t i = 0; i < n; i++)
        perm[i] = (int32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)df_rng_below(key, &counter, (uint64_t)i + 1);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
