"""MetaInitializer: meta-gradients, meta-training, determinism, saving and the x0 hook."""

import io

import pytest
import torch
from sklearn.base import clone

from blackbox_opt import (
    FunctionProblem,
    InvalidParameterError,
    MetaInitializer,
    MetaSGD,
    NotFittedError,
    ProblemFamily,
    UnknownNameError,
    minimize,
)
from blackbox_opt.exceptions import EvaluationError, NotDifferentiableError
from problems.families import BRDFFamily, TextureFamily

#: The curvature of the quadratic family: L_t(x) = 1/2 sum_i a_i (x_i - c_ti)^2.
CURVATURE = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)


class Bowls(ProblemFamily):
    """Shifted quadratics with a known curvature: closed-form (meta-)gradients."""

    dim = 3
    differentiable = True

    def __init__(self, n_train=6, n_test=2, seed=0, differentiable=True):
        super().__init__(n_train=n_train, n_test=n_test, seed=seed)
        g = torch.Generator().manual_seed(seed)
        self.centres = torch.randn(n_train + n_test, 3, generator=g, dtype=torch.float64)
        self.differentiable = differentiable

    def init_weights(self, generator):
        return torch.randn(3, generator=generator, dtype=torch.float64)

    def _member(self, k):
        c = self.centres[k]

        def loss(X):
            return 0.5 * (CURVATURE * (X - c) ** 2).sum(1)

        return FunctionProblem(
            loss, self.x0, vectorized=True, x_opt=c, differentiable=self.differentiable
        )


@pytest.fixture(scope="module")
def textures():
    return TextureFamily(n_train=10, n_test=2, res=8, n_freq=2, width=8, depth=1)


@pytest.fixture(scope="module")
def brdfs():
    return BRDFFamily(n_train=6, n_test=2, n_samples=256, batch_size=64)


def _quiet(**params):
    return MetaInitializer(verbose=False, **params)


# -- meta-gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["fomaml", "maml", "reptile"])
def test_meta_gradient_matches_the_closed_form_on_quadratics(algorithm):
    """One inner step on L = 1/2 (x - c)^T A (x - c): x1 = x0 - r * A (x0 - c).

    FOMAML's meta-gradient of x0 is q = A (x1 - c), MAML's (I - A diag(r)) q, and
    Reptile's x0 - x1; the rates' first-order gradient is -(A (x0 - c)) * q, MAML's
    -(A (x0 - c)) * q as well (x1 is linear in r).
    """
    family = Bowls()
    meta = _quiet(algorithm=algorithm, inner_steps=1)
    x0 = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64, requires_grad=True)
    rates = torch.tensor([0.1, 0.4, 0.2], dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 3])
    meta._nfev = 0
    loss = meta._outer_exact(family, x0, rates, index, torch.Generator())
    c = family.centres[index]
    g0 = CURVATURE * (x0.detach() - c)
    x1 = x0.detach() - rates.detach() * g0
    q = CURVATURE * (x1 - c)
    expected = {
        "fomaml": q.mean(0),
        "maml": (q - CURVATURE * rates.detach() * q).mean(0),
        "reptile": (x0.detach() - x1).mean(0),
    }[algorithm]
    torch.testing.assert_close(x0.grad, expected)
    torch.testing.assert_close(rates.grad, -(g0 * q).mean(0))
    assert loss == pytest.approx(float((0.5 * CURVATURE * (x1 - c) ** 2).sum(1).mean()))


def test_maml_and_fomaml_meta_gradients_differ_on_the_texture_family(textures):
    grads = {}
    for algorithm in ("fomaml", "maml"):
        meta = _quiet(algorithm=algorithm, inner_steps=3)
        init = textures.x0.clone().requires_grad_(True)
        rates = torch.full_like(init, 0.05).requires_grad_(True)
        meta._nfev = 0
        meta._outer_exact(textures, init, rates, torch.tensor([0, 1, 2]), torch.Generator())
        grads[algorithm] = init.grad
    cosine = torch.nn.functional.cosine_similarity(grads["fomaml"], grads["maml"], dim=0)
    relative = (grads["fomaml"] - grads["maml"]).norm() / grads["maml"].norm()
    assert relative > 0.01  # the second-order terms matter
    assert cosine > 0.5  # but both point the same way


