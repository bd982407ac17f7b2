"""The Problem contract: shapes, validation, chunking, counting, devices."""

import math

import numpy as np
import pytest
import torch

import blackbox_opt
from blackbox_opt import EvaluationError, FunctionProblem, InvalidParameterError, Problem


class Sphere(Problem):
    def _evaluate(self, X):
        return (X**2).sum(-1)


def test_batched_and_single_shapes():
    p = Sphere(x0=[1.0, 2.0, 3.0])
    assert p.dim == 3 and p.dtype == torch.float32
    assert p(torch.ones(5, 3)).shape == (5,)
    single = p(torch.ones(3))
    assert single.shape == () and float(single) == 3.0
    assert p.n_evaluations == 6


def test_array_likes_are_converted_to_the_problem_dtype():
    p = Sphere(x0=torch.zeros(2, dtype=torch.float64))
    y = p([[1, 2], [3, 4]])
    assert y.dtype == torch.float64
    assert y.tolist() == [5.0, 25.0]


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (torch.ones(4), r"shape \(B, 3\) or \(3,\); got shape \(4,\)"),
        (torch.ones(2, 2, 3), r"got shape \(2, 2, 3\)"),
        (torch.tensor([[1.0, float("nan"), 0.0], [0, 0, 0]]), r"non-finite .* point\(s\) \[0\]"),
        (torch.ones(2, 3, dtype=torch.complex64), "real points"),
        ("abc", "could not convert"),
    ],
)
def test_validation_says_what_was_expected_and_what_came(X, match):
    p = Sphere(x0=[0.0, 0.0, 0.0])
    with pytest.raises(InvalidParameterError, match=match):
        p(X)


def test_wrong_device_is_reported():
    p = Sphere(x0=[0.0, 0.0])
    X = torch.zeros(1, 2, device="meta")
    with pytest.raises(InvalidParameterError, match="evaluates on cpu but X is on meta"):
        p(X)


def test_bounds_forms_and_errors():
    assert Sphere(x0=[0.0, 0.0], bounds=(-1, 1)).bounds.tolist() == [[-1, -1], [1, 1]]
    assert Sphere(x0=[0.0, 0.0], bounds=[[-1, -2], [1, 2]]).bounds.shape == (2, 2)
    with pytest.raises(InvalidParameterError, match=r"low < high .* parameter\(s\) \[0\]"):
        Sphere(x0=[0.0], bounds=(1, -1))
    with pytest.raises(InvalidParameterError, match=r"x0 has 2 value\(s\) but bounds give 3"):
        Sphere(x0=[0.0, 0.0], bounds=[[0, 0, 0], [1, 1, 1]])
    with pytest.raises(InvalidParameterError, match=r"array of shape \(2, 2\)"):
        Sphere(x0=[0.0, 0.0], bounds=[[[0, 1]], [[0, 1]]])
    with pytest.raises(InvalidParameterError, match="outside the bounds"):
        Sphere(x0=[5.0, 0.0], bounds=(-1, 1))
    with pytest.raises(InvalidParameterError, match="NaN"):
        Sphere(x0=[float("nan")])


def test_bounds_in_scipys_forms():
    import scipy.optimize

    x0 = [0.5, 0.5, 0.5]
    expected = [[0.0, -1.0, 0.0], [1.0, 1.0, 2.0]]
    pairs = [(0, 1), (-1, 1), (0, 2)]
    assert Sphere(x0=x0, bounds=pairs).bounds.tolist() == expected
    assert Sphere(x0=x0, bounds=np.array(pairs)).bounds.tolist() == expected
    bounds = scipy.optimize.Bounds([0, -1, 0], [1, 1, 2])
    assert Sphere(x0=x0, bounds=bounds).bounds.tolist() == expected
    assert Sphere(x0=x0, bounds=scipy.optimize.Bounds(0, 1)).bounds.tolist() == [[0] * 3, [1] * 3]
    # None is scipy's "no bound"
    open_ended = Sphere(x0=x0, bounds=[(None, 1), (0, None), (-1, 1)]).bounds
    assert open_ended.tolist() == [[-math.inf, 0, -1], [1, math.inf, 1]]
    assert Sphere(x0=x0, bounds=(0, None)).bounds[1].isinf().all()
    # two parameters: a list of tuples is two pairs; rows that read only one way are rows
    assert Sphere(x0=[0.5, 2.5], bounds=[(0, 1), (2, 3)]).bounds.tolist() == [[0, 2], [1, 3]]
    assert Sphere(x0=[0.0, 0.0], bounds=[[-1, -1], [1, 1]]).bounds.tolist() == [[-1, -1], [1, 1]]
    assert Sphere(x0=[0.0, 0.0], bounds=[[-1, 1], [-1, 1]]).bounds.tolist() == [[-1, -1], [1, 1]]
    # a problem's own 2 x 2 array that reads both ways is the library's rows ...
    assert Sphere(x0=[0.5, 2.5], bounds=[[0, 1], [2, 3]]).bounds.tolist() == [[0, 1], [2, 3]]
    # ... but minimize's scipy-style bounds= refuses it as ambiguous
    with pytest.raises(InvalidParameterError, match="read both as two .* pairs and as a lower"):
        blackbox_opt.minimize(
            lambda x: float((x**2).sum()), x0=np.array([0.5, 2.5]), bounds=[[0, 1], [2, 3]]
        )
    # a tensor is always (lower row, upper row)
    rows = torch.tensor([[0.0, 2.0], [1.0, 3.0]])
    assert Sphere(x0=[0.5, 2.5], bounds=rows).bounds.tolist() == [[0, 2], [1, 3]]
    with pytest.raises(InvalidParameterError, match="None for no bound"):
        Sphere(x0=x0, bounds=[("a", 1)] * 3)


