"""Point at the line: where in a traced call (crosscheck.student.tracer) the failing value first went wrong.

Every array the student's code produced is matched against torch's intermediates of the same call
(crosscheck.intermediates): exactly, transposed, by one constant factor, or per row (only z and a: the steps of a
softmax). Then each failing output is followed back through the data-flow graph the trace recorded, from a wrong
array to the arrays its line read, while one of them is wrong too; the line where that stops read only right
arrays and made a wrong one. Of several failing outputs, the culprit executed first is named. Around that walk:
- an array that also flows into an output that is right is the student's own convention (a delta kept B times
  larger and divided at the end), never a culprit; a wrong output that is a right factor of its intermediate
  (100 × ∂L/∂b) is followed to where the factor appears;
- a value a student's helper returned that is torch's function (sigmoid, its derivative, softmax, (a − y)/B) of
  the helper's argument: a helper named for that function, or right on another call, is right, so its call (given
  the wrong array) is the culprit; otherwise, given the right array, the helper computes the wrong function;
- a line that reads an array an earlier line changed in place, destroying a value it needs: that earlier line;
- a right intermediate returned where another belongs: the line that stored or returned it there.
The recipes of crosscheck.intermediates (what each intermediate is made of) then say what the culprit line left
out or used in the wrong place.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
import numpy as np

from crosscheck.intermediates import Function, Intermediate, ingredients
from crosscheck.results import Source, SourceLine
from crosscheck.student.tracer import Binding, Frame, Trace, file_key
from crosscheck.tolerances import TOL

# max|a − r| / max|r| under which an array is torch's intermediate: the gradients check's own tolerance (the worst
# round-off it measured is at lr 10, where a failing lockstep step may be traced); in the corpus the right arrays
# are within 3.7e-14 and the nearest other is 9.9e-5 (bench/bench_diagnosis.py --lines-only measures both)
MATCH_RTOL = TOL["gradients"].rtol
INNER = {"<listcomp>": "a list comprehension", "<genexpr>": "a generator expression", "<lambda>": "a lambda",
         "<dictcomp>": "a dict comprehension", "<setcomp>": "a set comprehension"}
INPUTS = {"x", "y", "W", "b"}  # what a call is given; every other intermediate is computed by some line
PER_SAMPLE = {"x", "y", "z", "a", "fprime", "dL/da", "delta"}  # a batch's rows: one sample each


@dataclass(frozen=True)
class Match:
    """An array is `factor` x `ref` (transposed, or up to a per-row "scale" or "shift" where said:
    the steps of a softmax, so only z and a are matched per row)."""

    ref: Intermediate
    factor: float = 1.0
    transposed: bool = False
    rowwise: str = ""
    sample: int | None = None  # the array is this row of a batch intermediate (code that loops over the samples)

    @property
    def exact(self) -> bool:
        return self.factor == 1.0 and not self.transposed and not self.rowwise and self.sample is None

    @property
    def form(self) -> tuple:
        return (round(self.factor, 9), self.transposed, self.rowwise, self.sample is not None)

    def describe(self) -> str:
        if self.rowwise:
            return f"{self.ref.label} up to a per-row {self.rowwise}"
        text = self.ref.label + (" transposed" if self.transposed else "")
        text += f" of sample {self.sample}" if self.sample is not None else ""
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
        if not found and ref.kind in PER_SAMPLE and _vector(array) and min(ref.array.shape) > 1:
            sample = _sample(array.ravel(), ref)
            if sample is not None:
                found.append((6, sample))
    return min(found, key=lambda f: f[0])[1] if found else None


def _sample(vector: np.ndarray, ref: Intermediate) -> Match | None:
    """A vector that is one sample's row of a batch intermediate (B, n), or a constant factor of it."""
    rows = ref.array
    if rows.shape[1] != vector.size or not np.all(np.isfinite(vector)):
        return None
    norms = np.einsum("ij,ij->i", rows, rows)
    factors = np.where(norms > 0, rows @ vector / np.where(norms > 0, norms, 1), 0.0)
    errors = np.max(np.abs(vector[None, :] - factors[:, None] * rows), axis=1)
    scales = np.abs(factors) * np.max(np.abs(rows), axis=1)
    good = np.flatnonzero((scales > 0) & (errors <= MATCH_RTOL * scales))
    if not good.size:
        return None
    exact = [i for i in good if abs(factors[i] - 1) <= 1e-9]
    i = int(exact[0] if exact else good[0])
    return Match(ref, 1.0 if exact else _nice(float(factors[i])), sample=i)


