# Declarations of itercore/ot/sinkhorn.hpp, sns.hpp and batch.hpp (namespace
# itercore::ot): entropic optimal transport by Sinkhorn and
# Sinkhorn-Newton-Sparse on the dual potentials.
from libc.stdint cimport int64_t
from libcpp cimport bool

from itercore.cpp.common cimport Control, SolveInfo


cdef extern from "itercore/ot/sinkhorn.hpp" namespace "itercore::ot" nogil:
    # A borrowed problem: weights a (n), b (m), row-major cost M (n x m), reg > 0.
    cppclass Problem[S]:
        int64_t n
        int64_t m
        const S* a
        const S* b
        const S* M
        double reg

    enum class Method(int):
        sinkhorn
        sinkhorn_log
        sns

    enum class LinearSolver(int):
        automatic
        cg
        direct

    cppclass Options:
        Method method
        int64_t maxiter
        int64_t max_newton
        double tol
        int n_threads
        bool history
        double switch_tol
        int64_t warmup_iter
        double drop_share
        int64_t max_keep
        int64_t cg_maxiter
        int64_t fallback_iter
        double max_step
        int64_t newton_sinkhorn
        int64_t stall_sinkhorn
        LinearSolver linear_solver
        int64_t direct_after
        int64_t direct_max_size
        void check() except +

    cppclass OtInfo:
        SolveInfo info
        int64_t sinkhorn_iterations
        int64_t newton_iterations
        int64_t cg_iterations
        int64_t direct_solves

    # Sinkhorn on the potentials f (n), g (m) (start in, result out); work is
    # an n x m buffer for the scaling fast path, or NULL (log domain only).
    OtInfo sinkhorn[S](const Problem[S]& p, S* f, S* g, S* work, const Options& opt) except +


cdef extern from "itercore/ot/sns.hpp" namespace "itercore::ot" nogil:
    # Sinkhorn-Newton-Sparse; work is a required n x m buffer.
    OtInfo sns[S](const Problem[S]& p, S* f, S* g, S* work, const Options& opt) except +


cdef extern from "itercore/ot/batch.hpp" namespace "itercore::ot" nogil:
    cppclass PlanStats "itercore::ot::detail::PlanStats":
        double marginal_error
        double cost
        double mass
        double entropy_term
        double dual
        bool finite

    cppclass Outcome:
        OtInfo it
        PlanStats stats

    # opt.method's solver, then the plan exp((f_i + g_j - M_ij)/reg) written
    # into plan (n x m) with its marginal error, cost and objective.
    Outcome solve[S](const Problem[S]& p, S* f, S* g, S* plan, Options opt) except +
