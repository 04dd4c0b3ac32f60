#pragma once
/// Conjugate gradients preconditioned by a forest-block symmetric
/// Gauss-Seidel (block SSOR) sweep, for sparse SPD quadratics.
///
/// Block coordinate descent with exact forest-block solves converges like
/// block Gauss-Seidel: the error shrinks by a factor that depends on the
/// condition number kappa, while CG needs about sqrt(kappa) iterations. The
/// symmetric sweep over the same forest blocks (forward over the blocks,
/// then backward, each block solved exactly by message passing) is the
/// block SSOR preconditioner
///   M = (D/w + L) (D/w)^{-1} (D/w + U) * w / (2 - w),
/// with D the block diagonal (a forest matrix per block), L / U the couplings
/// to earlier / later blocks and 0 < w < 2. M is SPD when A is, so CG with M
/// keeps the message-passing blocks and gets the square-root rate.
///
/// Layout: the variables are renumbered block by block, each block in
/// depth-first preorder of its trees (on a lattice row this is the row
/// itself), so every sweep streams through memory. The forest factorisation
/// (pivots of D/w) is computed once; a block solve is then two passes.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "itercore/bcd/forest.hpp"
#include "itercore/bcd/rules.hpp"
#include "itercore/common/csr.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/status.hpp"

