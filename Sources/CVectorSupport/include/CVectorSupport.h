#ifndef PORTAL_VECTOR_SUPPORT_H
#define PORTAL_VECTOR_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Asks the CPU to bring the cache lines of `bytes` bytes at `address` towards L1 without
/// waiting for them. Swift has no prefetch intrinsic; this header-only inline compiles into
/// the caller as `prefetcht0` instructions.
static inline __attribute__((always_inline)) void portal_prefetch(const void *address, int bytes) {
    const char *p = (const char *)address;
    for (int offset = 0; offset < bytes; offset += 64) {
        __builtin_prefetch(p + offset, 0, 3);
    }
}

/// Maps `bytes` of zeroed memory starting on a 2 MiB boundary and asks the kernel to back it
/// with transparent huge pages where whole 2 MiB pages fit (the tail stays on 4 KiB pages, so
/// at most one small page is wasted). Graph search reads vectors at random addresses; with
/// huge pages most of those reads no longer miss the TLB. Returns NULL when mapping fails.
void *portal_map_nodes(size_t bytes);

/// Unmaps memory from `portal_map_nodes` with the same `bytes`.
void portal_unmap_nodes(void *address, size_t bytes);

/// Integer inner products `Σ query[i] * codes[i]` of an int16 query with four int8 code
/// vectors of `count` entries (a multiple of 16), written to `out`: AVX2 sign-extends sixteen
/// codes to int16 and multiply-adds pairs into int32 lanes (`vpmaddwd`), one pass over the
/// query feeding four memory streams. Exact integer arithmetic: the caller keeps
/// `max |query| * 127 * count` below 2^31.
void portal_dot_codes4(const int16_t *query, const int8_t *codes0, const int8_t *codes1,
                       const int8_t *codes2, const int8_t *codes3, size_t count, int32_t *out);

/// `portal_dot_codes4` for one code vector.
int32_t portal_dot_codes(const int16_t *query, const int8_t *codes, size_t count);

/// The largest magnitude among the finite values (0 when there is none). AVX2.
float portal_largest_magnitude(const float *values, size_t count);

/// Int8 codes of `count` values: each divided by `scale`, a NaN or infinite quotient coded 0,
/// clamped to ±127 and rounded to the nearest integer, ties to even; zeros up to `stride`,
/// which must be a multiple of 16 and at least `count`. AVX2.
void portal_encode_int8(const float *values, size_t count, float scale, int8_t *codes, size_t stride);

/// `portal_encode_int8` into int16 codes clamped to ±`maximum` (at most 32767).
void portal_encode_int16(const float *values, size_t count, float scale, float maximum, int16_t *codes, size_t stride);

#endif
