/* The one clock: what progress lines, profiles and waits are timed with. */
#ifndef DEEPFRIED_CLOCK_H
#define DEEPFRIED_CLOCK_H

/* Monotonic wall clock in seconds (never steps with the date). */
double df_clock_seconds(void);

#endif
