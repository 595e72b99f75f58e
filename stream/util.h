/* Small helpers shared by both halves. */
#ifndef PODFS_UTIL_H
#define PODFS_UTIL_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds, for every deadline, timer and age: the
 * one clock helper (stream/k8s.c). */
uint64_t mono_ms(void);

#endif
