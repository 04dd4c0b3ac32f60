#pragma once
/// Entropic optimal transport by Sinkhorn iterations on the dual potentials.
///
/// Problem: min_P <P, M> + reg * sum_ij P_ij (log P_ij - 1)  s.t.  P 1 = a, P^T 1 = b,
/// whose solution is P_ij = exp((f_i + g_j - M_ij) / reg) for dual potentials (f, g).
/// Sinkhorn alternately makes the rows, then the columns, match their marginals:
///   f_i <- reg log a_i - reg LSE_j((g_j - M_ij) / reg),   g_j likewise over i.
///
/// Two forms of the same iteration:
/// - log domain: one exp pass over M an iteration. Row i's entries
///   exp((f_i + g_j - M_ij) / reg), shifted by the current potentials so the sums
///   never overflow, give the row update; scaled by a_i / (row sum) they are the
///   plan after it, whose column sums give the column update. A row or column
///   whose sum under- or overflows is recomputed with an exact max-shifted
///   log-sum-exp. The exp is exp_row.hpp's (AVX2 where the CPU has it);
/// - scaling (fast path): P = diag(u) K diag(v) with K = exp((f_i + g_j - M_ij)/reg)
///   stored once, so an iteration is two mat-vecs with K (no exp), fused into one
///   pass over K (row i's K_i . v, then u_i K_i into the column sums while the row
///   is in cache: K is read once an iteration, not twice). u, v are
///   absorbed into (f, g) and K recomputed before they leave [e^-tau, e^tau], and a
///   scaling step whose sums are not normal numbers is thrown away and redone in the
///   log domain: the fast path runs only where it cannot underflow.
///
/// Zero weights are allowed: such a row (column) gets potential -inf and no mass.
/// The stopping measure is the L1 marginal error ||P 1 - a||_1 + ||P^T 1 - b||_1,
/// free here: the row sums of the current plan fall out of the next row update,
/// and the column sums are exact after a column update.
///
/// M is row-major n x m and C-contiguous; a, b have n and m entries.

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "../common/interrupt.hpp"
#include "../common/status.hpp"
#include "../common/threads.hpp"
#include "exp_row.hpp"