def test_scales_are_the_bound_widths():
    p = Sphere(x0=[0.0, 0.0, 0.0], bounds=[(-1, 1), (0, 10), (-math.inf, math.inf)])
    assert p.scales.tolist() == [2.0, 10.0, math.inf]
    assert Sphere(x0=[0.0, 0.0]).scales.isinf().all()


class Counting(Sphere):
    bytes_per_point = 1000

    def __init__(self, **kw):
        super().__init__(x0=[0.0, 0.0], **kw)
        self.batch_sizes = []

    def _evaluate(self, X):
        self.batch_sizes.append(X.shape[0])
        return super()._evaluate(X)


def test_large_batches_are_evaluated_in_memory_sized_chunks():
    p = Counting(chunk_bytes=4000)
    X = torch.randn(10, 2)
    y = p(X)
    assert p.batch_sizes == [4, 4, 2]
    assert torch.equal(y, (X**2).sum(-1))
    assert p.n_evaluations == 10
    p = Counting()  # the CPU default budget holds all ten
    p(X)
    assert p.batch_sizes == [10]


def test_to_moves_buffers_and_changes_dtype():
    p = Sphere(x0=[1.0, 2.0], bounds=(-5, 5), x_opt=[0.0, 0.0])
    p = p.to(torch.float64)
    assert p.x0.dtype == p.bounds.dtype == p.x_opt.dtype == torch.float64
    assert p.to("cpu").device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_cuda_evaluates_there():
    p = Sphere(x0=[1.0, 2.0]).to("cuda")
    assert p(torch.ones(3, 2, device="cuda")).device.type == "cuda"


def test_value_and_grad_matches_the_analytic_gradient():
    p = FunctionProblem(lambda X: (X**3).sum(-1), torch.zeros(2), vectorized=True)
    X = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    y, g = p.value_and_grad(X)
    assert torch.allclose(y, torch.tensor([9.0, -0.875]))
    assert torch.allclose(g, 3 * X**2)


def test_function_problem_numpy_scalar_and_vectorized():
    scalar = FunctionProblem(lambda x: float(np.sum(x**2)), x0=np.zeros(2))
    vector = FunctionProblem(lambda X: np.sum(X**2, axis=1), x0=np.zeros(2), vectorized=True)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert scalar(X).tolist() == vector(X).tolist() == [5.0, 25.0]
    assert not scalar.differentiable and scalar.backend == "numpy"


def test_function_problem_reports_wrong_outputs():
    bad = FunctionProblem(lambda x: np.ones(3), x0=np.zeros(2))
    with pytest.raises(EvaluationError, match="one scalar per point"):
        bad(np.zeros(2))
    short = FunctionProblem(lambda X: X.sum(), torch.zeros(2), vectorized=True)
    with pytest.raises(EvaluationError, match=r"shape \(3,\)"):
        short(torch.zeros(3, 2))
    with pytest.raises(InvalidParameterError, match="callable"):
        FunctionProblem(3, x0=[0.0])


