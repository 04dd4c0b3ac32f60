// pybind11 glue for itercore.bcd: quadratic BCD (rules, partitions, forest
// message passing), the lasso, and the helpers the tests use. Values are
// float64 (the Python layer converts); indices int32 or int64.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "binding_utils.hpp"
#include "itercore/bcd/forest.hpp"
#include "itercore/bcd/forest_pcg.hpp"
#include "itercore/bcd/lasso.hpp"
#include "itercore/bcd/quadratic.hpp"
#include "itercore/bcd/smooth.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

using I64 = std::int64_t;

carray<double> copy_vec(const double* x, I64 n) {
  carray<double> out(static_cast<py::ssize_t>(n));
  std::copy(x, x + n, out.mutable_data());
  return out;
}

template <class Cols>
py::dict lasso_common(const Cols& X, const carray<double>& y, carray<double>& w, double lambda, double tol,
                       I64 maxiter, bool greedy, bool newton, bool history, int n_threads, py::object callback) {
  bind::check_length(y, X.n, "y");
  bind::check_length(w, X.p, "w");
  bcd::LassoOptions opt;
  opt.lambda = lambda;
  opt.tol = tol;
  opt.maxiter = maxiter;
  opt.greedy = greedy;
  opt.newton = newton;
  opt.history = history;
  opt.n_threads = n_threads;
  bind::Callback cb(callback);
  bcd::LassoStats st;
  SolveInfo info;
  double* wp = w.mutable_data();
  const double* yp = y.data();
  const I64 p = X.p;
  {
    py::gil_scoped_release nogil;
    Control control = bind::python_control();
    std::function<bool(I64, const double*, double)> mon;
    if (cb.active())
      mon = [&](I64, const double* wc, double) {
        py::gil_scoped_acquire gil;
        return cb(copy_vec(wc, p));
      };
    info = bcd::lasso_solve(X, yp, wp, opt, st, &control, mon);
  }
  bind::raise_if_interrupted(info, &cb);
  py::dict d = bind::info_dict(info);
  d["primal"] = st.primal;
  d["dual"] = st.dual;
  d["gap"] = st.gap;
  d["coordinate_updates"] = st.coordinate_updates;
  d["newton_steps"] = st.newton_steps;
  return d;
}

/// Logistic / softmax / squares BCD on dense or sparse columns (bcd_smooth_*).
template <class Cols>
py::dict smooth_common(const Cols& X, const carray<double>& y, carray<double>& W, I64 K, int loss, int rule,
                       int update, const carray<I64>& block_ptr, const carray<I64>& block_idx, double l1, double l2,
                       double tol, I64 maxiter, I64 check_every, std::uint64_t seed, bool history, int n_threads,
                       bool active_newton, py::object callback, bool incremental) {
  const I64 p = X.p, n = X.n;
  bind::check_length(y, n, "y");
  if (W.ndim() != 2 || W.shape(0) != p || W.shape(1) != K) throw std::invalid_argument("W: wrong shape");
  bind::check_length(block_idx, p, "block_idx");
  if (block_ptr.ndim() != 1 || block_ptr.shape(0) < 2) throw std::invalid_argument("blocks: an empty partition");
  if (loss < 0 || loss > 2) throw std::invalid_argument("loss: unknown code");
  bcd::SmoothOptions opt;
  opt.loss = static_cast<bcd::SmoothLoss>(loss);
  opt.rule = bcd::rule_from_int(rule);
  opt.update = bcd::update_from_int(update);
  opt.block_ptr = block_ptr.data();
  opt.block_idx = block_idx.data();
  opt.n_blocks = block_ptr.shape(0) - 1;
  opt.l1 = l1;
  opt.l2 = l2;
  opt.tol = tol;
  opt.maxiter = maxiter;
  opt.check_every = check_every;
  opt.seed = seed;
  opt.history = history;
  opt.n_threads = n_threads;
  opt.active_newton = active_newton;
  opt.incremental_greedy = incremental;
  bind::Callback cb(callback);
  SolveInfo info;
  double fun = 0.0, gap = 0.0, p0 = 0.0;
  I64 newton_steps = 0;
  double* wp = W.mutable_data();
  {
    py::gil_scoped_release nogil;
    bcd::SmoothBCD<Cols> solver(X, y.data(), K, opt);
    Control control = bind::python_control();
    std::function<bool(I64, const double*, double)> mon;
    if (cb.active())
      mon = [&](I64, const double* wc, double) {
        py::gil_scoped_acquire gil;
        carray<double> copy({static_cast<py::ssize_t>(p), static_cast<py::ssize_t>(K)});
        std::copy(wc, wc + p * K, copy.mutable_data());
        return cb(copy);
      };
    info = solver.solve(wp, &control, mon);
    fun = solver.objective();
    gap = solver.gap();
    p0 = solver.objective_at_zero();
    newton_steps = solver.newton_steps();
  }
  bind::raise_if_interrupted(info, &cb);
  py::dict d = bind::info_dict(info);
  d["fun"] = fun;
  d["gap"] = gap;
  d["p0"] = p0;
  d["newton_steps"] = newton_steps;
  return d;
}