namespace itercore::bcd {

/// Knobs of `ForestPCG`. The defaults here are the only ones: the Python
/// layer reads them from the bound struct.
struct ForestPcgOptions {
  double omega = 1.0;           ///< block SSOR relaxation, in (0, 2)
  double tol = 1e-8;            ///< stop when ||A x - b|| / ||b|| <= tol
  std::int64_t maxiter = 1000;  ///< CG iterations

  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    if (!(omega > 0.0 && omega < 2.0)) throw std::invalid_argument("omega must lie in (0, 2)");
    if (!(tol >= 0.0)) throw std::invalid_argument("tol must be >= 0");
    if (maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
  }
};

/// (Its own CG loop, not common/cg.hpp: the CG update is fused into the next
/// block sweep, two sweeps per iteration instead of three.)
/// The preconditioner and the CG loop; construct once per (A, partition, omega).
/// `blocks` (in sweep order) must be forests in the graph of A.
template <class Scalar, class Index>
class ForestPCG {
 public:
  ForestPCG(const CsrView<Scalar, Index>& A, const Partition& blocks, const ForestPcgOptions& opt)
      : n_(A.rows), n_blocks_(blocks.n_blocks), opt_(opt) {
    opt.check();
    if (A.rows != A.cols) throw std::invalid_argument("A must be square");
    const std::int64_t nb = blocks.n_blocks;
    check_partition(blocks, n_);
    // --- renumber: blocks in order, each in depth-first preorder of its trees
    perm_.resize(n_);
    iperm_.assign(n_, -1);
    start_.resize(nb + 1);
    std::vector<std::int64_t> parent_new(n_, -1);
    std::vector<Scalar> weight_new(n_, Scalar(0));
    ForestScratch s(n_);
    ForestBlock<Scalar> fb;
    std::vector<std::int64_t> child_ptr, child, stack;
    std::int64_t pos = 0;
    for (std::int64_t k = 0; k < nb; ++k) {
      start_[k] = pos;
      const std::int64_t m = blocks.ptr[k + 1] - blocks.ptr[k];
      if (m < 1) throw std::invalid_argument("blocks: empty block");
      if (!build_forest_block(A, blocks.idx + blocks.ptr[k], m, fb, s))
        throw std::invalid_argument("blocks: block " + std::to_string(k) +
                                    " is not a forest in the graph of A (message-passing needs forest blocks)");
      // children lists (BFS order keeps them in a stable order)
      child_ptr.assign(m + 1, 0);
      for (std::int64_t q = 0; q < m; ++q)
        if (fb.parent[q] >= 0) ++child_ptr[fb.parent[q] + 1];
      for (std::int64_t q = 0; q < m; ++q) child_ptr[q + 1] += child_ptr[q];
      child.assign(m, 0);
      std::vector<std::int64_t> fill(child_ptr.begin(), child_ptr.end() - 1);
      for (std::int64_t q = 0; q < m; ++q)
        if (fb.parent[q] >= 0) child[fill[fb.parent[q]]++] = q;
      for (std::int64_t q = 0; q < m; ++q) {
        if (fb.parent[q] >= 0) continue;  // a root: walk its tree depth first
        stack.assign(1, q);
        while (!stack.empty()) {
          const std::int64_t u = stack.back();
          stack.pop_back();
          const std::int64_t g = fb.nodes[u];
          perm_[pos] = g;
          iperm_[g] = pos;
          if (fb.parent[u] >= 0) {
            parent_new[pos] = iperm_[fb.nodes[fb.parent[u]]];
            weight_new[pos] = fb.weight[u];
          }
          ++pos;
          // push children in reverse so the first child is visited first
          for (std::int64_t c = child_ptr[u + 1] - 1; c >= child_ptr[u]; --c) stack.push_back(child[c]);
        }
      }
    }
    start_[nb] = pos;
    // --- split A (renumbered) into diagonal, tree edges (to the parent), and
    // couplings to earlier blocks (lower) and to later blocks (upper)
    std::vector<std::int64_t> block_of(n_);
    for (std::int64_t k = 0; k < nb; ++k)
      for (std::int64_t i = start_[k]; i < start_[k + 1]; ++i) block_of[i] = k;
    diag_.assign(n_, Scalar(0));
    parent_ = std::move(parent_new);
    weight_ = std::move(weight_new);
    lo_ptr_.assign(n_ + 1, 0);
    up_ptr_.assign(n_ + 1, 0);
    lo_idx_.clear();
    up_idx_.clear();
    lo_val_.clear();
    up_val_.clear();
    const std::size_t half = static_cast<std::size_t>(A.nnz()) / 2 + 1;  // off-block entries split ~evenly
    lo_idx_.reserve(half);
    up_idx_.reserve(half);
    lo_val_.reserve(half);
    up_val_.reserve(half);
    for (std::int64_t i = 0; i < n_; ++i) {
      const std::int64_t g = perm_[i];
      const std::int64_t bk = block_of[i];
      for (Index p = A.indptr[g]; p < A.indptr[g + 1]; ++p) {
        const std::int64_t j = iperm_[A.indices[p]];
        const Scalar a = A.data[p];
        if (j == i) {
          diag_[i] += a;
          continue;
        }
        if (a == Scalar(0)) continue;
        const std::int64_t bj = block_of[j];
        if (bj < bk) {
          lo_idx_.push_back(static_cast<Index>(j));
          lo_val_.push_back(a);
        } else if (bj > bk) {
          up_idx_.push_back(static_cast<Index>(j));
          up_val_.push_back(a);
        }  // same block: a tree edge, kept as (parent_, weight_)
      }
      lo_ptr_[i + 1] = static_cast<std::int64_t>(lo_idx_.size());
      up_ptr_[i + 1] = static_cast<std::int64_t>(up_idx_.size());
    }
    for (std::int64_t i = 0; i < n_; ++i)
      if (!(diag_[i] > Scalar(0))) throw std::invalid_argument("A must have a positive diagonal");
    // at most one coupling each way per variable (lattice rows): one slot per
    // variable, padded with a zero weight on the variable itself, so the
    // sweeps run without the row-pointer loop
    single_ = true;
    for (std::int64_t i = 0; i < n_ && single_; ++i)
      single_ = lo_ptr_[i + 1] - lo_ptr_[i] <= 1 && up_ptr_[i + 1] - up_ptr_[i] <= 1;
    if (single_) {
      lo1_idx_.assign(n_, 0);
      up1_idx_.assign(n_, 0);
      lo1_val_.assign(n_, Scalar(0));
      up1_val_.assign(n_, Scalar(0));
      for (std::int64_t i = 0; i < n_; ++i) {
        const bool hl = lo_ptr_[i + 1] > lo_ptr_[i], hu = up_ptr_[i + 1] > up_ptr_[i];
        lo1_idx_[i] = hl ? static_cast<Index>(lo_idx_[lo_ptr_[i]]) : static_cast<Index>(i);
        lo1_val_[i] = hl ? lo_val_[lo_ptr_[i]] : Scalar(0);
        up1_idx_[i] = hu ? static_cast<Index>(up_idx_[up_ptr_[i]]) : static_cast<Index>(i);
        up1_val_[i] = hu ? up_val_[up_ptr_[i]] : Scalar(0);
      }
    }
    // --- factor D/omega once: leaf-to-root elimination (children follow parents)
    const Scalar w = Scalar(opt.omega);
    piv_.resize(n_);
    ell_.assign(n_, Scalar(0));
    for (std::int64_t i = 0; i < n_; ++i) piv_[i] = diag_[i] / w;
    for (std::int64_t i = n_ - 1; i >= 0; --i) {
      if (!(piv_[i] > Scalar(0))) throw std::invalid_argument("A: a forest block is not positive definite");
      const std::int64_t p = parent_[i];
      if (p < 0) continue;
      const Scalar a = weight_[i] / w;
      ell_[i] = a / piv_[i];
      piv_[p] -= ell_[i] * a;
    }
    ipiv_.resize(n_);
    dw_.resize(n_);
    ww_.resize(n_);
    for (std::int64_t i = 0; i < n_; ++i) {
      ipiv_[i] = Scalar(1) / piv_[i];
      dw_[i] = diag_[i] / w;
      ww_[i] = weight_[i] / w;
    }
    // a block whose every variable hangs from the one before it (or is a root)
    // is a set of paths: its solves and products need no parent lookups
    path_.assign(nb, 1);
    for (std::int64_t k = 0; k < nb; ++k)
      for (std::int64_t i = start_[k]; i < start_[k + 1] && path_[k]; ++i)
        path_[k] = parent_[i] < 0 || (parent_[i] == i - 1 && i > start_[k]);
  }

