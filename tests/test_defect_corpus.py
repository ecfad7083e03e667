"""The defect corpus (tests/students/defects): every entry fails first where its manifest says, on a value mismatch
(not a crash), and the tracer names its marked line (KNOWN_MISSES aside); every correct class passes; the
`# <- defect` markers are where marked_line finds them, and each defect is a single one: the marked line replaced by
its fix (manifest.FIXES) makes the class pass."""

import json
import warnings

import pytest

from crosscheck.student.runner import check_student
from tests.students.defects.manifest import ENTRIES, FIXES, MARKER, Entry, accepted_lines, marked_line, markers

IDS = [entry.name for entry in ENTRIES]


# Where the tool names another line than the marked one, and why (bench/bench_diagnosis.py prints the score): the
# defect stores a right array under a name that says otherwise, or stops a loop early; the tool names the line that
# first uses the stored array, or the line that made the zeros returned. Strict: a class that starts to pass here
# must leave this list.
KNOWN_MISSES = {
    "lab_layout.py:LabBeforeActAfterSigmoid": "before_act.append(x) after the sigmoid: it names sigmoid_prime(bef_act)",
    "nielsen_layout.py:NielsenZsAfterSigmoid": "zs.append(z) after the sigmoid: it names sigmoid_prime(zs[-1])",
    "lab_layout.py:DeepLoopStopsEarly": "the loop stops early: it names the zeros' line, 'nothing writes ∂L/∂b₀'",
}


def _first_failure(data, entry: Entry, ref: str | None = None, diagnose: bool = False):
    with warnings.catch_warnings():  # saturated sigmoids and the unstable softmaxes overflow: that is expected
        warnings.simplefilter("ignore", RuntimeWarning)
        # diagnose=False: which check fails first does not depend on the hints (checks.add_hint only adds one)
        run = check_student(ref or entry.ref, entry.task, **entry.options, data=data, epochs=1, steps=3,
                            isolate=False, diagnose=diagnose)
    (results,) = run.report.results.values()
    return run, next((r for r in results if r.scored and not r.passed), None)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_entry_fails_first_where_the_manifest_says_and_names_its_line(data, entry):
    run, first = _first_failure(data, entry, diagnose=True)
    if not entry.defective:
        assert run.passed and first is None, f"{entry.name} should pass: {first}"
        return
    assert first is not None, f"{entry.name} passed every check; expected {entry.check} to fail"
    assert (first.name, first.candidate_error) == (entry.check, None), (
        f"{entry.name}: first failure {first.name} ({first.candidate_error or first.message}), expected a value "
        f"mismatch in {entry.check}")
    assert not run.passed
    s = first.source
    assert s is not None, f"{entry.name}: no line named ({first.source_note})"
    named, accepted = (s.file, s.cell, s.line), accepted_lines(entry)
    if entry.name in KNOWN_MISSES:
        assert named not in accepted, f"{entry.name} now names its line: take it out of KNOWN_MISSES"
    else:
        assert named in accepted, f"{entry.name}: named {named} `{s.code}` ({s.why}), marked {accepted}"
    assert s.code and s.expected and s.context and any(c.number == s.line for c in s.context)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_marked_line(entry):
    if not entry.defective:
        assert markers(entry) == []
        with pytest.raises(LookupError):
            marked_line(entry)
        return
    file, cell, line = marked_line(entry)
    assert file == entry.file and (cell is None) == entry.file.endswith(".py") and line >= 1


def _fixed_copy(entry: Entry, folder) -> str:
    """The entry's file with its marked line replaced by the fix (same indentation), written to folder: its ref."""
    file, cell, line = marked_line(entry)

    def fix(text: str) -> str:
        lines = text.splitlines()
        old = lines[line - 1]
        lines[line - 1] = old[:len(old) - len(old.lstrip())] + entry.fix
        return "\n".join(lines) + "\n"

    if cell is None:
        (folder / file).write_text(fix(entry.path.read_text()))
    else:
        notebook = json.loads(entry.path.read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        source = code[cell - 1]["source"]
        code[cell - 1]["source"] = fix("".join(source) if isinstance(source, list) else source)
        (folder / file).write_text(json.dumps(notebook))
    return f"{folder / file}:{entry.cls}"


DEFECTS = [entry for entry in ENTRIES if entry.defective]


@pytest.mark.parametrize("entry", DEFECTS, ids=[entry.name for entry in DEFECTS])
def test_fixing_the_marked_line_makes_the_class_pass(data, entry, tmp_path):
    assert entry.fix, f"{entry.name} has no fix in manifest.FIXES"
    run, first = _first_failure(data, entry, _fixed_copy(entry, tmp_path))
    assert run.passed and first is None, f"{entry.name} with its marked line fixed still fails: {first}"


def test_corpus_shape():
    """At least the brief's counts, each class listed once, every check named is forward or gradients."""
    def count(file, defective=True):
        return sum(e.file == file and e.defective == defective for e in ENTRIES)

    assert count("lab_layout.py") >= 22 and count("nielsen_layout.py") >= 8 and count("lab_notebook.ipynb") >= 3
    assert count("correct.py", defective=False) >= 6
    assert len({e.name for e in ENTRIES}) == len(ENTRIES)
    assert {e.check for e in ENTRIES} == {"forward", "gradients", "updates", None}
    assert {e.layout for e in ENTRIES} == {"lab", "nielsen"}
    assert set(FIXES) == {e.name for e in ENTRIES if e.defective}


def test_every_marker_in_the_corpus_belongs_to_an_entry():
    """A stray marker (a class left out of the manifest, a second marker in a shared helper) would be one no
    entry accounts for."""
    from tests.students.defects.manifest import HERE, _units

    claimed = {m for e in ENTRIES for m in markers(e)}
    present = {(path.name, unit.cell, i) for path in sorted(HERE.glob("*")) if path.suffix in (".py", ".ipynb")
               and path.name not in ("manifest.py", "make_notebook.py") for unit in _units(path)
               for i, text in enumerate(unit.lines, start=1) if text.rstrip().endswith(MARKER)}
    assert present == claimed


def test_the_notebook_is_what_the_generator_writes():
    import nbformat
    from tests.students.defects import make_notebook

    written = nbformat.read(make_notebook.NOTEBOOK, as_version=4)
    assert written == make_notebook.build()
