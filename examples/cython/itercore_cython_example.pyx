# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False
"""itercore's C++ cores called from Cython without the GIL.

Each function below cimports the declarations shipped in ``itercore.cpp``
(the same headers the Python extension is built from) and runs the core
inside ``with nogil:`` or a ``prange`` loop. tests/test_embedding.py builds
this file and compares every result with the Python API.
"""
from cython.parallel cimport prange, threadid
from libc.stdint cimport int32_t, int64_t, uint64_t
from libcpp.vector cimport vector

cimport numpy as cnp
import numpy as np

from itercore.cpp.common cimport CsrView, SolveInfo, Status
from itercore.cpp cimport linalg as il
from itercore.cpp cimport ot as iot
from itercore.cpp cimport completion as ic

cnp.import_array()


cdef CsrView[double, int32_t] csr_view(int32_t[::1] indptr, int32_t[::1] indices, double[::1] data,
                                       int32_t rows, int32_t cols):
    cdef CsrView[double, int32_t] A
    A.rows = rows
    A.cols = cols
    A.indptr = &indptr[0]
    A.indices = &indices[0]
    A.data = &data[0]
    return A


def sor_sweeps(A, double[::1] x, double[::1] b, double omega, int iterations):
    """`iterations` forward SOR sweeps of A x = b on x, in place, without the GIL."""
    cdef int32_t n = A.shape[0]
    cdef CsrView[double, int32_t] V = csr_view(A.indptr, A.indices, A.data, n, n)
    cdef double[::1] inv_diag = np.empty(n)
    cdef int32_t[::1] diag_pos = np.empty(n, dtype=np.int32)
    cdef int32_t bad
    cdef int k
    with nogil:
        bad = il.diagonal_inverse(V, &inv_diag[0], &diag_pos[0])
        if bad < 0:
            for k in range(iterations):
                il.sor_sweep(V, &inv_diag[0], &diag_pos[0], &b[0], &x[0], omega, il.Sweep.forward)
    if bad >= 0:
        raise ValueError(f"row {bad} of A has a zero or missing diagonal")


cdef int64_t sinkhorn_one(const double* a, const double* b, const double* M, int64_t n, int64_t m, double reg,
                          double tol, double* f, double* g, double* plan, double* cost) except -1 nogil:
    cdef iot.Problem[double] p
    p.n = n
    p.m = m
    p.a = a
    p.b = b
    p.M = M
    p.reg = reg
    cdef iot.Options opt
    opt.method = iot.Method.sinkhorn
    opt.tol = tol
    opt.n_threads = 1
    cdef iot.Outcome out = iot.solve(p, f, g, plan, opt)
    cost[0] = out.stats.cost
    return out.it.info.iterations


def sinkhorn_many(double[::1] a, double[::1] b, double[:, ::1] M, double[::1] regs, double tol):
    """One Sinkhorn solve per entry of `regs`, in parallel (prange), each with
    its own potentials and plan; returns (costs, nits, f, g)."""
    cdef int64_t n = M.shape[0], m = M.shape[1], nreg = regs.shape[0]
    cdef double[::1] costs = np.empty(nreg)
    cdef int64_t[::1] nits = np.empty(nreg, dtype=np.int64)
    cdef double[:, ::1] f = np.zeros((nreg, n))
    cdef double[:, ::1] g = np.zeros((nreg, m))
    cdef double[:, :, ::1] plan = np.empty((nreg, n, m))
    cdef Py_ssize_t r
    for r in prange(nreg, nogil=True, num_threads=2, schedule="dynamic"):
        nits[r] = sinkhorn_one(&a[0], &b[0], &M[0, 0], n, m, regs[r], tol, &f[r, 0], &g[r, 0], &plan[r, 0, 0],
                               &costs[r])
    return np.asarray(costs), np.asarray(nits), np.asarray(f), np.asarray(g)


def sns_solve(double[::1] a, double[::1] b, double[:, ::1] M, double reg, double tol):
    """One Sinkhorn-Newton-Sparse solve without the GIL; returns (f, g, status, newton steps)."""
    cdef int64_t n = M.shape[0], m = M.shape[1]
    cdef double[::1] f = np.zeros(n), g = np.zeros(m)
    cdef double[:, ::1] work = np.empty((n, m))
    cdef iot.Problem[double] p
    p.n = n
    p.m = m
    p.a = &a[0]
    p.b = &b[0]
    p.M = &M[0, 0]
    p.reg = reg
    cdef iot.Options opt
    opt.method = iot.Method.sns
    opt.tol = tol
    cdef iot.OtInfo info
    with nogil:
        info = iot.sns(p, &f[0], &g[0], &work[0, 0], opt)
    return np.asarray(f), np.asarray(g), <int>info.info.status, info.newton_iterations


def sketch_solve(A, double[::1] b, uint64_t seed, int64_t block_size, double rtol):
    """Randomized block Kaczmarz on CSR A without the GIL; returns (x, status, iterations).
    A bad option (block_size < 1) raises ValueError from std::invalid_argument."""
    cdef int32_t m = A.shape[0], n = A.shape[1]
    cdef il.CsrRows[double, int32_t] rows
    rows.A = csr_view(A.indptr, A.indices, A.data, m, n)
    cdef double[::1] x = np.zeros(n)
    cdef il.SketchOptions opt
    opt.method = il.SketchMethod.kaczmarz
    opt.block_size = block_size
    opt.rtol = rtol
    opt.seed = seed
    cdef SolveInfo info
    with nogil:
        info = il.sketch_project(rows, &b[0], &x[0], opt)
    return np.asarray(x), <int>info.status, info.iterations


def completion_rows(obs, double[:, ::1] F, double reg, int method):
    """Every line of the CSR `obs` solved by completion's row solver, lines
    split across threads by prange (one RowScratch per thread); returns X."""
    cdef int32_t rows = obs.shape[0], cols = obs.shape[1]
    cdef CsrView[double, int32_t] V = csr_view(obs.indptr, obs.indices, obs.data, rows, cols)
    cdef int64_t k = F.shape[1]
    cdef double[:, ::1] X = np.zeros((rows, k))
    cdef ic.RowOptions opt
    opt.method = <ic.RowSolver>method
    opt.reg = reg
    cdef int nthreads = 2
    cdef vector[ic.RowScratch[double]] scratch
    cdef int64_t cmax = ic.max_line(V)
    cdef int t
    for t in range(nthreads):
        scratch.push_back(ic.RowScratch[double](k, cmax, opt))
    cdef int32_t j
    for j in prange(rows, nogil=True, num_threads=nthreads, schedule="dynamic"):
        ic.solve_line(V, j, &F[0, 0], k, scratch[threadid()], opt, &X[j, 0])
    return np.asarray(X)
