"""Solves on a Dask cluster (``dask.distributed``): matrix completion with the
observations spread over the workers, and many independent problems run
chunk by chunk.

Install with ``pip install "itercore[distributed]"``. Every function takes a
``client=`` (a :class:`distributed.Client`); without one it uses the current
client (:func:`distributed.get_client`), which may be a ``LocalCluster`` on a
laptop, a ``dask-jobqueue`` cluster on an HPC scheduler or a cloud cluster.

- :func:`altmin`: alternating minimization with the observations partitioned
  once by row blocks and once by column blocks and kept on the workers; the
  factors stay there too, one block per task: each half-step task fetches
  the other factor's blocks worker to worker and solves its block's lines
  with the same C++ row solvers as :func:`itercore.completion.altmin` (GIL
  released, ``n_threads`` per task); only a scalar residual per block comes
  back to the client each sweep. With the same seed the factors are those of the
  single-machine solve.
- :func:`itercore.ot.entropic_batch` given Dask arrays (chunked along the batch
  axis) runs here, one task per chunk, and returns Dask arrays.
- :func:`solve_many`: one linear solver of :mod:`itercore.linalg` over many
  right-hand sides (a Dask array chunked along the batch axis) with the same
  ``A`` or one ``A`` per right-hand side.

Fault tolerance comes from Dask: the observation blocks are computed by tasks
from the input (a Dask collection, or partitions embedded in the task graph),
so a block lost with a worker is recomputed on another; so is a lost factor
block, from the blocks it was computed from (back to the start, whose blocks
are held by the tasks that made them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core, _pipeline
from . import completion as _completion
from ._typing import ArrayLike, CallbackLike, OptionsLike, SeedLike
from ._validation import as_float_array, result_dtype, check_callback, check_int, check_n_threads, seed_to_uint64

__all__ = ["altmin", "solve_many", "is_dask_collection"]


def _require_dask():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the test extra installs dask
        raise ImportError("itercore.distributed needs dask.distributed: "
                          "pip install 'itercore[distributed]'") from exc


def is_dask_collection(x: object) -> bool:
    """True when ``x`` is a Dask collection (array, dataframe, delayed, ...),
    without importing Dask when it is not installed."""
    try:
        from dask import is_dask_collection as _is
    except ImportError:
        return False
    return bool(_is(x))


def _get_client(client):
    _require_dask()
    from distributed import Client, get_client

    if client is None:
        try:
            return get_client()
        except ValueError:
            raise ValueError("no Dask client: pass client= or create a distributed.Client first") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    return client


# --------------------------------------------------------------------------
# Input: partitions of (rows, cols, values)
# --------------------------------------------------------------------------

def _coo_of(part, columns):
    """``(rows, cols, values)`` numpy arrays of one partition (runs on a worker)."""
    if isinstance(part, tuple):
        r, c, v = part
    else:  # a pandas DataFrame
        r, c, v = (part[name].to_numpy() for name in columns)
    return np.asarray(r), np.asarray(c), np.asarray(v)


def _part_stats(part, columns):
    r, c, v = _coo_of(part, columns)
    if not (r.ndim == c.ndim == v.ndim == 1 and r.shape == c.shape == v.shape):
        return {"error": f"rows, cols and values must be 1-D of equal length, got shapes "
                         f"{r.shape}, {c.shape}, {v.shape}"}
    out = {"n": int(v.shape[0]), "rkind": r.dtype.kind, "ckind": c.dtype.kind, "vkind": v.dtype.kind,
           "vdtype": v.dtype.str}
    if v.shape[0]:
        out.update(rmin=int(r.min()), rmax=int(r.max()), cmin=int(c.min()), cmax=int(c.max()))
        if v.dtype.kind in "fiub":
            out.update(finite=bool(np.isfinite(v).all()), amax=float(np.max(np.abs(v))))
    return out


def _partitions(X, columns, shape):
    """A list of Delayed partitions and the declared shape (or None)."""
    import dask

    if isinstance(X, tuple) and len(X) in (3, 4) and all(is_dask_collection(a) for a in X[:3]):
        import dask.array as da

        arrays = X[:3]
        if len(X) == 4:
            if shape is not None:
                raise TypeError("X: give the shape either as the 4th entry of X or as shape=, not both")
            shape = X[3]
        for name, a in zip(("rows", "cols", "values"), arrays):
            if not isinstance(a, da.Array) or a.ndim != 1:
                raise ValueError(f"X {name} must be a 1-D Dask array")
        if not (arrays[0].shape[0] == arrays[1].shape[0] == arrays[2].shape[0]):
            raise ValueError("X rows, cols and values must have the same length, got "
                             f"{arrays[0].shape[0]}, {arrays[1].shape[0]}, {arrays[2].shape[0]}")
        chunks = arrays[2].chunks
        r, c = (a.rechunk(chunks) for a in arrays[:2])
        parts = [dask.delayed(tuple)([pr, pc, pv], pure=True)
                 for pr, pc, pv in zip(r.to_delayed(), c.to_delayed(), arrays[2].to_delayed())]
        return parts, shape
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover
        dd = None
    if dd is not None and isinstance(X, dd.DataFrame):
        missing = [name for name in columns if name not in X.columns]
        if missing:
            raise ValueError(f"X must have the columns {tuple(columns)} (columns=); missing {missing}, "
                             f"has {list(X.columns)}")
        return list(X[list(columns)].to_delayed()), shape
    if isinstance(X, (list, tuple)) and not isinstance(X, str):
        parts = []
        for i, p in enumerate(X):
            if isinstance(p, tuple) and len(p) == 3:
                parts.append(dask.delayed(tuple)(list(p), pure=True))
            elif hasattr(p, "columns"):  # a pandas DataFrame
                missing = [name for name in columns if name not in p.columns]
                if missing:
                    raise ValueError(f"X[{i}] must have the columns {tuple(columns)} (columns=); "
                                     f"missing {missing}, has {list(p.columns)}")
                parts.append(dask.delayed(p[list(columns)], pure=True))
            else:
                raise TypeError(f"X[{i}] must be a (rows, cols, values) tuple or a pandas DataFrame, "
                                f"got {type(p).__name__}")
        if not parts:
            raise ValueError("X has no partitions")
        return parts, shape
    raise TypeError("X must be a Dask DataFrame of (row, col, value), a tuple of three Dask arrays "
                    f"(rows, cols, values[, shape]) or a list of partitions, got {type(X).__name__}")


def _check_stats(stats, columns, shape):
    """Validates the per-partition summaries; returns (m, n, nnz, dtype, amax)."""
    names = ("X " + columns[0], "X " + columns[1], "X " + columns[2])
    for i, s in enumerate(stats):
        if "error" in s:
            raise ValueError(f"X partition {i}: {s['error']}")
        for key, name in (("rkind", names[0]), ("ckind", names[1])):
            if s["n"] and s[key] not in "iu":
                raise TypeError(f"{name} must hold integers (partition {i})")
        if s["n"] and s["vkind"] not in "fiub":
            raise TypeError(f"{names[2]} must be real numbers (partition {i})")
        if s["n"] and not s["finite"]:
            raise ValueError(f"{names[2]} must contain only finite values (found NaN or inf in partition {i})")
        if s["n"] and (s["rmin"] < 0 or s["cmin"] < 0):
            raise ValueError(f"X has negative indices (partition {i})")
    full = [s for s in stats if s["n"]]
    nnz = sum(s["n"] for s in full)
    if nnz == 0:
        raise ValueError("X has no observed entries")
    rmax = max(s["rmax"] for s in full)
    cmax = max(s["cmax"] for s in full)
    if shape is None:
        m, n = rmax + 1, cmax + 1
    else:
        try:
            m, n = (int(x) for x in shape)
        except (TypeError, ValueError):
            raise TypeError(f"shape must be a pair of ints, got {shape!r}") from None
        if rmax >= m:
            raise ValueError(f"{names[0]} has indices outside [0, {m}) (max {rmax})")
        if cmax >= n:
            raise ValueError(f"{names[1]} has indices outside [0, {n}) (max {cmax})")
    dtype = np.dtype(np.float32) if all(np.dtype(s["vdtype"]) == np.float32 for s in full) else np.dtype(np.float64)
    amax = max(s["amax"] for s in full)
    return m, n, nnz, dtype, amax


def _bounds(lines, n_blocks):
    return np.linspace(0, lines, n_blocks + 1).round().astype(np.int64)


def _split(part, columns, rbounds, cbounds, dtype):
    """One partition's entries cut by row blocks and by column blocks (on a worker)."""
    r, c, v = _coo_of(part, columns)
    r = r.astype(np.int64, copy=False)
    c = c.astype(np.int64, copy=False)
    v = v.astype(dtype, copy=False)
    out = []
    for key, bounds in ((r, rbounds), (c, cbounds)):
        block = np.searchsorted(bounds, key, side="right") - 1
        order = np.argsort(block, kind="stable")
        cuts = np.searchsorted(block[order], np.arange(len(bounds)))
        rs, cs, vs = r[order], c[order], v[order]
        out.append([(rs[a:b], cs[a:b], vs[a:b]) for a, b in zip(cuts[:-1], cuts[1:])])
    return out


