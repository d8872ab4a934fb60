/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the targets of tests/fuzz share: reading the input as numbers, and
 * check(), which aborts (libFuzzer keeps the input) after naming the
 * promise that broke.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define check(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* The input, consumed from the front; past its end every byte reads 0. */
struct in {
	const uint8_t *p;
	size_t n;
};

/* The next `bytes` bytes (at most 8) as a little-endian number. */
static inline uint64_t
take(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++) {
		v |= (uint64_t) (in->n > 0 ? *in->p : 0) << (8 * i);
		if (in->n > 0) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

#endif