template <class Index>
void bind_index(py::module_& m) {
  m.def(
      "bcd_quadratic",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& b, carray<double> x, int rule, int update, int kind, const carray<I64>& block_ptr,
         const carray<I64>& block_idx, I64 block_size, double l1, py::object lower, double tol, I64 maxiter,
         I64 check_every, std::uint64_t seed, bool history, py::object callback) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        bind::check_length(b, n, "b");
        bind::check_length(x, n, "x");
        bcd::QuadraticOptions opt;
        opt.rule = bcd::rule_from_int(rule);
        opt.update = bcd::update_from_int(update);
        opt.kind = bcd::block_kind_from_int(kind);
        if (opt.kind == bcd::BlockKind::fixed) {
          if (block_ptr.ndim() != 1 || block_ptr.shape(0) < 2) throw std::invalid_argument("blocks: an empty partition");
          opt.n_blocks = block_ptr.shape(0) - 1;
          bind::check_length(block_idx, n, "block_idx");
          opt.block_ptr = block_ptr.data();
          opt.block_idx = block_idx.data();
        }
        opt.block_size = block_size;
        opt.l1 = l1;
        carray<double> low;
        if (!lower.is_none()) {
          low = lower.cast<carray<double>>();
          bind::check_length(low, n, "lower");
          opt.lower = low.data();
        }
        opt.tol = tol;
        opt.maxiter = maxiter;
        opt.check_every = check_every;
        opt.seed = seed;
        opt.history = history;
        bind::Callback cb(callback);
        SolveInfo info;
        double* xp = x.mutable_data();
        const double* bp = b.data();
        {
          py::gil_scoped_release nogil;
          bcd::QuadraticBCD<double, Index> solver(A, bp, opt);
          Control control = bind::python_control();
          bcd::Monitor<double> mon;
          if (cb.active())
            mon = [&](I64, const double* xc, double) {
              py::gil_scoped_acquire gil;
              return cb(copy_vec(xc, n));
            };
          info = solver.solve(xp, &control, mon);
        }
        bind::raise_if_interrupted(info, &cb);
        return bind::info_dict(info);
      },
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("rule"), py::arg("update"), py::arg("kind"),
      py::arg("block_ptr").noconvert(), py::arg("block_idx").noconvert(), py::arg("block_size"), py::arg("l1"),
      py::arg("lower"), py::arg("tol"), py::arg("maxiter"), py::arg("check_every"), py::arg("seed"),
      py::arg("history"), py::arg("callback"));

  m.def(
      "bcd_greedy_block",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& b, const carray<double>& x, const carray<double>& g, int rule, int update,
         const carray<I64>& block_ptr, const carray<I64>& block_idx) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        bind::check_length(b, n, "b");
        bind::check_length(x, n, "x");
        bind::check_length(g, n, "g");
        bind::check_length(block_idx, n, "block_idx");
        bcd::QuadraticOptions opt;
        opt.rule = bcd::rule_from_int(rule);
        opt.update = bcd::update_from_int(update);
        opt.n_blocks = block_ptr.shape(0) - 1;
        opt.block_ptr = block_ptr.data();
        opt.block_idx = block_idx.data();
        bcd::QuadraticBCD<double, Index> solver(A, b.data(), opt);
        return solver.greedy_block(x.data(), g.data());
      },
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("g").noconvert(), py::arg("rule"),
      py::arg("update"), py::arg("block_ptr").noconvert(), py::arg("block_idx").noconvert());

  m.def(
      "bcd_partition",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const std::string& kind) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        std::vector<I64> lab;
        {
          py::gil_scoped_release nogil;
          if (kind == "coloring") lab = bcd::greedy_coloring(A);
          else if (kind == "forest") lab = bcd::greedy_forest_partition(A);
          else if (kind == "ordered-forest") lab = bcd::ordered_forest_partition(A);
          else throw std::invalid_argument("kind must be 'coloring', 'forest' or 'ordered-forest'");
        }
        carray<I64> out(static_cast<py::ssize_t>(n));
        std::copy(lab.begin(), lab.end(), out.mutable_data());
        return out;
      },
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("kind"));

  m.def(
      "bcd_forest_pcg",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& b, carray<double> x, const carray<I64>& block_ptr, const carray<I64>& block_idx,
         double omega, double tol, I64 maxiter, py::object callback, py::object apply_to) {
        // b, x: (n,) for one right-hand side, or (k, n) for k sharing one
        // preconditioner set-up (solved one after the other; a list of infos)
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        const bool multi = b.ndim() == 2;
        if (multi) {
          if (b.shape(1) != static_cast<py::ssize_t>(n)) throw std::invalid_argument("b: wrong number of columns");
          if (x.ndim() != 2 || x.shape(0) != b.shape(0) || x.shape(1) != b.shape(1))
            throw std::invalid_argument("x must have the shape of b");
        } else {
          bind::check_length(b, n, "b");
          bind::check_length(x, n, "x");
        }
        const I64 k = multi ? static_cast<I64>(b.shape(0)) : 1;
        if (block_ptr.ndim() != 1 || block_ptr.shape(0) < 2) throw std::invalid_argument("blocks: an empty partition");
        bind::check_length(block_idx, n, "block_idx");
        bcd::ForestPcgOptions opt;
        opt.block_ptr = block_ptr.data();
        opt.block_idx = block_idx.data();
        opt.n_blocks = block_ptr.shape(0) - 1;
        opt.omega = omega;
        opt.tol = tol;
        opt.maxiter = maxiter;
        bind::Callback cb(callback);
        double* xp = x.mutable_data();
        const double* bp = b.data();
        if (!apply_to.is_none()) {  // tests: x = M^{-1} b, no solve
          {
            py::gil_scoped_release nogil;
            bcd::ForestPCG<double, Index> pcg(A, opt);
            for (I64 c = 0; c < k; ++c) pcg.apply(bp + c * n, xp + c * n);
          }
          return py::object(py::dict());
        }
        if (k == 0) return py::object(py::list());
        std::vector<SolveInfo> infos;
        {
          py::gil_scoped_release nogil;
          bcd::ForestPCG<double, Index> pcg(A, opt);
          Control control = bind::python_control();
          std::function<bool(I64, const double*)> mon;
          if (cb.active())
            mon = [&](I64, const double* xc) {
              py::gil_scoped_acquire gil;
              return cb(copy_vec(xc, n));
            };
          for (I64 c = 0; c < k; ++c) {
            infos.push_back(pcg.solve(bp + c * n, xp + c * n, &control, mon));
            const Status st = infos.back().status;
            if (st == Status::interrupted || st == Status::callback_stop) break;
          }
        }
        bind::raise_if_interrupted(infos.back(), &cb);
        if (!multi) return py::object(bind::info_dict(infos[0]));
        py::list out;
        for (const SolveInfo& info : infos) out.append(bind::info_dict(info));
        return py::object(out);
      },
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("block_ptr").noconvert(),
      py::arg("block_idx").noconvert(), py::arg("omega"), py::arg("tol"), py::arg("maxiter"), py::arg("callback"),
      py::arg("apply_to") = py::none());

  m.def(
      "bcd_forest_solve",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<I64>& block, const carray<double>& rhs) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        const I64 m = block.shape(0);
        bind::check_length(rhs, m, "rhs");
        for (I64 k = 0; k < m; ++k)
          if (block.data()[k] < 0 || block.data()[k] >= n) throw std::invalid_argument("block: index out of range");
        std::vector<double> diag(n, 0.0);
        for (I64 i = 0; i < n; ++i)
          for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
            if (A.indices[p] == i) diag[i] += A.data[p];
        bcd::ForestScratch s(n);
        bcd::ForestBlock<double> fb;
        if (!bcd::build_forest_block(A, block.data(), m, fb, s))
          throw std::invalid_argument("block: not a forest in the graph of A");
        std::vector<I64> pos(n, -1);
        for (I64 k = 0; k < m; ++k) pos[block.data()[k]] = k;
        std::vector<double> r(m), work(m), d(m);
        for (I64 q = 0; q < m; ++q) r[q] = rhs.data()[pos[fb.nodes[q]]];
        if (!bcd::forest_solve(fb, diag.data(), r, work, d.data()))
          throw std::invalid_argument("A: the block is not positive definite");
        carray<double> out(static_cast<py::ssize_t>(m));
        for (I64 q = 0; q < m; ++q) out.mutable_data()[pos[fb.nodes[q]]] = d[q];
        return out;
      },
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("block").noconvert(), py::arg("rhs").noconvert());

  m.def(
      "bcd_lasso_sparse",
      [](Index n, Index p, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& y, carray<double> w, double lambda, double tol, I64 maxiter, bool greedy, bool newton,
         bool history, int n_threads, py::object callback) {
        bcd::SparseColumns<double, Index> X;
        X.xt = bind::csr_view<double, Index>(p, n, indptr, indices, data);
        X.n = n;
        X.p = p;
        return lasso_common(X, y, w, lambda, tol, maxiter, greedy, newton, history, n_threads, callback);
      },
      py::arg("n"), py::arg("p"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("y").noconvert(), py::arg("w").noconvert(), py::arg("lam"),
      py::arg("tol"), py::arg("maxiter"), py::arg("greedy"), py::arg("newton"), py::arg("history"),
      py::arg("n_threads"), py::arg("callback"));

  m.def(
      "bcd_smooth_sparse",
      [](Index n, Index p, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& y, carray<double> W, I64 K, int loss, int rule, int update,
         const carray<I64>& block_ptr, const carray<I64>& block_idx, double l1, double l2, double tol, I64 maxiter,
         I64 check_every, std::uint64_t seed, bool history, int n_threads, bool active_newton,
         py::object callback, bool incremental) {
        bcd::SparseColumns<double, Index> X;
        X.xt = bind::csr_view<double, Index>(p, n, indptr, indices, data);
        X.n = n;
        X.p = p;
        return smooth_common(X, y, W, K, loss, rule, update, block_ptr, block_idx, l1, l2, tol, maxiter, check_every,
                             seed, history, n_threads, active_newton, callback, incremental);
      },
      py::arg("n"), py::arg("p"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("y").noconvert(), py::arg("W").noconvert(), py::arg("K"), py::arg("loss"),
      py::arg("rule"), py::arg("update"), py::arg("block_ptr").noconvert(), py::arg("block_idx").noconvert(),
      py::arg("l1"), py::arg("l2"), py::arg("tol"), py::arg("maxiter"), py::arg("check_every"), py::arg("seed"),
      py::arg("history"), py::arg("n_threads"), py::arg("active_newton"), py::arg("callback"),
      py::arg("incremental") = true);
}

}  // namespace

