#pragma once
/// Per-row regularised least-squares solves for alternating minimization.
///
/// One half-step of alternating minimization updates every row x_j of one
/// factor independently: with the other factor F (rows f_i) and the observed
/// entries (i, m_ij) of line j,
///
///     x_j = argmin_x  sum_i (f_i . x - m_ij)^2 + reg * ||x||^2,
///
/// i.e. min ||A x - b||^2 + reg ||x||^2 with the c x k design A = F[Omega_j, :].
/// The solvers trade exactness for cost:
///
/// - `cholesky`: exact. c >= k: the k x k Gram A^T A + reg I (cost c k^2 + k^3/3);
///   c < k: the dual c x c system (A A^T + reg I) a = b, x = A^T a (cost c^2 k),
///   which also gives the minimum-norm solution when reg = 0.
/// - `cg`: a few warm-started conjugate-gradient steps on the normal equations,
///   cost O(c k) per step and no k^2 term at all (Jacobi preconditioned). On a
///   line with c < k and reg = 0 it keeps the warm start's component outside
///   D^{-1} range(A^T) (D = diag(A^T A)): the row does not determine it.
/// - `sketch`: the preconditioner of Gu, Song, Yin & Zhang (ICLR 2024): a sparse
///   sign sketch S (OSNAP / sparse JL: s = ceil(sketch_ratio k ln(k + 1)) rows,
///   at least k + 1, unless sketch_rows is set; sketch_nnz signs per column,
///   each 1/sqrt(sketch_nnz); sketch_nnz = 1 is a CountSketch)
///   compresses A to S A in O(c k) (column by column, into an s-vector that
///   stays in cache); the Cholesky factor L of (S A)^T (S A) + reg I (= R^T R
///   of a QR of [S A; sqrt(reg) I], at half the cost) preconditions conjugate
///   gradients on the normal equations, run from the warm start until the
///   normal-equation residual has shrunk by inner_tol. Cost O(c k + s k^2) plus
///   O(c k) per step, instead of O(c k^2). Rows whose count does not exceed
///   the sketch size gain nothing from sketching and are solved exactly.
/// - `auto`: per line, by (k, c) -- see `auto_solver`.
///
/// Every solve uses caller-owned scratch (`RowScratch`, one per thread): there
/// is no allocation in the hot loop except for the rank-deficient fallback.

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <stdexcept>
#include <vector>

#include "itercore/common/csr.hpp"
#include "itercore/common/random.hpp"
#include "itercore/common/threads.hpp"

