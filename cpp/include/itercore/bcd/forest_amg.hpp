#pragma once
/// Multilevel (algebraic multigrid) preconditioner for graph Laplacian
/// systems, whose smoother is the forest-block sweep of forest_pcg.hpp, and
/// conjugate gradients preconditioned by its V-cycle.
///
/// For a symmetric positive definite M-matrix A (a weighted graph Laplacian
/// plus a non-negative, somewhere positive, diagonal: label propagation's
/// system), the error a forest-block sweep leaves is smooth along the graph:
/// nearly constant across strongly coupled neighbours. Aggregation captures
/// it: the variables are grouped into aggregates (a seed and its strong
/// neighbours, then the stragglers attached to a neighbouring aggregate), the
/// prolongation P is piecewise constant on the aggregates, smoothed by one
/// damped Jacobi step, P = (I - w D^{-1} A) T (smoothed aggregation), where the
/// aggregates are small (`smooth_min_ratio`),
/// and the coarse operator is the Galerkin product P^T A P, again an SPD
/// matrix of the same kind. Levels are built until at most `max_coarse`
/// variables remain, which are solved directly (sparse Cholesky, LDL^T).
///
/// The V-cycle uses the same symmetric sweep before and after the coarse
/// correction, so it is a symmetric positive definite operator (the sweep
/// contracts the A-norm of the error for 0 < omega < 2) and CG may use it.
///
/// Every level is stored in the renumbering of its smoother (blocks in
/// order, each tree in depth-first preorder), so the sweeps, the residuals
/// and the transfers all stream through memory; only the finest level's
/// renumbering is applied on entry and undone on exit.

#include <Eigen/SparseCholesky>
#include <Eigen/SparseCore>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "itercore/bcd/forest_pcg.hpp"
#include "itercore/common/csr.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/status.hpp"

namespace itercore::bcd {

/// Knobs of `ForestAMG`. The defaults here are the only ones: the Python
/// layer reads them from the bound struct.
struct ForestAmgOptions {
  double tol = 1e-8;                    ///< stop when ||A x - b|| / ||b|| <= tol
  std::int64_t maxiter = 1000;          ///< CG iterations (one V-cycle each)
  double strength = 0.0;                ///< i-j is a strong edge when |a_ij| >= strength sqrt(a_ii a_jj); in [0, 1)
  double smoothing = 4.0 / 3.0;         ///< Jacobi weight smoothing the prolongation, over a bound of rho(D^-1 A); 0: piecewise constant
  double smooth_min_ratio = 0.08;       ///< smooth the prolongation only where aggregation keeps at least this fraction of the variables
  std::int64_t max_coarse = 500;        ///< a level with at most this many variables is solved directly
  std::int64_t max_levels = 25;         ///< levels at most (the last is solved directly whatever its size)
  std::int64_t sweeps = 1;              ///< symmetric forest-block sweeps before and after each coarse correction
  double omega = 1.0;                   ///< block SSOR relaxation of the sweeps, in (0, 2)

  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    if (!(tol >= 0.0)) throw std::invalid_argument("tol must be >= 0");
    if (maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
    if (!(strength >= 0.0 && strength < 1.0)) throw std::invalid_argument("strength must lie in [0, 1)");
    if (!(smoothing >= 0.0 && smoothing < 2.0)) throw std::invalid_argument("smoothing must lie in [0, 2)");
    if (!(smooth_min_ratio >= 0.0 && smooth_min_ratio <= 1.0))
      throw std::invalid_argument("smooth_min_ratio must lie in [0, 1]");
    if (max_coarse < 1) throw std::invalid_argument("max_coarse must be >= 1");
    if (max_levels < 1) throw std::invalid_argument("max_levels must be >= 1");
    if (sweeps < 1) throw std::invalid_argument("sweeps must be >= 1");
    if (!(omega > 0.0 && omega < 2.0)) throw std::invalid_argument("omega must lie in (0, 2)");
  }
};

/// An owned CSR matrix (the levels of the hierarchy and the transfers).
template <class Scalar, class Index>
struct CsrMatrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<Index> ptr, idx;
  std::vector<Scalar> val;
  CsrView<Scalar, Index> view() const {
    CsrView<Scalar, Index> v;
    v.rows = static_cast<Index>(rows);
    v.cols = static_cast<Index>(cols);
    v.indptr = ptr.data();
    v.indices = idx.data();
    v.data = val.data();
    return v;
  }
  std::int64_t nnz() const { return ptr.empty() ? 0 : static_cast<std::int64_t>(ptr[rows]); }
};

