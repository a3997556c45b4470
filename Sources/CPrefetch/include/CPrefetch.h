#ifndef PORTAL_PREFETCH_H
#define PORTAL_PREFETCH_H

/// Asks the CPU to bring the cache lines of `bytes` bytes at `address` towards L1 without
/// waiting for them. Swift has no prefetch intrinsic; this header-only inline compiles into
/// the caller as `prefetcht0` instructions.
static inline __attribute__((always_inline)) void portal_prefetch(const void *address, int bytes) {
    const char *p = (const char *)address;
    for (int offset = 0; offset < bytes; offset += 64) {
        __builtin_prefetch(p + offset, 0, 3);
    }
}

#endif
