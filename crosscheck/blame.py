"""Point at the line: where in a traced call (crosscheck.student.tracer) the failing value first went wrong.

Every array the student's code produced is matched against torch's intermediates of the same call
(crosscheck.intermediates): exactly, up to a transpose, up to one constant factor, or up to a per-row factor or
shift (the steps of a softmax). Then the failing outputs are followed back through the data-flow graph the
trace recorded: from a wrong array to the arrays its line read, as long as one of them is wrong too. The line
where that stops read only right arrays and produced a wrong one: the culprit. Two things keep the walk honest:
- an array that also flows into an output that is right is the student's own convention (a delta kept B times
  larger and divided at the end), never a culprit;
- a value returned by the student's helper is right if it is what torch's function (sigmoid, its derivative,
  softmax, ...) gives on the helper's own argument: then the helper is right and the caller gave it the wrong
  argument, so the caller's line is the culprit.
Of several failing outputs, the culprit executed first is named. The recipes of crosscheck.intermediates (what
each intermediate is made of) then say what the line left out or used in the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from crosscheck.intermediates import SUB, Intermediate, ingredients
from crosscheck.results import Source, SourceLine
from crosscheck.student.tracer import Frame, Trace, file_key

MATCH_RTOL = 1e-8  # float64 round-off between two orders of summation is ~1e-15 of the scale (see README)
COMPUTED = {"z", "a", "fprime", "dL/da", "delta", "dW", "db"}  # what a line computes (not x, y, W, b)


@dataclass(frozen=True)
class Match:
    """An array is `factor` x `ref` (transposed, or up to a per-row "scale" or "shift" where said:
    the steps of a softmax, so only z and a are matched per row)."""

    ref: Intermediate
    factor: float = 1.0
    transposed: bool = False
    rowwise: str = ""

    @property
    def exact(self) -> bool:
        return self.factor == 1.0 and not self.transposed and not self.rowwise

    @property
    def form(self) -> tuple:
        return (round(self.factor, 9), self.transposed, self.rowwise)

    def describe(self) -> str:
        if self.rowwise:
            return f"{self.ref.label} up to a per-row {self.rowwise}"
        text = self.ref.label + (" transposed" if self.transposed else "")
        return text if self.factor == 1.0 else f"{self.factor:.6g} × {text}"


def _close(a: np.ndarray, b: np.ndarray, scale: float) -> bool:
    return bool(np.all(np.isfinite(a))) and float(np.max(np.abs(a - b))) <= MATCH_RTOL * scale


def match(array: np.ndarray, refs: list[Intermediate]) -> Match | None:
    """The best way `array` is one of torch's intermediates: exact, then transposed, then a factor, then per row."""
    found: list[tuple[int, Match]] = []
    for ref in refs:
        for transposed in (False, True):
            want = ref.array.T if transposed else ref.array
            if want.shape != array.shape:
                if transposed or want.size != array.size or not (_vector(want) and _vector(array)):
                    continue
                want = want.reshape(array.shape)  # a vector kept as (n,), (n, 1) or (1, n): the same values
            scale = float(np.max(np.abs(want)))
            if scale == 0 or not np.all(np.isfinite(want)):
                continue
            if _close(array, want, scale):
                found.append((1 + transposed, Match(ref, 1.0, transposed)))
                continue
            factor = float(np.vdot(array, want) / np.vdot(want, want))
            if abs(factor) > 1e-12 and _close(array, factor * want, abs(factor) * scale):
                found.append((3 + transposed, Match(ref, _nice(factor), transposed)))
            elif not transposed and ref.kind in ("z", "a") and array.ndim == 2 and array.shape[1] > 1:
                rows = _rowwise(array, want)
                if rows:
                    found.append((5, Match(ref, 1.0, False, rows)))
    return min(found, key=lambda f: f[0])[1] if found else None


def _vector(array: np.ndarray) -> bool:
    return sum(n > 1 for n in array.shape) <= 1


def _nice(factor: float) -> float:
    """A factor that is an integer, or one over an integer, to round-off, as that exact number."""
    for value in (round(factor), 1 / round(1 / factor) if abs(factor) < 1 else None):
        if value and abs(factor - value) <= 1e-9 * abs(value):
            return float(value)
    return factor


