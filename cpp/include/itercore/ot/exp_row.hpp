#pragma once
/// The one hot loop of every log-domain pass: out_j = exp((g_j - M_j + f) * inv)
/// over a row, and its sum.
///
/// The default build targets baseline x86-64 (SSE2), where Eigen's packet exp
/// costs several ns an entry. On x86-64 CPUs with AVX2 and FMA (checked once at
/// run time) a hand-vectorised exp runs instead, 4 doubles or 8 floats a
/// packet: Cody-Waite range reduction x = k ln2 + r, |r| <= ln2/2, a Taylor
/// polynomial in r (degree 13 in double, 7 in float: below one ulp of error
/// from the truncation), and 2^k added into the exponent bits. Arguments below
/// the smallest normal result give exactly 0 (Eigen's exp gives a subnormal),
/// above the largest finite one they are clamped (a finite, huge result).
/// Elsewhere the relative error is within 2 ulp of std::exp.
///
/// The same file holds the scaling path's row kernels (a dot product and an
/// axpy, AVX2/FMA with four accumulators where the CPU has them, Eigen
/// elsewhere): the default build's baseline SSE2 code left the in-cache
/// iteration compute-bound at about a quarter of OpenBLAS's GEMV speed.
///
/// `simd_exp_enabled()` switches all these AVX2 kernels off (tests compare both paths).

#include <Eigen/Core>

#include <atomic>
#include <cmath>
#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ITERCORE_NO_SIMD_EXP)
#define ITERCORE_OT_AVX2_EXP 1
#include <immintrin.h>
#endif

namespace itercore::ot::detail {

/// Process-wide switch for the AVX2 exp kernel (on by default where the CPU has it).
inline std::atomic<bool>& simd_exp_enabled() {
  static std::atomic<bool> on{true};
  return on;
}

/// Eigen's exp: any CPU, any build.
template <class Scalar>
Scalar exp_row_eigen(const Scalar* g, const Scalar* M, Scalar f, Scalar inv, Scalar* out, std::int64_t m) {
  using Row = Eigen::Array<Scalar, 1, Eigen::Dynamic>;
  Eigen::Map<const Row> gv(g, m), Mv(M, m);
  Eigen::Map<Row> ov(out, m);
  ov = (((gv - Mv) + f) * inv).exp();
  return ov.sum();
}

#ifdef ITERCORE_OT_AVX2_EXP

inline bool cpu_has_avx2_fma() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return yes;
}

/// exp of 4 doubles (see the file comment).
__attribute__((target("avx2,fma"), always_inline)) inline __m256d exp4(__m256d x) {
  const __m256d lo = _mm256_set1_pd(-708.0), hi = _mm256_set1_pd(709.0);
  const __m256d keep = _mm256_cmp_pd(x, lo, _CMP_GE_OQ);  // false for x < lo and NaN-free inputs below
  x = _mm256_min_pd(_mm256_max_pd(x, lo), hi);
  const __m256d shifter = _mm256_set1_pd(6755399441055744.0);  // 1.5 * 2^52: rounds to an integer
  __m256d kd = _mm256_fmadd_pd(x, _mm256_set1_pd(1.4426950408889634), shifter);
  const __m256i kb = _mm256_castpd_si256(kd);  // k in the low mantissa bits
  kd = _mm256_sub_pd(kd, shifter);
  // ln2 split in a high part with trailing zero bits (k * hi is exact) and the rest
  __m256d r = _mm256_fnmadd_pd(kd, _mm256_set1_pd(0.693147180369123816490), x);
  r = _mm256_fnmadd_pd(kd, _mm256_set1_pd(1.90821492927058770002e-10), r);
  __m256d p = _mm256_set1_pd(1.0 / 6227020800.0);  // 1/13!
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 479001600.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 39916800.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 3628800.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 362880.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 40320.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 5040.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 720.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 120.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 24.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 6.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(0.5));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0));
  const __m256i bits = _mm256_add_epi64(_mm256_castpd_si256(p), _mm256_slli_epi64(kb, 52));
  return _mm256_and_pd(_mm256_castsi256_pd(bits), keep);
}

