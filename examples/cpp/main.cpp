// itercore from C++: SOR on a 2-D Poisson matrix in CSR form, an entropic
// optimal transport solve by Sinkhorn, and a bad argument caught as
// std::invalid_argument. The same headers the Python extension is built
// from; no Python involved. tests/test_embedding.py builds this program
// against the installed package and compares its numbers with the Python API.
#include <itercore/linalg/relaxation.hpp>
#include <itercore/ot/batch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace {

/// The 5-point Laplacian on a g x g interior grid (n = g^2 unknowns), CSR with
/// sorted columns: the matrix itercore._problems.poisson2d(g) builds.
struct Csr {
  std::int32_t n = 0;
  std::vector<std::int32_t> indptr, indices;
  std::vector<double> data;
};

Csr poisson2d(std::int32_t g) {
  Csr A;
  A.n = g * g;
  A.indptr.push_back(0);
  for (std::int32_t r = 0; r < A.n; ++r) {
    const std::int32_t i = r / g, j = r % g;
    auto add = [&](std::int32_t c, double v) {
      A.indices.push_back(c);
      A.data.push_back(v);
    };
    if (i > 0) add(r - g, -1.0);
    if (j > 0) add(r - 1, -1.0);
    add(r, 4.0);
    if (j + 1 < g) add(r + 1, -1.0);
    if (i + 1 < g) add(r + g, -1.0);
    A.indptr.push_back(static_cast<std::int32_t>(A.indices.size()));
  }
  return A;
}

/// A monitor that never stops the solve (no callback).
struct Quiet {
  bool operator()(std::int64_t, double) const noexcept { return true; }
};

}  // namespace

int main() {
  using namespace itercore;

  // --- SOR on the 16 x 16 Poisson problem, b = 1, x0 = 0 ---
  const Csr P = poisson2d(16);
  const CsrView<double, std::int32_t> A{P.n, P.n, P.indptr.data(), P.indices.data(), P.data.data()};
  std::vector<double> inv_diag(P.n), b(P.n, 1.0), x(P.n, 0.0);
  std::vector<std::int32_t> diag_pos(P.n);
  if (linalg::diagonal_inverse(A, inv_diag.data(), diag_pos.data()) >= 0) return 1;
  linalg::SorOptions sor;
  sor.omega = 1.5;
  sor.rtol = 1e-10;
  const SolveInfo si =
      linalg::sor_solve(A, inv_diag.data(), diag_pos.data(), b.data(), x.data(), sor, {}, nullptr, Quiet{});
  double weighted = 0.0;
  for (std::int32_t i = 0; i < P.n; ++i) weighted += (i + 1) * x[i];
  std::printf("sor.status = %s\n", status_name(si.status));
  std::printf("sor.residual = %.17g\n", si.residual);
  std::printf("sor.x0 = %.17g\n", x[0]);
  std::printf("sor.xmid = %.17g\n", x[P.n / 2 + 8]);
  std::printf("sor.weighted_sum = %.17g\n", weighted);

  // --- Sinkhorn between two histograms on [0, 1], cost (x_i - y_j)^2 ---
  const std::int64_t n = 40, m = 30;
  std::vector<double> a(n, 1.0 / n), w(m, 1.0 / m), M(n * m);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < m; ++j) {
      const double xi = static_cast<double>(i) / (n - 1), yj = std::pow(static_cast<double>(j) / (m - 1), 2);
      M[i * m + j] = (xi - yj) * (xi - yj);
    }
  const ot::Problem<double> prob{n, m, a.data(), w.data(), M.data(), 0.01};
  std::vector<double> f(n, 0.0), g(m, 0.0), plan(n * m);
  ot::Options opt;
  opt.method = ot::Method::sinkhorn;
  opt.tol = 1e-9;
  const ot::Outcome out = ot::solve(prob, f.data(), g.data(), plan.data(), opt);
  std::printf("sinkhorn.status = %s\n", status_name(out.it.info.status));
  std::printf("sinkhorn.nit = %lld\n", static_cast<long long>(out.it.info.iterations));
  std::printf("sinkhorn.cost = %.17g\n", out.stats.cost);
  std::printf("sinkhorn.marginal_error = %.3g\n", out.stats.marginal_error);
  std::printf("sinkhorn.f0 = %.17g\n", f[0]);
  std::printf("sinkhorn.g_last = %.17g\n", g[m - 1]);

  // --- A bad argument: the options check names the field ---
  linalg::SorOptions bad;
  bad.omega = 2.5;
  try {
    std::vector<double> y(P.n, 0.0);
    linalg::sor_solve(A, inv_diag.data(), diag_pos.data(), b.data(), y.data(), bad, {}, nullptr, Quiet{});
    std::printf("bad.omega = not rejected\n");
    return 2;
  } catch (const std::invalid_argument& e) {
    std::printf("bad.omega = std::invalid_argument: %s\n", e.what());
  }
  return 0;
}