namespace itercore::ot {

/// Below this many entries in M an O(nm) pass runs serially: measured on 2 cores,
/// forking and joining threads twice an iteration costs more than it saves below ~512 x 512.
inline constexpr std::int64_t kParallelEntries = std::int64_t(1) << 18;

/// A borrowed problem: weights a (n), b (m), row-major cost M (n x m), reg > 0.
template <class Scalar>
struct Problem {
  std::int64_t n = 0;
  std::int64_t m = 0;
  const Scalar* a = nullptr;
  const Scalar* b = nullptr;
  const Scalar* M = nullptr;
  double reg = 1.0;
};

/// Which iteration runs (`solve`, `solve_batch`).
enum class Method : int {
  sinkhorn = 0,      ///< Sinkhorn, scaling fast path where safe, log domain otherwise
  sinkhorn_log = 1,  ///< Sinkhorn in the log domain only
  sns = 2,           ///< Sinkhorn warm-up, then sparse Newton (itercore's hybrid)
  sns_paper = 3,     ///< Tang et al.'s Algorithm 1 as written: N1 Sinkhorn steps, then pure sparse Newton
};

/// How SNS sparsifies the plan block of its Newton matrix (the diagonals stay exact).
enum class Sparsify : int {
  rows = 0,    ///< per row, the largest entries holding all but `drop_share` of its mass (at most `max_keep`)
  global = 1,  ///< the `density * max(n, m)` largest entries of the whole plan (Tang et al.)
};

/// How SNS solves its Newton systems.
enum class LinearSolver : int {
  automatic = 0,  ///< CG, switching to direct once CG struggles and the factorization is cheaper
  cg = 1,         ///< Jacobi-preconditioned conjugate gradients
  direct = 2,     ///< sparse Cholesky of the Schur complement on the smaller side
};

/// Knobs of the solvers (Sinkhorn and SNS share them). The defaults here are
/// the only ones: the Python layer reads them from the bound struct.
struct Options {
  Method method = Method::sinkhorn;  ///< the iteration (`solve` and `solve_batch`)
  std::int64_t maxiter = 10000;   ///< Sinkhorn iterations (SNS: warm-up and fall-back ones count)
  std::int64_t max_newton = 100;  ///< Newton steps (SNS only)
  double tol = 1e-9;              ///< stop when the L1 marginal error <= tol
  int n_threads = 0;              ///< <= 0: the OpenMP default
  bool history = false;           ///< keep the error of every check in SolveInfo::history
  // SNS
  double switch_tol = 1e-1;        ///< Sinkhorn warm-up until the error is below this ...
  std::int64_t warmup_iter = 50;   ///< ... or this many warm-up iterations
  std::int64_t predict_sinkhorn = 100;  ///< sns: after the warm-up, Sinkhorn goes on while its observed linear rate predicts tol within this many more iterations (0: never)
  double drop_share = 1e-2;        ///< initial share of each row's mass the sparsified Hessian may drop (shrunk tenfold on stalls)
  std::int64_t max_keep = 32;      ///< initial cap on kept Hessian entries per row (doubles on stalls)
  std::int64_t cg_maxiter = 5000;  ///< conjugate-gradient iterations per Newton step
  std::int64_t fallback_iter = 20; ///< Sinkhorn iterations after a failed Newton step
  double max_step = 30.0;          ///< first trial step moves no potential by more than max_step * reg
  std::int64_t newton_sinkhorn = 1; ///< log-domain Sinkhorn iterations after each accepted Newton step
  std::int64_t stall_sinkhorn = 20; ///< Sinkhorn iterations after a Newton step that did not halve the error
  LinearSolver linear_solver = LinearSolver::automatic;  ///< how Newton systems are solved
  std::int64_t direct_after = 200; ///< automatic: try the direct solve once a CG solve needed more iterations than this
  std::int64_t direct_max_size = 5000; ///< automatic: direct only when min(n, m) is at most this
  Sparsify sparsify = Sparsify::rows;  ///< sns: how the Hessian is sparsified (sns_paper always global)
  double density = 2.0;  ///< global sparsification keeps density * max(n, m) entries (Tang et al.: 2; 15 for L1 costs)
  std::int64_t paper_line_search = 30;  ///< sns_paper: backtracking halvings before the step counts as failed

  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    if (maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
    if (max_newton < 0) throw std::invalid_argument("max_newton must be >= 0");
    if (!(tol >= 0)) throw std::invalid_argument("tol must be >= 0");
    if (!(switch_tol >= 0)) throw std::invalid_argument("switch_tol must be >= 0");
    if (warmup_iter < 0) throw std::invalid_argument("warmup_iter must be >= 0");
    if (predict_sinkhorn < 0) throw std::invalid_argument("predict_sinkhorn must be >= 0");
    if (!(drop_share > 0 && drop_share < 1)) throw std::invalid_argument("drop_share must be in (0, 1)");
    if (max_keep < 1) throw std::invalid_argument("max_keep must be >= 1");
    if (cg_maxiter < 1) throw std::invalid_argument("cg_maxiter must be >= 1");
    if (fallback_iter < 0) throw std::invalid_argument("fallback_iter must be >= 0");
    if (!(max_step > 0) || !std::isfinite(max_step)) throw std::invalid_argument("max_step must be finite and > 0");
    if (newton_sinkhorn < 0) throw std::invalid_argument("newton_sinkhorn must be >= 0");
    if (stall_sinkhorn < 0) throw std::invalid_argument("stall_sinkhorn must be >= 0");
    if (direct_after < 0) throw std::invalid_argument("direct_after must be >= 0");
    if (direct_max_size < 1) throw std::invalid_argument("direct_max_size must be >= 1");
    if (!(density > 0) || !std::isfinite(density)) throw std::invalid_argument("density must be finite and > 0");
    if (paper_line_search < 1) throw std::invalid_argument("paper_line_search must be >= 1");
  }
};

/// Iteration counts beside the shared SolveInfo (info.iterations = sinkhorn + newton).
struct OtInfo {
  SolveInfo info;
  std::int64_t sinkhorn_iterations = 0;
  std::int64_t newton_iterations = 0;
  std::int64_t cg_iterations = 0;
  std::int64_t direct_solves = 0;  ///< Newton systems solved by the direct (Schur complement) path
};

/// A monitor that never stops the solve (the default callback).
struct NoMonitor {
  template <class Scalar>
  bool operator()(const char*, std::int64_t, double, const Scalar*, const Scalar*) const noexcept {
    return true;
  }
};

namespace detail {

template <class Scalar>
using RowArray = Eigen::Array<Scalar, 1, Eigen::Dynamic>;
template <class Scalar>
using ConstRowMap = Eigen::Map<const RowArray<Scalar>>;
template <class Scalar>
using RowMap = Eigen::Map<RowArray<Scalar>>;

inline bool parallel_for(std::int64_t entries, int nt) { return nt > 1 && entries >= kParallelEntries; }

/// A positive, normal, finite sum (safe to take the log of and to divide by).
template <class T>
inline bool good_sum(T s) {
  return std::isfinite(s) && s >= std::numeric_limits<T>::min();
}

inline double neg_inf() { return -std::numeric_limits<double>::infinity(); }

/// Per-thread column accumulators: row_fn(i, acc) adds row i's contribution into
/// acc (m Scalars); out[j] receives the sum over all rows (in double).
template <class Scalar, class RowFn>
void column_reduce(std::int64_t n, std::int64_t m, int nt, bool par, std::vector<Scalar>& scratch, double* out,
                   RowFn row_fn) {
  const int used = par ? nt : 1;
  scratch.assign(static_cast<std::size_t>(used) * static_cast<std::size_t>(m), Scalar(0));
#pragma omp parallel num_threads(used) if (par)
  {
    int tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();
#endif
    Scalar* acc = scratch.data() + static_cast<std::size_t>(tid) * static_cast<std::size_t>(m);
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) row_fn(i, acc);
  }
  for (std::int64_t j = 0; j < m; ++j) {
    double s = 0.0;
    for (int t = 0; t < used; ++t) s += static_cast<double>(scratch[static_cast<std::size_t>(t) * m + j]);
    out[j] = s;
  }
}

/// Sets the potentials of zero-weight rows/columns to -inf (they carry no mass)
/// and the others to 0 when they are not finite (a safe start).
template <class Scalar>
void sanitize_potentials(const Problem<Scalar>& p, Scalar* f, Scalar* g) {
  const Scalar ninf = -std::numeric_limits<Scalar>::infinity();
  for (std::int64_t i = 0; i < p.n; ++i) f[i] = p.a[i] > 0 ? (std::isfinite(f[i]) ? f[i] : Scalar(0)) : ninf;
  for (std::int64_t j = 0; j < p.m; ++j) g[j] = p.b[j] > 0 ? (std::isfinite(g[j]) ? g[j] : Scalar(0)) : ninf;
}

template <class Scalar>
bool potentials_finite(const Problem<Scalar>& p, const Scalar* f, const Scalar* g) {
  for (std::int64_t i = 0; i < p.n; ++i)
    if (p.a[i] > 0 && !std::isfinite(f[i])) return false;
  for (std::int64_t j = 0; j < p.m; ++j)
    if (p.b[j] > 0 && !std::isfinite(g[j])) return false;
  return true;
}

/// Exact log-sum-exp of row i: returns reg * log sum_j exp((g_j - M_ij)/reg).
template <class Scalar>
double row_lse_exact(const Problem<Scalar>& p, const Scalar* g, std::int64_t i) {
  const Scalar* Mi = p.M + i * p.m;
  double mx = neg_inf();
  for (std::int64_t j = 0; j < p.m; ++j) mx = std::max(mx, static_cast<double>(g[j]) - Mi[j]);
  if (!std::isfinite(mx)) return mx;
  double s = 0.0;
  for (std::int64_t j = 0; j < p.m; ++j) s += std::exp((static_cast<double>(g[j]) - Mi[j] - mx) / p.reg);
  return mx + p.reg * std::log(s);
}

/// Exact log-sum-exp of column j: reg * log sum_i exp((f_i - M_ij)/reg) (strided; rare).
template <class Scalar>
double col_lse_exact(const Problem<Scalar>& p, const Scalar* f, std::int64_t j) {
  double mx = neg_inf();
  for (std::int64_t i = 0; i < p.n; ++i) mx = std::max(mx, static_cast<double>(f[i]) - p.M[i * p.m + j]);
  if (!std::isfinite(mx)) return mx;
  double s = 0.0;
  for (std::int64_t i = 0; i < p.n; ++i) s += std::exp((static_cast<double>(f[i]) - p.M[i * p.m + j] - mx) / p.reg);
  return mx + p.reg * std::log(s);
}

/// Row i's scale a_i / s_i may lift entries that exp flushed to 0 (below
/// ~e^-708 in double, e^-87 in float) into the new plan only when it is huge;
/// beyond this bound the row is recomputed at its new potential instead.
template <class Scalar>
constexpr double max_row_scale() {
  return std::is_same<Scalar, float>::value ? 1e6 : 1e30;
}

/// One log-domain Sinkhorn iteration (rows, then columns) with one exp pass
/// over M. Row i's entries at the current potentials give its sum s_i (the
/// error term of the plan before the iteration) and its update
/// f_i += reg log(a_i / s_i); the same entries times a_i / s_i are row i of the
/// plan after the row update, so they are accumulated into the column sums
/// right away and the column update needs no second exp pass. A row whose sum
/// is not a safe number is redone with an exact max-shifted log-sum-exp (and
/// its entries recomputed at the new potential), and so is a column.
/// Returns sum_i |s_i - a_i| + (columns' error, which is 0 before a row update
/// that follows a column update). When that error is <= tol nothing changes
/// and `done` is set.
/// With `measure_cols` (the columns were not just made exact: a start, or
/// potentials moved by a Newton step) the column sums of the plan before the
/// iteration are accumulated too and their error is added.
template <class Scalar>
double log_iteration(const Problem<Scalar>& p, Scalar* f, Scalar* g, int nt, double tol, bool& done,
                     bool measure_cols, std::vector<Scalar>& f_new, std::vector<Scalar>& rowbuf,
                     std::vector<Scalar>& scratch, std::vector<double>& colsum) {
  const std::int64_t n = p.n, m = p.m;
  const bool par = parallel_for(n * m, nt);
  const int used = par ? nt : 1;
  const Scalar inv = Scalar(1.0 / p.reg);
  const std::int64_t width = measure_cols ? 2 * m : m;  // [new plan's columns | old plan's columns]
  f_new.resize(static_cast<std::size_t>(n));
  rowbuf.resize(static_cast<std::size_t>(used) * static_cast<std::size_t>(m));
  colsum.resize(static_cast<std::size_t>(width));
  std::vector<double> row_err(static_cast<std::size_t>(n), 0.0);
  column_reduce<Scalar>(n, width, nt, par, scratch, colsum.data(), [&](std::int64_t i, Scalar* acc) {
    if (!(p.a[i] > 0)) {
      f_new[i] = f[i];
      return;
    }
    int tid = 0;
#ifdef _OPENMP
    if (par) tid = omp_get_thread_num();
#endif
    Scalar* e = rowbuf.data() + static_cast<std::size_t>(tid) * static_cast<std::size_t>(m);
    const Scalar* Mi = p.M + i * m;
    const Scalar ss = exp_row<Scalar>(g, Mi, f[i], inv, e, m);
    if (measure_cols) RowMap<Scalar>(acc + m, m) += ConstRowMap<Scalar>(e, m);
    const double s = static_cast<double>(ss);
    const double ai = static_cast<double>(p.a[i]);
    double r;
    Scalar u;
    if (good_sum(ss) && ai / s <= max_row_scale<Scalar>()) {
      r = s;
      f_new[i] = static_cast<Scalar>(f[i] + p.reg * (std::log(ai) - std::log(s)));
      u = static_cast<Scalar>(ai / s);
    } else {
      const double lse = row_lse_exact(p, g, i);
      r = std::exp((static_cast<double>(f[i]) + lse) / p.reg);
      f_new[i] = static_cast<Scalar>(p.reg * std::log(ai) - lse);
      exp_row<Scalar>(g, Mi, f_new[i], inv, e, m);
      u = Scalar(1);
    }
    row_err[i] = std::abs(r - ai);
    RowMap<Scalar>(acc, m) += ConstRowMap<Scalar>(e, m) * u;
  });
  double err = 0.0;
  for (double v : row_err) err += v;
  if (measure_cols)
    for (std::int64_t j = 0; j < m; ++j) err += std::abs(colsum[m + j] - static_cast<double>(p.b[j]));
  if (err <= tol) {
    done = true;
    return err;
  }
  std::copy(f_new.begin(), f_new.end(), f);
  for (std::int64_t j = 0; j < m; ++j) {
    if (!(p.b[j] > 0)) continue;
    const double t = colsum[j];
    const double bj = static_cast<double>(p.b[j]);
    if (good_sum(static_cast<Scalar>(t))) {
      g[j] = static_cast<Scalar>(g[j] + p.reg * (std::log(bj) - std::log(t)));
    } else {
      g[j] = static_cast<Scalar>(p.reg * std::log(bj) - col_lse_exact(p, f, j));
    }
  }
  return err;
}

/// K_ij = exp((f_i + g_j - M_ij)/reg) (0 for zero-weight rows/columns).
template <class Scalar>
void compute_kernel(const Problem<Scalar>& p, const Scalar* f, const Scalar* g, Scalar* K, int nt) {
  const bool par = parallel_for(p.n * p.m, nt);
  const Scalar inv = Scalar(1.0 / p.reg);
  std::vector<std::int64_t> empty_cols;  // Eigen's exp(-inf) is a subnormal, not 0
  for (std::int64_t j = 0; j < p.m; ++j)
    if (!(p.b[j] > 0)) empty_cols.push_back(j);
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
  for (std::int64_t i = 0; i < p.n; ++i) {
    Scalar* Ki = K + i * p.m;
    if (p.a[i] > 0) {
      exp_row<Scalar>(g, p.M + i * p.m, f[i], inv, Ki, p.m);
      for (auto j : empty_cols) Ki[j] = Scalar(0);
    } else {
      RowMap<Scalar>(Ki, p.m).setZero();
    }
  }
}

/// The plan, its marginals and the objective terms at (f, g).
struct PlanStats {
  double marginal_error = 0.0;  ///< ||P1 - a||_1 + ||P^T 1 - b||_1
  double cost = 0.0;            ///< <P, M>
  double mass = 0.0;            ///< sum P
  double entropy_term = 0.0;    ///< sum P (log P - 1)
  double dual = 0.0;            ///< <f, a> + <g, b> - reg * sum P
  bool finite = true;
};

/// Writes P (n x m) at (f, g), fills row sums r and column sums c (double) and
/// returns the stats. With `objective` it also accumulates cost and entropy.
template <class Scalar>
PlanStats evaluate_plan(const Problem<Scalar>& p, const Scalar* f, const Scalar* g, Scalar* P, std::vector<double>& r,
                        std::vector<double>& c, std::vector<Scalar>& scratch, int nt, bool objective) {
  const bool par = parallel_for(p.n * p.m, nt);
  const Scalar inv = Scalar(1.0 / p.reg);
  r.assign(static_cast<std::size_t>(p.n), 0.0);
  c.resize(static_cast<std::size_t>(p.m));
  std::vector<double> cost_row, ent_row;
  if (objective) {
    cost_row.assign(static_cast<std::size_t>(p.n), 0.0);
    ent_row.assign(static_cast<std::size_t>(p.n), 0.0);
  }
  // Eigen's vectorised exp clamps its argument, so exp(-inf) is a tiny
  // subnormal, not 0: zero-weight columns are zeroed explicitly.
  std::vector<std::int64_t> empty_cols;
  for (std::int64_t j = 0; j < p.m; ++j)
    if (!(p.b[j] > 0)) empty_cols.push_back(j);
  column_reduce<Scalar>(p.n, p.m, nt, par, scratch, c.data(), [&](std::int64_t i, Scalar* acc) {
    RowMap<Scalar> Pi(P + i * p.m, p.m);
    if (!(p.a[i] > 0)) {
      Pi.setZero();
      return;
    }
    ConstRowMap<Scalar> Mi(p.M + i * p.m, p.m);
    const Scalar si = exp_row<Scalar>(g, Mi.data(), f[i], inv, Pi.data(), p.m);
    for (auto j : empty_cols) Pi[j] = Scalar(0);
    r[i] = empty_cols.empty() ? static_cast<double>(si) : static_cast<double>(Pi.sum());
    RowMap<Scalar>(acc, p.m) += Pi;
    if (objective) {
      // log P_ij from the potentials: exact even where P_ij is subnormal.
      // Branch-free and vectorised (a scalar loop with a division per entry
      // cost about 5 exp passes); zero entries (e.g. -inf potentials) add 0.
      double cs = 0.0, es = 0.0;
      const double fi = static_cast<double>(f[i]), ir = 1.0 / p.reg;
      constexpr std::int64_t kChunk = 256;
      Eigen::Array<double, 1, kChunk> pd, ld;
      for (std::int64_t j0 = 0; j0 < p.m; j0 += kChunk) {
        const std::int64_t len = std::min(kChunk, p.m - j0);
        auto pc = pd.head(len);
        auto lc = ld.head(len);
        pc = Pi.segment(j0, len).template cast<double>();
        lc = (ConstRowMap<Scalar>(g + j0, len).template cast<double>() - Mi.segment(j0, len).template cast<double>() + fi) * ir - 1.0;
        cs += (pc * Mi.segment(j0, len).template cast<double>()).sum();
        es += (pc > 0.0).select(pc * lc, 0.0).sum();
      }
      cost_row[i] = cs;
      ent_row[i] = es;
    }
  });
  PlanStats st;
  double fa = 0.0, gb = 0.0;
  for (std::int64_t i = 0; i < p.n; ++i) {
    st.marginal_error += std::abs(r[i] - static_cast<double>(p.a[i]));
    st.mass += r[i];
    if (p.a[i] > 0) fa += static_cast<double>(f[i]) * p.a[i];
    if (objective) {
      st.cost += cost_row[i];
      st.entropy_term += ent_row[i];
    }
  }
  for (std::int64_t j = 0; j < p.m; ++j) {
    st.marginal_error += std::abs(c[j] - static_cast<double>(p.b[j]));
    if (p.b[j] > 0) gb += static_cast<double>(g[j]) * p.b[j];
  }
  st.dual = fa + gb - p.reg * st.mass;
  st.finite = std::isfinite(st.marginal_error) && std::isfinite(st.dual);
  return st;
}

template <class Scalar>
void check_problem(const Problem<Scalar>& p, const Options& o) {
  if (p.n < 1 || p.m < 1) throw std::invalid_argument("ot: the problem must have n >= 1 and m >= 1");
  if (!(p.reg > 0) || !std::isfinite(p.reg)) throw std::invalid_argument("ot: reg must be finite and > 0");
  o.check();
}

/// Sinkhorn state shared by the plain solver and SNS's warm-up/fall-back phases.
template <class Scalar>
class SinkhornEngine {
 public:
  SinkhornEngine(const Problem<Scalar>& p, Scalar* f, Scalar* g, Scalar* kernel_buffer, int nt, bool scaling)
      : p_(p), f_(f), g_(g), K_(kernel_buffer), nt_(nt), scaling_(scaling && kernel_buffer != nullptr) {
    tau_ = std::is_same<Scalar, float>::value ? 10.0 : 50.0;
    f_prev_.resize(static_cast<std::size_t>(p.n));
    g_prev_.resize(static_cast<std::size_t>(p.m));
    u_next_.assign(static_cast<std::size_t>(p.n), Scalar(1));
  }

