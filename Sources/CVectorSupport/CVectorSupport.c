#include "CVectorSupport.h"

#include <float.h>
#include <immintrin.h>
#include <stdint.h>
#include <sys/mman.h>

static const size_t hugePage = (size_t)2 << 20;
static const size_t smallPage = (size_t)4 << 10;

static size_t mappedLength(size_t bytes) {
    return (bytes + smallPage - 1) & ~(smallPage - 1);
}

void *portal_map_nodes(size_t bytes) {
    size_t length = mappedLength(bytes);
    // Map one huge page more than needed, then trim the head and tail around the aligned part.
    char *raw = mmap(NULL, length + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    char *aligned = (char *)(((uintptr_t)raw + hugePage - 1) & ~(uintptr_t)(hugePage - 1));
    size_t head = (size_t)(aligned - raw);
    if (head > 0) munmap(raw, head);
    size_t tail = hugePage - head;
    if (tail > 0) munmap(aligned + length, tail);
    // Advice only: without transparent huge pages the memory works the same on small pages.
    (void)madvise(aligned, length, MADV_HUGEPAGE);
    return aligned;
}

void portal_unmap_nodes(void *address, size_t bytes) {
    munmap(address, mappedLength(bytes));
}

static inline __attribute__((always_inline, target("avx2"))) int32_t sumLanes(__m256i lanes) {
    __m128i half = _mm_add_epi32(_mm256_castsi256_si128(lanes), _mm256_extracti128_si256(lanes, 1));
    half = _mm_add_epi32(half, _mm_shuffle_epi32(half, _MM_SHUFFLE(1, 0, 3, 2)));
    half = _mm_add_epi32(half, _mm_shuffle_epi32(half, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(half);
}

static inline __attribute__((always_inline, target("avx2"))) __m256i widened(const int8_t *codes, size_t offset) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(codes + offset)));
}

__attribute__((target("avx2")))
void portal_dot_codes4(const int16_t *query, const int8_t *codes0, const int8_t *codes1,
                       const int8_t *codes2, const int8_t *codes3, size_t count, int32_t *out) {
    __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
    __m256i sum2 = _mm256_setzero_si256(), sum3 = _mm256_setzero_si256();
    for (size_t i = 0; i < count; i += 16) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(query + i));
        sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(q, widened(codes0, i)));
        sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(q, widened(codes1, i)));
        sum2 = _mm256_add_epi32(sum2, _mm256_madd_epi16(q, widened(codes2, i)));
        sum3 = _mm256_add_epi32(sum3, _mm256_madd_epi16(q, widened(codes3, i)));
    }
    out[0] = sumLanes(sum0);
    out[1] = sumLanes(sum1);
    out[2] = sumLanes(sum2);
    out[3] = sumLanes(sum3);
}

__attribute__((target("avx2")))
int32_t portal_dot_codes(const int16_t *query, const int8_t *codes, size_t count) {
    __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(query + i)), widened(codes, i)));
        sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(query + i + 16)), widened(codes, i + 16)));
    }
    if (i < count) {
        sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(query + i)), widened(codes, i)));
    }
    return sumLanes(_mm256_add_epi32(sum0, sum1));
}

__attribute__((target("avx2")))
float portal_largest_magnitude(const float *values, size_t count) {
    const __m256 sign = _mm256_set1_ps(-0.0f), finiteLimit = _mm256_set1_ps(FLT_MAX);
    __m256 largest = _mm256_setzero_ps();
    size_t index = 0;
    for (; index + 8 <= count; index += 8) {
        __m256 magnitude = _mm256_andnot_ps(sign, _mm256_loadu_ps(values + index));
        // The ordered compare is false for NaN and infinity: those lanes count as 0.
        largest = _mm256_max_ps(largest, _mm256_and_ps(magnitude, _mm256_cmp_ps(magnitude, finiteLimit, _CMP_LE_OQ)));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, largest);
    float result = 0;
    for (int lane = 0; lane < 8; lane++) result = lanes[lane] > result ? lanes[lane] : result;
    for (; index < count; index++) {
        float magnitude = values[index] < 0 ? -values[index] : values[index];
        if (magnitude <= FLT_MAX && magnitude > result) result = magnitude;
    }
    return result;
}

/// Codes of eight values: divided by `scale`, NaN and infinite quotients 0, clamped to
/// ±`bound`, rounded to the nearest integer with ties to even.
static inline __attribute__((always_inline, target("avx2"))) __m256i codes8(__m256 values, __m256 scale, __m256 bound) {
    __m256 quotient = _mm256_div_ps(values, scale);
    __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), quotient);
    quotient = _mm256_and_ps(quotient, _mm256_cmp_ps(magnitude, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ));
    quotient = _mm256_min_ps(_mm256_max_ps(quotient, _mm256_sub_ps(_mm256_setzero_ps(), bound)), bound);
    return _mm256_cvtps_epi32(_mm256_round_ps(quotient, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/// Sixteen codes from `values[index...]` (zero past `count`) as int16, in order.
static inline __attribute__((always_inline, target("avx2"))) __m256i codes16(const float *values, size_t count, size_t index, __m256 scale, __m256 bound) {
    float tail[16] = {0};
    const float *source = tail;
    if (index + 16 <= count) {
        source = values + index;
    } else {
        for (size_t lane = 0; index + lane < count; lane++) tail[lane] = values[index + lane];
    }
    __m256i low = codes8(_mm256_loadu_ps(source), scale, bound);
    __m256i high = codes8(_mm256_loadu_ps(source + 8), scale, bound);
    // packs works within 128-bit lanes: [l0-3 h0-3 | l4-7 h4-7], put back in order.
    return _mm256_permute4x64_epi64(_mm256_packs_epi32(low, high), 0xD8);
}

__attribute__((target("avx2")))
void portal_encode_int8(const float *values, size_t count, float scale, int8_t *codes, size_t stride) {
    __m256 scales = _mm256_set1_ps(scale), bound = _mm256_set1_ps(127);
    for (size_t index = 0; index < stride; index += 16) {
        __m256i words = codes16(values, count, index, scales, bound);
        __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
        _mm_storeu_si128((__m128i *)(codes + index), bytes);
    }
}

__attribute__((target("avx2")))
void portal_encode_int16(const float *values, size_t count, float scale, float maximum, int16_t *codes, size_t stride) {
    __m256 scales = _mm256_set1_ps(scale), bound = _mm256_set1_ps(maximum);
    for (size_t index = 0; index < stride; index += 16) {
        _mm256_storeu_si256((__m256i *)(codes + index), codes16(values, count, index, scales, bound));
    }
}
