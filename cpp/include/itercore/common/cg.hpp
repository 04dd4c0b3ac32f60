#pragma once
/// Preconditioned conjugate gradients on a symmetric positive definite
/// operator given as functors: the one plain CG loop of the library.
///
/// Cores whose CG is fused with their operator keep their own loop, each with
/// a one-line why: SSOR-PCG (linalg/relaxation.hpp, Eisenstat's trick halves
/// the sweeps), forest PCG (bcd/forest_pcg.hpp, the update is fused into the
/// next block sweep), and completion's normal-equation CG
/// (completion/row_solvers.hpp, A p and A^T A p in one pass over a k-column
/// row block, stopping relative to the warm start).

#include <cmath>
#include <cstdint>
#include <vector>

namespace itercore {

/// Workspace of `pcg` (reused across calls to avoid allocations).
template <class Scalar>
struct CgWorkspace {
  std::vector<Scalar> r, z, d, q;
};

/// Solves A x = b by CG preconditioned with M^-1. `apply(v, y)` sets y = A v,
/// `precond(r, z)` sets z = M^-1 r (both over vectors of b's size). With
/// `warm`, x holds the start; otherwise x is reset to 0. Stops when
/// ||b - A x|| <= rtol ||b|| (the recursively updated residual), after
/// `maxiter` iterations, or when a curvature d'A d is not positive (A is
/// not SPD on the Krylov space, or the solve is exact). Returns the
/// iterations done; b = 0 gives x = 0 and 0 iterations.
template <class Scalar, class Apply, class Precond>
std::int64_t pcg(Apply&& apply, Precond&& precond, const std::vector<Scalar>& b, std::vector<Scalar>& x, double rtol,
                 std::int64_t maxiter, bool warm, CgWorkspace<Scalar>& ws) {
  const std::size_t N = b.size();
  auto& res = ws.r;
  auto& z = ws.z;
  auto& d = ws.d;
  auto& q = ws.q;
  res = b;
  z.resize(N);
  d.resize(N);
  q.resize(N);
  if (!warm || x.size() != N) x.assign(N, Scalar(0));
  double bnorm = 0.0;
  for (Scalar v : res) bnorm += double(v) * double(v);
  bnorm = std::sqrt(bnorm);
  if (!(bnorm > 0)) return 0;
  if (warm) {  // continue from x: residual b - A x
    apply(x, q);
    double rn = 0.0;
    for (std::size_t k = 0; k < N; ++k) {
      res[k] -= q[k];
      rn += double(res[k]) * double(res[k]);
    }
    if (std::sqrt(rn) <= rtol * bnorm) return 0;
  }
  precond(res, z);
  d = z;
  double rz = 0.0;
  for (std::size_t k = 0; k < N; ++k) rz += double(res[k]) * double(z[k]);
  std::int64_t it = 0;
  while (it < maxiter) {
    apply(d, q);
    double dq = 0.0;
    for (std::size_t k = 0; k < N; ++k) dq += double(d[k]) * double(q[k]);
    if (!(dq > 0)) break;
    const double alpha = rz / dq;
    double rn = 0.0;
    for (std::size_t k = 0; k < N; ++k) {
      x[k] += Scalar(alpha) * d[k];
      res[k] -= Scalar(alpha) * q[k];
      rn += double(res[k]) * double(res[k]);
    }
    ++it;
    if (std::sqrt(rn) <= rtol * bnorm) break;
    precond(res, z);
    double rz_new = 0.0;
    for (std::size_t k = 0; k < N; ++k) rz_new += double(res[k]) * double(z[k]);
    const double beta = rz_new / rz;
    rz = rz_new;
    for (std::size_t k = 0; k < N; ++k) d[k] = z[k] + Scalar(beta) * d[k];
  }
  return it;
}

}  // namespace itercore