  /// One full iteration (rows, then columns). Returns the marginal error of the
  /// plan before the iteration (its columns were exact). When that error is
  /// <= tol the potentials are left unchanged and `done` is set.
  /// Returns false in `finite` when a potential stopped being finite (the
  /// previous ones are restored).
  /// `log_only` skips the fast path (a lone step between Newton steps would pay
  /// for a kernel it uses once).
  double step(double tol, bool& done, bool& finite, bool log_only = false) {
    done = false;
    finite = true;
    std::copy(f_, f_ + p_.n, f_prev_.begin());
    std::copy(g_, g_ + p_.m, g_prev_.begin());
    double err;
    // The fast path's error omits the columns: it needs them exact already.
    if (!log_only && cols_exact_ && use_scaling_now()) {
      bool ok = true;
      err = scaling_step(tol, done, ok);
      if (!ok) {
        // Thrown away: redo in the log domain and rest the fast path a while.
        std::copy(f_prev_.begin(), f_prev_.end(), f_);
        std::copy(g_prev_.begin(), g_prev_.end(), g_);
        kernel_valid_ = false;
        cooldown_ = cool_;
        cool_ = std::min<std::int64_t>(cool_ * 2, 1024);
        err = log_step(tol, done);
      } else {
        cool_ = std::max<std::int64_t>(cool_ / 2, 4);
      }
    } else {
      if (cooldown_ > 0) --cooldown_;
      err = log_step(tol, done);
    }
    if (!potentials_finite(p_, f_, g_)) {
      std::copy(f_prev_.begin(), f_prev_.end(), f_);
      std::copy(g_prev_.begin(), g_prev_.end(), g_);
      kernel_valid_ = false;
      cols_exact_ = false;
      finite = false;
    }
    return err;
  }