namespace amg_detail {

template <class Index>
void check_fits(std::int64_t v) {
  if (v > static_cast<std::int64_t>(std::numeric_limits<Index>::max()))
    throw std::length_error("a coarse level has more stored entries than its index type holds");
}

/// B = A renumbered: row i of B is row perm[i] of A, columns mapped by iperm.
template <class Scalar, class InIndex, class Index>
CsrMatrix<Scalar, Index> permuted(const CsrView<Scalar, InIndex>& A, const std::vector<std::int64_t>& perm) {
  const std::int64_t n = A.rows;
  std::vector<std::int64_t> iperm(n);
  for (std::int64_t i = 0; i < n; ++i) iperm[perm[i]] = i;
  CsrMatrix<Scalar, Index> B;
  B.rows = B.cols = n;
  B.ptr.resize(n + 1);
  B.ptr[0] = 0;
  std::int64_t nnz = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t g = perm[i];
    for (InIndex p = A.indptr[g]; p < A.indptr[g + 1]; ++p) nnz += A.data[p] != Scalar(0);
    check_fits<Index>(nnz);
    B.ptr[i + 1] = static_cast<Index>(nnz);
  }
  B.idx.resize(nnz);
  B.val.resize(nnz);
  std::int64_t q = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t g = perm[i];
    for (InIndex p = A.indptr[g]; p < A.indptr[g + 1]; ++p) {
      if (A.data[p] == Scalar(0)) continue;
      B.idx[q] = static_cast<Index>(iperm[A.indices[p]]);
      B.val[q++] = A.data[p];
    }
  }
  return B;
}

/// Aggregation on the strong edges of A (|a_ij| >= theta sqrt(a_ii a_jj)):
/// pass 1 takes each variable whose strong neighbours are all free as the
/// seed of an aggregate holding them; pass 2 attaches each remaining variable
/// to the aggregate of its strongest aggregated neighbour; pass 3 groups what
/// is left with its free neighbours. A variable without strong edges is in
/// no aggregate (agg = -1: the sweeps alone treat it). Returns the count.
template <class Scalar, class Index>
std::int64_t aggregate(const CsrMatrix<Scalar, Index>& A, double theta, std::vector<std::int64_t>& agg) {
  const std::int64_t n = A.rows;
  std::vector<Scalar> diag(n, Scalar(0));
  for (std::int64_t i = 0; i < n; ++i)
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p)
      if (A.idx[p] == i) diag[i] += A.val[p];
  auto strong = [&](std::int64_t i, Index p) {
    const std::int64_t j = A.idx[p];
    if (j == i || A.val[p] == Scalar(0)) return false;
    if (theta <= 0.0) return true;
    return std::abs(double(A.val[p])) >= theta * std::sqrt(std::abs(double(diag[i]) * double(diag[j])));
  };
  agg.assign(n, -1);
  std::vector<char> has_strong(n, 0);
  std::int64_t nc = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    bool free_nbhd = true, any = false;
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p) {
      if (!strong(i, p)) continue;
      any = true;
      if (agg[A.idx[p]] >= 0) {
        free_nbhd = false;
        break;
      }
    }
    if (any) has_strong[i] = 1;
    if (!any || !free_nbhd || agg[i] >= 0) continue;
    agg[i] = nc;
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p)
      if (strong(i, p)) agg[A.idx[p]] = nc;
    ++nc;
  }
  // has_strong may be unset for variables skipped early: recompute cheaply
  for (std::int64_t i = 0; i < n; ++i) {
    if (has_strong[i]) continue;
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p)
      if (strong(i, p)) {
        has_strong[i] = 1;
        break;
      }
  }
  std::vector<std::int64_t> pass1(agg);
  for (std::int64_t i = 0; i < n; ++i) {
    if (agg[i] >= 0 || !has_strong[i]) continue;
    double best = -1.0;
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p) {
      if (!strong(i, p) || pass1[A.idx[p]] < 0) continue;
      const double w = std::abs(double(A.val[p]));
      if (w > best) {
        best = w;
        agg[i] = pass1[A.idx[p]];
      }
    }
  }
  for (std::int64_t i = 0; i < n; ++i) {
    if (agg[i] >= 0 || !has_strong[i]) continue;
    agg[i] = nc;
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p)
      if (strong(i, p) && agg[A.idx[p]] < 0) agg[A.idx[p]] = nc;
    ++nc;
  }
  return nc;
}