@pytest.mark.parametrize("algorithm", ["fomaml", "maml", "reptile"])
def test_meta_training_lowers_the_meta_loss_and_keeps_rates_finite(textures, algorithm):
    meta = _quiet(
        algorithm=algorithm,
        inner_steps=3,
        meta_batch=5,
        outer_lr=3e-3,
        inner_lr_init=0.05,
        epochs=8,
        random_state=0,
    )
    meta.fit(textures)
    losses = meta.history_["loss"]
    assert len(losses) == 8 and meta.n_outer_steps_ == 16
    assert losses[-1] < 0.7 * losses[0]
    assert bool(torch.isfinite(meta.lr_).all()) and bool(torch.isfinite(meta.init_).all())
    assert not torch.equal(meta.lr_, torch.full_like(meta.lr_, 0.05))  # the rates were learned
    assert float(meta.lr_.min()) >= 0.0  # min_rate
    # held-out members: adapting from the meta start beats the same steps from the family's
    # standard start with the initial rate
    curve = meta.adaptation_losses(textures, "test")
    assert curve.shape == (4, 2)
    baseline = _quiet(inner_steps=3, inner_lr_init=0.05, meta_sgd=False, epochs=1)
    baseline.fit(textures)
    baseline.init_ = textures.x0
    assert float(curve[-1].mean()) < float(baseline.adaptation_losses(textures)[-1].mean())


def test_without_meta_sgd_the_rates_stay_fixed(textures):
    meta = _quiet(inner_steps=2, meta_sgd=False, inner_lr_init=0.02, epochs=1, random_state=0)
    meta.fit(textures)
    assert torch.equal(meta.lr_, torch.full_like(meta.init_, 0.02))


def test_reptile_moves_the_start_towards_the_mean_centre():
    family = Bowls(n_train=6)
    meta = _quiet(
        algorithm="reptile",
        inner_steps=5,
        meta_sgd=False,
        inner_lr_init=0.3,
        outer_lr=0.05,
        epochs=150,
        meta_batch=6,
        random_state=0,
    )
    meta.fit(family)
    torch.testing.assert_close(meta.init_, family.centres[:6].mean(0), atol=2e-2, rtol=0)


# -- determinism and saving ---------------------------------------------------------------------
def test_same_seed_same_result(brdfs):
    params = dict(inner_steps=2, epochs=2, meta_batch=3, outer_lr=1e-3, inner_lr_init=1e-2)
    a = _quiet(random_state=3, **params).fit(brdfs)
    b = _quiet(random_state=3, **params).fit(brdfs)
    c = _quiet(random_state=4, **params).fit(brdfs)
    assert torch.equal(a.init_, b.init_) and torch.equal(a.lr_, b.lr_)
    assert list(a.history_["loss"]) == list(b.history_["loss"])
    assert not torch.equal(a.init_, c.init_)
    member = brdfs.member(0, "test")
    ra, rb = a.adapt(member), b.adapt(member)
    assert torch.equal(ra.x_last, rb.x_last)


def test_state_dict_round_trip_gives_the_same_adapt_result(brdfs, tmp_path):
    meta = _quiet(inner_steps=3, epochs=2, meta_batch=3, inner_lr_init=1e-2, random_state=5)
    meta.fit(brdfs)
    path = tmp_path / "meta.pt"
    torch.save(meta.state_dict(), path)
    loaded = MetaInitializer().load_state_dict(torch.load(path, weights_only=True))
    assert loaded.get_params() == meta.get_params()
    member = brdfs.member(1, "test")  # training steps draw minibatches: seeded the same
    before, after = meta.adapt(member), loaded.adapt(member)
    assert torch.equal(before.x_last, after.x_last)
    assert list(before.history["loss"]) == list(after.history["loss"])
    assert list(loaded.history_["loss"]) == list(meta.history_["loss"])
    assert loaded.n_outer_steps_ == meta.n_outer_steps_


def test_state_dict_of_a_black_box_fit_keeps_the_inner_method():
    meta = _quiet(
        inner_steps=2, epochs=1, inner_method="spsa", inner_options={"c": 0.05}, random_state=0
    ).fit(Bowls())
    buffer = io.BytesIO()
    torch.save(meta.state_dict(), buffer)
    buffer.seek(0)
    loaded = MetaInitializer().load_state_dict(torch.load(buffer, weights_only=True))
    assert loaded.inner_method_ == "spsa" and loaded.inner_options == {"c": 0.05}
    member = Bowls().member(0, "test")
    assert torch.equal(meta.adapt(member).x_last, loaded.adapt(member).x_last)


