/* Small helpers shared by both halves. */
#ifndef PODFS_UTIL_H
#define PODFS_UTIL_H

#include <stdint.h>

uint64_t mono_ms(void);		/* CLOCK_MONOTONIC in milliseconds */

#endif
