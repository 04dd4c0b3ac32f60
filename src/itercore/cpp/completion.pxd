# Declarations of itercore/completion/row_solvers.hpp (namespace
# itercore::completion): the per-line regularised least-squares solves of
# alternating minimization.
from libc.stdint cimport int64_t, uint64_t
from libcpp.vector cimport vector

from itercore.cpp.common cimport CsrView


cdef extern from "itercore/completion/row_solvers.hpp" namespace "itercore::completion" nogil:
    enum class RowSolver(int):
        cholesky
        cg
        sketch
        automatic

    cppclass RowOptions:
        RowSolver method
        double reg
        bint reg_by_count
        int inner_maxiter
        double inner_tol
        double sketch_ratio
        uint64_t seed
        uint64_t stream_base
        void check() except +

    # Per-thread workspace for rank k and lines of at most c_max observations.
    cppclass RowScratch[S]:
        RowScratch() except +
        RowScratch(int64_t k, int64_t c_max, const RowOptions& opt) except +

    # x = argmin ||F[obs_j, :] x - obs_j||^2 + reg ||x||^2 for line j of obs
    # (F row-major with k columns); x holds the warm start (cg, sketch).
    void solve_line[S, I](const CsrView[S, I]& obs, I j, const S* F, int64_t k, RowScratch[S]& ws,
                          const RowOptions& opt, S* x) except +

    # Longest line of obs (sizes RowScratch).
    int64_t max_line[S, I](const CsrView[S, I]& obs) except +

    # Every line of obs in parallel (one RowScratch per thread); returns the
    # sum of squared residuals (times inv_scale^2) of the new X.
    double half_step[S, I](const CsrView[S, I]& obs, const S* F, int64_t k, S* X, const RowOptions& opt,
                           vector[RowScratch[S]]& scratch, int n_threads, double inv_scale) except +
