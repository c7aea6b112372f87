"""The notations, as data.  Each says how the cell's symbols are spelled
(its vectors, weights, biases, deltas and the loss) and how the vectors are
laid out: columns or rows of a minibatch, one matrix per product or one per
gate over a concatenation, and in which order the blocks are stacked.

Templates take {g} (the gate or state a pre-activation makes: f, i, c̃, o;
h for an RNN's net), {s} (the vector a matrix multiplies: h, x), {name} (a
vector's own name); a `letters` entry renames a gate for that notation
(the lecture notes write the candidate's z and W without a letter)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Notation:
    name: str
    title: str
    source: str                 # where a reader meets it
    rows: bool = False          # vectors are rows of a minibatch (n × size)
    weights: str = "separate"   # separate | concat (one matrix per gate) | stacked (one input for all)
    order: str = "state_first"  # blocks of a concatenation: state_first | input_first
    sep: str = ", "             # between the blocks of a concatenation
    time: str = "sub"           # where t goes: sub (h_t) | sup (h^t)
    upper: bool = False         # vectors capitalised (H_t, C̃_t)
    loss: str = "E"
    weight: str = "W_{g}{s}"    # spelling of a separate weight / of a gate's matrix
    bias: str = "b_{g}"
    gate_delta: str = "δ_{{{g},t}}"   # sub | prefix: see printers
    preact: str = ""            # the pre-activations get a name (lecture: z^{g})
    letters: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)     # a vector's own name, renamed
    note: str = ""


TUTORIAL = Notation(
    "tutorial", "the tutorial's", "seed 000 (the tutorial): separate matrices, column vectors")

D2L = Notation(
    "d2l", "d2l's", "seed 002 (Dive into Deep Learning): a minibatch of n rows",
    rows=True, upper=True, loss="L", order="input_first", weight="W_{s}{g}", bias="b_{g}", gate_delta="prefix",
    note=("Rows are the n samples of a minibatch: X_t is n × d, H_t and every gate n × h. "
          "W_x• is d × h and W_h• is h × h (the transposes of the tutorial's W_•x, W_•h); b_• is a row "
          "added to every sample. A gate's δ is taken at its pre-activation (δF_t: at the argument of σ "
          "that makes F_t), a state's at the state (δH_t = ∂L/∂H_t); a weight's gradient sums the batch inside the product (X_tᵀ δF_t), a bias's is "
          "1ᵀ δF_t, the column sums."))

COLAH = Notation(
    "colah", "colah's", "seed 003 (colah's Understanding LSTM Networks): one matrix per gate",
    weights="concat", order="state_first", sep=", ", weight="W_{g}", bias="b_{g}",
    letters={"c_tilde": "C"}, names={"c": "C", "c_tilde": "C_tilde"}, note=(
        "One matrix per gate acts on the concatenation [h_{t−1}, x_t]: W_f = [W_fh, W_fx] in the "
        "tutorial's names. Its gradient is one outer product with the concatenation, and what "
        "W_fᵀ δ_{f,t} sends back splits into an h-block (to δh_{t−1}) and an x-block (to δx_t)."))

LECTURE = Notation(
    "lecture", "the lecture notes'", "seed 004 (lecture notes): the stacked z from one stacked input",
    weights="stacked", order="input_first", sep="; ", time="sup", weight="W^{g}", bias="b^{g}",
    gate_delta="preact", preact="z^{g}", letters={"c_tilde": ""}, note=(
        "Every gate input is a product of the same stacked input [x^t; h^{t−1}]: z^f, z^i, z, z^o "
        "with W^f, W^i, W, W^o (the candidate's without a letter), one bias each; δz^f_t is "
        "∂E/∂z^f_t. Each W^• gets its own gradient, one outer product with the stacked input."))

NOTATIONS = {n.name: n for n in (TUTORIAL, D2L, COLAH, LECTURE)}


def get_notation(name):
    if isinstance(name, Notation):
        return name
    if name not in NOTATIONS:
        raise ValueError(f"unknown notation {name!r}; choose one of: {', '.join(NOTATIONS)}")
    return NOTATIONS[name]