void register_bcd(py::module_& m) {
  bind_index<std::int32_t>(m);
  bind_index<std::int64_t>(m);
  m.def(
      "bcd_lasso_dense",
      [](const carray<double>& xt, const carray<double>& y, carray<double> w, double lambda, double tol, I64 maxiter,
         bool greedy, bool newton, bool history, int n_threads, py::object callback) {
        if (xt.ndim() != 2) throw std::invalid_argument("xt must be 2-D");
        bcd::DenseColumns<double> X;
        X.xt = xt.data();
        X.p = xt.shape(0);
        X.n = xt.shape(1);
        return lasso_common(X, y, w, lambda, tol, maxiter, greedy, newton, history, n_threads, callback);
      },
      py::arg("xt").noconvert(), py::arg("y").noconvert(), py::arg("w").noconvert(), py::arg("lam"), py::arg("tol"),
      py::arg("maxiter"), py::arg("greedy"), py::arg("newton"), py::arg("history"), py::arg("n_threads"),
      py::arg("callback"));

  m.def(
      "bcd_smooth_dense",
      [](const carray<double>& xt, const carray<double>& y, carray<double> W, I64 K, int loss, int rule, int update,
         const carray<I64>& block_ptr, const carray<I64>& block_idx, double l1, double l2, double tol, I64 maxiter,
         I64 check_every, std::uint64_t seed, bool history, int n_threads, bool active_newton,
         py::object callback, bool incremental) {
        if (xt.ndim() != 2) throw std::invalid_argument("xt must be 2-D");
        bcd::DenseColumns<double> X;
        X.xt = xt.data();
        X.p = xt.shape(0);
        X.n = xt.shape(1);
        return smooth_common(X, y, W, K, loss, rule, update, block_ptr, block_idx, l1, l2, tol, maxiter, check_every,
                             seed, history, n_threads, active_newton, callback, incremental);
      },
      py::arg("xt").noconvert(), py::arg("y").noconvert(), py::arg("W").noconvert(), py::arg("K"), py::arg("loss"),
      py::arg("rule"), py::arg("update"), py::arg("block_ptr").noconvert(), py::arg("block_idx").noconvert(),
      py::arg("l1"), py::arg("l2"), py::arg("tol"), py::arg("maxiter"), py::arg("check_every"), py::arg("seed"),
      py::arg("history"), py::arg("n_threads"), py::arg("active_newton"), py::arg("callback"),
      py::arg("incremental") = true);
}