def _build_block(pieces, lo, hi, other, by_rows, idx_t):
    """The CSR of lines ``[lo, hi)`` (rows of X, or rows of X^T), lines sorted
    inside as :func:`itercore.completion.altmin` sorts them; duplicates raise."""
    r = np.concatenate([p[0] for p in pieces])
    c = np.concatenate([p[1] for p in pieces])
    v = np.concatenate([p[2] for p in pieces])
    line, pos = (r, c) if by_rows else (c, r)
    line = line - lo
    key = line * np.int64(other) + pos
    order = np.argsort(key, kind="stable")
    skey = key[order]
    dup = np.flatnonzero(skey[1:] == skey[:-1])
    if dup.size:
        i = order[dup[0]]
        raise ValueError(f"X has duplicate observations, first at (row, col) = ({int(r[i])}, {int(c[i])})")
    indptr = np.zeros(hi - lo + 1, dtype=idx_t)
    np.cumsum(np.bincount(line, minlength=hi - lo), out=indptr[1:])
    return (indptr, np.ascontiguousarray(pos[order], dtype=idx_t), np.ascontiguousarray(v[order]))


def _block_summary(block, inv):
    indptr, _, values = block
    scaled = values.astype(np.float64) * inv
    return {"cold": np.diff(indptr) == 0, "ss": float(scaled @ scaled)}


