"""itercore.ot.sinkhorn / sinkhorn2 as drop-ins for POT's ot.sinkhorn / ot.sinkhorn2.

Written from POT's documentation of these functions (signature, parameters,
``log`` dictionaries, multiple targets, warnings); POT itself, where
installed, is the reference the plans are compared with.
"""

from __future__ import annotations

import inspect
import threading
import warnings

import numpy as np
import pytest

import itercore
from itercore import ot

POT_METHODS = ("sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "sinkhorn_epsilon_scaling", "greenkhorn")


def _problem(n=30, m=25, seed=0, k=None):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    a = rng.random(n) + 0.1
    a /= a.sum()
    if k is None:
        b = rng.random(m) + 0.1
        b /= b.sum()
    else:
        b = rng.random((m, k)) + 0.1
        b /= b.sum(axis=0)
    return a, b, M


def _marginal_error(P, a, b):
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


def test_signature_is_pots():
    pot = pytest.importorskip("ot")
    for name in ("sinkhorn", "sinkhorn2"):
        ours = list(inspect.signature(getattr(ot, name)).parameters.values())
        theirs = [p for p in inspect.signature(getattr(pot, name)).parameters.values() if p.kind != p.VAR_KEYWORD]
        assert [(p.name, p.default, p.kind) for p in ours[:len(theirs)]] == [
            (p.name, p.default, p.kind) for p in theirs], name
    # POT's documented defaults, also without POT installed
    sig = inspect.signature(ot.sinkhorn).parameters
    assert (sig["numItermax"].default, sig["stopThr"].default, sig["warn"].default) == (1000, 1e-9, True)
    assert inspect.signature(ot.sinkhorn2).parameters["warn"].default is False


@pytest.mark.parametrize("method", POT_METHODS)
def test_plan_and_loss_match_pot(method):
    pot = pytest.importorskip("ot")
    a, b, M = _problem()
    reg = 0.05
    P_pot = pot.sinkhorn(a, b, M, reg, method=method, numItermax=100000, stopThr=1e-13)
    P = ot.sinkhorn(a, b, M, reg, method=method, numItermax=100000, stopThr=1e-13)
    assert P.shape == P_pot.shape and P.dtype == P_pot.dtype
    np.testing.assert_allclose(P, P_pot, rtol=1e-6, atol=1e-12)
    assert _marginal_error(P, a, b) <= 1e-12
    loss = ot.sinkhorn2(a, b, M, reg, method=method, numItermax=100000, stopThr=1e-13)
    assert isinstance(loss, np.floating)
    assert loss == pytest.approx(float(pot.sinkhorn2(a, b, M, reg, numItermax=100000, stopThr=1e-13)), rel=1e-8)
    assert loss == pytest.approx(float((P * M).sum()), rel=1e-12)


def test_docstring_example_of_pot():
    """POT's own documented example: ot.sinkhorn([.5, .5], [.5, .5], [[0, 1], [1, 0]], 1)."""
    P = ot.sinkhorn([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], 1)
    np.testing.assert_allclose(P, [[0.36552929, 0.13447071], [0.13447071, 0.36552929]], atol=1e-8)


@pytest.mark.parametrize("method", POT_METHODS)
def test_log_has_pots_keys_and_potential_convention(method):
    a, b, M = _problem()
    reg = 0.05
    P, log = ot.sinkhorn(a, b, M, reg, method=method, log=True, stopThr=1e-12)
    keys = {"sinkhorn": {"err", "niter", "u", "v"},
            "sinkhorn_log": {"err", "niter", "log_u", "log_v", "u", "v"},
            "sinkhorn_stabilized": {"err", "n_iter", "logu", "logv", "alpha", "beta", "warmstart"},
            "sinkhorn_epsilon_scaling": {"err", "alpha", "beta", "warmstart", "niter"},
            "greenkhorn": {"u", "v", "n_iter"}}[method]
    assert set(log) == keys
    pot = pytest.importorskip("ot") if method == "sinkhorn" else None
    if pot is not None:  # the same keys as POT's own log
        assert set(pot.sinkhorn(a, b, M, reg, method=method, log=True)[1]) == keys
    K = np.exp(-M / reg)
    if "u" in log:  # P = diag(u) K diag(v)
        np.testing.assert_allclose(log["u"][:, None] * K * log["v"][None, :], P, rtol=1e-10)
    if "log_u" in log:
        np.testing.assert_allclose(np.exp(log["log_u"][:, None] + log["log_v"][None, :] - M / reg), P, rtol=1e-10)
    if "alpha" in log:  # potentials in M's units: P = exp((alpha + beta - M) / reg)
        np.testing.assert_allclose(np.exp((log["alpha"][:, None] + log["beta"][None, :] - M) / reg), P, rtol=1e-10)
        np.testing.assert_array_equal(log["warmstart"][0], log["alpha"])
    if "logu" in log:
        np.testing.assert_allclose(log["logu"], log["alpha"] / reg)
    nit = log.get("niter", log.get("n_iter"))
    assert isinstance(nit, int) and nit > 0
    if "err" in log:  # one entry every 10 iterations, as POT records it
        assert isinstance(log["err"], list) and len(log["err"]) == (nit + 9) // 10
        assert log["err"][-1] < log["err"][0]


def test_empty_weights_mean_uniform():
    _, _, M = _problem()
    n, m = M.shape
    ref = ot.sinkhorn(np.full(n, 1 / n), np.full(m, 1 / m), M, 0.1)
    np.testing.assert_array_equal(ot.sinkhorn([], [], M, 0.1), ref)
    np.testing.assert_array_equal(ot.sinkhorn(np.array([]), [], M, 0.1), ref)
    assert ot.sinkhorn2([], [], M, 0.1) == pytest.approx(float((ref * M).sum()), rel=1e-14)
    pot = pytest.importorskip("ot")
    np.testing.assert_allclose(ref, pot.sinkhorn([], [], M, 0.1), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("fn", ["sinkhorn", "sinkhorn2"])
def test_several_targets_give_one_loss_each(fn):
    a, B, M = _problem(k=4)
    reg = 0.05
    out, log = getattr(ot, fn)(a, B, M, reg, log=True, stopThr=1e-12)
    assert out.shape == (4,)
    one = [ot.sinkhorn2(a, B[:, j], M, reg, stopThr=1e-12) for j in range(4)]
    np.testing.assert_allclose(out, one, rtol=1e-10)
    assert log["u"].shape == (30, 4) and log["v"].shape == (25, 4)
    K = np.exp(-M / reg)
    for j in range(4):  # the log's scalings give each target's plan
        P = log["u"][:, j, None] * K * log["v"][None, :, j]
        assert _marginal_error(P, a, B[:, j]) <= 1e-11
        assert float((P * M).sum()) == pytest.approx(out[j], rel=1e-9)
    pot = pytest.importorskip("ot")
    np.testing.assert_allclose(out, getattr(pot, fn)(a, B, M, reg, stopThr=1e-13, numItermax=100000), rtol=1e-8)


def test_several_targets_with_warmstart():
    a, B, M = _problem(k=3)
    reg = 0.05
    _, log = ot.sinkhorn2(a, B, M, reg, log=True, stopThr=1e-12)
    again, log2 = ot.sinkhorn2(a, B, M, reg, log=True, stopThr=1e-10,
                               warmstart=(np.log(log["u"]), np.log(log["v"])))
    assert log2["niter"] <= 2
    np.testing.assert_allclose(again, ot.sinkhorn2(a, B, M, reg, stopThr=1e-12), rtol=1e-9)
    with pytest.raises(ValueError, match=r"warmstart\[0\]"):
        ot.sinkhorn2(a, B, M, reg, warmstart=(np.zeros(30), np.zeros((25, 3))))


def test_numItermax_and_pots_warning():
    a, b, M = _problem()
    with pytest.warns(UserWarning, match="^Sinkhorn did not converge") as rec:
        P, log = ot.sinkhorn(a, b, M, 1e-3, numItermax=5, log=True)
    assert log["niter"] == 5
    w = rec[0]
    assert issubclass(w.category, itercore.ConvergenceWarning) and issubclass(w.category, UserWarning)
    assert "stopThr" in str(w.message) and "marginal error" in str(w.message)
    assert w.filename == __file__  # points at the caller, like POT's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ot.sinkhorn(a, b, M, 1e-3, numItermax=5, warn=False)  # warn=False: silent
        ot.sinkhorn2(a, b, M, 1e-3, numItermax=5)  # sinkhorn2 does not warn by default (POT)
        warnings.filterwarnings("ignore", message="Sinkhorn did not converge")  # a POT user's filter
        ot.sinkhorn(a, b, M, 1e-3, numItermax=5)
    with pytest.warns(itercore.ConvergenceWarning, match="did not converge"):  # entropic still warns afterwards
        ot.entropic(a, b, M, 1e-3, method="sinkhorn", maxiter=5)


def test_silencing_is_per_thread():
    """A drop-in silences entropic's own warning in its thread only: entropic in another thread still warns."""
    a, b, M = _problem()
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            ot.sinkhorn(a, b, M, 1e-3, numItermax=50, warn=False)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(20):
                ot.entropic(a, b, M, 1e-3, method="sinkhorn", maxiter=50)
    finally:
        stop.set()
        worker.join()
    assert sum(issubclass(w.category, itercore.ConvergenceWarning) for w in caught) == 20


def test_stopThr_bounds_the_marginal_error():
    a, b, M = _problem()
    loose = ot.sinkhorn(a, b, M, 0.01, stopThr=1e-4, log=True)
    tight = ot.sinkhorn(a, b, M, 0.01, stopThr=1e-11, log=True)
    assert loose[1]["niter"] < tight[1]["niter"]
    assert _marginal_error(loose[0], a, b) <= 1e-4
    assert _marginal_error(tight[0], a, b) <= 1e-11


def test_verbose_prints_pots_table(capsys):
    a, b, M = _problem()
    ot.sinkhorn(a, b, M, 0.05, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].replace(" ", "") == "It.|Err" and set(lines[1]) == {"-"}
    assert lines[2].split("|")[0].strip() == "0" and lines[3].split("|")[0].strip() == "10"


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_warmstart_takes_log_scalings(method):
    a, b, M = _problem()
    reg = 0.02
    P, log = ot.sinkhorn(a, b, M, reg, method=method, log=True, stopThr=1e-12)
    start = (np.log(log["u"]), np.log(log["v"]))
    P2, log2 = ot.sinkhorn(a, b, M, reg, method=method, log=True, stopThr=1e-11, warmstart=start)
    assert log2["niter"] <= 2
    np.testing.assert_allclose(P2, P, rtol=1e-8, atol=1e-14)


def test_warmstart_of_stabilized_takes_potentials():
    """POT passes warmstart to sinkhorn_stabilized as (alpha, beta), and returns log['warmstart'] so."""
    a, b, M = _problem()
    reg = 0.02
    P, log = ot.sinkhorn(a, b, M, reg, method="sinkhorn_stabilized", log=True, stopThr=1e-12)
    P2, log2 = ot.sinkhorn(a, b, M, reg, method="sinkhorn_stabilized", log=True, stopThr=1e-11,
                           warmstart=log["warmstart"])
    assert log2["n_iter"] <= 2
    np.testing.assert_allclose(P2, P, rtol=1e-8, atol=1e-14)


def test_method_names():
    a, b, M = _problem()
    ref = ot.sinkhorn(a, b, M, 0.05, method="sinkhorn_log", stopThr=1e-12)
    np.testing.assert_allclose(ot.sinkhorn(a, b, M, 0.05, method="Sinkhorn_Log", stopThr=1e-12), ref)
    for extra in ("sns", "auto"):  # itercore's own methods also go through the drop-in
        np.testing.assert_allclose(ot.sinkhorn(a, b, M, 0.05, method=extra, stopThr=1e-12), ref, rtol=1e-6,
                                   atol=1e-13)
    with pytest.raises(ValueError, match=r"^Unknown method 'foo'\.") as ours:
        ot.sinkhorn(a, b, M, 0.05, method="foo")
    pot = pytest.importorskip("ot")
    with pytest.raises(ValueError) as theirs:
        pot.sinkhorn(a, b, M, 0.05, method="foo")
    assert str(ours.value).startswith(str(theirs.value))  # POT's message, then the valid names


def test_errors_name_pots_arguments():
    a, b, M = _problem()
    with pytest.raises(ValueError, match="numItermax"):
        ot.sinkhorn(a, b, M, 0.1, numItermax=-1)
    with pytest.raises(TypeError, match="numItermax"):
        ot.sinkhorn(a, b, M, 0.1, numItermax=2.5)
    with pytest.raises(ValueError, match="stopThr"):
        ot.sinkhorn2(a, b, M, 0.1, stopThr=-1e-9)
    with pytest.raises(ValueError, match=r"warmstart\[1\]"):
        ot.sinkhorn(a, b, M, 0.1, warmstart=(np.zeros(30), np.zeros(3)))
    with pytest.raises(TypeError, match="warmstart"):
        ot.sinkhorn(a, b, M, 0.1, warmstart=np.zeros(30))
    with pytest.raises(ValueError, match="reg"):
        ot.sinkhorn(a, b, M, -1.0)
    with pytest.raises(ValueError, match="same total mass"):
        ot.sinkhorn(a, 2 * b, M, 0.1)
    with pytest.raises(ValueError, match="M must not be empty"):
        ot.sinkhorn([], [], np.zeros((0, 0)), 0.1)
    with pytest.raises(ValueError, match="M must be 2-D"):
        ot.sinkhorn([], [], np.zeros(3), 0.1)
    with pytest.raises(TypeError, match="'numitermax'"):  # a misspelt keyword is not swallowed
        ot.sinkhorn(a, b, M, 0.1, numitermax=10)
    ot.sinkhorn(a, b, M, 0.1, tau=1e3, print_period=5)  # POT's method-specific knobs: accepted, no effect


def test_solve_is_not_pots_solve():
    with pytest.raises(AttributeError, match="entropic"):
        ot.solve  # noqa: B018
    with pytest.raises(AttributeError, match="entropic_batch"):
        ot.solve_batch  # noqa: B018
    assert not hasattr(ot, "no_such_name")


def test_inputs_untouched_and_float32():
    a, b, M = _problem()
    copies = [x.copy() for x in (a, b, M)]
    start = (np.zeros(30), np.zeros(25))
    ot.sinkhorn(a, b, M, 0.05, warmstart=start, log=True)
    for x, c in zip((a, b, M), copies):
        np.testing.assert_array_equal(x, c)
    np.testing.assert_array_equal(start[0], 0.0)
    P32 = ot.sinkhorn(a.astype(np.float32), b.astype(np.float32), M.astype(np.float32), 0.05, stopThr=1e-5)
    assert P32.dtype == np.float32
    assert ot.sinkhorn2(a.astype(np.float32), b.astype(np.float32), M.astype(np.float32), 0.05,
                        stopThr=1e-5).dtype == np.float32


POT_USER_SCRIPT = """
import warnings
import numpy as np
import ot

warnings.filterwarnings("ignore", message="Sinkhorn did not converge")
rng = np.random.default_rng(42)
xs, xt = rng.normal(size=(40, 2)), rng.normal(loc=1.0, size=(35, 2))
M = ((xs[:, None, :] - xt[None, :, :]) ** 2).sum(-1)
M /= M.max()
a, b = np.full(40, 1 / 40), np.full(35, 1 / 35)
G0 = ot.sinkhorn(a, b, M, 1e-1, stopThr=1e-12, numItermax=100000)
G1, log1 = ot.sinkhorn(a, b, M, 5e-2, method="sinkhorn_log", log=True, stopThr=1e-12, numItermax=100000)
G2 = ot.sinkhorn([], [], M, 5e-2, method="sinkhorn_stabilized", stopThr=1e-12, numItermax=100000)
w = ot.sinkhorn2(a, b, M, 1e-1, stopThr=1e-12, numItermax=100000)
B = np.stack([b, np.r_[b[::-1]], np.full(35, 1 / 35)], axis=1)
losses = ot.sinkhorn2(a, B, M, 1e-1, stopThr=1e-12, numItermax=100000)
Gw = ot.sinkhorn(a, b, M, 5e-2, warmstart=(log1["log_u"], log1["log_v"]), stopThr=1e-12, numItermax=100000)
G_short = ot.sinkhorn(a, b, M, 1e-3, numItermax=3)
"""


def test_a_pot_users_script_runs_with_only_the_import_changed():
    pytest.importorskip("ot")
    results = {}
    for name, source in (("pot", POT_USER_SCRIPT), ("itercore", POT_USER_SCRIPT.replace(
            "import ot\n", "from itercore import ot\n"))):
        scope = {}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the script's own filter must silence the short run
            exec(compile(source, f"<{name} script>", "exec"), scope)
        results[name] = scope
    assert results["itercore"]["ot"] is ot
    for key in ("G0", "G1", "G2", "Gw"):
        np.testing.assert_allclose(results["itercore"][key], results["pot"][key], rtol=1e-6, atol=1e-12, err_msg=key)
    for key in ("w", "losses"):
        np.testing.assert_allclose(results["itercore"][key], results["pot"][key], rtol=1e-9, err_msg=key)
    assert results["itercore"]["G_short"].shape == results["pot"]["G_short"].shape
