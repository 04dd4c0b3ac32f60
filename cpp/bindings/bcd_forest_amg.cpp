// pybind11 glue for itercore.bcd's multilevel core (bcd/forest_amg.hpp): the
// aggregation hierarchy with forest-block smoothing, its V-cycle and its CG.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "bcd_binding.hpp"
#include "binding_utils.hpp"
#include "itercore/bcd/forest_amg.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

using I64 = std::int64_t;

/// The hierarchy behind one Python object, whatever its index type (int32
/// inside whenever the levels fit, int64 otherwise). A mutex serialises
/// calls: the levels keep work vectors.
class ForestAmgHandle {
 public:
  virtual ~ForestAmgHandle() = default;
  virtual I64 size() const = 0;
  virtual void apply(const double* r, double* z) = 0;
  virtual SolveInfo solve(const double* b, double* x, double tol, I64 maxiter, Control* c,
                          const std::function<bool(I64, const double*, double)>& monitor) = 0;
  virtual py::dict stats() const = 0;
  std::mutex mutex;
};

template <class Index>
class Handle final : public ForestAmgHandle {
 public:
  template <class InIndex>
  Handle(const CsrView<double, InIndex>& A, const bcd::ForestAmgOptions& opt) : amg_(A, opt) {}
  I64 size() const override { return amg_.size(); }
  void apply(const double* r, double* z) override { amg_.apply(r, z); }
  SolveInfo solve(const double* b, double* x, double tol, I64 maxiter, Control* c,
                  const std::function<bool(I64, const double*, double)>& monitor) override {
    amg_.set_stop(tol, maxiter);
    return amg_.solve(b, x, c, monitor);
  }
  py::dict stats() const override {
    py::list sizes, nnz;
    for (I64 l = 0; l < amg_.n_levels(); ++l) {
      sizes.append(amg_.level(l).n);
      nnz.append(amg_.level(l).nnz);
    }
    py::dict d;
    d["level_sizes"] = sizes;
    d["level_nnz"] = nnz;
    d["operator_complexity"] = amg_.operator_complexity();
    d["grid_complexity"] = amg_.grid_complexity();
    return d;
  }
 private:
  bcd::ForestAMG<double, Index> amg_;
};

template <class InIndex>
std::unique_ptr<ForestAmgHandle> make(I64 n, const carray<InIndex>& indptr, const carray<InIndex>& indices,
                                      const carray<double>& data, const bcd::ForestAmgOptions& opt) {
  auto A = bind::csr_view<double, InIndex>(static_cast<InIndex>(n), static_cast<InIndex>(n), indptr, indices, data);
  py::gil_scoped_release nogil;
  // int32 inside unless A is too big for it (coarse levels hold fewer entries in practice; a level that
  // does not fit throws std::length_error)
  if (static_cast<I64>(A.nnz()) < std::numeric_limits<std::int32_t>::max() / 2)
    return std::make_unique<Handle<std::int32_t>>(A, opt);
  return std::make_unique<Handle<std::int64_t>>(A, opt);
}

void check_rows(const py::array& B, I64 n, const char* name) {
  if (B.ndim() != 2 || B.shape(1) != static_cast<py::ssize_t>(n))
    throw std::invalid_argument(std::string(name) + ": must be (k, n)");
}

}  // namespace

