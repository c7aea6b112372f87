"""The exploding regime, measured, and what gradient clipping does to it.

On the rnn-like cells: W = (ρ/β_f)·Q with Q orthogonal and the pre-activations
held where |f′| = β_f, so ‖δ_k‖/‖δ_t‖ = ρ^(t−k) exactly (the bound attained);
then the same trials' parameter gradients clipped by global norm and per
element (Pascanu, Mikolov & Bengio 2013 clip the global norm)."""
from __future__ import annotations

import math

import numpy as np

from . import experiments as ex
from . import report as rp
from .jacobian import rnn_factor

RHOS = (1.1, 1.3)
CLIP = 1.0


MAX_T = 100        # ρ^T and the gradients stay inside float64 (1.3^100 ≈ 2.5e11)


def exploding_blocks(d, trials, H, T, seed, fmt=rp.plain, clip=CLIP, rhos=RHOS):
    act = rnn_factor(d)[0]
    T = min(T, MAX_T)
    rows, cos_elem = [], []
    for rho in rhos:
        inst, a = ex.exploding_instance(d.cell, act, trials, H, T, rho, seed)
        m = ex.measure(d, inst)
        eff = ex.clipping_effect(d, inst, clip)
        norm, glob, cos_g, elem, cos_e = eff.T
        cos_elem.append(float(np.median(cos_e)))
        rows.append([fmt(rho), str(trials), rp.median_of(m.log_ratio[T], fmt), rp.from_log(T * math.log(rho), fmt),
                     str(m.violations(m.log_beta_bound)), fmt(float(np.median(norm))), fmt(float(norm.max())),
                     fmt(float(glob.max())), fmt(float(cos_g.min())), fmt(float(np.median(elem))),
                     fmt(float(np.median(cos_e)))])
    point = f"a = {fmt(a)}" if a else "a = 0"
    cols = [rp.Math(rp.BETA_PRODUCT), "trials", [rp.Math(rp.ratio("0", "T")), " median"],
            rp.Math(rp.Power(rp.BETA_PRODUCT, rp.Name("T"))), "violations", "gradient norm, median", "max",
            f"clipped to norm {fmt(clip)}: norm, max", "cos, min", f"entries clipped to {fmt(clip)}: norm, median",
            "cos, median"]
    return [
        rp.Heading(f"The exploding regime, and gradient clipping ({trials} trials, T = {T}, H = {H})"),
        rp.Para(f"W = (ρ/β_f) Q with Q a random orthogonal matrix, so β_f β_W = ρ > 1; no input, the bias "
                f"b = a − W h* and h_0 = h* = f(a) with {point}, where |f′| reaches β_f, so every "
                f"pre-activation stays at a and every step multiplies δ by f′(a) Wᵀ, of norm ρ: the ratio "
                f"of the norms of δ_k and δ_t is ρ^(t−k) exactly, the bound attained (T at most {MAX_T}, "
                f"inside float64). The loss is the inner product of g and h_T; the gradient norm is the "
                f"global norm over every parameter (the generated kernel), cos its cosine with the unclipped one."),
        rp.Table(cols, rows),
        rp.Para(f"Clipping by global norm (scale by {fmt(clip)} over the norm when that is below 1) caps every "
                f"trial's norm at {fmt(clip)} and keeps the direction (cos = 1); clipping each entry to "
                f"[−{fmt(clip)}, {fmt(clip)}] also bounds the step but turns it (median cos {fmt(min(cos_elem))} at the worst ρ). "
                "Neither changes δ_k itself: clipping bounds the update, not the gradient flow the bound "
                "describes. `lstm-sym train CELL --clip C` and `--clip-value V` apply them while training."),
    ]