def _rowwise(array: np.ndarray, want: np.ndarray) -> str:
    """"scale" if every row of array is a multiple of want's row, "shift" if it is want's row plus a constant."""
    scale = float(np.max(np.abs(want)))
    shift = (array - want).mean(axis=1, keepdims=True)
    if _close(array, want + shift, scale + float(np.max(np.abs(shift)))):
        return "shift"
    norms = np.einsum("ij,ij->i", want, want)
    if np.all(norms > 0):
        k = (np.einsum("ij,ij->i", array, want) / norms)[:, None]
        if np.all(k != 0) and _close(array, k * want, float(np.max(np.abs(k * want)))):
            return "scale"
    return ""


@dataclass
class Culprit:
    seq: int
    expected: Intermediate | None
    why: str = ""


class Blame:
    """The analysis of one trace against torch's intermediates of the same call."""

    def __init__(self, trace: Trace, refs: list[Intermediate], functions: dict[str, Callable], head: str,
                 n_layers: int):
        self.trace, self.refs, self.functions, self.head, self.n_layers = trace, refs, functions, head, n_layers
        self.by_kind = {(r.kind, r.layer): r for r in refs}
        x = self.by_kind[("x", None)].array
        self.batch = x.shape[0] if x.shape[-1] != 1 else 1  # Nielsen's column: one sample
        self._matches: dict[int, Match | None] = {}
        self.frame_of_return = {seq: f for f in trace.frames for seq in f.returned}
        self.helper_notes: dict[int, str] = {}

    def match(self, seq: int) -> Match | None:
        if seq not in self._matches:
            self._matches[seq] = match(self.trace.arrays[seq], self.refs)
        return self._matches[seq]

    def neutral(self, seq: int) -> bool:
        """All zeros (a list being filled in) or not finite: says nothing about where the values went wrong."""
        array = self.trace.arrays[seq]
        return not np.any(array) or not np.all(np.isfinite(array))

    def ancestors(self, seqs: list[int]) -> set[int]:
        seen, todo = set(), list(seqs)
        while todo:
            seq = todo.pop()
            if seq not in seen:
                seen.add(seq)
                todo += self.trace.bindings[seq].reads
        return seen

    # the walk

    def culprit(self, wrong: dict[str, Intermediate], right: list[str]) -> Culprit | None:
        """The first line that produced a wrong array on the way to a wrong output."""
        trusted = self.ancestors([self.trace.result[p] for p in right if p in self.trace.result])
        found = []
        for path, expected in wrong.items():
            seq = self.trace.result.get(path)
            if seq is not None:
                m = self.match(seq)
                found.append(self._walk(seq, expected, m.form if m and not m.exact else None, trusted, set()))
        return min(found, key=lambda c: c.seq) if found else None

    def _walk(self, seq: int, expected: Intermediate | None, form: tuple | None, trusted: set[int],
              visited: set[int]) -> Culprit:
        visited.add(seq)
        for read in sorted(self.trace.bindings[seq].reads):
            if read in visited or read in trusted or self.neutral(read):
                continue
            m = self.match(read)
            if m is None:
                argument = self._right_helper(read, seq)
                if argument is None:
                    return self._walk(read, self._expected_for(read, expected), None, trusted, visited)
                if self.match(argument) is None and argument not in visited and argument not in trusted:
                    returned = self._expected_for(read, expected)  # what the helper should have returned
                    return self._walk(argument, self._expected_for(argument, returned), None, trusted, visited)
                continue  # a right helper given a right array in the wrong place: this line's doing
            if form is not None and m.form == form and m.ref.kind in COMPUTED:
                return self._walk(read, m.ref, form, trusted, visited)
        return Culprit(seq, expected)

    def _right_helper(self, read: int, consumer: int) -> int | None:
        """If `read` is the value a student helper returned and equals torch's function of the helper's argument,
        the helper is right: that argument (a note for the consumer's line says what the helper was given)."""
        frame = self.frame_of_return.get(read)
        if frame is None:
            return None
        got = self.trace.arrays[read]
        for arg in frame.args:
            given = self.trace.arrays[arg]
            if given.shape != got.shape:
                continue
            for name, fn in self.functions.items():
                try:
                    want = fn(given)
                except Exception:  # noqa: BLE001 - a function that does not apply to this array
                    continue
                if want.shape == got.shape and _close(got, want, max(float(np.max(np.abs(want))), 1e-300)):
                    arg_match = self.match(arg)
                    helper = frame.function.rsplit(".", 1)[-1]
                    given_text = arg_match.describe() if arg_match else "an array that is none of torch's"
                    note = f"`{helper}` computes {name} correctly, but is given {given_text}"
                    if arg_match is not None and arg_match.ref.kind == "a" and name.endswith("′"):
                        note += (f" where z{_sub(arg_match.ref.layer)} belongs (the derivative is taken at the "
                                 f"pre-activation)")
                    self.helper_notes[consumer] = note
                    return arg
        return None

    def _expected_for(self, seq: int, parent: Intermediate | None) -> Intermediate | None:
        """What an unmatched array read on the way to `parent` should have been: the ingredient of `parent` (or
        of its ingredients) of the same shape, the closest one if several."""
        if parent is None or parent.layer is None:
            return None
        array = self.trace.arrays[seq]
        direct = ingredients(parent.kind, parent.layer, self.n_layers, self.head)
        second = [k for kind, layer in direct if layer is not None
                  for k in ingredients(kind, layer, self.n_layers, self.head)]
        named = _named_kind(self.frame_of_return.get(seq))
        for keys in (direct, second):
            fitting = [o for o in map(self.by_kind.get, keys) if o is not None and o.kind in COMPUTED
                       and (o.array.shape == array.shape or o.array.T.shape == array.shape)]
            if fitting:
                return min(fitting, key=lambda o: (o.kind != named, _distance(array, o.array)))
        return None

    # saying it

    def explain(self, culprit: Culprit) -> tuple[str, str]:
        """(what the array is instead, why: the pattern) for the culprit's line."""
        seq, expected = culprit.seq, culprit.expected
        m = self.match(seq)
        found = "none of torch's intermediates" if m is None else m.describe()
        if seq in self.helper_notes:
            return found, self.helper_notes[seq]
        if m is not None and expected is not None and m.ref is expected and not m.exact:
            return found, _factor_words(m, expected, self.batch)
        if m is not None and expected is not None and m.exact and m.ref is not expected:
            missing = self._recipe_words(expected, {(m.ref.kind, m.ref.layer)})
            return found, missing if missing.startswith("it uses") else ""
        reads = [self.match(r) for r in self.trace.bindings[seq].reads if not self.neutral(r)]
        reads = [r for r in reads if r is not None]
        near = next((r for r in reads if expected is not None and r.ref is expected), None)
        if near is not None:
            return found, f"it reads {near.describe()}, which this line should turn into {expected.label}"
        words = self._recipe_words(expected, {(r.ref.kind, r.ref.layer) for r in reads})
        if not words and reads and expected is not None:
            words = (f"what it reads is right ({', '.join(dict.fromkeys(r.describe() for r in reads))}): the "
                     f"formula on this line is wrong")
        return found, words

    def _recipe_words(self, expected: Intermediate | None, have: set) -> str:
        """What of `expected`'s ingredients the line did not read, and what it read instead."""
        if expected is None or expected.layer is None:
            return ""
        want = ingredients(expected.kind, expected.layer, self.n_layers, self.head)
        for kind, layer in want:
            if (kind, layer) in have:
                continue
            parts = ingredients(kind, layer, self.n_layers, self.head) if layer is not None else []
            used = [p for p in parts if p in have]
            missing = [p for p in parts if p not in have]
            ingredient = self.by_kind.get((kind, layer))
            if ingredient is None:
                continue
            if used and missing:
                names = ", ".join(self._label(p) for p in missing)
                return (f"it uses {' and '.join(self._label(p) for p in used)} where {ingredient.meaning} belongs: "
                        f"{names} is missing")
            if not used:
                return f"{ingredient.label} is not used"
        return ""

    def _label(self, key: tuple) -> str:
        ref = self.by_kind.get(key)
        return ref.label if ref else str(key)

    def last_good(self, before: int) -> int | None:
        """The last array before `before` that is exactly one of torch's computed intermediates."""
        for seq in range(before - 1, -1, -1):
            m = self.match(seq)
            if m is not None and m.exact and m.ref.kind in COMPUTED:
                return seq
        return None