void register_bcd_forest_amg(py::module_& parent) {
  py::module_ m = parent.def_submodule("bcd");
  bind::options_class<bcd::ForestAmgOptions>(m, "ForestAmgOptions",
                                             "Options of bcd::ForestAMG (itercore/bcd/forest_amg.hpp).")
      .field("tol", &bcd::ForestAmgOptions::tol, "stop when ||A x - b|| / ||b|| <= tol")
      .field("maxiter", &bcd::ForestAmgOptions::maxiter, "CG iterations (one V-cycle each)")
      .field("strength", &bcd::ForestAmgOptions::strength,
             "i-j is a strong edge when |a_ij| >= strength sqrt(a_ii a_jj); in [0, 1)")
      .field("smoothing", &bcd::ForestAmgOptions::smoothing,
             "Jacobi weight smoothing the prolongation, over a bound of rho(D^-1 A); 0: piecewise constant")
      .field("smooth_min_ratio", &bcd::ForestAmgOptions::smooth_min_ratio,
             "smooth the prolongation only where aggregation keeps at least this fraction of the variables")
      .field("max_coarse", &bcd::ForestAmgOptions::max_coarse,
             "a level with at most this many variables is solved directly")
      .field("max_levels", &bcd::ForestAmgOptions::max_levels,
             "levels at most (the last is solved directly whatever its size)")
      .field("sweeps", &bcd::ForestAmgOptions::sweeps,
             "symmetric forest-block sweeps before and after each coarse correction")
      .field("omega", &bcd::ForestAmgOptions::omega, "block SSOR relaxation of the sweeps, in (0, 2)");

  py::class_<ForestAmgHandle>(m, "ForestAMG",
                              "The multilevel hierarchy of bcd::ForestAMG, set up once for a matrix A (CSR arrays "
                              "validated by the Python layer; the hierarchy owns copies).")
      .def(py::init([](I64 n, const py::array& indptr, const py::array& indices, const carray<double>& data,
                       const bcd::ForestAmgOptions& opt) -> std::unique_ptr<ForestAmgHandle> {
             opt.check();
             if (py::isinstance<carray<std::int32_t>>(indptr) && py::isinstance<carray<std::int32_t>>(indices))
               return make<std::int32_t>(n, indptr.cast<carray<std::int32_t>>(), indices.cast<carray<std::int32_t>>(),
                                         data, opt);
             if (py::isinstance<carray<std::int64_t>>(indptr) && py::isinstance<carray<std::int64_t>>(indices))
               return make<std::int64_t>(n, indptr.cast<carray<std::int64_t>>(), indices.cast<carray<std::int64_t>>(),
                                         data, opt);
             throw std::invalid_argument("indptr and indices must both be C-contiguous int32 or both int64");
           }),
           py::arg("n"), py::arg("indptr"), py::arg("indices"), py::arg("data").noconvert(), py::arg("options"))
      .def_property_readonly("n", &ForestAmgHandle::size)
      .def("stats", &ForestAmgHandle::stats,
           "level_sizes, level_nnz (stored entries per level), operator_complexity, grid_complexity")
      .def(
          "apply",
          [](ForestAmgHandle& h, const carray<double>& R) {
            const I64 n = h.size();
            check_rows(R, n, "R");
            carray<double> Z({R.shape(0), static_cast<py::ssize_t>(n)});
            const double* r = R.data();
            double* z = Z.mutable_data();
            const I64 k = R.shape(0);
            {
              py::gil_scoped_release nogil;
              std::lock_guard<std::mutex> lock(h.mutex);
              for (I64 c = 0; c < k; ++c) h.apply(r + c * n, z + c * n);
            }
            return Z;
          },
          "Each row of R (k, n) times the V-cycle operator.", py::arg("R").noconvert())
      .def(
          "solve",
          [](ForestAmgHandle& h, const carray<double>& B, carray<double> X, double tol, I64 maxiter,
             py::object callback) {
            bcd::ForestAmgOptions stop;
            stop.tol = tol;
            stop.maxiter = maxiter;
            stop.check();
            const I64 n = h.size();
            check_rows(B, n, "b");
            if (X.ndim() != 2 || X.shape(0) != B.shape(0) || X.shape(1) != B.shape(1))
              throw std::invalid_argument("x must have the shape of b");
            const I64 k = B.shape(0);
            bind::Callback cb(std::move(callback));
            const auto monitor = bind::x_monitor(cb, n);
            std::vector<SolveInfo> infos;
            double* xp = X.mutable_data();
            const double* bp = B.data();
            if (k > 0)
              bind::run_released(cb, [&](Control* control) {
                std::lock_guard<std::mutex> lock(h.mutex);
                infos = bind::solve_rows(k, n, bp, xp, [&](const double* b, double* x) {
                  return h.solve(b, x, tol, maxiter, control, monitor);
                });
                return infos.back();
              });
            py::list out;
            for (const SolveInfo& info : infos) out.append(bind::result_dict(info));
            return out;
          },
          "A x = b for each row of B by CG preconditioned with the V-cycle to ||b - A x|| <= tol ||b|| in at most "
          "maxiter iterations, in place from the rows of X; one result dict per right-hand side solved.",
          py::arg("B").noconvert(), py::arg("X").noconvert(), py::arg("tol"), py::arg("maxiter"),
          py::arg("callback"));
}