/// The prolongation: P = (I - w D^{-1} A) T with T the piecewise-constant
/// aggregate indicator (w = 0: P = T). Columns in aggregate order.
template <class Scalar, class Index>
CsrMatrix<Scalar, Index> prolongation(const CsrMatrix<Scalar, Index>& A, const std::vector<std::int64_t>& agg,
                                      std::int64_t nc, double weight) {
  const std::int64_t n = A.rows;
  CsrMatrix<Scalar, Index> P;
  P.rows = n;
  P.cols = nc;
  P.ptr.assign(n + 1, 0);
  if (weight == 0.0) {
    for (std::int64_t i = 0; i < n; ++i) {
      if (agg[i] >= 0) {
        P.idx.push_back(static_cast<Index>(agg[i]));
        P.val.push_back(Scalar(1));
      }
      P.ptr[i + 1] = static_cast<Index>(P.idx.size());
    }
    return P;
  }
  // rho(D^-1 A) <= max_i sum_j |a_ij| / a_ii (Gershgorin)
  std::vector<Scalar> diag(n, Scalar(0));
  double rho = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p) {
      if (A.idx[p] == i) diag[i] += A.val[p];
      s += std::abs(double(A.val[p]));
    }
    if (diag[i] > Scalar(0)) rho = std::max(rho, s / double(diag[i]));
  }
  const double w = rho > 0.0 ? weight / rho : 0.0;
  std::vector<Scalar> acc(nc, Scalar(0));
  std::vector<std::int64_t> mark(nc, -1), cols;
  P.idx.reserve(static_cast<std::size_t>(A.nnz()));
  P.val.reserve(static_cast<std::size_t>(A.nnz()));
  for (std::int64_t i = 0; i < n; ++i) {
    cols.clear();
    if (agg[i] >= 0) {
      mark[agg[i]] = i;
      cols.push_back(agg[i]);
      acc[agg[i]] = Scalar(1);
    }
    if (diag[i] > Scalar(0)) {
      const Scalar s = Scalar(w) / diag[i];
      for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p) {
        const std::int64_t a = agg[A.idx[p]];
        if (a < 0) continue;
        if (mark[a] != i) {
          mark[a] = i;
          cols.push_back(a);
          acc[a] = Scalar(0);
        }
        acc[a] -= s * A.val[p];
      }
    }
    for (std::int64_t a : cols) {
      if (acc[a] == Scalar(0)) continue;
      P.idx.push_back(static_cast<Index>(a));
      P.val.push_back(acc[a]);
    }
    check_fits<Index>(static_cast<std::int64_t>(P.idx.size()));
    P.ptr[i + 1] = static_cast<Index>(P.idx.size());
  }
  return P;
}

template <class Scalar, class Index>
CsrMatrix<Scalar, Index> transpose(const CsrMatrix<Scalar, Index>& A) {
  CsrMatrix<Scalar, Index> T;
  T.rows = A.cols;
  T.cols = A.rows;
  T.ptr.assign(A.cols + 1, 0);
  const std::int64_t nnz = A.nnz();
  for (std::int64_t q = 0; q < nnz; ++q) ++T.ptr[A.idx[q] + 1];
  for (std::int64_t j = 0; j < A.cols; ++j) T.ptr[j + 1] += T.ptr[j];
  T.idx.resize(nnz);
  T.val.resize(nnz);
  std::vector<Index> fill(T.ptr.begin(), T.ptr.end() - 1);
  for (std::int64_t i = 0; i < A.rows; ++i)
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p) {
      const Index d = fill[A.idx[p]]++;
      T.idx[d] = static_cast<Index>(i);
      T.val[d] = A.val[p];
    }
  return T;
}

/// The dense accumulator of a Gustavson row: adds to column j of the row being
/// built, remembering the columns in first-touch order, then appends the row
/// to a CSR under construction.
template <class Scalar>
struct RowAccumulator {
  std::vector<Scalar> acc;
  std::vector<std::int64_t> mark, cols;
  std::int64_t row = -1;