# -- adapting and the x0 hook -------------------------------------------------------------------
def test_adapt_runs_meta_sgd_steps_with_a_history():
    family = Bowls()
    meta = _quiet(inner_steps=1, outer_lr=0.05, inner_lr_init=0.1, epochs=100, random_state=0)
    meta.fit(family)
    # one step with rate 1/a_i lands on any centre: the rates learn it
    torch.testing.assert_close(meta.lr_, 1.0 / CURVATURE, atol=0.05, rtol=0)
    member = family.member(1, "test")
    res = meta.adapt(member, steps=4)
    assert res.nit == 4 and len(res.history) == 5 and res.nfev == 4 and res.success
    losses = res.history["loss"]
    assert losses[0] == pytest.approx(float(member(meta.init_)))
    assert losses[1] < 1e-3 * losses[0]
    assert res.fun == min(losses)
    start = meta.adapt(member, steps=0)
    assert start.nit == 0 and torch.equal(start.x_last, meta.init_)


def test_minimize_and_fit_accept_a_fitted_initializer_as_x0(textures):
    meta = _quiet(inner_steps=2, epochs=2, inner_lr_init=0.05, outer_lr=1e-2, random_state=0)
    meta.fit(textures)
    member = textures.member(0, "test")
    start = float(member(meta.init_))
    assert start != pytest.approx(float(member(member.x0)))
    for method, options in [("adam", {"lr": 1e-3}), ("prdpt", {"sigma": 0.01}), ("spsa", {})]:
        res = minimize(
            member, method, x0=meta, max_iter=2, random_state=0, verbose=False, **options
        )
        assert res.history["loss"][0] == pytest.approx(start)
    wrong = Bowls().member(0)
    with pytest.raises(InvalidParameterError, match="dimension 3"):
        minimize(wrong, "adam", x0=meta, max_iter=1, verbose=False)


def test_adapt_with_a_black_box_inner_method_uses_the_learned_rates():
    family = Bowls(differentiable=False)
    meta = _quiet(
        inner_steps=1,
        outer_lr=0.05,
        inner_lr_init=0.1,
        epochs=60,
        inner_method="fd",
        inner_options={"h": 1e-4},
        random_state=0,
    )
    meta.fit(family)
    assert meta.inner_method_ == "fd"
    torch.testing.assert_close(meta.lr_, 1.0 / CURVATURE, atol=0.1, rtol=0)
    res = meta.adapt(family.member(0, "test"))
    assert res.method == "MetaInitializer+fd" and res.nit == 1
    assert res.history["loss"][-1] < 0.05 * res.history["loss"][0]


# -- the black-box inner loop -------------------------------------------------------------------
def test_inner_method_with_exact_gradients_matches_the_exact_path():
    """The estimated path, fed the exact gradient ('adam' method), equals the exact path."""
    params = dict(
        inner_steps=3, epochs=3, meta_batch=3, outer_lr=1e-2, inner_lr_init=0.1, random_state=0
    )
    exact = _quiet(**params).fit(Bowls())
    through = _quiet(inner_method="adam", **params).fit(Bowls())
    torch.testing.assert_close(exact.init_, through.init_)
    torch.testing.assert_close(exact.lr_, through.lr_)
    assert through.nfev_ == exact.nfev_ == 3 * 2 * 3 * 4


@pytest.mark.parametrize("method", ["prdpt", "spsa"])
def test_black_box_fomaml_lowers_the_meta_loss(method):
    options = {"prdpt": {"sigma": 0.05, "n_samples": 16}, "spsa": {"n_perturbations": 8}}[method]
    family = Bowls(n_train=8, differentiable=False)
    meta = _quiet(
        inner_steps=3,
        outer_lr=0.05,
        inner_lr_init=0.05,
        epochs=25,
        meta_batch=4,
        inner_method=method,
        inner_options=options,
        random_state=0,
    )
    meta.fit(family)
    losses = meta.history_["loss"]
    assert losses[-3:].mean() < 0.5 * losses[:3].mean()
    assert meta.nfev_ > 0 and bool(torch.isfinite(meta.lr_).all())