namespace itercore::completion {

/// Runs f() with Eigen's own OpenMP parallelism (of large products) switched
/// off for this call only: f runs inside a one-thread parallel region whose
/// thread-count ICV is 1, which Eigen reads. Without this, Eigen would fork
/// threads for every mid-sized product of a serial code path, ignoring
/// `n_threads`. Our explicit `num_threads(nt)` regions inside f still fork.
template <class F>
void eigen_single_threaded(F&& f) {
#ifdef _OPENMP
  std::exception_ptr error;
#pragma omp parallel num_threads(1)
  {
    omp_set_num_threads(1);
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
#else
  f();
#endif
}

/// Up to this rank the Gram matrix is formed by plain dot products; above
/// it, by Eigen's blocked symmetric rank update.
inline constexpr Eigen::Index kSmallRank = 32;

/// Which per-row solver a half-step uses (Python: `method=`, by these names; `automatic` is "auto").
enum class RowSolver : int { cholesky = 0, cg = 1, sketch = 2, automatic = 3 };


/// `auto`: ranks up to this use the exact Gram for every line.
inline constexpr std::int64_t kAutoCholeskyRank = 16;
/// `auto`: lines with at least this many observations per unknown are solved
/// exactly: there 3 Jacobi-CG steps barely improve a 1%-off warm start, and
/// the sketch preconditioner did not beat the exact Gram (k <= 200, c <= 10^4).
inline constexpr std::int64_t kAutoLongFactor = 8;

/// `inner_maxiter = -1` (the default) means this many steps for `cg` (and `auto`'s CG rows) ...
inline constexpr int kCgSteps = 3;
/// ... and this many, at most, for `sketch` (which stops at `inner_tol` first).
inline constexpr int kSketchSteps = 20;

/// Settings of a half-step, shared by every row. Field names are the Python ones.
struct RowOptions {
  RowSolver method = RowSolver::automatic;  ///< the per-row solver
  double reg = 0.0;            ///< ridge weight on both factors (finite, >= 0)
  bool reg_by_count = false;   ///< true: line j's ridge is reg * (its observation count), ALS-WR / Spark ALS's weighting
  int inner_maxiter = -1;      ///< CG / preconditioned-CG steps per row (cg, sketch); -1: per method (kCgSteps, kSketchSteps)
  double inner_tol = 1e-3;     ///< a row's CG ends when its normal-equation residual shrank by this factor
  double sketch_ratio = 1.0;   ///< sketch rows s = ceil(sketch_ratio k ln(k + 1)) (at least k + 1): O(k log k)
  std::int64_t sketch_rows = -1;  ///< > 0: exactly this many sketch rows instead (at least k + 1)
  int sketch_nnz = 4;          ///< non-zeros (random signs) per sketch column: OSNAP / sparse JL; 1: CountSketch
  std::uint64_t seed = 0;      ///< sketch randomness: row j of a half-step draws stream (seed, stream_base + j)
  std::uint64_t stream_base = 0;  ///< not an option: set by altmin for each half-step

  void check() const {
    if (!(reg >= 0.0) || !std::isfinite(reg)) throw std::invalid_argument("reg must be finite and >= 0");
    if (inner_maxiter < -1) throw std::invalid_argument("inner_maxiter must be >= 0 (or -1: per method)");
    if (!(inner_tol >= 0.0) || !std::isfinite(inner_tol)) throw std::invalid_argument("inner_tol must be finite and >= 0");
    if (!(sketch_ratio > 0.0) || !std::isfinite(sketch_ratio))
      throw std::invalid_argument("sketch_ratio must be finite and > 0");
    if (sketch_rows < -1 || sketch_rows == 0) throw std::invalid_argument("sketch_rows must be >= 1 (or -1: automatic)");
    if (sketch_nnz < 1) throw std::invalid_argument("sketch_nnz must be >= 1");
  }

  /// The CG steps per row of `solver` (cg or sketch): inner_maxiter, or its per-method default.
  int inner_steps(RowSolver solver) const {
    if (inner_maxiter >= 0) return inner_maxiter;
    return solver == RowSolver::sketch ? kSketchSteps : kCgSteps;
  }
};

/// Rows of the sketch for rank k: O(k log k), at least k + 1.
inline std::int64_t sketch_rows(std::int64_t k, const RowOptions& opt) {
  const double kd = static_cast<double>(k);
  const auto s = opt.sketch_rows > 0 ? opt.sketch_rows
                                     : static_cast<std::int64_t>(std::ceil(opt.sketch_ratio * kd * std::log(kd + 1.0)));
  return std::max<std::int64_t>(k + 1, s);
}

/// Per-thread workspace, sized once for rank k and the longest line.
template <class Scalar>
struct RowScratch {
  using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  Mat A;        ///< gathered design, c_max x k (column-major: Gram entries are contiguous dots)
  Vec b;        ///< gathered right-hand side, c_max
  Mat G;        ///< Gram / dual matrix, k x k (the dual needs c x c with c < k)
  Vec r, z, p, w, atb;  ///< k-vectors for CG
  Vec q;        ///< c-vector for CG
  Mat SA;       ///< sketch S A, s x k
  std::vector<std::int32_t> bucket;  ///< sketch rows hit by each observation, c_max * sketch_nnz
  Vec sign;     ///< their signed weights
  std::int64_t sketch_size = 0;
  int sketch_nnz = 1;

  RowScratch() = default;
  RowScratch(std::int64_t k, std::int64_t c_max, const RowOptions& opt) {
    A.resize(c_max, k);
    b.resize(c_max);
    G.resize(k, k);
    r.resize(k);
    z.resize(k);
    p.resize(k);
    w.resize(k);
    atb.resize(k);
    q.resize(c_max);
    if (opt.method == RowSolver::sketch) {
      sketch_size = sketch_rows(k, opt);
      sketch_nnz = static_cast<int>(std::min<std::int64_t>(opt.sketch_nnz, sketch_size));
      SA.resize(sketch_size, k);
      bucket.resize(static_cast<std::size_t>(c_max * sketch_nnz));
      sign.resize(c_max * sketch_nnz);
    }
  }
};

namespace detail {

/// Exact minimum-norm solve through a complete orthogonal decomposition of
/// [A; sqrt(reg) I]; used only when a Cholesky factorization fails (a
/// rank-deficient design with reg = 0). Allocates, but is rare.
template <class Scalar, class ADerived, class BDerived, class XDerived>
void solve_rank_deficient(const Eigen::MatrixBase<ADerived>& A, const Eigen::MatrixBase<BDerived>& b, Scalar reg,
                          Eigen::MatrixBase<XDerived>& x) {
  using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Eigen::Index c = A.rows(), k = A.cols();
  Mat S(c + k, k);
  S.topRows(c) = A;
  S.bottomRows(k).setIdentity();
  S.bottomRows(k) *= std::sqrt(reg);
  Vec rhs = Vec::Zero(c + k);
  rhs.head(c) = b;
  x = Eigen::CompleteOrthogonalDecomposition<Mat>(S).solve(rhs);
}

/// Exact solve by Cholesky: primal k x k Gram when c >= k, dual c x c otherwise.
template <class Scalar>
void solve_cholesky(RowScratch<Scalar>& ws, Eigen::Index c, Scalar reg, Scalar* x_out) {
  const Eigen::Index k = ws.A.cols();
  auto A = ws.A.topRows(c);
  auto b = ws.b.head(c);
  Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> x(x_out, k);
  if (c >= k) {
    auto G = ws.G.topLeftCorner(k, k);
    if (k <= kSmallRank) {  // k^2/2 contiguous dot products: no packing overhead for small k
      for (Eigen::Index j = 0; j < k; ++j)
        for (Eigen::Index i = j; i < k; ++i) G(i, j) = A.col(i).dot(A.col(j));
    } else {
      G.setZero();
      G.template selfadjointView<Eigen::Lower>().rankUpdate(A.transpose());
    }
    G.diagonal().array() += reg;
    Eigen::LLT<Eigen::Ref<typename RowScratch<Scalar>::Mat>, Eigen::Lower> llt(G);
    if (llt.info() == Eigen::Success) {
      ws.atb.noalias() = A.transpose() * b;
      x = llt.solve(ws.atb);
      return;
    }
  } else {
    auto K = ws.G.topLeftCorner(c, c);
    K.setZero();
    K.template selfadjointView<Eigen::Lower>().rankUpdate(A);
    K.diagonal().array() += reg;
    Eigen::LLT<Eigen::Ref<typename RowScratch<Scalar>::Mat>, Eigen::Lower> llt(K);
    if (llt.info() == Eigen::Success) {
      auto alpha = ws.q.head(c);
      alpha = llt.solve(b);
      x.noalias() = A.transpose() * alpha;
      return;
    }
  }
  solve_rank_deficient<Scalar>(A, b, reg, x);
}

/// Rows of A per block of the fused products below: about 128 KiB, so a block
/// stays in L2 between A p and A^T q.
inline Eigen::Index fused_block_rows(Eigen::Index k) { return std::max<Eigen::Index>(32, 16384 / std::max<Eigen::Index>(k, 1)); }

/// q = b - A x and r = A^T q in one pass over A (A is c x k, column-major,
/// too large for cache on long lines: one pass instead of two halves the
/// memory traffic of a CG step). With `subtract_from_b` false, q = A x.
template <class AT, class BT, class XT, class QT, class RT>
void fused_normal_apply(const AT& A, const BT& b, const XT& x, QT& q, RT& r, bool subtract_from_b) {
  const Eigen::Index c = A.rows(), nb = fused_block_rows(A.cols());
  r.setZero();
  for (Eigen::Index t0 = 0; t0 < c; t0 += nb) {
    const Eigen::Index n = std::min(nb, c - t0);
    auto qb = q.segment(t0, n);
    const auto Ab = A.middleRows(t0, n);
    if (subtract_from_b) {
      qb = b.segment(t0, n);
      qb.noalias() -= Ab * x;
    } else {
      qb.noalias() = Ab * x;
    }
    r.noalias() += Ab.transpose() * qb;
  }
}

/// (Its own CG loop, not common/cg.hpp: A p and A^T A p come from one pass
/// over the row block, and it stops relative to the warm start.)
/// Conjugate gradients on (A^T A + reg I) x = A^T b from the warm start x0 in x,
/// preconditioned by M^{-1} = `apply_prec` (Jacobi or (R^T R)^{-1}). Stops after
/// `maxiter` steps or when the normal-equation residual r = A^T (b - A x) - reg x
/// has shrunk to ||r|| <= tol ||r0|| (r0 at the warm start; with x0 = 0,
/// r0 = A^T b, so tol is then the usual relative residual).
template <class Scalar, class Prec>
void normal_cg(RowScratch<Scalar>& ws, Eigen::Index c, Scalar reg, Scalar* x_out, int maxiter, double tol,
               Prec&& apply_prec) {
  const Eigen::Index k = ws.A.cols();
  auto A = ws.A.topRows(c);
  auto b = ws.b.head(c);
  auto q = ws.q.head(c);
  Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> x(x_out, k);
  fused_normal_apply(A, b, x, q, ws.r, true);
  ws.r -= reg * x;
  const double stop = tol * static_cast<double>(ws.r.norm());  // relative to the warm start's residual
  if (static_cast<double>(ws.r.norm()) <= stop) return;
  apply_prec(ws.r, ws.z);
  ws.p = ws.z;
  Scalar rz = ws.r.dot(ws.z);
  for (int it = 0; it < maxiter; ++it) {
    fused_normal_apply(A, b, ws.p, q, ws.w, false);  // q = A p, w = A^T A p
    const Scalar curv = q.squaredNorm() + reg * ws.p.squaredNorm();
    if (!(curv > Scalar(0)) || !(rz > Scalar(0))) break;  // exact solution reached or breakdown
    const Scalar alpha = rz / curv;
    x += alpha * ws.p;
    ws.r -= alpha * (ws.w + reg * ws.p);
    if (static_cast<double>(ws.r.norm()) <= stop) break;
    apply_prec(ws.r, ws.z);
    const Scalar rz_new = ws.r.dot(ws.z);
    ws.p = ws.z + (rz_new / rz) * ws.p;
    rz = rz_new;
  }
}

/// The sketch-preconditioned solve: L from the Cholesky factorization of
/// (S A)^T (S A) + reg I, then PCG with (L L^T)^{-1}. Returns false when that
/// factor is numerically singular (the caller then solves exactly).
template <class Scalar>
bool solve_sketch(RowScratch<Scalar>& ws, Eigen::Index c, Scalar reg, Scalar* x_out, int maxiter, double tol,
                  std::uint64_t seed, std::uint64_t stream) {
  using Mat = typename RowScratch<Scalar>::Mat;
  const Eigen::Index k = ws.A.cols();
  const Eigen::Index s = ws.sketch_size;
  const int nnz = ws.sketch_nnz;
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(nnz));
  Rng rng(seed, stream);
  std::int32_t* bucket = ws.bucket.data();
  Scalar* sign = ws.sign.data();
  // OSNAP: each observation (sketch column) hits nnz distinct sketch rows.
  for (Eigen::Index t = 0; t < c; ++t) {
    for (int h = 0; h < nnz; ++h) {
      std::int32_t row;
      bool fresh;
      std::uint64_t bits;
      do {
        bits = rng();
        row = static_cast<std::int32_t>((bits >> 1) % static_cast<std::uint64_t>(s));
        fresh = true;
        for (int q = 0; q < h; ++q) fresh = fresh && bucket[t * nnz + q] != row;
      } while (!fresh);
      bucket[t * nnz + h] = row;
      sign[t * nnz + h] = (bits & 1u) ? scale : -scale;
    }
  }
  // S A one column at a time: the column of A is read once, contiguously, and
  // scattered into an s-vector that stays in L1. O(nnz c k) in all.
  const Eigen::Index lda = ws.A.rows();
  for (Eigen::Index i = 0; i < k; ++i) {
    Scalar* dst = ws.SA.data() + i * s;
    std::fill(dst, dst + s, Scalar(0));
    const Scalar* a = ws.A.data() + i * lda;
    for (Eigen::Index t = 0; t < c; ++t) {
      const Scalar v = a[t];
      for (int h = 0; h < nnz; ++h) dst[bucket[t * nnz + h]] += sign[t * nnz + h] * v;
    }
  }
  auto G = ws.G.topLeftCorner(k, k);
  G.setZero();
  G.template selfadjointView<Eigen::Lower>().rankUpdate(ws.SA.transpose());
  G.diagonal().array() += reg;
  Eigen::LLT<Eigen::Ref<Mat>, Eigen::Lower> llt(G);
  if (llt.info() != Eigen::Success) return false;
  const Scalar dmax = G.diagonal().cwiseAbs().maxCoeff();
  const Scalar dmin = G.diagonal().cwiseAbs().minCoeff();
  if (!(dmin > dmax * std::sqrt(std::numeric_limits<Scalar>::epsilon()) * static_cast<Scalar>(4 * k))) return false;
  const auto L = G.template triangularView<Eigen::Lower>();
  auto prec = [&](const auto& r, auto& z) {
    z = r;
    L.solveInPlace(z);
    L.transpose().solveInPlace(z);
  };
  normal_cg(ws, c, reg, x_out, maxiter, tol, prec);
  return true;
}

/// A few Jacobi-preconditioned CG steps on the normal equations from the warm start.
template <class Scalar>
void solve_cg(RowScratch<Scalar>& ws, Eigen::Index c, Scalar reg, Scalar* x, int maxiter, double tol) {
  const Eigen::Index k = ws.A.cols();
  // Jacobi preconditioner: the diagonal of A^T A + reg I, O(c k) to form.
  ws.w = ws.A.topRows(c).colwise().squaredNorm().transpose();
  ws.w.array() += reg;
  ws.G.col(0).head(k) = ws.w;  // normal_cg reuses w: keep the diagonal in G's first column
  auto jacobi = [&](const auto& r, auto& z) {
    for (Eigen::Index i = 0; i < k; ++i) {
      const Scalar d = ws.G(i, 0);
      z[i] = d > Scalar(0) ? r[i] / d : r[i];
    }
  };
  normal_cg(ws, c, reg, x, maxiter, tol, jacobi);
}

}  // namespace detail

/// The solver `auto` uses for one line of c observations at rank k (measured
/// per row on 2 cores, docs/completion.md): the exact Gram at small k and on
/// lines far longer than k (c >= 8 k); Jacobi CG (3 warm-started steps) else.
inline RowSolver auto_solver(std::int64_t k, std::int64_t c) {
  if (k <= kAutoCholeskyRank || c >= kAutoLongFactor * k) return RowSolver::cholesky;
  return RowSolver::cg;
}

/// Solves line j's least squares. `F` is the other factor (row-major, k
/// columns); line j's observations are `obs` row j (column index = row of F).
/// `x` holds the warm start (used by cg/sketch) and receives the solution; a
/// line with no observation gets x = 0.
template <class Scalar, class Index>
void solve_line(const CsrView<Scalar, Index>& obs, Index j, const Scalar* F, std::int64_t k, RowScratch<Scalar>& ws,
                const RowOptions& opt, Scalar* x) {
  const Index begin = obs.indptr[j], end = obs.indptr[j + 1];
  const Eigen::Index c = static_cast<Eigen::Index>(end - begin);
  if (c == 0) {
    std::fill(x, x + k, Scalar(0));
    return;
  }
  // Gather A = F[Omega_j, :] into column-major scratch, kGatherBlock rows of F
  // at a time: each column then receives a short contiguous run instead of
  // one strided write per entry (long lines would miss cache and TLB on every write).
  constexpr Eigen::Index kGatherBlock = 16;
  Scalar* dst = ws.A.data();  // column-major: entry (t, i) at dst[t + i * ld]
  const Eigen::Index ld = ws.A.rows();
  const Scalar* src[kGatherBlock];
  for (Eigen::Index t0 = 0; t0 < c; t0 += kGatherBlock) {
    const Eigen::Index nb = std::min(kGatherBlock, c - t0);
    for (Eigen::Index u = 0; u < nb; ++u) {
      const Index p = begin + static_cast<Index>(t0 + u);
      src[u] = F + static_cast<std::int64_t>(obs.indices[p]) * k;
      ws.b[t0 + u] = obs.data[p];
    }
    for (Eigen::Index i = 0; i < k; ++i) {
      Scalar* d = dst + t0 + i * ld;
      for (Eigen::Index u = 0; u < nb; ++u) d[u] = src[u][i];
    }
  }
  const Scalar reg = static_cast<Scalar>(opt.reg_by_count ? opt.reg * static_cast<double>(c) : opt.reg);
  const RowSolver solver = opt.method == RowSolver::automatic ? auto_solver(k, c) : opt.method;
  switch (solver) {
    case RowSolver::cg:
      detail::solve_cg(ws, c, reg, x, opt.inner_steps(solver), opt.inner_tol);
      return;
    case RowSolver::sketch:
      if (c > ws.sketch_size && detail::solve_sketch(ws, c, reg, x, opt.inner_steps(solver), opt.inner_tol, opt.seed,
                                                     opt.stream_base + static_cast<std::uint64_t>(j)))
        return;
      detail::solve_cholesky(ws, c, reg, x);
      return;
    default:
      detail::solve_cholesky(ws, c, reg, x);
      return;
  }
}

/// Longest line of a CSR (sizes the per-thread scratch).
template <class Scalar, class Index>
std::int64_t max_line(const CsrView<Scalar, Index>& obs) {
  std::int64_t c = 0;
  for (Index j = 0; j < obs.rows; ++j) c = std::max<std::int64_t>(c, obs.indptr[j + 1] - obs.indptr[j]);
  return c;
}

/// One half-step: X[j, :] <- solve_line(j) for every line j of `obs`, with F
/// the other factor. X (obs.rows x k, row-major) holds the warm start.
/// Lines run in parallel with dynamic scheduling (counts are uneven); each
/// thread owns one `RowScratch` from `scratch` (size >= threads used).
/// Returns sum over the observations of ((x_j . f_i - m_ij) * inv_scale)^2
/// for the new X: the squared residual comes free with the solve (the line's
/// design is already gathered), which saves a pass and a parallel region.
template <class Scalar, class Index>
double half_step(const CsrView<Scalar, Index>& obs, const Scalar* F, std::int64_t k, Scalar* X, const RowOptions& opt,
                 std::vector<RowScratch<Scalar>>& scratch, int n_threads, double inv_scale = 1.0) {
  const int nt = std::max(1, std::min<int>(n_threads, static_cast<int>(scratch.size())));
  const double work = static_cast<double>(obs.nnz()) * static_cast<double>(k);
  const bool par = nt > 1 && work >= 2.0e5;
  double rr = 0.0;
#pragma omp parallel num_threads(nt) if (par)
  {
#ifdef _OPENMP
    omp_set_num_threads(1);  // Eigen products inside a line solve stay serial (this region only)
    RowScratch<Scalar>& ws = scratch[static_cast<std::size_t>(omp_get_thread_num())];
#else
    RowScratch<Scalar>& ws = scratch[0];
#endif
#pragma omp for schedule(dynamic, 16) reduction(+ : rr)
    for (Index j = 0; j < obs.rows; ++j) {
      Scalar* x = X + static_cast<std::int64_t>(j) * k;
      solve_line(obs, j, F, k, ws, opt, x);
      const Eigen::Index c = static_cast<Eigen::Index>(obs.indptr[j + 1] - obs.indptr[j]);
      if (c > 0) {
        const Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> xv(x, k);
        auto q = ws.q.head(c);
        q.noalias() = ws.A.topRows(c) * xv;
        q -= ws.b.head(c);
        for (Eigen::Index t = 0; t < c; ++t) {
          const double r = static_cast<double>(q[t]) * inv_scale;
          rr += r * r;
        }
      }
    }
  }
  return rr;
}

}  // namespace itercore::completion