# --------------------------------------------------------------------------
# Tasks run on the workers (module-level, so that they pickle by reference)
# --------------------------------------------------------------------------

def _options_state(opts):
    return {name: (getattr(opts, name).name if hasattr(getattr(opts, name), "name") else getattr(opts, name))
            for name in opts._fields}


def _options_from(state):
    return _pipeline.make_options(_core.completion.AltMinOptions, None, state)


def _spmm_task(block, X, alpha, n_threads):
    indptr, indices, values = block
    return _core.completion.spmm(indptr, indices, values, X, alpha, n_threads)


def _held(x):
    """A task that holds ``x`` in its recipe: what a client-made array becomes
    on the workers (scattered data could not be made again if lost)."""
    return x


def _x(out):
    """A factor block: the array itself, or the first item of a half-step's ``(X, rr)``."""
    return out[0] if isinstance(out, tuple) else out


_assembled: list = []  # per worker process: [(the blocks, their stack)] of the last factor assembled


def _whole(parts):
    """The factor assembled on the worker from its blocks (the ones computed
    elsewhere are fetched worker to worker by Dask). The tasks of a half-step
    on one worker get the same block objects: the stack is made once and kept
    (with the blocks, so that their ids stay theirs) until another factor
    replaces it."""
    blocks = [_x(p) for p in parts]
    if len(blocks) == 1:
        return blocks[0]
    last = _assembled[0] if _assembled else None
    if last is not None and len(last[0]) == len(blocks) and all(a is b for a, b in zip(last[0], blocks)):
        return last[1]
    F = np.vstack(blocks)
    _assembled[:] = [(blocks, F)]
    return F


def _forget_assembled():
    _assembled.clear()


def _half_step_task(block, warm, state, stream_base, inv_scale, *parts):
    """One block's lines of the next factor, given the other factor's blocks
    ``parts``; returns ``(X, rr)``, ``rr`` NaN if ``X`` is not finite."""
    indptr, indices, values = block
    F = _whole(parts)
    if warm is None:  # an exact solver: no warm start needed, none sent
        X = np.zeros((indptr.shape[0] - 1, F.shape[1]), dtype=values.dtype)
    else:
        X = np.array(_x(warm), dtype=values.dtype, order="C")
    rr = _core.completion.half_step(indptr, indices, values, F, X, _options_from(state), stream_base, inv_scale)
    return X, (float(rr) if np.isfinite(X).all() else float("nan"))


def _rr_task(out):
    return out[1]


def _squared_error(val, scale, U, *parts):
    """Sum of the squared errors ``scale * (u_r . v_c - value)`` of one row
    block's entries ``val = (r, c, values)`` (rows relative to the block)."""
    r, c, v = val
    U, V = _x(U), _whole(parts)
    d = (np.einsum("ij,ij->i", U[r], V[c]).astype(np.float64) - v) * scale
    return float(d @ d)


