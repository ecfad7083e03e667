"""A class in Michael Nielsen's layout (his network.py / network2.py) driven through the lab's interface.

    Nielsen's layout                               the lab's (LabSide)             conversion
    weights[l]  (n_out, n_in)                      (n_in, n_out)                   transpose
    biases[l]   (n_out, 1)                         (n_out,)                        reshape
    feedforward(a), a one (n_in, 1) column         feedforward(x), x (B, n_in)     one call per row of x, stacked
    backprop(x, y), one sample as columns,         backprop(x, y) on the batch,    the mean of the B per-sample
      the gradient of that sample's cost             the batch mean's gradient       gradients
    update_mini_batch(mini_batch, eta)             update_mini_batch(x, y, eta)    mini_batch = [(x_i, y_i), ...]
    network2: update_mini_batch(mini_batch, eta, lmbda, n)                         lmbda = weight_decay * n

Parameters cross by transposes and reshapes only (no arithmetic), both ways, so every check keeps its float64
tolerance; the batch mean of backprop is the one sum, as torch's mean loss does it. Nielsen's per-sample costs are
the lab's: his QuadraticCost 0.5*||a - y||^2 and CrossEntropyCost averaged over a batch are the lab's MSE
(sum((a - y)^2) / 2B) and the bce head.

--layout auto reads the layout from the constructed object's weights and biases (biases (n_out, 1) against
(n_out,) decide even when every layer is square), and requires update_mini_batch's parameters not to be the other
layout's. NumPy only: the sandboxed worker uses it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck import layout
from crosscheck.spec import Spec
from crosscheck.student.hparams import NIELSEN_N, lab_kwargs
from crosscheck.student.lab_side import LabSide, _label, _store
from crosscheck.student.loader import call_student, construct, origin_of
from crosscheck.student.text import StudentError
from crosscheck.student.validate import check_array, check_list

LAYOUTS = ("auto", "lab", "nielsen")
_OWNER = {"lab": "the lab's", "nielsen": "Nielsen's"}
MEANING = {"lab": ("(n_in, n_out)", "(n_out,)"), "nielsen": ("(n_out, n_in)", "(n_out, 1)")}


@dataclass(frozen=True)
class LayoutChoice:
    """--layout, and the n a network2-style update_mini_batch is given (lmbda = weight_decay * n)."""

    name: str = "auto"
    n: float = NIELSEN_N

    def __post_init__(self) -> None:
        if self.name not in LAYOUTS:
            raise ValueError(f"--layout must be one of {', '.join(LAYOUTS)}, got {self.name!r}")


@dataclass(frozen=True)
class UpdateSignature:
    """What update_mini_batch's parameters say: the layout they belong to (None: neither) and network2's L2."""

    layout: str | None
    takes_l2: bool
    text: str

    @classmethod
    def of(cls_, student: Any) -> UpdateSignature:
        method = getattr(student, "update_mini_batch", None)
        try:
            params = list(inspect.signature(method).parameters.values())
        except (TypeError, ValueError):
            return cls_(None, False, "no update_mini_batch")
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            return cls_(None, False, f"update_mini_batch{inspect.signature(method)}")
        if inspect.isclass(student) and params[:1] and params[0].name == "self":
            params = params[1:]
        names = [p.name for p in params if p.default is p.empty]  # an optional extra does not change the layout
        takes_l2 = "lmbda" in names or len(names) == 4
        nielsen = takes_l2 or len(names) == 2 or names[:1] == ["mini_batch"]
        return cls_("nielsen" if nielsen else "lab" if len(names) == 3 else None, takes_l2,
                    f"update_mini_batch({', '.join(p.name for p in params)})")


def shapes(sizes: list[int], name: str) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """(weights' shapes, biases' shapes) in that layout."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    if name == "lab":
        return [(i, o) for i, o in pairs], [(o,) for _, o in pairs]
    return [(o, i) for i, o in pairs], [(o, 1) for _, o in pairs]


def misfit(obj: Any, attr: str, expected: list[tuple[int, ...]]) -> str | None:
    """Why self.<attr> does not fit these shapes ('self.biases[0] is (30,), expected (30, 1)'), None if it does."""
    items = getattr(obj, attr, None)
    if not isinstance(items, (list, tuple)):
        return f"self.{attr} is {type(items).__name__}, expected a list of {len(expected)} arrays"
    if len(items) != len(expected):
        return f"self.{attr} has {len(items)} entries, expected {len(expected)}"
    for i, (value, shape) in enumerate(zip(items, expected)):
        got = getattr(value, "shape", None)
        if got != shape:
            return f"self.{attr}[{i}] is {got if got is not None else type(value).__name__}, expected {shape}"
    return None


def layout_misfit(obj: Any, sizes: list[int], name: str) -> str | None:
    """The first of weights, biases that does not fit the layout's shapes, None if both do."""
    w_shapes, b_shapes = shapes(sizes, name)
    return misfit(obj, "weights", w_shapes) or misfit(obj, "biases", b_shapes)


