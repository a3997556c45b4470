// The prefetch helper is header-only (see include/CPrefetch.h); this file gives the target a source.