def _residual_task(block, inv, U, *parts):
    """The scaled squared residual of one row block of the observations."""
    indptr, indices, values = block
    rows = np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
    return _squared_error((rows, indices, values), inv, U, *parts)


# --------------------------------------------------------------------------
# Distributed alternating minimization
# --------------------------------------------------------------------------

class _Blocks:
    """The observations held on the workers: row blocks (U half-steps) and
    column blocks (V half-steps), as futures the client keeps."""

    def __init__(self, client, X, columns, shape, n_blocks):
        import dask

        parts, shape = _partitions(X, columns, shape)
        stats = client.gather(client.compute([dask.delayed(_part_stats)(p, columns) for p in parts]))
        self.m, self.n, self.nnz, self.dtype, amax = _check_stats(stats, columns, shape)
        self.amax = self.dtype.type(amax)
        idx_t = np.int32 if max(self.m, self.n, self.nnz) <= np.iinfo(np.int32).max else np.int64
        if n_blocks is None:
            n_blocks = 2 * max(1, len(client.scheduler_info()["workers"]))
        n_blocks = check_int(n_blocks, "n_blocks", lower=1)
        self.rb = _bounds(self.m, min(n_blocks, self.m))
        self.cb = _bounds(self.n, min(n_blocks, self.n))
        splits = [dask.delayed(_split, nout=2)(p, columns, self.rb, self.cb, self.dtype) for p in parts]
        rows = [dask.delayed(_build_block)([s[0][b] for s in splits], int(self.rb[b]), int(self.rb[b + 1]), self.n,
                                           True, idx_t) for b in range(len(self.rb) - 1)]
        cols = [dask.delayed(_build_block)([s[1][b] for s in splits], int(self.cb[b]), int(self.cb[b + 1]), self.m,
                                           False, idx_t) for b in range(len(self.cb) - 1)]
        self.rows, self.cols = client.compute(rows), client.compute(cols)
        scale = float(self.amax) if self.amax > 0 else 1.0
        self.scale = scale
        rsum = client.gather([client.submit(_block_summary, b, 1.0 / scale, pure=False) for b in self.rows])
        csum = client.gather([client.submit(_block_summary, b, 1.0 / scale, pure=False) for b in self.cols])
        self.cold_rows = np.concatenate([s["cold"] for s in rsum])
        self.cold_cols = np.concatenate([s["cold"] for s in csum])
        self.scaled_norm = float(np.sqrt(sum(s["ss"] for s in rsum)))


def _gather_factor(client, parts):
    """The blocks (arrays, or half-steps' ``(X, rr)``) gathered and stacked on the client."""
    return np.vstack([_x(p) for p in client.gather(parts)])


def _start(client, blocks, opts, k, n_threads):
    """The start of :func:`itercore.completion.altmin` (init.hpp's
    ``initialise``), with the sparse products done block by block on the
    workers and the small dense steps on the client, in the same order."""
    c = _core.completion
    dt, m, n = blocks.dtype, blocks.m, blocks.n
    amax = blocks.amax
    inv = dt.type(1) / amax if amax > 0 else dt.type(1)

    def held(X):  # made by a task that holds X, not scattered: a copy lost with a worker can be made again
        return client.submit(_held, X, pure=False)

    def rows_times(X):  # A X, blocks of rows
        Xf = held(X)
        return _gather_factor(client, [client.submit(_spmm_task, b, Xf, inv, n_threads, pure=False)
                                       for b in blocks.rows])

    def cols_times(Y):  # A^T Y, blocks of columns
        Yf = held(Y)
        return _gather_factor(client, [client.submit(_spmm_task, b, Yf, inv, n_threads, pure=False)
                                       for b in blocks.cols])

    if opts.init.name == "random":
        U = c.orthonormalise(c.gaussian(m, k, opts.seed).astype(dt))
    else:
        ell = min(k + opts.oversample, min(m, n))
        Y = rows_times(c.gaussian(n, ell, opts.seed).astype(dt))
        for _ in range(opts.power_iters):
            Y = c.orthonormalise(Y)
            Z = c.orthonormalise(cols_times(Y))
            Y = rows_times(Z)
        Y = c.orthonormalise(Y)
        U = c.top_left_vectors(Y, cols_times(Y), k)
    U = c.clip_and_orthonormalise(U)
    scale = dt.type(float(m) * float(n) / float(max(1, blocks.nnz)))
    V = (scale * (amax if amax > 0 else dt.type(1))) * cols_times(U)
    return np.ascontiguousarray(U), np.ascontiguousarray(V)