def detect(obj: Any, sizes: list[int], signature: UpdateSignature) -> tuple[str, str]:
    """(layout, why) from the shapes of weights and biases, checked against update_mini_batch's parameters: shapes
    that fit neither layout, or fit one while update_mini_batch is the other's, are a StudentError saying so."""
    why_not = {name: layout_misfit(obj, sizes, name) for name in ("lab", "nielsen")}
    fitting = [name for name, problem in why_not.items() if problem is None]
    if not fitting:
        raise StudentError(f"{type(obj).__name__} fits neither layout after construction: for the lab's, "
                           f"{why_not['lab']} (weights (n_in, n_out), biases (n_out,)); for Nielsen's, "
                           f"{why_not['nielsen']} (weights (n_out, n_in), biases (n_out, 1))")
    name = fitting[0]  # never both: biases (n_out, 1) and (n_out,) differ even where every layer is square
    if signature.layout not in (None, name):
        want = "update_mini_batch(x, y, eta)" if name == "lab" else "update_mini_batch(mini_batch, eta[, lmbda, n])"
        raise StudentError(f"{type(obj).__name__}'s weights and biases are in {_OWNER[name]} layout (weights[0] "
                           f"{obj.weights[0].shape}: {MEANING[name][0]}), but {signature.text} is "
                           f"{_OWNER[signature.layout]}; {_OWNER[name]} layout takes {want} (--layout {name} "
                           f"skips this check)")
    square = all(i == o for i, o in zip(sizes[:-1], sizes[1:]))
    shape_why = (f"weights are square (n_in == n_out); biases[0] is {obj.biases[0].shape}: {MEANING[name][1]}"
                 if square else f"weights[0] is {obj.weights[0].shape}: {MEANING[name][0]}")
    return name, f"{shape_why}; {signature.text}"


def open_side(spec: Spec, init: list[np.ndarray], cls: Any, hparams: tuple[dict, dict] | None = None,
              origin: Path | None = None, choice: LayoutChoice = LayoutChoice()) -> LabSide:
    """The side over `cls` in the layout chosen (auto: detected), with `.layout` saying which and why.
    A network2-style update_mini_batch(mini_batch, eta, lmbda, n) takes the L2 term, so its class is not also
    constructed with l2_factor."""
    origin = origin if origin is not None else origin_of(cls)
    required, optional = hparams if hparams is not None else lab_kwargs(spec)
    signature = UpdateSignature.of(cls)
    nielsen_l2 = choice.name != "lab" and signature.takes_l2
    if nielsen_l2:
        required, optional = ({k: v for k, v in d.items() if k != "l2_factor"} for d in (required, optional))
    built = construct(cls, spec, required, optional, origin)
    if choice.name == "auto":
        name, why = detect(built[0], list(spec.layers), signature)
    else:
        name, why = choice.name, f"--layout {choice.name}"
        problem = layout_misfit(built[0], list(spec.layers), name)
        if problem:
            raise StudentError(f"--layout {name}: after construction {problem} ({_OWNER[name]} layout keeps weights "
                               f"{MEANING[name][0]}, biases {MEANING[name][1]})")
    if name == "nielsen":
        l2 = (float(spec.hparams.get("weight_decay", 0.0)) * choice.n, choice.n) if nielsen_l2 else None
        side: LabSide = NielsenSide(spec, init, cls, origin=origin, built=built, l2=l2)
    else:
        side = LabSide(spec, init, cls, origin=origin, built=built)
    side.layout = f"{name} ({why})"
    return side