  std::int64_t size() const noexcept { return n_; }

  /// Solves A x = b from the start x (both in the original numbering).
  /// `monitor(iteration, x, ||b - A x|| / ||b||)` is called after each
  /// iteration when given and returns false to stop.
  ///
  /// Eisenstat's trick: with Dw = D/w, PCG on A with M is PCG on
  ///   A' = (Dw + L)^{-1} A (Dw + U)^{-1}   (symmetric, since U = L^T)
  /// with the "preconditioner" Dw, for y = (Dw + U) x. Writing
  /// A = (Dw + L) + (Dw + U) - (2 - w) Dw, a product A' p is
  ///   t = (Dw + U)^{-1} p,  A' p = t + (Dw + L)^{-1} (p - (2 - w) Dw t):
  /// one backward and one forward block sweep (each off-block coupling read
  /// once) instead of a product with A plus both sweeps. The true residual
  /// b - A x = (Dw + L) r' costs only the coupling to earlier blocks.
  ///
  /// Two sweeps an iteration and no third pass for the update: the update of
  /// y, r' and z = Dw r' by the previous step runs at the start of the
  /// backward sweep, block by block, and the next beta comes from
  ///   r'_new.z_new = r'.z - 2 alpha q.z + alpha^2 q.Dw q   (q = A' p),
  /// whose dot products the forward sweep gathers (alpha itself uses the
  /// exact r'.z of the updated residual). The forward sweep also measures
  /// the true residual of the current x, so the stopping test trails the
  /// update by half an iteration.
  SolveInfo solve(const Scalar* b, Scalar* x, Control* control = nullptr,
                  const std::function<bool(std::int64_t, const Scalar*, double)>& monitor = nullptr) {
    SolveInfo info;
    const std::int64_t n = n_;
    const std::int64_t nb = n_blocks_;
    std::vector<Scalar> bp(n), xp(n), y(n), r(n), z(n), p(n, Scalar(0)), t(n, Scalar(0)), w(n, Scalar(0)), xo;
    for (std::int64_t i = 0; i < n; ++i) {
      bp[i] = b[perm_[i]];
      xp[i] = x[perm_[i]];
    }
    const double bn = std::sqrt(dot(bp.data(), bp.data()));
    const double scale = bn > 0.0 ? bn : 1.0;
    const double target = opt_.tol * scale;
    const Scalar two_minus_w = Scalar(2.0 - opt_.omega);
    const bool single = single_;
    auto finish = [&](Status st) {
      info.status = st;
      for (std::int64_t i = 0; i < n; ++i) x[perm_[i]] = xp[i];
      return info;
    };
    // (re)start from xp: r' = (Dw + L)^{-1} (b - A x), y = (Dw + U) x,
    // z = Dw r'; returns ||b - A x|| and sets rz = r'.z
    double rz = 0.0;
    auto restart = [&]() {
      matvec(xp.data(), w.data());
      double ss = 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        w[i] = bp[i] - w[i];
        ss += double(w[i]) * double(w[i]);
      }
      forward(w.data(), r.data());
      upper_multiply(xp.data(), y.data());
      rz = residual_step(r.data(), z.data(), nullptr);
      return std::sqrt(ss);
    };
    double rn = restart();
    info.residual = rn / scale;
    if (!std::isfinite(rn)) return finish(Status::non_finite);
    if (rn <= target) return finish(Status::converged);
    Scalar alpha = 0, beta = 0;
    bool pending = false;  // an update (alpha, p, q = t + w) not yet applied
    for (std::int64_t it = 0;; ++it) {
      if (control && control->poll()) {
        backward(y.data(), xp.data());
        return finish(Status::interrupted);
      }
      const bool step = it < opt_.maxiter;  // else only apply the last update and measure
      // backward sweep: apply the pending update on the block, then
      // p = z + beta p, t = (Dw + U)^{-1} p, w = p - (2 - w) Dw t
      double rz_exact = 0.0;
      for (std::int64_t k = nb - 1; k >= 0; --k) {
        const std::int64_t s = start_[k], e = start_[k + 1];
        if (pending) {
          for (std::int64_t i = s; i < e; ++i) {
            y[i] += alpha * p[i];
            r[i] -= alpha * (t[i] + w[i]);
          }
          block_tree_multiply(k, r.data(), z.data());
          for (std::int64_t i = s; i < e; ++i) rz_exact += double(r[i]) * double(z[i]);
        }
        if (!step) continue;
        for (std::int64_t i = s; i < e; ++i) {
          const Scalar pi = z[i] + beta * p[i];
          p[i] = pi;
          Scalar v = pi;
          if (single) v -= up1_val_[i] * t[up1_idx_[i]];
          else
            for (std::int64_t c = up_ptr_[i]; c < up_ptr_[i + 1]; ++c) v -= up_val_[c] * t[up_idx_[c]];
          t[i] = v;
        }
        tree_solve(k, t.data());
        block_tree_multiply(k, t.data(), w.data());
        for (std::int64_t i = s; i < e; ++i) w[i] = p[i] - two_minus_w * w[i];
      }
      if (pending) rz = rz_exact;
      pending = false;
      // forward sweep: w = (Dw + L)^{-1} w, so q = A' p = t + w; p.q, q.z,
      // q.Dw q, and ||b - A x|| = ||z + L r'|| for the current x
      double pq = 0.0, qz = 0.0, qdq = 0.0, true_norm = 0.0;
      for (std::int64_t k = 0; k < nb; ++k) {
        const std::int64_t s = start_[k], e = start_[k + 1];
        for (std::int64_t i = s; i < e; ++i) {
          Scalar v = w[i], u = z[i];
          if (single) {
            const Index j = lo1_idx_[i];
            v -= lo1_val_[i] * w[j];
            u += lo1_val_[i] * r[j];
          } else {
            for (std::int64_t c = lo_ptr_[i]; c < lo_ptr_[i + 1]; ++c) {
              v -= lo_val_[c] * w[lo_idx_[c]];
              u += lo_val_[c] * r[lo_idx_[c]];
            }
          }
          if (step) w[i] = v;
          true_norm += double(u) * double(u);
        }
        if (!step) continue;
        tree_solve(k, w.data());
        q_products(k, p.data(), t.data(), w.data(), z.data(), pq, qz, qdq);
      }
      rn = std::sqrt(true_norm);
      info.iterations = it;
      info.residual = rn / scale;
      if (!std::isfinite(rn)) {
        backward(y.data(), xp.data());
        return finish(Status::non_finite);
      }
      bool restarted = false;
      if (rn <= target || (monitor && it > 0) || !step) backward(y.data(), xp.data());
      if (rn <= target) {  // confirm on b - A x for the recovered x
        rn = restart();
        restarted = true;
        info.residual = rn / scale;
      }
      const bool done = restarted && rn <= target;
      if (monitor && it > 0) {  // every iterate, the last one included
        xo.resize(n);
        for (std::int64_t i = 0; i < n; ++i) xo[perm_[i]] = xp[i];
        if (!monitor(it, xo.data(), info.residual) && !done) return finish(Status::callback_stop);
      }
      if (done) return finish(Status::converged);
      if (!step) return finish(Status::max_iter);
      if (restarted) {
        beta = 0;  // restart() left r', z = Dw r' and rz; p, t, w are rebuilt from z
        continue;
      }
      if (!(pq > 0.0) || !(rz > 0.0)) {
        backward(y.data(), xp.data());
        return finish(std::isfinite(pq) && std::isfinite(rz) ? Status::breakdown : Status::non_finite);
      }
      alpha = Scalar(rz / pq);
      const double a = rz / pq;
      const double rz_next = rz - 2.0 * a * qz + a * a * qdq;
      beta = Scalar(rz_next > 0.0 ? rz_next / rz : 0.0);
      pending = true;
    }
  }