/// exp of 8 floats.
__attribute__((target("avx2,fma"), always_inline)) inline __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
  const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 shifter = _mm256_set1_ps(12582912.0f);  // 1.5 * 2^23
  __m256 kd = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), shifter);
  const __m256i kb = _mm256_castps_si256(kd);
  kd = _mm256_sub_ps(kd, shifter);
  __m256 r = _mm256_fnmadd_ps(kd, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(kd, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(kb, 23));
  return _mm256_and_ps(_mm256_castsi256_ps(bits), keep);
}

__attribute__((target("avx2,fma"))) inline double exp_row_avx2(const double* g, const double* M, double f, double inv,
                                                               double* out, std::int64_t m) {
  const __m256d fv = _mm256_set1_pd(f), iv = _mm256_set1_pd(inv);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  std::int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    const __m256d x0 = _mm256_mul_pd(_mm256_add_pd(_mm256_sub_pd(_mm256_loadu_pd(g + j), _mm256_loadu_pd(M + j)), fv), iv);
    const __m256d x1 =
        _mm256_mul_pd(_mm256_add_pd(_mm256_sub_pd(_mm256_loadu_pd(g + j + 4), _mm256_loadu_pd(M + j + 4)), fv), iv);
    const __m256d e0 = exp4(x0), e1 = exp4(x1);
    _mm256_storeu_pd(out + j, e0);
    _mm256_storeu_pd(out + j + 4, e1);
    s0 = _mm256_add_pd(s0, e0);
    s1 = _mm256_add_pd(s1, e1);
  }
  for (; j + 4 <= m; j += 4) {
    const __m256d x0 = _mm256_mul_pd(_mm256_add_pd(_mm256_sub_pd(_mm256_loadu_pd(g + j), _mm256_loadu_pd(M + j)), fv), iv);
    const __m256d e0 = exp4(x0);
    _mm256_storeu_pd(out + j, e0);
    s0 = _mm256_add_pd(s0, e0);
  }
  if (j < m) {  // the tail through the same kernel, so every entry rounds alike
    alignas(32) double xt[4] = {0, 0, 0, 0}, et[4];
    for (std::int64_t k = j; k < m; ++k) xt[k - j] = ((g[k] - M[k]) + f) * inv;
    _mm256_store_pd(et, exp4(_mm256_load_pd(xt)));
    for (std::int64_t k = j; k < m; ++k) {
      out[k] = et[k - j];
      s1 = _mm256_add_pd(s1, _mm256_set_pd(0.0, 0.0, 0.0, et[k - j]));
    }
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(s0, s1));
  return (t[0] + t[1]) + (t[2] + t[3]);
}

__attribute__((target("avx2,fma"))) inline float exp_row_avx2(const float* g, const float* M, float f, float inv,
                                                              float* out, std::int64_t m) {
  const __m256 fv = _mm256_set1_ps(f), iv = _mm256_set1_ps(inv);
  __m256 s0 = _mm256_setzero_ps();
  std::int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    const __m256 x0 = _mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(_mm256_loadu_ps(g + j), _mm256_loadu_ps(M + j)), fv), iv);
    const __m256 e0 = exp8(x0);
    _mm256_storeu_ps(out + j, e0);
    s0 = _mm256_add_ps(s0, e0);
  }
  float tail = 0.0f;
  if (j < m) {
    alignas(32) float xt[8] = {0, 0, 0, 0, 0, 0, 0, 0}, et[8];
    for (std::int64_t k = j; k < m; ++k) xt[k - j] = ((g[k] - M[k]) + f) * inv;
    _mm256_store_ps(et, exp8(_mm256_load_ps(xt)));
    for (std::int64_t k = j; k < m; ++k) {
      out[k] = et[k - j];
      tail += et[k - j];
    }
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, s0);
  return (((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]))) + tail;
}

