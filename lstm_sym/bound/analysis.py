"""The bound for one cell: its derivation, its measurement, and the data the
plot draws."""
from __future__ import annotations

import numpy as np

from ..derivation import derive
from . import experiments as ex
from . import report as rp
from .clipping import exploding_blocks
from .jacobian import rnn_cell, rnn_factor

ACTIVATIONS = ("tanh", "sigmoid", "relu", "softsign")
PASCANU_TRIALS = 200
EXPLODING_TRIALS = 50        # one kernel call per trial for the clipped gradients
INSTANCES = ("Random instances: W = s·G/√H (every recurrent weight; G standard normal, s = --scale), "
             "input weights G/√8 with x_t ∈ ℝ⁸ standard normal, biases 0, {initial} = 0.5·G, "
             "cotangent g on h_T standard normal.  A given seed gives every cell the same x, h_0 and g.  "
             "The step-1 weight-gradient term multiplies h_0, which is drawn rather than made by the cell, "
             "so at t−k = T−1 it sits on another scale (the jump at the end of the plot); read trends from k ≥ 2.")


def analyse(cell, activation="tanh", T=50, trials=1000, hidden=64, scale=1.0, seed=0, fmt=rp.plain,
            progress=None):
    """(blocks, figure data) for one cell: what the command prints.  Trials
    that overflow float64 (huge --scale) are counted, not warned about.
    What it costs is estimated by lstm_sym.cost.bound_cost; progress(what,
    done, total, unit) hears each stage begin."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _analyse(cell, activation, T, trials, hidden, scale, seed, fmt, progress)


def _analyse(cell, activation, T, trials, hidden, scale, seed, fmt, progress=None):
    from ..activations import BUILTIN
    from ..cells import builtin_name, load_cell
    cell = load_cell(cell)
    d = derive(rnn_cell(BUILTIN[activation]) if builtin_name(cell) == "rnn" else cell)
    memory, _, forget_bias = ex.memory_roles(d.cell)
    pascanu = bool(rnn_factor(d) and ex.rnn_names(d.cell))
    stages = 1 + pascanu + (memory is not None)
    tell = (lambda k, what: progress(f"bound: {what}", k, stages, "stages")) if progress else (lambda k, what: None)
    blocks = rp.derivation_blocks(d)
    tell(1, f"measuring {trials} trials of T = {T}, H = {hidden}")
    inst = ex.random_instance(d.cell, trials, hidden, T, scale, seed)
    m = ex.measure(d, inst)
    initial = [f"{s}_0" for s in d.cell.states]
    instances = INSTANCES.format(initial=" and ".join(initial) if len(initial) < 3 else
                                 ", ".join(initial[:-1]) + " and " + initial[-1])
    diagonal = ex.diagonal_params(d.cell)
    if diagonal:
        instances += (f"  Diagonal weights ({', '.join(diagonal)}: vectors that multiply a state elementwise) "
                      "s·G, so that their products have the spread of W h.")
    blocks += [rp.Heading(f"Measured ({d.cell.name}): {trials} random instances, T = {T}, H = {hidden}, scale {scale:g}, "
                          f"seed {seed}"), rp.Para(instances)]
    blocks += rp.measurement_blocks(m, fmt) + rp.regime_para(m, fmt)
    figure = {"cell": d.cell.name, "main": m}
    if pascanu:                                    # the regimes rescale the one recurrent W
        n = min(trials, PASCANU_TRIALS)
        tell(2, f"Pascanu's regimes ({n} trials × 4)")
        blocks += [rp.Heading(f"Pascanu's regimes: W rescaled so that β_f β_W = ρ exactly ({n} trials, "
                              f"T = {T}, H = {hidden})"),
                   rp.pascanu_table(d, n, hidden, T, seed, fmt=fmt), rp.nilpotent_para(d, fmt)]
        blocks += exploding_blocks(d, min(n, EXPLODING_TRIALS), hidden, T, seed, fmt)
    if memory is not None:
        tell(stages, "the rnn beside it and the memory path")
        blocks += _memory_blocks(d, m, inst, trials, hidden, T, scale, seed, fmt, forget_bias, figure,
                                 "LSTM" if builtin_name(cell) == "lstm" else d.cell.name)
    return blocks, figure


def _memory_blocks(d, m, inst, trials, hidden, T, scale, seed, fmt, forget_bias, figure, label):
    """A cell with a memory state (read off its roles): the seeds' per-step
    weight-gradient picture against the rnn, and the memory's path; with a
    forget-gate bias, both with the bias high and low."""
    rnn_d = derive("rnn")
    rnn_m = ex.measure(rnn_d, ex.random_instance(rnn_d.cell, trials, hidden, T, scale, seed), bounds=False)
    memory = d.cell.roles["memory"]
    path_of = f"‖∂{memory}_t/∂{memory}_k‖"
    if forget_bias is not None:
        high = ex.FORGET_BIAS["high"]
        opened = ex.Instance({**inst.params, forget_bias: np.full((trials, hidden), high)}, inst.xs, inst.init,
                             inst.g)
        cells = [(0.0, m), (high, ex.measure(d, opened, bounds=False))]
        paths = [(b, *ex.cell_state_path(d, inst, b)) for b in ex.FORGET_BIAS.values()]
        path_heading = f"The {label} cell-state path: {path_of} with the forget-gate bias high and low"
        figure.update(rnn=rnn_m, lstms=cells, paths=paths)
    else:
        cells = [(None, m)]
        paths = [(None, *ex.cell_state_path(d, inst, None))]
        path_heading = f"The {label} cell-state path: {path_of} with no forget gate"
    blocks = [rp.Heading(f"RNN against {label}: per-step weight-gradient terms ∇_{{W_k}}E, same inputs")]
    if m.log_grad is None:
        blocks += [rp.Para(f"Skipped: {d.cell.name} has no recurrent weight matrix, so there is no per-step "
                           "term ∇_{W_k}E of one to compare.")]
        figure.pop("rnn", None)
    else:
        blocks += rp.comparison_blocks(rnn_m, cells, fmt, d)
    blocks += [rp.Heading(path_heading)]
    blocks += rp.cell_path_blocks(paths, fmt, d)
    return blocks