  /// z = M^{-1} r in the renumbered space (exposed for tests through `apply`).
  void apply_preconditioner(const Scalar* r, Scalar* z) {
    work_.resize(n_);
    Scalar* t = work_.data();
    forward(r, z);         // (D/w + L) z = r
    tree_multiply(z, t);   // t = (D/w) z
    backward(t, z);        // (D/w + U) z = t
  }

  /// The renumbering: variable `permutation()[i]` of A is variable i of the
  /// renumbered space that `apply_preconditioner`, `multiply` and `sweep` use.
  const std::vector<std::int64_t>& permutation() const noexcept { return perm_; }

  /// y = A x in the renumbered space.
  void multiply(const Scalar* x, Scalar* y) const { matvec(x, y); }

  /// One symmetric block SSOR sweep (block Gauss-Seidel forward then backward
  /// when omega = 1) on A x = b in the renumbered space:
  /// x <- x + (2 - w) M^{-1} (b - A x), or x = (2 - w) M^{-1} b when
  /// `zero_start` (x's values are then ignored). A smoother for multigrid.
  void sweep(const Scalar* b, Scalar* x, bool zero_start) {
    const Scalar f = Scalar(2.0 - opt_.omega);
    if (zero_start) {
      apply_preconditioner(b, x);
      if (f != Scalar(1))
        for (std::int64_t i = 0; i < n_; ++i) x[i] *= f;
      return;
    }
    sweep_r_.resize(n_);
    sweep_z_.resize(n_);
    matvec(x, sweep_r_.data());
    for (std::int64_t i = 0; i < n_; ++i) sweep_r_[i] = b[i] - sweep_r_[i];
    apply_preconditioner(sweep_r_.data(), sweep_z_.data());
    for (std::int64_t i = 0; i < n_; ++i) x[i] += f * sweep_z_[i];
  }