_D = _completion._D


def altmin(X: Any, rank: int, *, shape: tuple[int, int] | None = None,
           columns: tuple[str, str, str] = ("row", "col", "value"), method: str = _D.method.name,
           reg: float = _D.reg, init: str = _D.init.name, x0: ArrayLike | None = None, maxiter: int = _D.maxiter,
           tol: float = _D.tol, validation: Any = None, callback: CallbackLike = None, n_threads: int | None = None,
           seed: SeedLike = None, history: bool = False, options: OptionsLike = None, client: Any = None,
           n_blocks: int | None = None) -> _completion.AltMinResult:
    """Matrix completion by alternating minimization on a Dask cluster.

    The method, options and result of :func:`itercore.completion.altmin`;
    with the same seed the factors are the same (to rounding: the products
    and solves are done in the same order). The observations are partitioned
    once by blocks of rows and once by blocks of columns and stay on the
    workers, and so do the factors (one block per task): each half-step
    task fetches the other factor's blocks from the workers that hold them,
    and the client gathers one residual per block each sweep, the factors
    only at the end (and after each sweep for a ``callback``).

    Parameters
    ----------
    X : dask.dataframe.DataFrame, tuple of dask arrays, or list of partitions
        The observed entries: a Dask DataFrame with the columns named by
        ``columns`` (e.g. read from Parquet or CSV), a tuple of three 1-D
        Dask arrays ``(rows, cols, values)`` (optionally with a fourth entry,
        the shape), or a list of partitions, each a ``(rows, cols, values)``
        tuple of NumPy arrays or a pandas DataFrame. Duplicate
        ``(row, col)`` pairs, NaN or inf, negative or non-integer indices
        raise before any solve starts.
    rank : int
        Target rank, ``1 <= rank < min(m, n)``.
    shape : (int, int), optional
        ``(m, n)``; default: one more than the largest row and column index.
    columns : tuple of 3 str, optional
        Names of the row, column and value columns of DataFrame input.
    method, reg, init, x0, maxiter, tol, validation, callback, seed, history, options
        As in :func:`itercore.completion.altmin` (``method="paper"`` excepted:
        it is single-machine only). ``validation`` is a
        ``(rows, cols, values)`` tuple of NumPy arrays, evaluated on the
        client.
    n_threads : int, optional
        OpenMP threads of each task on its worker (``None``: the worker's
        runtime default).
    client : distributed.Client, optional
        Default: the current client.
    n_blocks : int, optional
        Blocks of rows and of columns (default: twice the number of workers).

    Returns
    -------
    AltMinResult
        As :func:`itercore.completion.altmin` (``U``, ``V`` and ``predict``
        are local NumPy: predicting needs no observation).

    Examples
    --------
    >>> import numpy as np
    >>> from distributed import Client, LocalCluster
    >>> from itercore import distributed as icd
    >>> rng = np.random.default_rng(0)
    >>> M = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 200))
    >>> r, c = np.nonzero(rng.random(M.shape) < 0.2)
    >>> parts = [(r[i::2], c[i::2], M[r[i::2], c[i::2]]) for i in range(2)]
    >>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster, Client(cluster):
    ...     res = icd.altmin(parts, rank=3, shape=M.shape, seed=0)
    >>> bool(res.success), bool(np.linalg.norm(res.U @ res.V.T - M) / np.linalg.norm(M) < 1e-6)
    (True, True)
    """
    client = _get_client(client)
    if not (isinstance(columns, (tuple, list)) and len(columns) == 3 and all(isinstance(s, str) for s in columns)):
        raise TypeError(f"columns must be three column names, got {columns!r}")
    rank = check_int(rank, "rank", lower=1)
    if isinstance(method, str) and method == "paper":
        raise ValueError("method='paper' is not available in itercore.distributed (it draws disjoint observation "
                         "subsets per half-step on one machine); use 'auto', 'cholesky', 'cg' or 'sketch'")
    opts = _completion._options(dict(method=method, reg=reg, init=init, maxiter=maxiter, tol=tol,
                                     n_threads=check_n_threads(n_threads), seed=seed_to_uint64(seed)), options)
    callback = check_callback(callback)
    blocks = _Blocks(client, X, tuple(columns), shape, n_blocks)
    m, n, dt = blocks.m, blocks.n, blocks.dtype
    if rank >= min(m, n):
        raise ValueError(f"rank must be < min(m, n) = {min(m, n)}, got {rank}")
    val = _completion._validation_set(validation, (m, n), dt, np.int64)
    if x0 is not None:
        U = as_float_array(x0, "x0", ndim=2, shape=(m, rank), dtype=dt, copy=True)
        V = np.zeros((n, rank), dtype=dt)
    else:
        U, V = _start(client, blocks, opts, rank, opts.n_threads)
    try:
        info = _sweeps(client, blocks, U, V, opts, val, callback)
    finally:
        try:  # the workers' last stacked factor (kept between the tasks of a half-step) is not needed now
            client.run(_forget_assembled)
        except Exception:  # pragma: no cover - a worker gone meanwhile keeps nothing anyway
            pass
    U, V = info.pop("U"), info.pop("V")
    return _completion._result(info, U, V, blocks.cold_rows, blocks.cold_cols, opts, history, val is not None,
                               "itercore.distributed.altmin")