  /// The potentials were changed from outside (e.g. by a Newton step).
  void invalidate() {
    kernel_valid_ = false;
    cols_exact_ = false;
  }

 private:
  bool use_scaling_now() const { return scaling_ && cooldown_ == 0; }

  double log_step(double tol, bool& done) {
    const double err = log_iteration(p_, f_, g_, nt_, tol, done, !cols_exact_, f_new_, rowbuf_, scratch_, colsum_);
    if (!done) cols_exact_ = true;
    return err;
  }

  /// P = diag(u) K diag(v) with K at the absorbed potentials (fa, ga) = (f, g) at
  /// the last absorption; f = fa + reg log u.
  double scaling_step(double tol, bool& done, bool& ok) {
    const std::int64_t n = p_.n, m = p_.m;
    if (!kernel_valid_) {
      compute_kernel(p_, f_, g_, K_, nt_);
      fa_.assign(f_, f_ + n);
      ga_.assign(g_, g_ + m);
      u_.assign(static_cast<std::size_t>(n), Scalar(1));
      v_.assign(static_cast<std::size_t>(m), Scalar(1));
      kernel_valid_ = true;
    }
    const bool par = parallel_for(n * m, nt_);
    // One pass over K (rows and columns fused, as in the log domain): row i's
    // sum s_i = K_i . v gives the row's error in the current plan and the new
    // u_i = a_i / s_i; while K_i is still in cache, u_i K_i goes into the
    // column sums t = K^T u of the plan after the row update. A stored-kernel
    // iteration so reads K once (POT's two GEMVs read it twice).
    // Rows go four at a time (GEMV-style blocking: v and the column sums are
    // loaded once for four rows); a short last block is padded with a zero row.
    row_err_.resize(static_cast<std::size_t>(n));
    colsum_.resize(static_cast<std::size_t>(m));
    if (zero_row_.size() != static_cast<std::size_t>(m)) zero_row_.assign(static_cast<std::size_t>(m), Scalar(0));
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::int64_t blocks = (n + 3) / 4;
    column_reduce<Scalar>(blocks, m, nt_, par, scratch_, colsum_.data(), [&](std::int64_t blk, Scalar* acc) {
      const Scalar* rows[4];
      Scalar sums[4], un[4];
      const std::int64_t i0 = 4 * blk;
      for (int r = 0; r < 4; ++r) rows[r] = i0 + r < n ? K_ + (i0 + r) * m : zero_row_.data();
      dot4<Scalar>(rows, v_.data(), m, sums);
      for (int r = 0; r < 4; ++r) {
        un[r] = Scalar(0);
        const std::int64_t i = i0 + r;
        if (i >= n) continue;
        if (!(p_.a[i] > 0)) {  // (its kernel row is zero)
          row_err_[static_cast<std::size_t>(i)] = 0.0;
          continue;
        }
        if (!good_sum(sums[r])) {
          row_err_[static_cast<std::size_t>(i)] = nan;  // the step is thrown away
          continue;
        }
        const double si = static_cast<double>(sums[r]);
        row_err_[static_cast<std::size_t>(i)] =
            std::abs(static_cast<double>(u_[i]) * si - static_cast<double>(p_.a[i]));
        un[r] = static_cast<Scalar>(p_.a[i] / si);
        u_next_[static_cast<std::size_t>(i)] = un[r];
      }
      axpy4<Scalar>(un, rows, acc, m);
    });
    double err = 0.0;
    for (double e : row_err_) err += e;
    if (!std::isfinite(err)) {
      ok = false;
      return err;
    }
    if (err <= tol) {
      done = true;
      absorb();
      return err;
    }
    for (std::int64_t i = 0; i < n; ++i)
      if (p_.a[i] > 0) u_[i] = u_next_[i];
    // columns: v = b / t
    for (std::int64_t j = 0; j < m; ++j) {
      if (!(p_.b[j] > 0)) continue;
      const double t = colsum_[j];
      if (!good_sum(static_cast<Scalar>(t))) {
        ok = false;
        return err;
      }
      v_[j] = static_cast<Scalar>(p_.b[j] / t);
    }
    // Potentials follow the scalings; absorb before they leave [e^-tau, e^tau]
    // (the extremes of u and v, then four logs: not a log per entry).
    double lo = 1.0, hi = 1.0;
    for (std::int64_t i = 0; i < n; ++i)
      if (p_.a[i] > 0) {
        lo = std::min(lo, static_cast<double>(u_[i]));
        hi = std::max(hi, static_cast<double>(u_[i]));
      }
    for (std::int64_t j = 0; j < m; ++j)
      if (p_.b[j] > 0) {
        lo = std::min(lo, static_cast<double>(v_[j]));
        hi = std::max(hi, static_cast<double>(v_[j]));
      }
    const double worst = std::max(std::abs(std::log(lo)), std::abs(std::log(hi)));
    if (!std::isfinite(worst)) {
      ok = false;
      return err;
    }
    absorb();
    if (worst > tau_) kernel_valid_ = false;
    return err;
  }