  explicit RowAccumulator(std::int64_t width)
      : acc(static_cast<std::size_t>(width), Scalar(0)), mark(static_cast<std::size_t>(width), -1) {}

  void start(std::int64_t r) {
    row = r;
    cols.clear();
  }

  void add(std::int64_t j, Scalar v) {
    if (mark[j] != row) {
      mark[j] = row;
      cols.push_back(j);
      acc[j] = v;
    } else {
      acc[j] += v;
    }
  }

  /// Appends the row to C as its row `row` (C.ptr[row] already set).
  template <class Index>
  void append_to(CsrMatrix<Scalar, Index>& C) const {
    for (std::int64_t j : cols) {
      C.idx.push_back(static_cast<Index>(j));
      C.val.push_back(acc[j]);
    }
    check_fits<Index>(static_cast<std::int64_t>(C.idx.size()));
    C.ptr[row + 1] = static_cast<Index>(C.idx.size());
  }
};

/// C = A B (Gustavson, a dense accumulator per row; the columns of a row are
/// left in first-touch order: nothing downstream needs them sorted).
template <class Scalar, class Index>
CsrMatrix<Scalar, Index> multiply(const CsrMatrix<Scalar, Index>& A, const CsrMatrix<Scalar, Index>& B) {
  CsrMatrix<Scalar, Index> C;
  C.rows = A.rows;
  C.cols = B.cols;
  C.ptr.assign(A.rows + 1, 0);
  {  // reserve the products' count, an upper bound (pages are only touched when written): no regrowth
    std::int64_t bound = 0;
    for (std::int64_t p = 0; p < A.nnz(); ++p) bound += B.ptr[A.idx[p] + 1] - B.ptr[A.idx[p]];
    bound = std::min<std::int64_t>(bound, A.rows * std::max<std::int64_t>(B.cols, 1));
    C.idx.reserve(static_cast<std::size_t>(bound));
    C.val.reserve(static_cast<std::size_t>(bound));
  }
  RowAccumulator<Scalar> row(B.cols);
  for (std::int64_t i = 0; i < A.rows; ++i) {
    row.start(i);
    for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p) {
      const Scalar a = A.val[p];
      const Index k = A.idx[p];
      for (Index q = B.ptr[k]; q < B.ptr[k + 1]; ++q) row.add(B.idx[q], a * B.val[q]);
    }
    row.append_to(C);
  }
  return C;
}

/// T^T A T for the piecewise-constant prolongation T of `agg` (one pass over
/// A, aggregate by aggregate: `members` = T^T lists each aggregate's variables).
template <class Scalar, class Index>
CsrMatrix<Scalar, Index> galerkin_constant(const CsrMatrix<Scalar, Index>& A, const std::vector<std::int64_t>& agg,
                                           const CsrMatrix<Scalar, Index>& members) {
  const std::int64_t nc = members.rows;
  CsrMatrix<Scalar, Index> C;
  C.rows = C.cols = nc;
  C.ptr.assign(nc + 1, 0);
  C.idx.reserve(static_cast<std::size_t>(A.nnz()));
  C.val.reserve(static_cast<std::size_t>(A.nnz()));
  RowAccumulator<Scalar> row(nc);
  for (std::int64_t c = 0; c < nc; ++c) {
    row.start(c);
    for (Index m = members.ptr[c]; m < members.ptr[c + 1]; ++m) {
      const std::int64_t i = members.idx[m];
      for (Index p = A.ptr[i]; p < A.ptr[i + 1]; ++p) {
        const std::int64_t a = agg[A.idx[p]];
        if (a >= 0) row.add(a, A.val[p]);
      }
    }
    row.append_to(C);
  }
  return C;
}

/// Ordered forest partition as a `Partition`'s arrays (blocks of consecutive variables).
template <class Scalar, class Index>
void ordered_blocks(const CsrView<Scalar, Index>& A, std::vector<std::int64_t>& ptr, std::vector<std::int64_t>& idx) {
  const std::vector<std::int64_t> block = ordered_forest_partition(A);
  const std::int64_t n = A.rows;
  idx.resize(n);
  std::iota(idx.begin(), idx.end(), std::int64_t(0));
  ptr.assign(1, 0);
  for (std::int64_t i = 1; i <= n; ++i)
    if (i == n || block[i] != block[i - 1]) ptr.push_back(i);
}

}  // namespace amg_detail

