# Declarations of itercore/linalg/relaxation.hpp and itercore/linalg/sketch.hpp
# (namespace itercore::linalg): SOR sweeps and sketch-and-project solves.
from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool

from itercore.cpp.common cimport Control, CsrView, SolveInfo


cdef extern from "itercore/linalg/relaxation.hpp" namespace "itercore::linalg" nogil:
    enum class Sweep(int):
        forward
        backward
        symmetric

    # Row ranges of a multicolour ordering; default-constructed = natural order.
    cppclass Coloring[I]:
        const I* color_ptr
        I n_colors

    # 1/a_ii and the position of a_ii in each row (sorted columns required).
    # Returns -1, or the first row whose diagonal is missing, zero or not finite.
    I diagonal_inverse[S, I](const CsrView[S, I]& A, S* inv_diag, I* diag_pos) except +

    # One forward, backward or symmetric SOR sweep of A x = b, in place.
    void sor_sweep[S, I](const CsrView[S, I]& A, const S* inv_diag, const I* diag_pos, const S* b, S* x,
                         S omega, Sweep sweep, const Coloring[I]& coloring, int n_threads) except +
    void sor_sweep[S, I](const CsrView[S, I]& A, const S* inv_diag, const I* diag_pos, const S* b, S* x,
                         S omega, Sweep sweep) except +

    # ||b - A x||_2 without storing the residual.
    double residual_norm[S, I](const CsrView[S, I]& A, const S* x, const S* b, int n_threads) except +

    cppclass SorOptions:
        double omega
        Sweep sweep
        double rtol
        double atol
        int64_t maxiter
        int check_every
        int n_threads
        bool history
        void check() except +


cdef extern from "itercore/linalg/sketch.hpp" namespace "itercore::linalg" nogil:
    enum class SketchMethod(int):
        kaczmarz
        gaussian
        count

    # Row access to a dense row-major m x n matrix (borrowed).
    cppclass DenseRows[S]:
        int64_t m
        int64_t n
        const S* a

    # Row access to a canonical CSR matrix (borrowed).
    cppclass CsrRows[S, I]:
        CsrView[S, I] A

    cppclass SketchOptions:
        SketchMethod method
        int64_t block_size
        double rtol
        double atol
        int64_t maxiter
        int64_t check_every
        uint64_t seed
        int n_threads
        bool history
        double stall_factor
        void check() except +

    # Solves A x = b by sketch-and-project from the iterate in x (in/out).
    # R is DenseRows[S] or CsrRows[S, I]. Throws std::invalid_argument (a
    # ValueError in Cython) naming a bad option.
    SolveInfo sketch_project[S, R](const R& A, const S* b, S* x, const SketchOptions& opt) except +
    SolveInfo sketch_project[S, R](const R& A, const S* b, S* x, const SketchOptions& opt,
                                   Control* control) except +
