# Declarations of itercore/common/*.hpp (namespace itercore): the solve
# outcome, the CSR view and the CSR kernels every family uses.
from libc.stdint cimport int64_t
from libcpp cimport bool
from libcpp.vector cimport vector


cdef extern from "itercore/common/status.hpp" namespace "itercore" nogil:
    # Why a solve stopped (non-convergence is a status, never an exception).
    enum class Status(int):
        converged
        max_iter
        breakdown
        non_finite
        interrupted
        callback_stop

    const char* status_name(Status s) noexcept

    # What a core returns beside its output arrays.
    cppclass SolveInfo:
        Status status
        int64_t iterations
        double residual
        vector[double] history


cdef extern from "itercore/common/interrupt.hpp" namespace "itercore" nogil:
    # Hooks a core polls between iterations; the cores accept nullptr.
    ctypedef bool (*InterruptFn)(void* context) noexcept nogil

    cppclass Control:
        InterruptFn interrupt
        void* interrupt_context
        double poll_seconds
        bool poll()


cdef extern from "itercore/common/threads.hpp" namespace "itercore" nogil:
    bool have_openmp() noexcept
    int resolve_threads(int requested) noexcept


cdef extern from "itercore/common/csr.hpp" namespace "itercore" nogil:
    # Borrowed CSR arrays (scipy's layout); the caller keeps them alive.
    cppclass CsrView[S, I]:
        I rows
        I cols
        const I* indptr
        const I* indices
        const S* data
        I nnz() noexcept

    # y = A x
    void csr_matvec[S, I](const CsrView[S, I]& A, const S* x, S* y, int n_threads) except +
    # r = b - A x, returns ||r||_2
    double csr_residual[S, I](const CsrView[S, I]& A, const S* x, const S* b, S* r, int n_threads) except +