/// sum_j x_j y_j: four independent accumulators of 4 doubles (FMA latency hidden).
__attribute__((target("avx2,fma"))) inline double dot_row_avx2(const double* x, const double* y, std::int64_t m) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
  std::int64_t j = 0;
  for (; j + 16 <= m; j += 16) {
    s0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j), s0);
    s1 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j + 4), _mm256_loadu_pd(y + j + 4), s1);
    s2 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j + 8), _mm256_loadu_pd(y + j + 8), s2);
    s3 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j + 12), _mm256_loadu_pd(y + j + 12), s3);
  }
  for (; j + 4 <= m; j += 4) s0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j), s0);
  double tail = 0.0;
  for (; j < m; ++j) tail += x[j] * y[j];
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
  return ((t[0] + t[1]) + (t[2] + t[3])) + tail;
}

/// sum_j x_j y_j in float: four accumulators of 8 floats.
__attribute__((target("avx2,fma"))) inline float dot_row_avx2(const float* x, const float* y, std::int64_t m) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  std::int64_t j = 0;
  for (; j + 32 <= m; j += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8), _mm256_loadu_ps(y + j + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 16), _mm256_loadu_ps(y + j + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 24), _mm256_loadu_ps(y + j + 24), s3);
  }
  for (; j + 8 <= m; j += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), s0);
  float tail = 0.0f;
  for (; j < m; ++j) tail += x[j] * y[j];
  alignas(32) float t[8];
  _mm256_store_ps(t, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return (((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]))) + tail;
}

/// y_j += alpha x_j.
__attribute__((target("avx2,fma"))) inline void axpy_row_avx2(double alpha, const double* x, double* y,
                                                              std::int64_t m) {
  const __m256d av = _mm256_set1_pd(alpha);
  std::int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    _mm256_storeu_pd(y + j, _mm256_fmadd_pd(av, _mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j)));
    _mm256_storeu_pd(y + j + 4, _mm256_fmadd_pd(av, _mm256_loadu_pd(x + j + 4), _mm256_loadu_pd(y + j + 4)));
  }
  for (; j < m; ++j) y[j] += alpha * x[j];
}

__attribute__((target("avx2,fma"))) inline void axpy_row_avx2(float alpha, const float* x, float* y, std::int64_t m) {
  const __m256 av = _mm256_set1_ps(alpha);
  std::int64_t j = 0;
  for (; j + 16 <= m; j += 16) {
    _mm256_storeu_ps(y + j, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j)));
    _mm256_storeu_ps(y + j + 8, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + j + 8), _mm256_loadu_ps(y + j + 8)));
  }
  for (; j < m; ++j) y[j] += alpha * x[j];
}

/// Four rows at once (GEMV-style blocking: v is loaded once for four rows, the
/// accumulator once for four axpys). s[r] = K_r . v.
__attribute__((target("avx2,fma"))) inline void dot4_avx2(const double* const* K, const double* v, std::int64_t m,
                                                          double* s) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
  __m256d b0 = _mm256_setzero_pd(), b1 = _mm256_setzero_pd(), b2 = _mm256_setzero_pd(), b3 = _mm256_setzero_pd();
  const double *K0 = K[0], *K1 = K[1], *K2 = K[2], *K3 = K[3];
  std::int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    const __m256d v0 = _mm256_loadu_pd(v + j), v1 = _mm256_loadu_pd(v + j + 4);
    a0 = _mm256_fmadd_pd(_mm256_loadu_pd(K0 + j), v0, a0);
    a1 = _mm256_fmadd_pd(_mm256_loadu_pd(K1 + j), v0, a1);
    a2 = _mm256_fmadd_pd(_mm256_loadu_pd(K2 + j), v0, a2);
    a3 = _mm256_fmadd_pd(_mm256_loadu_pd(K3 + j), v0, a3);
    b0 = _mm256_fmadd_pd(_mm256_loadu_pd(K0 + j + 4), v1, b0);
    b1 = _mm256_fmadd_pd(_mm256_loadu_pd(K1 + j + 4), v1, b1);
    b2 = _mm256_fmadd_pd(_mm256_loadu_pd(K2 + j + 4), v1, b2);
    b3 = _mm256_fmadd_pd(_mm256_loadu_pd(K3 + j + 4), v1, b3);
  }
  alignas(32) double t[4][4];
  _mm256_store_pd(t[0], _mm256_add_pd(a0, b0));
  _mm256_store_pd(t[1], _mm256_add_pd(a1, b1));
  _mm256_store_pd(t[2], _mm256_add_pd(a2, b2));
  _mm256_store_pd(t[3], _mm256_add_pd(a3, b3));
  for (int r = 0; r < 4; ++r) {
    double tail = 0.0;
    for (std::int64_t k = j; k < m; ++k) tail += K[r][k] * v[k];
    s[r] = ((t[r][0] + t[r][1]) + (t[r][2] + t[r][3])) + tail;
  }
}