def _seed_blocks(client, F, bounds):
    """A factor from the client as one future per block, made by a task whose
    recipe holds the block (scattered data would have no recipe: a copy lost
    with its worker could not be made again)."""
    return [client.submit(_held, np.ascontiguousarray(F[lo:hi]), pure=False) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _sweeps(client, blocks, U, V, opts, val, callback):
    """The outer loop of completion::altmin (altmin.hpp) with the half-steps
    on the workers: the same stopping rules, NaN recovery and statuses.

    The factors stay on the workers as one future per block: a half-step
    task fetches the other factor's blocks worker to worker and returns its
    own block with its residual; the client only gathers one number per
    block each sweep (and the factors for a callback, and at the end)."""
    state = _options_state(opts)
    lines = max(blocks.m, blocks.n) + 1
    k = U.shape[1]
    # the warm start matters to the iterative row solvers only (auto: CG rows appear above rank 16)
    warm = opts.method.name in ("cg", "sketch") or (opts.method.name == "auto" and k > 16)
    inv = 1.0 / blocks.scale
    norm = blocks.scaled_norm
    rb, cb = blocks.rb, blocks.cb

    def relative(rr):
        return np.sqrt(rr) / norm if norm > 0 else np.sqrt(rr)

    def submit(fn, *args):
        return client.submit(fn, *args, pure=False)

    Us, Vs = _seed_blocks(client, U, rb), _seed_blocks(client, V, cb)
    if val is not None:  # the validation entries cut by row blocks, held like the start
        r, c, v = val
        which = np.searchsorted(rb, r, side="right") - 1
        vparts = [submit(_held, (r[which == b] - rb[b], c[which == b], v[which == b])) for b in range(len(rb) - 1)]
        vsize = r.size

    def validation_rmse(Us, Vs):
        if vsize == 0:
            return 0.0
        ss = sum(client.gather([submit(_squared_error, vp, 1.0, u, *Vs) for vp, u in zip(vparts, Us)]))
        return float(np.sqrt(ss / vsize))

    rr0 = sum(client.gather([submit(_residual_task, b, inv, u, *Vs) for b, u in zip(blocks.rows, Us)]))
    res = relative(rr0)
    hist, vhist = [res], []
    status, nit = _pipeline.MAX_ITER, 0
    vres = validation_rmse(Us, Vs) if val is not None else 0.0
    if val is not None:
        vhist.append(vres)
    if not (np.isfinite(res) and np.isfinite(U).all() and np.isfinite(V).all()):
        return dict(status=_pipeline.NON_FINITE, nit=0, residual=res, history=np.array(hist), U=U, V=V,
                    validation_history=np.array(vhist))
    for it in range(opts.maxiter):
        Ub, Vb = Us, Vs
        base = 2 * it * lines
        Vs = [submit(_half_step_task, b, w if warm else None, state, base + int(lo), 1.0, *Us)
              for b, w, lo in zip(blocks.cols, Vs, cb[:-1])]
        Us = [submit(_half_step_task, b, w if warm else None, state, base + lines + int(lo), inv, *Vs)
              for b, w, lo in zip(blocks.rows, Us, rb[:-1])]
        rr = client.gather([submit(_rr_task, x) for x in Us + Vs])
        nit = it + 1
        new_res = relative(sum(rr[:len(Us)]))
        if not np.isfinite(rr).all():
            Us, Vs, status = Ub, Vb, _pipeline.NON_FINITE
            break
        prev, res = res, new_res
        hist.append(res)
        if val is not None:
            v_new = validation_rmse(Us, Vs)
            vhist.append(v_new)
            if v_new > vres:  # worse: the previous sweep's factors, as if this one had not run
                Us, Vs = Ub, Vb
                hist.pop()
                vhist.pop()
                nit, res, status = it, prev, _pipeline.CONVERGED
                break
            done = vres - v_new <= opts.tol * vres
            vres = v_new
        else:
            done = res <= opts.tol or abs(prev - res) <= opts.tol * prev
        if callback is not None:
            try:
                callback(_pipeline.OptimizeResult(nit=nit, residual=float(res), U=_gather_factor(client, Us),
                                                  V=_gather_factor(client, Vs)))
            except StopIteration:
                status = _pipeline.CALLBACK_STOP
                break
        if done:
            status = _pipeline.CONVERGED
            break
    return dict(status=status, nit=nit, residual=res, history=np.array(hist), U=_gather_factor(client, Us),
                V=_gather_factor(client, Vs), validation_history=np.array(vhist))


# --------------------------------------------------------------------------
# Many independent problems
# --------------------------------------------------------------------------

def _ot_chunk(a, b, M, reg, kwargs):
    import warnings

    from . import ot
    from ._warnings import ConvergenceWarning

    with warnings.catch_warnings():  # a chunk's non-convergence is reported by its `converged` entries
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = ot.entropic_batch(a, b, M, reg, **kwargs)
    return (r.plan, r.f, r.g, r.cost, r.value, r.marginal_error, r.nit, r.status)


def ot_entropic_batch(a, b, M, reg, **kwargs):
    """:func:`itercore.ot.entropic_batch` over Dask arrays (called by it when
    ``a``, ``b`` or ``M`` is one): one task per chunk of problems; the result
    holds Dask arrays (``plan``, ``f``, ``g``, ``cost``, ``value``,
    ``marginal_error``, ``nit``, ``status``, ``converged``), and ``success``
    is not known until they are computed (check ``converged``)."""
    _require_dask()
    import dask
    import dask.array as da

    def as_dask(x, name, ndim):
        if not isinstance(x, da.Array):
            x = da.from_array(np.asarray(x), chunks=-1)
        if x.ndim not in ndim:
            raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, got shape {x.shape}")
        return x

    a = as_dask(a, "a", (2,))
    b = as_dask(b, "b", (2,))
    M = as_dask(M, "M", (2, 3))
    B, n = a.shape
    m = b.shape[1]
    if b.shape[0] != B:
        raise ValueError(f"b must have one row per problem, as many as a has ({B}), got shape {b.shape}")
    if M.shape not in ((n, m), (B, n, m)):
        raise ValueError(f"M must have shape ({n}, {m}) or ({B}, {n}, {m}), got {M.shape}")
    chunks = a.chunks[0]
    a = a.rechunk((chunks, -1))
    b = b.rechunk((chunks, -1))
    dtype = result_dtype(a.dtype, b.dtype, M.dtype)
    if M.ndim == 3:
        Ms = M.rechunk((chunks, -1, -1)).to_delayed().ravel()
    else:
        shared = dask.delayed(M.rechunk(-1).to_delayed().ravel()[0])
        Ms = [shared] * len(chunks)
    outs = [dask.delayed(_ot_chunk, nout=8)(pa, pb, pM, reg, kwargs)
            for pa, pb, pM in zip(a.to_delayed().ravel(), b.to_delayed().ravel(), Ms)]

    def gather(i, shape_of, dt):
        return da.concatenate([da.from_delayed(o[i], shape=shape_of(c), dtype=dt) for o, c in zip(outs, chunks)])

    fields = dict(
        plan=gather(0, lambda c: (c, n, m), dtype), f=gather(1, lambda c: (c, n), dtype),
        g=gather(2, lambda c: (c, m), dtype), cost=gather(3, lambda c: (c,), np.float64),
        value=gather(4, lambda c: (c,), np.float64), marginal_error=gather(5, lambda c: (c,), np.float64),
        nit=gather(6, lambda c: (c,), np.int64), status=gather(7, lambda c: (c,), np.int64))
    res = _pipeline.OptimizeResult(fields)
    res.converged = res.status == _pipeline.CONVERGED
    return res


def _linear_chunk(solver_name, A, Bc, x0c, kwargs):
    import warnings

    from . import linalg
    from ._warnings import ConvergenceWarning

    solver = getattr(linalg, solver_name)
    X = np.empty_like(Bc, dtype=np.result_type(Bc.dtype, np.float32))
    info = np.empty(Bc.shape[0], dtype=np.int64)
    with warnings.catch_warnings():  # reported through `info`
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i in range(Bc.shape[0]):  # one system per row of the chunk; A shared or one per row
            Ai = A[i] if isinstance(A, list) else A
            x0 = None if x0c is None else x0c[i]
            X[i], info[i] = solver(Ai, Bc[i], x0=x0, **kwargs)
    return X, info


_LINEAR = ("sor", "ssor_pcg", "sketch_solve")


def solve_many(A: Any, B: Any, *, method: str = "ssor_pcg", x0: ArrayLike | None = None, client: Any = None,
               **kwargs: Any) -> tuple[Any, Any]:
    """Many linear systems ``A x_i = b_i`` (or ``A_i x_i = b_i``) on a Dask
    cluster, one task per chunk of right-hand sides.

    Parameters
    ----------
    A : sparse matrix, or list of sparse matrices
        One matrix for every system, or one per right-hand side (a list
        of length ``B.shape[0]``).
    B : (k, n) dask.array.Array or array_like
        The right-hand sides, one per row, chunked along the first axis (a
        NumPy array becomes one chunk per worker).
    method : {"ssor_pcg", "sor", "sketch_solve"}, optional
        The :mod:`itercore.linalg` solver.
    x0 : (k, n) array_like, optional
        Starting points, chunked like ``B``.
    client : distributed.Client, optional
        Used to choose the chunks of NumPy input; the computation runs on
        whatever scheduler computes the returned arrays (the current client).
    **kwargs
        Keyword arguments of the solver (``rtol``, ``atol``, ``maxiter``,
        ``omega``, ``n_threads``, ...).

    Returns
    -------
    X : (k, n) dask.array.Array
        The solutions.
    info : (k,) dask.array.Array of int
        scipy's ``info`` of each system (0: converged).
    """
    _require_dask()
    import dask
    import dask.array as da
    import scipy.sparse as sp

    if method not in _LINEAR:
        raise ValueError(f"method must be one of {_LINEAR}, got {method!r}")
    if "callback" in kwargs:
        raise TypeError("solve_many does not take callback (it runs on the workers)")
    if not isinstance(B, da.Array):
        Bn = np.asarray(B)
        if Bn.ndim != 2:
            raise ValueError(f"B must be 2-dimensional (one right-hand side per row), got shape {Bn.shape}")
        workers = len(_get_client(client).scheduler_info()["workers"])
        B = da.from_array(Bn, chunks=(max(1, -(-Bn.shape[0] // max(1, workers))), -1))
    if B.ndim != 2:
        raise ValueError(f"B must be 2-dimensional (one right-hand side per row), got shape {B.shape}")
    k, n = B.shape
    B = B.rechunk({1: -1})
    chunks = B.chunks[0]
    many = isinstance(A, (list, tuple))
    if many:
        if len(A) != k:
            raise ValueError(f"A must be one matrix or one per right-hand side ({k}), got {len(A)}")
        for i, Ai in enumerate(A):
            if getattr(Ai, "shape", None) != (n, n):
                raise ValueError(f"A[{i}] must have shape ({n}, {n}), got {getattr(Ai, 'shape', None)}")
        starts = np.concatenate([[0], np.cumsum(chunks)])
        As = [dask.delayed(list(A[s:e]), pure=True) for s, e in zip(starts[:-1], starts[1:])]
    else:
        if not (sp.issparse(A) or isinstance(A, np.ndarray)) or A.shape != (n, n):
            raise ValueError(f"A must be a ({n}, {n}) sparse matrix, got {getattr(A, 'shape', type(A).__name__)}")
        As = [dask.delayed(A, pure=True)] * len(chunks)
    if x0 is not None:
        x0 = (x0 if isinstance(x0, da.Array) else da.from_array(np.asarray(x0), chunks=-1))
        if x0.shape != (k, n):
            raise ValueError(f"x0 must have the shape of B {(k, n)}, got {x0.shape}")
        x0s = x0.rechunk((chunks, -1)).to_delayed().ravel()
    else:
        x0s = [None] * len(chunks)
    outs = [dask.delayed(_linear_chunk, nout=2)(method, Ai, Bc, xc, kwargs)
            for Ai, Bc, xc in zip(As, B.to_delayed().ravel(), x0s)]
    dt = np.result_type(B.dtype, np.float32)
    X = da.concatenate([da.from_delayed(o[0], shape=(c, n), dtype=dt) for o, c in zip(outs, chunks)])
    info = da.concatenate([da.from_delayed(o[1], shape=(c,), dtype=np.int64) for o, c in zip(outs, chunks)])
    return X, info