  /// f = fa + reg log u, g = ga + reg log v (the kernel stays valid).
  /// The logs are Eigen's vectorised ones (a scalar log per entry cost about
  /// a third of a whole in-cache iteration at n = 500).
  void absorb() {
    absorb_one(p_.n, p_.a, fa_, u_, f_);
    absorb_one(p_.m, p_.b, ga_, v_, g_);
  }

  void absorb_one(std::int64_t n, const Scalar* w, const std::vector<Scalar>& base, const std::vector<Scalar>& s,
                  Scalar* out) {
    logbuf_.resize(static_cast<std::size_t>(n));
    Eigen::Map<Eigen::ArrayXd> lg(logbuf_.data(), n);
    lg = Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>(s.data(), n).template cast<double>().log();
    for (std::int64_t i = 0; i < n; ++i)
      if (w[i] > 0) out[i] = static_cast<Scalar>(base[i] + p_.reg * lg[i]);
  }

 private:
  const Problem<Scalar>& p_;
  Scalar* f_;
  Scalar* g_;
  Scalar* K_;
  int nt_;
  bool scaling_;
  double tau_;
  bool kernel_valid_ = false;
  bool cols_exact_ = false;  ///< the last step ended with a column update
  std::int64_t cooldown_ = 0;
  std::int64_t cool_ = 4;
  std::vector<Scalar> fa_, ga_, u_, v_, u_next_, f_prev_, g_prev_, scratch_, f_new_, rowbuf_, zero_row_;
  std::vector<double> colsum_, row_err_, logbuf_;
};

}  // namespace detail