__attribute__((target("avx2,fma"))) inline void dot4_avx2(const float* const* K, const float* v, std::int64_t m,
                                                          float* s) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
  const float *K0 = K[0], *K1 = K[1], *K2 = K[2], *K3 = K[3];
  std::int64_t j = 0;
  for (; j + 16 <= m; j += 16) {
    const __m256 v0 = _mm256_loadu_ps(v + j), v1 = _mm256_loadu_ps(v + j + 8);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(K0 + j), v0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(K1 + j), v0, a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(K2 + j), v0, a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(K3 + j), v0, a3);
    b0 = _mm256_fmadd_ps(_mm256_loadu_ps(K0 + j + 8), v1, b0);
    b1 = _mm256_fmadd_ps(_mm256_loadu_ps(K1 + j + 8), v1, b1);
    b2 = _mm256_fmadd_ps(_mm256_loadu_ps(K2 + j + 8), v1, b2);
    b3 = _mm256_fmadd_ps(_mm256_loadu_ps(K3 + j + 8), v1, b3);
  }
  alignas(32) float t[4][8];
  _mm256_store_ps(t[0], _mm256_add_ps(a0, b0));
  _mm256_store_ps(t[1], _mm256_add_ps(a1, b1));
  _mm256_store_ps(t[2], _mm256_add_ps(a2, b2));
  _mm256_store_ps(t[3], _mm256_add_ps(a3, b3));
  for (int r = 0; r < 4; ++r) {
    float tail = 0.0f;
    for (std::int64_t k = j; k < m; ++k) tail += K[r][k] * v[k];
    s[r] = (((t[r][0] + t[r][1]) + (t[r][2] + t[r][3])) + ((t[r][4] + t[r][5]) + (t[r][6] + t[r][7]))) + tail;
  }
}

/// y_j += sum_r u[r] K_r[j] over four rows (one load and store of y for four rows).
__attribute__((target("avx2,fma"))) inline void axpy4_avx2(const double* u, const double* const* K, double* y,
                                                           std::int64_t m) {
  const __m256d u0 = _mm256_set1_pd(u[0]), u1 = _mm256_set1_pd(u[1]), u2 = _mm256_set1_pd(u[2]),
                u3 = _mm256_set1_pd(u[3]);
  const double *K0 = K[0], *K1 = K[1], *K2 = K[2], *K3 = K[3];
  std::int64_t j = 0;
  for (; j + 4 <= m; j += 4) {
    __m256d acc = _mm256_loadu_pd(y + j);
    __m256d t = _mm256_mul_pd(u0, _mm256_loadu_pd(K0 + j));
    t = _mm256_fmadd_pd(u1, _mm256_loadu_pd(K1 + j), t);
    acc = _mm256_fmadd_pd(u2, _mm256_loadu_pd(K2 + j), acc);
    acc = _mm256_fmadd_pd(u3, _mm256_loadu_pd(K3 + j), acc);
    _mm256_storeu_pd(y + j, _mm256_add_pd(acc, t));
  }
  for (; j < m; ++j) y[j] += (u[0] * K0[j] + u[1] * K1[j]) + (u[2] * K2[j] + u[3] * K3[j]);
}