  /// Applies M^{-1} in the original numbering (for tests).
  void apply(const Scalar* r, Scalar* z) {
    std::vector<Scalar> rp(n_), zp(n_);
    for (std::int64_t i = 0; i < n_; ++i) rp[i] = r[perm_[i]];
    apply_preconditioner(rp.data(), zp.data());
    for (std::int64_t i = 0; i < n_; ++i) z[perm_[i]] = zp[i];
  }

 private:
  static double dot(const Scalar* a, const Scalar* b_, std::int64_t n) {
    double s = 0.0;
    for (std::int64_t i = 0; i < n; ++i) s += double(a[i]) * double(b_[i]);
    return s;
  }
  double dot(const Scalar* a, const Scalar* b_) const { return dot(a, b_, n_); }

  /// Solves (Dw + L) z = r block by block (z may alias r).
  void forward(const Scalar* r, Scalar* z) const {
    for (std::int64_t k = 0; k < n_blocks_; ++k) {
      const std::int64_t s = start_[k], e = start_[k + 1];
      for (std::int64_t i = s; i < e; ++i) {
        Scalar v = r[i];
        for (std::int64_t p = lo_ptr_[i]; p < lo_ptr_[i + 1]; ++p) v -= lo_val_[p] * z[lo_idx_[p]];
        z[i] = v;
      }
      tree_solve(k, z);
    }
  }

  /// Solves (Dw + U) z = r, last block first (z may alias r).
  void backward(const Scalar* r, Scalar* z) const {
    for (std::int64_t k = n_blocks_ - 1; k >= 0; --k) {
      const std::int64_t s = start_[k], e = start_[k + 1];
      for (std::int64_t i = s; i < e; ++i) {
        Scalar v = r[i];
        for (std::int64_t p = up_ptr_[i]; p < up_ptr_[i + 1]; ++p) v -= up_val_[p] * z[up_idx_[p]];
        z[i] = v;
      }
      tree_solve(k, z);
    }
  }

  /// y = (Dw + U) x.
  void upper_multiply(const Scalar* x, Scalar* y) const {
    tree_multiply(x, y);
    for (std::int64_t i = 0; i < n_; ++i)
      for (std::int64_t p = up_ptr_[i]; p < up_ptr_[i + 1]; ++p) y[i] += up_val_[p] * x[up_idx_[p]];
  }