/// Sinkhorn on the potentials f (n) and g (m), which hold the start on entry
/// (zeros are fine; zero-weight entries are set to -inf) and the result on exit.
/// `work` is an n x m buffer (it may be the output plan) that the scaling fast
/// path uses for the kernel; pass nullptr to stay in the log domain.
/// monitor(phase, iteration, error, f, g) is called after each check; returning
/// false stops the solve (Status::callback_stop). `control->poll()` runs once
/// per iteration from the calling thread.
template <class Scalar, class Monitor = NoMonitor>
OtInfo sinkhorn(const Problem<Scalar>& p, Scalar* f, Scalar* g, Scalar* work, const Options& opt,
                Control* control = nullptr, Monitor&& monitor = Monitor()) {
  detail::check_problem(p, opt);
  const int nt = resolve_threads(opt.n_threads);
  detail::sanitize_potentials(p, f, g);
  const bool scaling = opt.method != Method::sinkhorn_log;
  detail::SinkhornEngine<Scalar> eng(p, f, g, scaling ? work : nullptr, nt, scaling);
  OtInfo out;
  out.info.status = Status::max_iter;
  out.info.residual = std::numeric_limits<double>::infinity();
  for (std::int64_t it = 0; it < opt.maxiter; ++it) {
    if (control && control->poll()) {
      out.info.status = Status::interrupted;
      break;
    }
    bool done = false, finite = true;
    const double err = eng.step(opt.tol, done, finite);
    if (!finite) {
      out.info.status = Status::non_finite;
      break;
    }
    out.info.residual = err;
    if (opt.history) out.info.history.push_back(err);
    if (done) {
      out.info.status = Status::converged;
      break;
    }
    ++out.sinkhorn_iterations;
    if (!monitor("sinkhorn", out.sinkhorn_iterations, err, static_cast<const Scalar*>(f),
                 static_cast<const Scalar*>(g))) {
      out.info.status = Status::callback_stop;
      break;
    }
  }
  out.info.iterations = out.sinkhorn_iterations;
  return out;
}

}  // namespace itercore::ot