/// The hierarchy (set up once per matrix), its V-cycle and the CG solve.
/// Not safe for concurrent use of one object (the levels keep work vectors).
template <class Scalar, class Index>
class ForestAMG {
 public:
  /// One level: its smoother (which holds A_l, renumbered) and, but on the
  /// coarsest, the prolongation from the next level (both renumbered).
  struct Level {
    std::int64_t n = 0, nnz = 0;
    std::unique_ptr<ForestPCG<Scalar, Index>> smoother;
    CsrMatrix<Scalar, Index> P, R;  // R = P^T
    std::vector<Scalar> x, b, r;
  };

  template <class InIndex>
  ForestAMG(const CsrView<Scalar, InIndex>& A, const ForestAmgOptions& opt) : opt_(opt) {
    opt.check();
    if (A.rows != A.cols) throw std::invalid_argument("A must be square");
    n_ = A.rows;
    if (n_ == 0) return;
    ForestPcgOptions sopt;
    sopt.omega = opt.omega;
    std::vector<std::int64_t> bptr, bidx, agg;
    // level 0: the smoother on the caller's matrix, then A renumbered
    CsrMatrix<Scalar, Index> cur;
    {
      amg_detail::ordered_blocks(A, bptr, bidx);
      Partition part{bptr.data(), bidx.data(), static_cast<std::int64_t>(bptr.size()) - 1};
      levels_.emplace_back();
      levels_.back().smoother = std::make_unique<ForestPCG<Scalar, Index>>(to_index(A, cur), part, sopt);
      cur = amg_detail::permuted<Scalar, InIndex, Index>(A, levels_.back().smoother->permutation());
    }
    perm_ = levels_[0].smoother->permutation();
    for (std::int64_t l = 0;; ++l) {
      Level& L = levels_[l];
      L.n = cur.rows;
      L.nnz = cur.nnz();
      L.x.resize(L.n);
      L.b.resize(L.n);
      L.r.resize(L.n);
      const bool last = L.n <= opt.max_coarse || l + 1 >= opt.max_levels;
      std::int64_t nc = 0;
      if (!last) nc = amg_detail::aggregate(cur, opt.strength, agg);
      if (last || nc == 0 || nc >= L.n) {  // the coarsest: factor it
        factor(cur);
        break;
      }
      // Smoothing pays on low-degree graphs (small aggregates: lattices); where the
      // aggregates are large (high-degree graphs: kNN), the smoothed P reaches two
      // hops and P^T A P fills in, so the level stays piecewise constant.
      const bool smooth = double(nc) >= opt.smooth_min_ratio * double(L.n);
      L.P = amg_detail::prolongation(cur, agg, nc, smooth ? opt.smoothing : 0.0);
      CsrMatrix<Scalar, Index> R = amg_detail::transpose(L.P), Ac;
      if (smooth && opt.smoothing > 0.0) {
        CsrMatrix<Scalar, Index> AP = amg_detail::multiply(cur, L.P);
        Ac = amg_detail::multiply(R, AP);
      } else {
        Ac = amg_detail::galerkin_constant(cur, agg, R);
      }
      // the next level's smoother, then renumber Ac and P's columns with it
      amg_detail::ordered_blocks(Ac.view(), bptr, bidx);
      Partition part{bptr.data(), bidx.data(), static_cast<std::int64_t>(bptr.size()) - 1};
      auto S = std::make_unique<ForestPCG<Scalar, Index>>(Ac.view(), part, sopt);
      const std::vector<std::int64_t>& perm = S->permutation();
      std::vector<std::int64_t> iperm(nc);
      for (std::int64_t i = 0; i < nc; ++i) iperm[perm[i]] = i;
      for (auto& j : L.P.idx) j = static_cast<Index>(iperm[j]);
      L.R = amg_detail::transpose(L.P);
      cur = amg_detail::permuted<Scalar, Index, Index>(Ac.view(), perm);
      levels_.emplace_back();
      levels_.back().smoother = std::move(S);
    }
  }