def _named_kind(frame: Frame | None) -> str | None:
    """What a helper's name says it returns: `sigmoid_prime`, `relu_derivative` a derivative; `softmax` an
    activation; `cost_derivative` ∂L/∂a."""
    if frame is None:
        return None
    name = frame.function.rsplit(".", 1)[-1].lower()
    if "cost" in name or "loss" in name:
        return "dL/da"
    if any(word in name for word in ("prime", "deriv", "grad", "backward")):
        return "fprime"
    if any(word in name for word in ("sigmoid", "relu", "tanh", "softmax", "activation")):
        return "a"
    return None


def _distance(array: np.ndarray, want: np.ndarray) -> float:
    want = want if want.shape == array.shape else want.T
    return float(np.max(np.abs(array - want)) / max(float(np.max(np.abs(want))), 1e-300))


def _sub(layer: int | None) -> str:
    return "" if layer is None else str(layer).translate(SUB)


def _factor_words(m: Match, expected: Intermediate, batch: int) -> str:
    """What a constant factor (or a transpose, or a per-row form) usually means."""
    if m.rowwise:
        return f"each row is {expected.label}'s row {'times' if m.rowwise == 'scale' else 'plus'} a constant of its own"
    words = {-1.0: "the sign is flipped", 2.0: "twice torch's: a factor 2 (the MSE cost's 1/2?) is not cancelled",
             0.5: "half of torch's"}
    if batch > 1:
        words.update({float(batch): f"the batch mean's 1/{batch} is missing: the samples are summed",
                      1 / batch: f"divided by the batch size ({batch}) once too often"})
    text = words.get(m.factor, "")
    if m.transposed:
        text = f"it is transposed{'; ' + text if text else ''}"
    return text


