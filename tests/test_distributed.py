"""itercore.distributed on a LocalCluster started here (2 worker processes, 1 thread each):
the same factors as the single-machine solve, every input form, bad input
refused before any solve, a worker killed mid-solve, and the batched solves."""

import os
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (itercore[distributed])")
da = pytest.importorskip("dask.array")

from itercore import ConvergenceWarning, completion, linalg, ot  # noqa: E402
from itercore import distributed as icd  # noqa: E402
from itercore._problems import poisson2d  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _problem(m=240, n=160, k=3, p=0.25, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    M = (rng.standard_normal((m, k)) @ rng.standard_normal((k, n))).astype(dtype)
    r, c = np.nonzero(rng.random((m, n)) < p)
    perm = rng.permutation(r.size)  # partitions in no particular order
    r, c = r[perm], c[perm]
    return M, r, c, M[r, c]


def _parts(r, c, v, n_parts=3):
    return [(r[i::n_parts], c[i::n_parts], v[i::n_parts]) for i in range(n_parts)]


def _close(A, B, tol):
    return float(np.abs(A - B).max()) <= tol * max(1.0, float(np.abs(B).max()))


@pytest.mark.parametrize("kind", ["partitions", "dask_arrays", "dataframe"])
def test_altmin_equals_single_machine(client, kind):
    M, r, c, v = _problem()
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        ref = completion.altmin((r, c, v, M.shape), rank=3, seed=4, maxiter=8, tol=0, history=True,
                                options={"inner_maxiter": 2})
    if kind == "partitions":
        X = _parts(r, c, v)
    elif kind == "dask_arrays":
        X = tuple(da.from_array(a, chunks=len(a) // 3 + 1) for a in (r, c, v))
    else:
        dd = pytest.importorskip("dask.dataframe")
        pd = pytest.importorskip("pandas")
        X = dd.from_pandas(pd.DataFrame({"row": r, "col": c, "value": v}), npartitions=3)
    with pytest.warns(ConvergenceWarning, match=r"itercore\.distributed\.altmin .*max_iter") as rec:
        res = icd.altmin(X, rank=3, shape=M.shape, seed=4, maxiter=8, tol=0, history=True,
                         options={"inner_maxiter": 2}, client=client, n_blocks=3)
    assert res.nit == ref.nit == 8 and res.status == ref.status
    assert rec[0].filename == __file__  # the warning points at the caller
    assert _close(res.U, ref.U, 1e-10) and _close(res.V, ref.V, 1e-10)
    np.testing.assert_allclose(res.history, ref.history, rtol=1e-9)
    np.testing.assert_array_equal(res.cold_rows, ref.cold_rows)
    # predicting needs only the factors
    np.testing.assert_allclose(res.predict(r[:50], c[:50]), ref.predict(r[:50], c[:50]), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method,init,extra", [("sketch", "svd", {}), ("cg", "random", {}),
                                               ("cholesky", "svd", {"reg": 0.1, "options": {"reg_by_count": True}})])
def test_altmin_random_streams_and_starts_match(client, method, init, extra):
    """The sketch streams and the random start follow the line index, whatever the blocks
    (and ALS-WR's count-weighted ridge is applied per line there too)."""
    M, r, c, v = _problem(m=200, n=180, k=12, p=0.4, seed=1)
    kw = dict(rank=12, method=method, init=init, seed=9, maxiter=3, tol=0, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = completion.altmin((r, c, v, M.shape), **kw)
        res = icd.altmin(_parts(r, c, v, 2), shape=M.shape, client=client, n_blocks=5, **kw)
    assert _close(res.U, ref.U, 1e-10) and _close(res.V, ref.V, 1e-10)


def test_altmin_converges_float32_and_validation(client):
    M, r, c, v = _problem(p=0.4, seed=2, dtype=np.float32)
    held = np.arange(v.size) % 10 == 0
    val = (r[held], c[held], v[held])
    kw = dict(rank=3, seed=0, validation=val, history=True)
    ref = completion.altmin((r[~held], c[~held], v[~held], M.shape), **kw)
    res = icd.altmin(_parts(r[~held], c[~held], v[~held]), shape=M.shape, client=client, **kw)
    assert res.U.dtype == np.float32 and res.success and res.nit == ref.nit
    assert _close(res.U, ref.U, 1e-4)
    assert res.validation_history[-1] < 1e-3 * np.abs(v).max()


def test_altmin_callback_stop(client):
    M, r, c, v = _problem()
    seen = []

    def cb(intermediate):
        seen.append(intermediate.nit)
        if intermediate.nit == 2:
            raise StopIteration

    res = icd.altmin(_parts(r, c, v), rank=3, shape=M.shape, seed=0, callback=cb, client=client)
    assert seen == [1, 2] and res.status == 5 and res.nit == 2


@pytest.mark.parametrize("mutate,match,exc", [
    (lambda r, c, v: (r, c, np.where(np.arange(v.size) == 7, np.nan, v)), "finite", ValueError),
    (lambda r, c, v: (np.concatenate([r, r[:1]]), np.concatenate([c, c[:1]]), np.concatenate([v, v[:1]])),
     "duplicate", ValueError),
    (lambda r, c, v: (np.where(np.arange(r.size) == 3, -1, r), c, v), "negative", ValueError),
    (lambda r, c, v: (r.astype(float), c, v), "X row", TypeError),
    (lambda r, c, v: (r, c[:-1], v), "equal length", ValueError),
])
def test_altmin_bad_input_is_refused_before_solving(client, mutate, match, exc):
    M, r, c, v = _problem()
    r2, c2, v2 = mutate(r, c, v)
    with pytest.raises(exc, match=match):
        icd.altmin([(r2, c2, v2)], rank=3, shape=M.shape, client=client)


def test_altmin_bad_arguments(client):
    M, r, c, v = _problem()
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    df = dd.from_pandas(pd.DataFrame({"user": r, "item": c, "rating": v}), npartitions=2)
    with pytest.raises(ValueError, match="columns"):
        icd.altmin(df, rank=3, client=client)
    res = icd.altmin(df, rank=3, columns=("user", "item", "rating"), client=client, seed=0)
    assert res.success
    with pytest.raises(ValueError, match="outside"):
        icd.altmin(_parts(r, c, v), rank=3, shape=(10, 10), client=client)
    with pytest.raises(ValueError, match="rank"):
        icd.altmin(_parts(r, c, v), rank=500, client=client)
    with pytest.raises(TypeError, match="X must be"):
        icd.altmin(np.zeros((3, 3)), rank=1, client=client)
    with pytest.raises(TypeError, match="client"):
        icd.altmin(_parts(r, c, v), rank=3, client=object())


def test_altmin_survives_a_worker_killed_mid_solve(client):
    """A worker process dies after the third sweep: the lost observation
    blocks and factor blocks are recomputed from the task graph (the factors
    of sweeps 1-2 are no longer held anywhere) and the solve ends as without
    the fault."""
    M, r, c, v = _problem(seed=3)
    kw = dict(rank=3, shape=M.shape, seed=1, maxiter=6, tol=0, n_blocks=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = icd.altmin(_parts(r, c, v), client=client, **kw)
    killed = []

    def kill_one(intermediate):
        if intermediate.nit == 3:
            victim = sorted(client.scheduler_info()["workers"])[0]

            def die():
                os._exit(1)

            # the worker exits before it can answer: run it without waiting
            threading.Thread(target=lambda: _quiet(client.run, die, workers=[victim]), daemon=True).start()
            killed.append(victim)
            _wait_until(lambda: victim not in client.scheduler_info()["workers"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = icd.altmin(_parts(r, c, v), client=client, callback=kill_one, **kw)
    assert killed and res.nit == ref.nit
    assert _close(res.U, ref.U, 1e-12) and _close(res.V, ref.V, 1e-12)
    client.wait_for_workers(2, timeout=60)


def _quiet(f, *args, **kwargs):
    try:
        f(*args, **kwargs)
    except Exception:
        pass


def _wait_until(cond, timeout=30.0):
    import time

    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_ot_entropic_batch_on_dask_arrays(client):
    rng = np.random.default_rng(0)
    B, n = 6, 30
    x = np.linspace(0, 1, n)
    M = (x[:, None] - x[None, :]) ** 2
    a = rng.random((B, n)) + 0.1
    a /= a.sum(1, keepdims=True)
    b = np.full((B, n), 1 / n)
    ref = ot.entropic_batch(a, b, M, 1e-2)
    res = ot.entropic_batch(da.from_array(a, chunks=(2, n)), da.from_array(b, chunks=(3, n)), M, 1e-2)
    assert isinstance(res.plan, da.Array) and res.plan.chunks[0] == (2, 2, 2)
    plan, conv, nit = client.compute([res.plan, res.converged, res.nit], sync=True)
    np.testing.assert_allclose(plan, ref.plan, rtol=1e-12, atol=1e-15)
    assert conv.all() and np.array_equal(nit, ref.nit)
    Ms = np.stack([M * (1 + i) for i in range(B)])
    ref3 = ot.entropic_batch(a, b, Ms, 1e-1)
    res3 = ot.entropic_batch(da.from_array(a, chunks=(4, n)), b, da.from_array(Ms, chunks=(4, n, n)), 1e-1)
    np.testing.assert_allclose(res3.f.compute(), ref3.f, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="b must have one row per problem"):
        ot.entropic_batch(da.from_array(a, chunks=(2, n)), b[:3], M, 1e-2)


def test_solve_many_same_and_many_matrices(client):
    A = poisson2d(12)
    rng = np.random.default_rng(0)
    Bm = rng.standard_normal((7, A.shape[0]))
    X, info = icd.solve_many(A, da.from_array(Bm, chunks=(3, -1)), method="ssor_pcg", rtol=1e-10)
    X, info = client.compute([X, info], sync=True)
    assert (info == 0).all()
    for i in range(7):
        xi, _ = linalg.ssor_pcg(A, Bm[i], rtol=1e-10)
        np.testing.assert_allclose(X[i], xi, rtol=1e-12, atol=1e-14)
        assert np.linalg.norm(A @ X[i] - Bm[i]) <= 1e-9 * np.linalg.norm(Bm[i])
    As = [A + sp.identity(A.shape[0], format="csr") * (0.1 * i) for i in range(7)]
    X2, info2 = icd.solve_many(As, Bm, method="sor", rtol=1e-8, client=client)
    X2 = X2.compute()
    for i in range(7):
        assert np.linalg.norm(As[i] @ X2[i] - Bm[i]) <= 1e-7 * np.linalg.norm(Bm[i])
    with pytest.raises(ValueError, match="one per right-hand side"):
        icd.solve_many(As[:3], Bm, client=client)
    with pytest.raises(ValueError, match="method"):
        icd.solve_many(A, Bm, method="gmres", client=client)