def test_non_differentiable_family_defaults_to_the_prdpt_inner_loop():
    meta = _quiet(inner_steps=1, epochs=1, random_state=0).fit(Bowls(differentiable=False))
    assert meta.inner_method_ == "prdpt"


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "match"),
    [
        (dict(inner_steps=0), "'inner_steps' parameter of MetaInitializer must be an int"),
        (dict(algorithm="sgd"), "'algorithm' parameter of MetaInitializer must be a str among"),
        (dict(outer_lr=-1.0), "'outer_lr' parameter of MetaInitializer must be a float"),
        (dict(meta_sgd="yes"), "'meta_sgd' parameter"),
        (dict(algorithm="maml", inner_method="prdpt"), "use 'fomaml' or 'reptile'"),
        (dict(inner_method="prdpt", inner_options={"lr": 1.0}), "may not set 'lr'"),
        (dict(inner_options={"sigma": 0.1}), "inner_method is None"),
        (dict(inner_method="cmaes"), "estimates a gradient"),
        (dict(min_rate=0.1, inner_lr_init=0.01), "must not exceed inner_lr_init"),
    ],
)
def test_bad_parameters_raise_clear_errors(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        _quiet(epochs=1, **params).fit(Bowls())


def test_unknown_inner_method_and_option_name_the_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'prdpt'"):
        _quiet(epochs=1, inner_method="prdtp").fit(Bowls())
    with pytest.raises(UnknownNameError, match="Did you mean 'sigma'"):
        _quiet(epochs=1, inner_method="prdpt", inner_options={"sigm": 0.1}).fit(Bowls())


def test_bad_inputs_raise():
    with pytest.raises(InvalidParameterError, match="ProblemFamily"):
        _quiet().fit([Bowls().member(0)])
    with pytest.raises(NotDifferentiableError, match="not differentiable"):
        _quiet(algorithm="maml", epochs=1).fit(Bowls(differentiable=False))
    meta = _quiet(inner_steps=1, epochs=1, random_state=0).fit(Bowls())
    with pytest.raises(InvalidParameterError, match="steps must be a non-negative int"):
        meta.adapt(Bowls().member(0), steps=-1)
    with pytest.raises(NotDifferentiableError, match="inner_method"):
        meta.adapt(Bowls(differentiable=False).member(0))
    with pytest.raises(InvalidParameterError, match="not the state of a MetaInitializer"):
        MetaInitializer().load_state_dict({"class": "PRDPT"})


def test_not_fitted_errors_before_fit():
    meta = MetaInitializer()
    for read in (
        lambda: meta.init_,
        lambda: meta.lr_,
        meta.state_dict,
        lambda: meta.adapt(Bowls().member(0)),
        meta.as_x0,
    ):
        with pytest.raises(NotFittedError, match="not fitted"):
            read()


def test_estimator_parameters_and_clone():
    meta = MetaInitializer(inner_steps=4, algorithm="maml", random_state=1)
    params = meta.get_params()
    assert params["inner_steps"] == 4 and params["algorithm"] == "maml"
    copy = clone(meta.set_params(meta_batch=2))
    assert copy.get_params() == meta.get_params() and copy is not meta


def test_meta_sgd_records_and_rejects_bad_rates():
    x = torch.nn.Parameter(torch.ones(2))
    record = []
    opt = MetaSGD([x], lr=2.0, rates=torch.tensor([0.25, 1.0]), record=record)
    x.grad = torch.tensor([1.0, -1.0])
    opt.step()
    torch.testing.assert_close(x.data, torch.tensor([0.5, 3.0]))
    assert len(record) == 1 and torch.equal(record[0], torch.tensor([1.0, -1.0]))
    with pytest.raises(InvalidParameterError, match="rates must be a tensor"):
        MetaSGD([x], rates=0.1)


@pytest.mark.parametrize("algorithm", ["maml", "fomaml"])
def test_diverging_meta_training_raises_with_advice(algorithm):
    # steps of rate 1000 on bowls of curvature 2 multiply the offset by -1999 each: after
    # 100 of them it overflows float64
    meta = MetaInitializer(
        algorithm=algorithm,
        inner_steps=100,
        inner_lr_init=1000.0,
        meta_sgd=False,
        epochs=3,
        random_state=0,
        verbose=False,
    )
    with pytest.raises(EvaluationError, match="diverged at epoch 1.*Lower outer_lr"):
        meta.fit(Bowls())