  /// z = Dw r; returns r.z, and when asked ||Dw r + L r||^2 = ||b - A x||^2.
  double residual_step(const Scalar* r, Scalar* z, double* true_norm2) const {
    tree_multiply(r, z);
    double rz = 0.0, s = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) {
      rz += double(r[i]) * double(z[i]);
      if (true_norm2) {
        Scalar v = z[i];
        for (std::int64_t p = lo_ptr_[i]; p < lo_ptr_[i + 1]; ++p) v += lo_val_[p] * r[lo_idx_[p]];
        s += double(v) * double(v);
      }
    }
    if (true_norm2) *true_norm2 = s;
    return rz;
  }

  /// In place: z <- (D/w)_k^{-1} z on block k (precomputed LDL^T of the
  /// forest; roots have ell = 0). On a path block (each variable hangs from
  /// the previous one) both passes are plain recurrences with no parent
  /// lookups; otherwise updates go through parent_.
  void tree_solve(std::int64_t k, Scalar* z) const {
    const std::int64_t s = start_[k], e = start_[k + 1];
    if (path_[k]) {
      // Both recurrences are stepped two variables at a time, so the chain
      // of dependent operations is half as long (it, not memory, bounds
      // this loop): with u_i = z_i - ell_{i+1} u_{i+1},
      //   u_i = (z_i - ell_{i+1} z_{i+1}) + ell_{i+1} ell_{i+2} u_{i+2}.
      const Scalar* ell = ell_.data();
      const Scalar* ipiv = ipiv_.data();
      Scalar carry = 0;  // ell_{i+1} u_{i+1}
      std::int64_t i = e - 1;
      for (; i - 1 >= s; i -= 2) {
        const Scalar a = z[i - 1] - ell[i] * z[i];  // off the chain
        z[i] -= carry;
        z[i - 1] = a + ell[i] * carry;
        carry = ell[i - 1] * a + (ell[i - 1] * ell[i]) * carry;  // = ell_{i-1} u_{i-1}
      }
      if (i >= s) z[i] -= carry;
      // x_i = z_i / piv_i - ell_i x_{i-1}
      //     = (z_i / piv_i - ell_i z_{i-1} / piv_{i-1}) + ell_i ell_{i-1} x_{i-2}
      Scalar prev = 0;  // x_{i-1}
      i = s;
      for (; i + 1 < e; i += 2) {
        const Scalar xi = z[i] * ipiv[i] - ell[i] * prev;
        const Scalar xj = (z[i + 1] * ipiv[i + 1] - ell[i + 1] * z[i] * ipiv[i]) + ell[i + 1] * ell[i] * prev;
        z[i] = xi;
        z[i + 1] = xj;
        prev = xj;
      }
      if (i < e) z[i] = z[i] * ipiv[i] - ell[i] * prev;
      return;
    }
    Scalar carry = 0;  // elimination update owed to z[i] by its child i + 1
    for (std::int64_t i = e - 1; i >= s; --i) {
      const Scalar zi = z[i] - carry;
      z[i] = zi;
      carry = 0;
      const std::int64_t p = parent_[i];
      if (p == i - 1) carry = ell_[i] * zi;
      else if (p >= 0) z[p] -= ell_[i] * zi;
    }
    Scalar prev = 0;  // the solved z[i - 1]
    for (std::int64_t i = s; i < e; ++i) {
      const std::int64_t p = parent_[i];
      Scalar zi = z[i] * ipiv_[i];
      if (p == i - 1) zi -= ell_[i] * prev;
      else if (p >= 0) zi -= ell_[i] * z[p];
      z[i] = zi;
      prev = zi;
    }
  }

  /// t = (D/w) z on block k (diagonal plus its tree edges); one pass, as
  /// every parent precedes its children (a block starts with a root).
  void block_tree_multiply(std::int64_t k, const Scalar* z, Scalar* t) const {
    const std::int64_t s = start_[k], e = start_[k + 1];
    if (path_[k]) {  // roots have ww = 0
      t[s] = dw_[s] * z[s];
      for (std::int64_t i = s + 1; i < e; ++i) {
        t[i - 1] += ww_[i] * z[i];
        t[i] = dw_[i] * z[i] + ww_[i] * z[i - 1];
      }
      return;
    }
    for (std::int64_t i = s; i < e; ++i) {
      const std::int64_t p = parent_[i];
      Scalar v = dw_[i] * z[i];
      if (p >= 0) {
        v += ww_[i] * z[p];
        t[p] += ww_[i] * z[i];
      }
      t[i] = v;
    }
  }

  /// t = (D/w) z over all blocks.
  void tree_multiply(const Scalar* z, Scalar* t) const {
    for (std::int64_t k = 0; k < n_blocks_; ++k) block_tree_multiply(k, z, t);
  }

  /// On block k, with q = t + w: adds p.q, q.z and q.(D/w) q.
  void q_products(std::int64_t k, const Scalar* p, const Scalar* t, const Scalar* w, const Scalar* z, double& pq,
                  double& qz, double& qdq) const {
    const std::int64_t s = start_[k], e = start_[k + 1];
    double a = 0.0, b = 0.0, c = 0.0;
    for (std::int64_t i = s; i < e; ++i) {
      const double qi = double(t[i]) + double(w[i]);
      const std::int64_t par = path_[k] ? (i > s ? i - 1 : -1) : parent_[i];
      const double qp = par >= 0 ? double(t[par]) + double(w[par]) : 0.0;
      a += double(p[i]) * qi;
      b += qi * double(z[i]);
      c += qi * (double(dw_[i]) * qi + 2.0 * double(ww_[i]) * qp);
    }
    pq += a;
    qz += b;
    qdq += c;
  }

  /// y = A x in the renumbered space.
  void matvec(const Scalar* x, Scalar* y) const {
    for (std::int64_t i = 0; i < n_; ++i) {
      Scalar v = diag_[i] * x[i];
      for (std::int64_t p = lo_ptr_[i]; p < lo_ptr_[i + 1]; ++p) v += lo_val_[p] * x[lo_idx_[p]];
      for (std::int64_t p = up_ptr_[i]; p < up_ptr_[i + 1]; ++p) v += up_val_[p] * x[up_idx_[p]];
      y[i] = v;
    }
    for (std::int64_t i = 0; i < n_; ++i) {
      const std::int64_t p = parent_[i];
      if (p < 0) continue;
      y[i] += weight_[i] * x[p];
      y[p] += weight_[i] * x[i];
    }
  }

  std::int64_t n_;
  std::int64_t n_blocks_;
  ForestPcgOptions opt_;
  std::vector<std::int64_t> perm_, iperm_, start_, parent_, lo_ptr_, up_ptr_;
  std::vector<Index> lo_idx_, up_idx_;
  std::vector<Scalar> diag_, weight_, lo_val_, up_val_, piv_, ell_, work_, ipiv_, dw_, ww_, sweep_r_, sweep_z_;
  std::vector<char> path_;  ///< per block: a set of paths in consecutive order
  bool single_ = false;     ///< at most one coupling each way per variable: the *1_ arrays
  std::vector<Index> lo1_idx_, up1_idx_;
  std::vector<Scalar> lo1_val_, up1_val_;
};