  std::int64_t size() const noexcept { return n_; }
  /// Sets the stopping test of `solve` (the hierarchy does not depend on it).
  void set_stop(double tol, std::int64_t maxiter) {
    ForestAmgOptions o = opt_;
    o.tol = tol;
    o.maxiter = maxiter;
    o.check();
    opt_ = o;
  }
  std::int64_t n_levels() const noexcept { return static_cast<std::int64_t>(levels_.size()); }
  const Level& level(std::int64_t l) const { return levels_[l]; }
  /// Stored entries of all the level matrices over those of A.
  double operator_complexity() const {
    double s = 0.0;
    for (const Level& L : levels_) s += double(L.nnz);
    return levels_.empty() || levels_[0].nnz == 0 ? 1.0 : s / double(levels_[0].nnz);
  }
  /// Variables of all levels over those of A.
  double grid_complexity() const {
    double s = 0.0;
    for (const Level& L : levels_) s += double(L.n);
    return n_ == 0 ? 1.0 : s / double(n_);
  }

  /// z = B r: one V-cycle in the caller's numbering (z may not alias r).
  void apply(const Scalar* r, Scalar* z) {
    if (n_ == 0) return;
    Level& L = levels_[0];
    for (std::int64_t i = 0; i < n_; ++i) L.b[i] = r[perm_[i]];
    vcycle(0, L.b.data(), L.x.data());
    for (std::int64_t i = 0; i < n_; ++i) z[perm_[i]] = L.x[i];
  }

  /// Solves A x = b by CG preconditioned with the V-cycle, from x (in place,
  /// the caller's numbering). Stops when ||b - A x|| <= tol ||b||, confirmed
  /// on the true residual of the returned x. `monitor(it, x, relres)` after
  /// each iteration (x in the caller's numbering); false stops.
  /// (Its own CG loop, not common/cg.hpp: it needs the status, the monitor,
  /// Ctrl-C, and a V-cycle that works in the renumbered space.)
  SolveInfo solve(const Scalar* b, Scalar* x, Control* control = nullptr,
                  const std::function<bool(std::int64_t, const Scalar*, double)>& monitor = nullptr) {
    SolveInfo info;
    const std::int64_t n = n_;
    if (n == 0) {
      info.status = Status::converged;
      return info;
    }
    ForestPCG<Scalar, Index>& A = *levels_[0].smoother;
    std::vector<Scalar> bp(n), xp(n), r(n), z(n), p(n), q(n), xo;
    for (std::int64_t i = 0; i < n; ++i) {
      bp[i] = b[perm_[i]];
      xp[i] = x[perm_[i]];
    }
    auto finish = [&](Status st) {
      info.status = st;
      for (std::int64_t i = 0; i < n; ++i) x[perm_[i]] = xp[i];
      return info;
    };
    auto norm = [&](const std::vector<Scalar>& v) {
      double s = 0.0;
      for (std::int64_t i = 0; i < n; ++i) s += double(v[i]) * double(v[i]);
      return std::sqrt(s);
    };
    auto true_residual = [&]() {
      A.multiply(xp.data(), r.data());
      for (std::int64_t i = 0; i < n; ++i) r[i] = bp[i] - r[i];
      return norm(r);
    };
    const double bn = norm(bp);
    const double scale = bn > 0.0 ? bn : 1.0;
    const double target = opt_.tol * scale;
    double rn = true_residual();
    info.residual = rn / scale;
    if (!std::isfinite(rn)) return finish(Status::non_finite);
    if (rn <= target) return finish(Status::converged);
    double rz = 0.0;
    auto precondition = [&]() {
      vcycle(0, r.data(), z.data());
      double s = 0.0;
      for (std::int64_t i = 0; i < n; ++i) s += double(r[i]) * double(z[i]);
      return s;
    };
    rz = precondition();
    p = z;
    for (std::int64_t it = 0; it < opt_.maxiter; ++it) {
      if (control && control->poll()) return finish(Status::interrupted);
      A.multiply(p.data(), q.data());
      double pq = 0.0;
      for (std::int64_t i = 0; i < n; ++i) pq += double(p[i]) * double(q[i]);
      if (!std::isfinite(pq) || !std::isfinite(rz)) return finish(Status::non_finite);
      if (!(pq > 0.0) || !(rz > 0.0)) return finish(Status::breakdown);
      const Scalar alpha = Scalar(rz / pq);
      for (std::int64_t i = 0; i < n; ++i) {
        xp[i] += alpha * p[i];
        r[i] -= alpha * q[i];
      }
      rn = norm(r);
      info.iterations = it + 1;
      info.residual = rn / scale;
      if (!std::isfinite(rn)) {
        for (std::int64_t i = 0; i < n; ++i) xp[i] -= alpha * p[i];
        return finish(Status::non_finite);
      }
      bool done = false, restarted = false;
      if (rn <= target) {  // confirm on b - A x
        rn = true_residual();
        info.residual = rn / scale;
        done = rn <= target;
        restarted = true;
      }
      if (monitor) {
        xo.resize(n);
        for (std::int64_t i = 0; i < n; ++i) xo[perm_[i]] = xp[i];
        if (!monitor(it + 1, xo.data(), info.residual) && !done) return finish(Status::callback_stop);
      }
      if (done) return finish(Status::converged);
      const double rz_new = precondition();
      const double beta = restarted ? 0.0 : rz_new / rz;
      rz = rz_new;
      for (std::int64_t i = 0; i < n; ++i) p[i] = z[i] + Scalar(beta) * p[i];
    }
    return finish(Status::max_iter);
  }