class NielsenSide(LabSide):
    """LabSide over a class in Nielsen's layout: the lab's calls made in his terms, every value checked in his
    shapes (so a message names what his layout expects) and converted exactly. l2: (lmbda, n) for network2's
    update_mini_batch(mini_batch, eta, lmbda, n), None for network.py's update_mini_batch(mini_batch, eta)."""

    INTERFACE = ("Nielsen's interface is feedforward(a), backprop(x, y), update_mini_batch(mini_batch, eta) "
                 "(network2: update_mini_batch(mini_batch, eta, lmbda, n))")
    WHAT = {"w": ("weights", "(n_out, n_in)"), "b": ("biases", "(n_out, 1)")}

    def __init__(self, spec: Spec, init: list[np.ndarray], cls: Any, origin: Path | None = None,
                 built: tuple[Any, str] | None = None, l2: tuple[float, float] | None = None):
        self.nielsen_shapes = shapes(list(spec.layers), "nielsen")
        self.l2 = l2
        super().__init__(spec, init, cls, origin=origin, built=built)

    # the student's state, converted

    def _read(self, kind: str, what: str) -> list[np.ndarray]:
        attr, meaning = self.WHAT[kind]
        if not hasattr(self.obj, attr):
            raise StudentError(f"{what}: the object has no attribute {attr!r} (Nielsen's layout keeps self.{attr})")
        items = check_list(getattr(self.obj, attr), self.n_layers, f"{what}: self.{attr}")
        expected = self.nielsen_shapes[0 if kind == "w" else 1]
        arrays = [check_array(v, shape, f"{what}: self.{attr}[{i}] (Nielsen's layout: {meaning})", *_label(kind, i))
                  for i, (v, shape) in enumerate(zip(items, expected))]
        return [np.ascontiguousarray(a.T) if kind == "w" else a[:, 0] for a in arrays]

    def set_params(self, params: list[np.ndarray]) -> None:
        for attr, values in (("weights", [np.ascontiguousarray(w.T) for w in layout.weights(params)]),
                             ("biases", [np.array(b).reshape(-1, 1) for b in layout.biases(params)])):
            call_student(f"setting self.{attr}", self.origin, _store, self.obj, attr, values)

    # the lab's calls, made in Nielsen's terms

    def _call(self, name: str, *args: Any) -> Any:
        return {"feedforward": self._feedforward, "backprop": self._backprop,
                "update_mini_batch": self._update}[name](*args)

    def _student(self, name: str, *args: Any) -> Any:
        return super()._call(name, *args)

    @staticmethod
    def _column(rows: np.ndarray, i: int) -> np.ndarray:
        """Row i of a batch as the (n, 1) column Nielsen's code takes, a copy the student may not change."""
        return rows[i].reshape(-1, 1).copy()

    def _feedforward(self, x: np.ndarray) -> np.ndarray:
        n_out = self.spec.layers[-1]
        outs = []
        for i in range(len(x)):
            a = self._column(x, i)
            out = self._student("feedforward", a)
            self._unchanged("feedforward", [a], [x[i].reshape(-1, 1)])
            outs.append(check_array(out, (n_out, 1), f"feedforward(a) on sample {i} (a column (n_in, 1); Nielsen's "
                                    f"layout returns a column (n_out, 1))", None, "output", finite=False)[:, 0])
        return np.stack(outs) if outs else np.empty((0, n_out))

    def _sample_gradients(self, x: np.ndarray, y: np.ndarray, i: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        xi, yi = self._column(x, i), self._column(y, i)
        out = self._student("backprop", xi, yi)
        self._unchanged("backprop", [xi, yi], [x[i].reshape(-1, 1), y[i].reshape(-1, 1)])
        what = f"backprop(x, y) on sample {i} (columns)"
        pair = check_list(out, 2, f"{what}: its return value (nabla_b, nabla_w)")
        nabla_b = check_list(pair[0], self.n_layers, f"{what}: nabla_b")
        nabla_w = check_list(pair[1], self.n_layers, f"{what}: nabla_w")
        w_shapes, b_shapes = self.nielsen_shapes
        if all(isinstance(b, np.ndarray) and b.shape == shape for b, shape in zip(nabla_b, w_shapes)):
            raise StudentError(f"{what} returned (nabla_w, nabla_b); Nielsen's order is (nabla_b, nabla_w)")
        return ([check_array(b, s, f"{what}: nabla_b[{k}] (Nielsen's layout: (n_out, 1))", k, "bias")
                 for k, (b, s) in enumerate(zip(nabla_b, b_shapes))],
                [check_array(w, s, f"{what}: nabla_w[{k}] (Nielsen's layout: (n_out, n_in))", k, "weight")
                 for k, (w, s) in enumerate(zip(nabla_w, w_shapes))])

    def _backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The lab's batch gradient: the mean over the batch of Nielsen's per-sample gradients."""
        sum_b = [np.zeros(s[0]) for s in self.nielsen_shapes[1]]
        sum_w = [np.zeros(s[::-1]) for s in self.nielsen_shapes[0]]
        for i in range(len(x)):
            nabla_b, nabla_w = self._sample_gradients(x, y, i)
            sum_b = [t + b[:, 0] for t, b in zip(sum_b, nabla_b)]
            sum_w = [t + w.T for t, w in zip(sum_w, nabla_w)]
        return [t / len(x) for t in sum_b], [t / len(x) for t in sum_w]

    def _traced_args(self, method: str, x: np.ndarray, y: np.ndarray | None, lr: float | None = None) -> tuple:
        """Nielsen's arguments: one sample as columns (feedforward, backprop), or the mini-batch of column pairs,
        eta and network2's L2 (update_mini_batch)."""
        if method == "update_mini_batch":
            batch = [(self._column(x, i), self._column(y, i)) for i in range(len(x))]
            return (batch, self.lr if lr is None else float(lr), *(self.l2 or ()))
        return (self._column(x, 0),) if method == "feedforward" else (self._column(x, 0), self._column(y, 0))

    def _update(self, x: np.ndarray, y: np.ndarray, eta: float) -> None:
        given = [(self._column(x, i), self._column(y, i)) for i in range(len(x))]
        self._student("update_mini_batch", list(given), eta, *(self.l2 or ()))
        for i, (a, b) in enumerate(given):
            self._unchanged("update_mini_batch", [a, b], [x[i].reshape(-1, 1), y[i].reshape(-1, 1)])
