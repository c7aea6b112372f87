"""`lstm-sym train CELL --task adding`: train the generated network module
(--layers stacked layers of CELL, a linear head, the loss) with NumPy
SGD/Adam, optionally beside a second cell (--compare) or replayed in torch
(--torch) on the same batches from the same weights."""
import math
import sys

from .args import UsageError, add_cell, cell_of, positive_float, positive_int, seed_int


def register(sub):
    from ..train import OPTIMIZERS, TASKS
    p = sub.add_parser("train", help="train a cell + linear head on a task (the adding problem)")
    add_cell(p)
    p.add_argument("--task", choices=sorted(TASKS), default="adding")
    p.add_argument("--T", type=positive_int, default=50, help="sequence length (default 50)")
    p.add_argument("--steps", type=positive_int, default=3000, help="optimizer steps (default 3000)")
    p.add_argument("--batch", type=positive_int, default=32, help="sequences per step (default 32)")
    p.add_argument("--hidden", type=positive_int, default=32, help="hidden size H (default 32)")
    p.add_argument("--layers", type=positive_int, default=1,
                   help="stacked layers, each of size --hidden (torch's num_layers; default 1)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    p.add_argument("--lr", type=positive_float, default=1e-2, help="learning rate (default 0.01)")
    p.add_argument("--clip", type=positive_float, default=None, metavar="C",
                   help="clip the gradient to global norm C")
    p.add_argument("--clip-value", type=positive_float, default=None, metavar="V",
                   help="clip every gradient entry to [−V, V]")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--every", type=positive_int, default=250, metavar="K", help="a progress line every K steps")
    p.add_argument("--compare", metavar="CELL", default=None,
                   help="also train this cell on the same batches (e.g. rnn beside lstm)")
    p.add_argument("--torch", action="store_true",
                   help="replay the run in torch and compare the losses step by step (exit 1 on a disagreement)")
    p.add_argument("--plot", metavar="FILE.png", default=None, help="draw the loss curves (needs matplotlib)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")

    def run(args):
        from ..cells import load_cell
        from ..train.model import Network
        from ..train.plot import check_plot_path, write_curves
        from ..train.run import Diverged, Settings, replay_verdict, torch_replay, torch_unsupported, train
        if args.compare and args.torch:
            raise UsageError("--compare and --torch each add a second curve; give one of them")
        if args.plot is not None:
            check_plot_path(args.plot, args.force)
        settings = Settings(args.task, args.T, args.steps, args.batch, args.optimizer, args.lr,
                            args.clip, args.clip_value, args.seed)
        cells = [cell_of(args)] + ([load_cell(args.compare)] if args.compare else [])
        nets = [Network(c, 2, args.hidden, layers=args.layers) for c in cells]
        if args.torch:
            why = torch_unsupported(nets[0].cell)
            if why:
                raise UsageError(f"--torch: {why}")
        histories, code = [], 0
        for net in nets:
            report = lambda step, L, norm, rate, name=net.cell.name: print(
                f"{name}  step {step}/{args.steps}  loss {L:.4g}  |g| {norm:.3g}  {rate:.0f} steps/s", flush=True)
            try:
                _, hist = train(net, settings, args.every, report)
            except Diverged as e:
                print(f"lstm-sym train: {net.cell.name}: {e}", file=sys.stderr)
                hist, code = e.history, 1
            histories.append(hist)
            print(_summary(hist, args))
        if args.torch and code == 0:
            th = torch_replay(nets[0], settings)
            histories.append(th)
            verdict = replay_verdict(nets[0], settings, histories[0], th)
            print(f"torch replay: largest relative loss difference over {len(th.loss)} steps "
                  f"{max(verdict.torch_rel):.2e} (numpy {histories[0].seconds:.1f} s, torch {th.seconds:.1f} s)")
            if verdict.ok:
                print(verdict.line)
            else:
                print(f"lstm-sym train: {verdict.line}", file=sys.stderr)
                code = 1
        if args.plot is not None and any(h.loss for h in histories):
            write_curves(histories, args.plot, f"{args.task} problem, T = {args.T}, H = {args.hidden}"
                         + (f", {args.layers} layers" if args.layers > 1 else ""),
                         baseline=args.task == "adding")
        return code
    p.set_defaults(run=run)


def _summary(hist, args):
    if not hist.loss:
        return f"{hist.label}: no finite step"
    tail = hist.loss[-min(100, len(hist.loss)):]
    mean = math.fsum(tail) / len(tail)
    return (f"{hist.label}: mean loss of the last {len(tail)} steps {mean:.4g} "
            f"({len(hist.loss)} steps in {hist.seconds:.1f} s)")