 private:
  template <class InIndex>
  static CsrView<Scalar, Index> to_index(const CsrView<Scalar, InIndex>& A, CsrMatrix<Scalar, Index>& store) {
    if constexpr (std::is_same_v<InIndex, Index>) {
      return A;
    } else {
      store.rows = store.cols = A.rows;
      store.ptr.assign(A.indptr, A.indptr + A.rows + 1);
      store.idx.assign(A.indices, A.indices + A.nnz());
      store.val.assign(A.data, A.data + A.nnz());
      return store.view();
    }
  }

  void factor(const CsrMatrix<Scalar, Index>& C) {
    const std::int64_t n = C.rows;
    Eigen::SparseMatrix<Scalar, Eigen::ColMajor, std::int64_t> M(n, n);
    std::vector<Eigen::Triplet<Scalar, std::int64_t>> t;
    t.reserve(static_cast<std::size_t>(C.nnz()));
    for (std::int64_t i = 0; i < n; ++i)
      for (Index p = C.ptr[i]; p < C.ptr[i + 1]; ++p) t.emplace_back(i, C.idx[p], C.val[p]);
    M.setFromTriplets(t.begin(), t.end());
    chol_.compute(M);
    if (chol_.info() != Eigen::Success) throw std::invalid_argument("A must be positive definite (the coarsest level's Cholesky factorisation failed)");
  }

  void vcycle(std::int64_t l, const Scalar* b, Scalar* x) {
    Level& L = levels_[l];
    const std::int64_t n = L.n;
    if (l + 1 == n_levels()) {
      Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> bb(b, n);
      Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> xx(x, n);
      xx = chol_.solve(bb);
      return;
    }
    ForestPCG<Scalar, Index>& S = *L.smoother;
    S.sweep(b, x, true);
    for (std::int64_t s = 1; s < opt_.sweeps; ++s) S.sweep(b, x, false);
    S.multiply(x, L.r.data());
    for (std::int64_t i = 0; i < n; ++i) L.r[i] = b[i] - L.r[i];
    Level& C = levels_[l + 1];
    const CsrMatrix<Scalar, Index>& R = L.R;
    for (std::int64_t j = 0; j < C.n; ++j) {
      Scalar v = 0;
      for (Index p = R.ptr[j]; p < R.ptr[j + 1]; ++p) v += R.val[p] * L.r[R.idx[p]];
      C.b[j] = v;
    }
    vcycle(l + 1, C.b.data(), C.x.data());
    const CsrMatrix<Scalar, Index>& P = L.P;
    for (std::int64_t i = 0; i < n; ++i) {
      Scalar v = 0;
      for (Index p = P.ptr[i]; p < P.ptr[i + 1]; ++p) v += P.val[p] * C.x[P.idx[p]];
      x[i] += v;
    }
    for (std::int64_t s = 0; s < opt_.sweeps; ++s) S.sweep(b, x, false);
  }

  std::int64_t n_ = 0;
  ForestAmgOptions opt_;
  std::vector<Level> levels_;
  std::vector<std::int64_t> perm_;
  Eigen::SimplicialLDLT<Eigen::SparseMatrix<Scalar, Eigen::ColMajor, std::int64_t>> chol_;
};

}  // namespace itercore::bcd