@pytest.mark.parametrize(
    ("fun", "options", "kind"),
    [
        (lambda x: str(float(np.sum(x**2))), {}, "text values such as '0.0'"),
        (lambda x: bool(np.sum(x**2) < 1), {}, "bool values such as True"),
        (lambda X: np.array(["1.5"] * len(X)), {"vectorized": True}, "text values"),
        (lambda x: (x**2).sum() < 1, {"backend": "torch"}, "torch.bool values"),
    ],
)
def test_a_loss_that_is_not_a_real_number_is_refused_as_tell_refuses_it(fun, options, kind):
    # "1.5" read from a renderer's output is not taken as 1.5 by the loop and refused by
    # tell: both refuse it, the loop under on_error, with the best point so far kept
    problem = FunctionProblem(fun, x0=np.zeros(2), **options)
    with pytest.raises(EvaluationError, match=f"must return real losses; it returned {kind}"):
        problem(np.zeros((3, 2)))
    from blackbox_opt import CMAES

    opt = CMAES(random_state=0).start(x0=[0.0, 0.0])
    with pytest.raises(InvalidParameterError, match="one number per point"):
        opt.tell(X := opt.ask(), ["1.5"] * len(X))
    res = CMAES(random_state=0, on_error="stop").fit(problem).result_
    assert res.success is False and "must return real losses" in res.message


def test_render_is_not_available_by_default():
    with pytest.raises(NotImplementedError, match="does not render"):
        Sphere(x0=[0.0]).render(torch.zeros(1, 1))


def test_gradient_errors_carry_the_problem_s_reason():
    from blackbox_opt import NotDifferentiableError, minimize

    p = FunctionProblem(
        lambda X: (X * X).sum(1), [1.0, 2.0], vectorized=True, differentiable=False
    )
    p.not_differentiable_reason = "The renderer here has no AD."
    x = torch.ones(1, 2, dtype=p.dtype)
    with pytest.raises(NotDifferentiableError, match="meaningless. The renderer here has no"):
        p.value_and_grad(x)
    with pytest.raises(NotDifferentiableError, match="not differentiable. The renderer here"):
        minimize(p, "adam", max_iter=1, verbose=False)


def test_a_function_whose_arguments_do_not_match_the_space_is_refused_at_once():
    from blackbox_opt import Categorical, Integer, Real, Space, minimize

    space = Space(a=Real(0, 1), n=Integer(1, 4), c=Categorical(["x", "y"]))
    with pytest.raises(InvalidParameterError, match=r"takes \(a, m, c\) but is called"):
        minimize(lambda a, m, c: a, method="cmaes", space=space, budget=50, on_error="reask")
    # the names it needs, defaults, or **kwargs are fine
    for fun in (lambda a, n, c: a, lambda a, n, c, scale=1.0: a * scale, lambda **kw: kw["a"]):
        res = minimize(fun, method="cmaes", space=space, budget=30, random_state=0, verbose=False)
        assert res.success and res.nfail == 0
    FunctionProblem(lambda point: point["a"], space=space, params_as="dict")  # one dict


def test_none_among_a_batchs_losses_is_a_failed_point_and_numbers_of_any_type_are_losses():
    from decimal import Decimal

    batch = FunctionProblem(lambda X: [1.0, None, 2.0], x0=np.zeros(2), vectorized=True)
    assert np.array_equal(batch(np.zeros((3, 2))).numpy(), [1.0, np.nan, 2.0], equal_nan=True)
    one = FunctionProblem(lambda x: Decimal("1.5"), x0=np.zeros(2))
    assert one(np.zeros((2, 2))).tolist() == [1.5, 1.5]
    mixed = FunctionProblem(
        lambda X: np.array([1.0, "frame lost"], dtype=object), x0=[0.0], vectorized=True
    )
    with pytest.raises(EvaluationError, match="it returned str values such as 'frame lost'"):
        mixed(np.zeros((2, 1)))


@pytest.mark.parametrize(
    ("backend", "vectorized"), [("numpy", False), ("numpy", True), ("torch", False)]
)
def test_a_function_that_edits_its_input_in_place_does_not_move_the_asked_points(
    backend, vectorized
):
    # a renderer clamping a parameter in its own input: the method's points stay as
    # asked, the run goes on, and the losses are the function's
    import blackbox_opt as bo

    def clamp_then_loss(x):
        x[..., 0] = x[..., 0].clip(None, 0.9) if backend == "numpy" else x[..., 0].clamp(max=0.9)
        return ((x - 0.95) ** 2).sum(-1)

    problem = FunctionProblem(
        clamp_then_loss,
        np.array([0.5, 0.5]),
        bounds=(0.0, 1.0),
        vectorized=vectorized,
        backend=backend,
    )
    X = torch.tensor([[0.99, 0.2], [0.3, 0.97]], dtype=torch.float64)
    asked = X.clone()
    y = problem.evaluate(X)
    assert torch.equal(X, asked)
    torch.testing.assert_close(y, torch.tensor([0.05**2 + 0.75**2, 0.65**2 + 0.02**2]).double())
    res = bo.minimize(problem, method="cmaes", budget=300, random_state=0, verbose=False)
    assert res.nfev == 300 and res.fun < 0.01