def locate(trace: Trace, refs: list[Intermediate], wrong: dict[str, Intermediate], right: list[str],
           functions: dict[str, Callable], head: str, n_layers: int) -> tuple[Source | None, str]:
    """(the culprit line as a Source, or None with the reason)."""
    if not trace.bindings:
        return None, trace.note or "the traced call recorded no arrays"
    blame = Blame(trace, refs, functions, head, n_layers)
    culprit = blame.culprit(wrong, right)
    if culprit is None:
        return None, "the traced call's result was not recorded" + (f" ({trace.note})" if trace.note else "")
    found, why = blame.explain(culprit)
    binding = trace.bindings[culprit.seq]
    frame = trace.frames[binding.frame]
    lines = trace.lines.get(file_key(frame.file, frame.cell), {})
    good = blame.last_good(culprit.seq)
    last_good = ""
    if good is not None:
        g = trace.bindings[good]
        g_frame = trace.frames[g.frame]
        g_code = trace.lines.get(file_key(g_frame.file, g_frame.cell), {}).get(g.line, "").strip()
        last_good = f"line {g.line} `{g_code}`: `{g.name}` is {blame.match(good).ref.meaning}"
    passes = {b.iteration for b in trace.bindings if b.frame == binding.frame and b.line == binding.line}
    name = binding.name if not binding.name.startswith("return") else "the value returned"
    source = Source(file=frame.file, function=frame.function, line=binding.line,
                    code=lines.get(binding.line, "").strip(), name=name,
                    expected=culprit.expected.meaning if culprit.expected else "one of torch's intermediates",
                    found=found, why=why, cell=frame.cell,
                    iteration=binding.iteration if len(passes) > 1 or binding.iteration else None,
                    last_good=last_good,
                    context=[SourceLine(n, lines[n]) for n in range(binding.line - 1, binding.line + 2) if n in lines])
    return source, trace.note
