"""Tasks and optimizers of `lstm_sym.train`, against facts that do not come
from the code: the adding problem's statistics, and torch's optimizers and
clipping replayed on the same gradients."""
import numpy as np
import pytest

from lstm_sym.train import (Adam, SGD, BASELINE_MSE, adding_batch, clip_by_global_norm,
                            clip_by_value, global_norm, task)


def test_adding_problem_has_two_markers_one_per_half_and_sums_them():
    rng = np.random.default_rng(0)
    x, y = adding_batch(rng, 50, 256)
    assert x.shape == (50, 256, 2) and y.shape == (256, 1)
    marks = x[:, :, 1]
    assert np.all(marks.sum(axis=0) == 2)
    assert np.all(marks[:25].sum(axis=0) == 1) and np.all(marks[25:].sum(axis=0) == 1)
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * marks).sum(axis=0), rtol=1e-15)


def test_predicting_one_scores_the_variance_of_two_uniforms():
    rng = np.random.default_rng(1)
    _, y = adding_batch(rng, 10, 200_000)
    assert abs(np.mean((y - 1.0) ** 2) - BASELINE_MSE) < 3e-3   # ≈ 4 standard errors
    assert abs(BASELINE_MSE - 0.1667) < 1e-4


@pytest.mark.parametrize("T,batch", [(1, 4), (5, 0)])
def test_bad_task_sizes_are_refused(T, batch):
    with pytest.raises(ValueError, match="T >= 2|batch"):
        adding_batch(np.random.default_rng(0), T, batch)


def test_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="unknown task 'copy'.*adding"):
        task("copy")


def test_global_norm_and_clipping_by_hand():
    g = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    assert global_norm(g) == 5.0
    before = clip_by_global_norm(g, 1.0)
    assert before == 5.0
    np.testing.assert_allclose(global_norm(g), 5.0 / (5.0 + 1e-6), rtol=1e-15)
    small = {"a": np.array([0.3, -0.4])}
    clip_by_global_norm(small, 1.0)                     # below the limit: unchanged
    np.testing.assert_array_equal(small["a"], [0.3, -0.4])
    v = {"a": np.array([-3.0, 0.5, 2.0])}
    clip_by_value(v, 1.0)
    np.testing.assert_array_equal(v["a"], [-1.0, 0.5, 1.0])
    with pytest.raises(ValueError):
        clip_by_global_norm(v, 0.0)


def test_adam_first_step_moves_every_entry_by_lr():
    # with bias correction, step 1 is lr * g / (|g| + eps) = ± lr (for |g| ≫ eps)
    p = {"w": np.array([1.0, -2.0, 0.5])}
    Adam(p, lr=0.1).step({"w": np.array([3.0, -0.2, 1e-3])})
    np.testing.assert_allclose(p["w"], [0.9, -1.9, 0.4], rtol=1e-4)


torch = pytest.importorskip("torch")


def replay(make_np, make_torch, steps=50, clip=None):
    rng = np.random.default_rng(7)
    init = {"w": rng.normal(size=(4, 3)), "b": rng.normal(size=4)}
    params = {k: v.copy() for k, v in init.items()}
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
    opt, topt = make_np(params), make_torch(list(tparams.values()))
    for _ in range(steps):
        grads = {k: rng.normal(size=v.shape) * 10 for k, v in init.items()}
        for k, t in tparams.items():
            t.grad = torch.tensor(grads[k].copy())
        if clip:
            clip_by_global_norm(grads, clip)
            torch.nn.utils.clip_grad_norm_(list(tparams.values()), clip)
        opt.step(grads)
        topt.step()
        for k, t in tparams.items():
            np.testing.assert_allclose(params[k], t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_adam_replays_torch_adam_step_by_step():
    replay(lambda p: Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01))


def test_adam_with_global_norm_clipping_replays_torch():
    replay(lambda p: Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01), clip=1.0)


def test_sgd_with_momentum_replays_torch():
    replay(lambda p: SGD(p, lr=0.05, momentum=0.9),
           lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9))