__attribute__((target("avx2,fma"))) inline void axpy4_avx2(const float* u, const float* const* K, float* y,
                                                           std::int64_t m) {
  const __m256 u0 = _mm256_set1_ps(u[0]), u1 = _mm256_set1_ps(u[1]), u2 = _mm256_set1_ps(u[2]),
               u3 = _mm256_set1_ps(u[3]);
  const float *K0 = K[0], *K1 = K[1], *K2 = K[2], *K3 = K[3];
  std::int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    __m256 acc = _mm256_loadu_ps(y + j);
    __m256 t = _mm256_mul_ps(u0, _mm256_loadu_ps(K0 + j));
    t = _mm256_fmadd_ps(u1, _mm256_loadu_ps(K1 + j), t);
    acc = _mm256_fmadd_ps(u2, _mm256_loadu_ps(K2 + j), acc);
    acc = _mm256_fmadd_ps(u3, _mm256_loadu_ps(K3 + j), acc);
    _mm256_storeu_ps(y + j, _mm256_add_ps(acc, t));
  }
  for (; j < m; ++j) y[j] += (u[0] * K0[j] + u[1] * K1[j]) + (u[2] * K2[j] + u[3] * K3[j]);
}

#endif  // ITERCORE_OT_AVX2_EXP

/// s[r] = K_r . v for four rows K[0..3] (the scaling path's row sums).
template <class Scalar>
inline void dot4(const Scalar* const* K, const Scalar* v, std::int64_t m, Scalar* s) {
#ifdef ITERCORE_OT_AVX2_EXP
  if (cpu_has_avx2_fma() && simd_exp_enabled().load(std::memory_order_relaxed)) return dot4_avx2(K, v, m, s);
#endif
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  for (int r = 0; r < 4; ++r) s[r] = Eigen::Map<const Vec>(K[r], m).dot(Eigen::Map<const Vec>(v, m));
}

/// y += sum_r u[r] K_r over four rows (the scaling path's column sums).
template <class Scalar>
inline void axpy4(const Scalar* u, const Scalar* const* K, Scalar* y, std::int64_t m) {
#ifdef ITERCORE_OT_AVX2_EXP
  if (cpu_has_avx2_fma() && simd_exp_enabled().load(std::memory_order_relaxed)) return axpy4_avx2(u, K, y, m);
#endif
  using Row = Eigen::Array<Scalar, 1, Eigen::Dynamic>;
  Eigen::Map<Row> yv(y, m);
  for (int r = 0; r < 4; ++r) yv += Eigen::Map<const Row>(K[r], m) * u[r];
}

/// sum_j x_j y_j over a row (the scaling path's K_i . v); AVX2/FMA where the
/// CPU has it and the switch allows, Eigen elsewhere.
template <class Scalar>
inline Scalar dot_row(const Scalar* x, const Scalar* y, std::int64_t m) {
#ifdef ITERCORE_OT_AVX2_EXP
  if (cpu_has_avx2_fma() && simd_exp_enabled().load(std::memory_order_relaxed)) return dot_row_avx2(x, y, m);
#endif
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  return Eigen::Map<const Vec>(x, m).dot(Eigen::Map<const Vec>(y, m));
}

/// y_j += alpha x_j over a row (the scaling path's column sums u_i K_i).
template <class Scalar>
inline void axpy_row(Scalar alpha, const Scalar* x, Scalar* y, std::int64_t m) {
#ifdef ITERCORE_OT_AVX2_EXP
  if (cpu_has_avx2_fma() && simd_exp_enabled().load(std::memory_order_relaxed)) return axpy_row_avx2(alpha, x, y, m);
#endif
  using Row = Eigen::Array<Scalar, 1, Eigen::Dynamic>;
  Eigen::Map<Row>(y, m) += Eigen::Map<const Row>(x, m) * alpha;
}

/// out_j = exp((g_j - M_j + f) * inv), j < m; returns sum_j out_j.
template <class Scalar>
inline Scalar exp_row(const Scalar* g, const Scalar* M, Scalar f, Scalar inv, Scalar* out, std::int64_t m) {
#ifdef ITERCORE_OT_AVX2_EXP
  if (cpu_has_avx2_fma() && simd_exp_enabled().load(std::memory_order_relaxed))
    return exp_row_avx2(g, M, f, inv, out, m);
#endif
  return exp_row_eigen(g, M, f, inv, out, m);
}

/// Whether exp_row runs the AVX2 kernel now.
inline bool simd_exp_active() {
#ifdef ITERCORE_OT_AVX2_EXP
  return cpu_has_avx2_fma() && simd_exp_enabled().load(std::memory_order_relaxed);
#else
  return false;
#endif
}

}  // namespace itercore::ot::detail