def _fits(array: np.ndarray, want: np.ndarray) -> bool:
    """Could `array` be `want`: its shape, transposed, or one sample's row of it."""
    return array.shape in (want.shape, want.T.shape) or _row_of(array, want)


def _row_of(array: np.ndarray, want: np.ndarray) -> bool:
    return _vector(array) and want.ndim == 2 and min(want.shape) > 1 and array.size == want.shape[1]


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
    """The binding whose line went wrong; or, where a right array is put in the wrong place, the line that put it
    there (`frame`, `line`, `name` then say which)."""

    seq: int
    expected: Intermediate | None
    frame: int | None = None
    line: int | None = None
    name: str = ""
    why: str = ""  # what the rule that found it saw (a helper's misuse, an in-place change); else from the recipes


class Blame:
    """The analysis of one trace against torch's intermediates of the same call."""

    def __init__(self, trace: Trace, refs: list[Intermediate], functions: list[Function], head: str,
                 n_layers: int, batch: int, lr: float = 0.0):
        self.trace, self.refs, self.functions, self.head, self.n_layers = trace, refs, functions, head, n_layers
        self.by_kind = {(r.kind, r.layer): r for r in refs}
        self.batch = batch  # the call's samples: a factor of it is a sum where a mean belongs
        self.lr = lr  # an update's learning rate: the velocity form keeps −lr × torch's momentum buffer
        self.head_function = "softmax" if head == "ce" else "sigmoid"
        self._matches: dict[int, Match | None] = {}
        self.returned_by: dict[int, list[Frame]] = {}  # the calls that returned each binding, outermost first
        for f in trace.frames:
            for seq in f.returned:
                self.returned_by.setdefault(seq, []).append(f)

    def match(self, seq: int) -> Match | None:
        """The array's match. In an update, a gradient, a momentum buffer, a step or a parameter only as itself or
        ± lr times itself (the velocity form keeps v = −lr·b): another factor of them is a wrong value, not a
        convention; Adam's moments and Adagrad's sums may take any (their bias corrections)."""
        if seq not in self._matches:
            m = match(self.trace.arrays[seq], self.refs)
            if m is not None and self.lr and _plain(m.ref.kind) and not any(
                    abs(m.factor - f) <= 1e-9 * abs(f) for f in (1.0, -1.0, self.lr, -self.lr)):
                m = None
            self._matches[seq] = m
        return self._matches[seq]

    def neutral(self, seq: int) -> bool:
        """All zeros (a list being filled in): says nothing about where the values went wrong."""
        return not np.any(self.trace.arrays[seq])

    def ancestors(self, seqs: list[int]) -> set[int]:
        """Every binding these were made from, transitively."""
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
            if seq is None:
                continue
            m = self.match(seq)
            if m is not None and m.exact and m.ref is not expected and m.ref.kind not in INPUTS:
                found.append(self._misplaced(seq, expected))
            elif m is None:
                found.append(self._enter(seq, expected, trusted, set(), consumer=0))
            else:
                form = m.form if not m.exact and not m.rowwise else None
                found.append(self._walk(seq, expected, form, trusted, set()))
        return min(found, key=lambda c: (c.seq, c.expected is None)) if found else None

    def _misplaced(self, seq: int, expected: Intermediate) -> Culprit:
        """A right intermediate returned where another belongs (`return z` for the output, `nabla_b[-1] = delta`
        with delta ∂L/∂a, a list returned out of order): the line that stored it in the slot of `expected`'s layer
        (`nabla_b[1]`), else the line that returned it."""
        stores = [(f, line, name) for f, line, name, s in self.trace.stores
                  if s == seq and name.endswith(f"[{expected.layer}]")]
        if stores:
            frame, line, name = stores[0]
            return Culprit(seq, expected, frame, line, name)
        return Culprit(seq, expected, 0, self.trace.frames[0].return_line, "the value returned")

    def _walk(self, seq: int, expected: Intermediate | None, form: tuple | None, trusted: set[int],
              visited: set[int]) -> Culprit:
        """From a wrong binding to the first wrong array it read; itself if all it read is right."""
        visited.add(seq)
        binding = self.trace.bindings[seq]
        for read in sorted(binding.reads):
            if read in visited or read in trusted or self.neutral(read):
                continue
            earlier = self.trace.bindings[read]
            if (earlier.frame, earlier.line) == (binding.frame, binding.line):  # an earlier pass (a sum over a loop)
                return self._walk(read, expected, form, trusted, visited)
            m = self.match(read)
            if m is None:
                consumer = self.trace.bindings[seq].frame
                return self._enter(read, self._expected_for(read, expected, consumer), trusted, visited, consumer)
            if form is not None and m.form == form and m.ref.kind not in INPUTS:
                return self._walk(read, m.ref, form, trusted, visited)
        return self._clobbered(seq, expected) or self._given_wrong(seq, expected) or Culprit(seq, expected)

    def _recipe(self, expected: Intermediate) -> list[tuple]:
        """What `expected` is made of, two levels down, in the chain rule's order (no set: the first fitting one
        named must not depend on hashing)."""
        direct = ingredients(expected.kind, expected.layer, self.n_layers, self.head)
        deeper = [k for kind, layer in direct if layer is not None for k in ingredients(kind, layer, self.n_layers,
                                                                                        self.head)]
        return list(dict.fromkeys(direct + deeper))

    def _clobbered(self, seq: int, expected: Intermediate | None) -> Culprit | None:
        """The line read an array that an earlier line changed in place (`sp = a1; sp *= 1 - a1`), destroying a
        value `expected` is made of: that earlier line is the culprit."""
        if expected is None or expected.layer is None:
            return None
        recipe = self._recipe(expected)
        for read in self.trace.bindings[seq].reads:
            before = self.trace.bindings[read].replaced
            if before is None:
                continue
            was, now = self.match(before), self.match(read)
            if (was is not None and was.exact and (was.ref.kind, was.ref.layer) in recipe
                    and not (now is not None and now.exact and (now.ref.kind, now.ref.layer) in recipe)):
                return Culprit(read, was.ref, why=(
                    f"this changes in place the array that held {was.ref.label} (it becomes "
                    f"{now.describe() if now else 'none of torch’s intermediates'}); line "
                    f"{self.trace.bindings[seq].line} then reads it where {was.ref.label} belongs"))
        return None

    def _enter(self, seq: int, expected: Intermediate | None, trusted: set[int], visited: set[int],
               consumer: int) -> Culprit:
        """A wrong binding read in frame `consumer`: if a helper returned it and it is torch's function of the
        helper's argument, the helper's body is not where it went wrong (unless the function is the wrong one)."""
        found = self._helper(seq, consumer)
        if found is None:
            return self._walk(seq, expected, None, trusted, visited)
        frame, function, argument = found
        function_name = function.name
        if self.match(argument) is None and argument not in visited | trusted and not self.neutral(argument):
            return self._enter(argument, self._expected_for(argument, expected), trusted, visited,
                               self.trace.bindings[argument].frame)
        given, helper = self.match(argument), _short(frame)
        given_text = given.describe() if given else "an array that is none of torch's"
        right_input = given is not None and self._made_of(expected, given.ref)
        inside = (frame.serial, frame.return_line, "the value returned")
        if right_input and not self._trusted(frame, function):  # the right array, the wrong function
            return Culprit(seq, expected, *inside, why=f"`{helper}` computes {function.name}({given_text}), but "
                                                         f"{expected.meaning}")
        instead = self._instead(given, expected)
        if instead and any((m := self.match(a)) is not None and m.exact and m.ref is instead for a in frame.args):
            return Culprit(seq, expected, *inside, why=f"`{helper}` is given {instead.label} too, but uses "
                                                         f"{given_text} where {instead.label} belongs")
        if right_input:
            why = f"`{helper}` computes {function.name}({given_text}) correctly, but {expected.meaning}: the wrong " \
                  f"function is called here"
        else:
            why = f"`{helper}` computes {function.name} correctly, but is given {given_text}" + (
                f" where {instead.label} belongs" if instead else "")
        return self._called(seq, expected, frame, why)

    def _called(self, seq: int, expected: Intermediate | None, frame: Frame, why: str) -> Culprit:
        """The line that called the helper `frame` (its own line where the caller is not the student's)."""
        if frame.parent is None or frame.call_line is None:
            return Culprit(seq, expected, why=why)
        return Culprit(seq, expected, frame.parent, frame.call_line, f"{_short(frame)}(…)", why)

    def _made_of(self, expected: Intermediate | None, ref: Intermediate) -> bool:
        """Is `ref` one of the ingredients `expected` is made of directly?"""
        return (expected is not None and expected.layer is not None
                and (ref.kind, ref.layer) in ingredients(expected.kind, expected.layer, self.n_layers, self.head))

    def helper_of(self, seq: int, consumer: int | None) -> Frame | None:
        """The call that handed `seq` to frame `consumer` (its return value), if a student helper did."""
        return next((f for f in self.returned_by.get(seq, []) if f.parent == consumer), None)

    def _helper(self, seq: int, consumer: int) -> tuple[Frame, Function, int] | None:
        """(the helper, the function it computed, its argument) when `seq` is what a student helper returned to
        `consumer` and equals torch's function (sigmoid, its derivative, softmax, ...) of one of its arguments."""
        frame = self.helper_of(seq, consumer)
        if frame is None:
            return None
        got = self.trace.arrays[seq]
        args = [a for a in frame.args if self.trace.arrays[a].shape == got.shape]
        for function in self.functions:
            for chosen in itertools.permutations(args, function.arity):
                try:
                    want = function.fn(*(self.trace.arrays[a] for a in chosen))
                except Exception:  # noqa: BLE001 - a function that does not apply to these arrays
                    continue
                if want.shape == got.shape and _close(got, want, max(float(np.max(np.abs(want))), 1e-300)):
                    return frame, function, chosen[0]
        return None

    def _trusted(self, frame: Frame, function: Function) -> bool:
        """A helper is right if it is named for what it computes (`relu`, `sigmoid_prime`, `cost_derivative`), if
        it is named for the output layer and computes the head's function (`output(z)` used on a hidden layer), or
        if another of its calls returned exactly one of torch's intermediates."""
        name = _short(frame).lower()
        if all(any(word in name for word in group) for group in function.named):
            return True
        if "output" in name and function.name == self.head_function:
            return True
        for other in self.trace.frames:
            if other.function == frame.function and other.serial != frame.serial:
                for seq in other.returned:
                    m = self.match(seq)
                    if m is not None and m.exact and m.ref.kind not in INPUTS:
                        return True
        return False

    def _instead(self, given: Match | None, expected: Intermediate | None, keys: list | None = None,
                 read: set = frozenset()) -> Intermediate | None:
        """The computed ingredient of `expected` (of `keys`, by default its direct ones) that an array of `given`'s
        shape should have been: not `given`'s own, nor one in `read`."""
        if given is None or expected is None or expected.layer is None:
            return None
        for key in ingredients(expected.kind, expected.layer, self.n_layers, self.head) if keys is None else keys:
            ref = self.by_kind.get(key)
            if (ref is not None and ref is not given.ref and key not in read and ref.kind not in INPUTS
                    and ref.array.shape == given.ref.array.shape):
                return ref
        return None

    def _given_wrong(self, seq: int, expected: Intermediate | None) -> Culprit | None:
        """A wrong value a helper returns, made only of the helper's arguments, one of them a right intermediate
        that `expected` is not made of: the helper was given the wrong array, so its call is the culprit."""
        binding = self.trace.bindings[seq]
        frame = self.trace.frames[binding.frame]
        if (expected is None or expected.layer is None or frame.parent is None or frame.call_line is None
                or seq not in frame.returned or not binding.reads or not set(binding.reads) <= set(frame.args)):
            return None
        recipe = self._recipe(expected)
        read_kinds = {(m.ref.kind, m.ref.layer) for m in map(self.match, binding.reads) if m is not None}
        for read in binding.reads:
            m = self.match(read)
            if m is not None and m.exact and m.ref.kind not in INPUTS and (m.ref.kind, m.ref.layer) not in recipe:
                instead = self._instead(m, expected, recipe, read_kinds)
                return self._called(seq, expected, frame, f"`{_short(frame)}` is given {m.ref.label}" + (
                    f" where {instead.label} belongs" if instead else f", which {expected.label} is not made of"))
        return None

    def _expected_for(self, seq: int, parent: Intermediate | None, consumer: int | None = None
                      ) -> Intermediate | None:
        """What an unmatched array read on the way to `parent` should have been: the ingredient of `parent` (or
        of its ingredients) of the same shape, the closest one if several."""
        if parent is None or parent.layer is None:
            return None
        array = self.trace.arrays[seq]
        direct = ingredients(parent.kind, parent.layer, self.n_layers, self.head)
        if parent.kind in ("dW", "db") and array.shape == parent.array.shape and not any(
                ref is not None and array.shape in (ref.array.shape, ref.array.T.shape)
                for ref in map(self.by_kind.get, direct)):  # a partial sum of the same gradient (over samples)
            return parent
        second = [k for kind, layer in direct if layer is not None
                  for k in ingredients(kind, layer, self.n_layers, self.head)]
        named = _named_kind(self.helper_of(seq, consumer))
        fitting = [[o for o in map(self.by_kind.get, keys) if o is not None and o.kind not in INPUTS
                    and _fits(array, o.array)] for keys in (direct, second)]
        by_name = [o for o in fitting[0] + fitting[1] if o.kind == named]
        if by_name:  # a helper named for what it returns (`sigmoid_prime`): that, at either level
            return by_name[0]
        options = fitting[0] or fitting[1]
        return min(options, key=lambda o: _distance(array, o.array)) if options else None

    # saying it

    def explain(self, culprit: Culprit) -> tuple[str, str]:
        """(what the array is instead, why: the pattern) for the culprit's line."""
        seq, expected = culprit.seq, culprit.expected
        m = self.match(seq)
        found = "none of torch's intermediates" if m is None else m.describe()
        if self.neutral(seq) and expected is not None:
            return "all zeros", (f"nothing after this line writes {expected.label} into it (does a loop stop early, "
                                 f"or skip a layer?)")
        if culprit.why:
            return found, culprit.why
        if m is not None and expected is not None and m.ref is expected and not m.exact:
            return found, _factor_words(m, expected, self.batch)
        if m is not None and expected is not None and m.exact and m.ref is not expected:
            if m.ref.kind == expected.kind:
                return found, f"it is {m.ref.label}, in the place of {expected.label}: the layers are out of order"
            missing = self._recipe_words(expected, {(m.ref.kind, m.ref.layer)})
            if missing.startswith("it uses"):
                return found, missing
            return found, f"{m.ref.label} is taken for {expected.label}: the step from one to the other is missing"
        reads = [self.match(r) for r in self.trace.bindings[seq].reads if not self.neutral(r)]
        reads = [r for r in reads if r is not None]
        near = next((r for r in reads if expected is not None and r.ref is expected), None)
        if near is not None and near.exact:
            return found, f"{expected.label} is what it reads already: this line should leave it as it is"
        if near is not None:
            return found, f"it reads {near.describe()}, which this line should turn into {expected.label}"
        words = self._recipe_words(expected, {(r.ref.kind, r.ref.layer) for r in reads})
        if not words and reads and expected is not None:
            words = (f"what it reads is right ({', '.join(dict.fromkeys(r.describe() for r in reads))}): the "
                     f"formula on this line is wrong")
        return found, words

    def _recipe_words(self, expected: Intermediate | None, have: set) -> str:
        """What of `expected`'s ingredients the line did not read, and what it read instead (an optimizer's
        ingredients are alternatives, not all needed: nothing is said of them)."""
        if expected is None or expected.layer is None or _updating(expected.kind):
            return ""
        want = ingredients(expected.kind, expected.layer, self.n_layers, self.head)
        for kind, layer in want:
            if (kind, layer) in have:
                continue
            parts = [k for k in (ingredients(kind, layer, self.n_layers, self.head) if layer is not None else [])
                     if k in self.by_kind]
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
            if m is not None and m.exact and m.ref.kind not in INPUTS:
                return seq
        return None