/// Partition into forests of consecutive variables: variables are taken in
/// index order and each joins the current block unless it would close a
/// cycle there (union-find), in which case a new block starts with it. Blocks
/// come out in index order, so a sweep over them is a natural-order block
/// Gauss-Seidel sweep; on a row-major lattice the blocks are (shifted) rows.
/// Returns the block of each variable.
template <class Scalar, class Index>
std::vector<std::int64_t> ordered_forest_partition(const CsrView<Scalar, Index>& A) {
  const std::int64_t n = A.rows;
  std::vector<std::int64_t> block(n, -1), uf(n, -1), members, roots;
  std::int64_t cur = 0;
  for (std::int64_t v = 0; v < n; ++v) {
    roots.clear();
    bool cycle = false;
    for (Index p = A.indptr[v]; p < A.indptr[v + 1] && !cycle; ++p) {
      const std::int64_t u = A.indices[p];
      if (u == v || A.data[p] == Scalar(0) || block[u] != cur) continue;
      const std::int64_t r = uf_find(uf, u);
      for (std::int64_t q : roots) cycle = cycle || q == r;
      roots.push_back(r);
    }
    if (cycle) {
      for (std::int64_t u : members) uf[u] = -1;
      members.clear();
      ++cur;
      roots.clear();  // no neighbour lies in the new block yet
    }
    uf[v] = v;
    for (std::int64_t r : roots) uf[r] = v;
    block[v] = cur;
    members.push_back(v);
  }
  return block;
}

}  // namespace itercore::bcd