def _shown_name(trace: Trace, binding: Binding) -> str:
    """The array's name in the student's code: a value a helper or comprehension returned is named by what it was
    stored as (`nabla_b[0]`), where that is known."""
    if not binding.name.startswith("return"):
        return binding.name
    stored = [name for f, _, name, seq in trace.stores if seq == binding.seq and f != binding.frame]
    return stored[0] if stored else "the value returned"


def _updating(kind: str) -> bool:
    """An optimizer's intermediate: its state (W:exp_avg), its step (ΔW) or the parameter after it (W+)."""
    return ":" in kind or kind.startswith("Δ") or kind.endswith("+")


def _plain(kind: str) -> bool:
    """In an update, an intermediate no factor but ± lr may scale (see Blame.match)."""
    return kind in ("dW", "db") or kind.endswith(("momentum_buffer", "momentum_buffer-", "+")) or kind.startswith("Δ")


def _short(frame: Frame) -> str:
    return frame.function.rsplit(".", 1)[-1]


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
    """max|a − w| / max|w|; for one sample's row, to the nearest row."""
    scale = max(float(np.max(np.abs(want))), 1e-300)
    if _row_of(array, want) and array.shape not in (want.shape, want.T.shape):
        return float(np.min(np.max(np.abs(want - array.ravel()), axis=1))) / scale
    want = want if want.shape == array.shape else want.T
    return float(np.max(np.abs(array - want))) / scale


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
           functions: list[Function], head: str, n_layers: int, batch: int, lr: float = 0.0
           ) -> tuple[Source | None, str]:
    """(the culprit line as a Source, or None with the reason)."""
    if not trace.bindings:
        return None, trace.note or "the traced call recorded no arrays"
    blame = Blame(trace, refs, functions, head, n_layers, batch, lr)
    culprit = blame.culprit(wrong, right)
    if culprit is None:
        return None, "the traced call's result was not recorded" + (f" ({trace.note})" if trace.note else "")
    if culprit.seq in trace.frames[0].args and culprit.line is None:  # what the call was given, unchanged
        return None, ("the trace stopped before the call's result was recorded" + (f" ({trace.note})" if trace.note
                                                                                  else ""))
    found, why = blame.explain(culprit)
    binding = trace.bindings[culprit.seq]
    frame = trace.frames[binding.frame if culprit.frame is None else culprit.frame]
    line = binding.line if culprit.line is None else culprit.line
    lines = trace.lines.get(file_key(frame.file, frame.cell), {})
    good = blame.last_good(culprit.seq)
    last_good = ""
    if good is not None:
        g = trace.bindings[good]
        g_frame = trace.frames[g.frame]
        g_code = trace.lines.get(file_key(g_frame.file, g_frame.cell), {}).get(g.line, "").strip()
        g_name = "its value" if g.name.startswith("return") else f"`{g.name}`"
        same_place = (g_frame.file, g_frame.cell) == (frame.file, frame.cell)
        g_place = (f"line {g.line}" if same_place
                   else Source(g_frame.file, "", g.line, "", "", "", cell=g_frame.cell).place)
        last_good = f"{g_place} `{g_code}`: {g_name} is {blame.match(good).ref.meaning}"
    passes = {b.iteration for b in trace.bindings if b.frame == binding.frame and b.line == binding.line}
    name = culprit.name or _shown_name(trace, binding)
    iteration = binding.iteration if culprit.line is None and (len(passes) > 1 or binding.iteration) else None
    owner, _, inner = frame.function.rpartition(".<locals>.")
    function = f"{owner} (in {INNER[inner]})" if owner and inner in INNER else frame.function
    source = Source(file=frame.file, function=function, line=line,
                    code=lines.get(line, "").strip(), name=name,
                    expected=culprit.expected.meaning if culprit.expected else "one of torch's intermediates",
                    found=found, why=why, cell=frame.cell,
                    iteration=iteration, last_good=last_good,
                    context=[SourceLine(n, lines[n]) for n in range(line - 1, line + 2) if n in lines])
    return source, trace.note
