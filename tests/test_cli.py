"""The command line's own contract: one line per usage error, exit 2; one report entry per run."""

import pytest

from crosscheck.cli import main
from crosscheck.spec import MODELS, Spec, run_keys


def test_each_seed_and_lr_gets_its_own_report_entry():
    base = MODELS["softmax-ce"]
    runs = [base.replace(lr=lr, seed=seed) for lr in (0.1, 1.0) for seed in (0, 1)]
    assert run_keys(runs) == ["softmax-ce@lr=0.1,seed=0", "softmax-ce@lr=0.1,seed=1",
                              "softmax-ce@lr=1,seed=0", "softmax-ce@lr=1,seed=1"]
    assert run_keys([base.replace(seed=0), base.replace(seed=1)]) == ["softmax-ce@seed=0", "softmax-ce@seed=1"]
    assert run_keys([base, MODELS["adamw"]]) == ["softmax-ce", "adamw"]


@pytest.mark.parametrize("argv, words", [
    (["--task", "1", "--bogus"], "unrecognized arguments: --bogus"),
    (["--task", "1", "--lr", "abc"], "expected comma-separated numbers"),
    (["--task", "1", "--head", "foo"], "invalid choice: 'foo'"),
    (["--task", "1", "--lr", "0.1,0.1"], "--lr lists a value twice"),
    (["--task", "1", "--seeds", "2,2"], "--seeds lists a value twice"),
    (["--task", "1", "--data", "embedded", "--lr", "inf"], "Invalid lr value: inf (expected a finite number > 0)"),
    (["--task", "1", "--data", "embedded", "--seeds", "-1"], "Invalid seed value: -1"),
    (["--task", "1", "--data", "embedded", "--batch-size", "6000"],
     "Invalid batch_size value: 6000 is larger than the 4000 training samples"),
    (["--task", "2", "--data", "embedded", "--sweep", "--batch-size", "6000"], "larger than the 4000 training"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, words, capsys):
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors exit from inside parse_args
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and words in err
    assert err.count("\n") == 1 and err.startswith("compare.py: error: "), err


def test_a_report_path_that_cannot_be_written_stops_before_any_work(tmp_path, capsys):
    assert main(["--task", "1", "--json", str(tmp_path)]) == 2
    assert main(["--task", "1", "--plot", str(tmp_path / "missing" / "c.png")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"compare.py: error: cannot write {tmp_path}: it is a directory",
                   f"compare.py: error: cannot write {tmp_path}/missing/c.png: no such directory {tmp_path}/missing"]


def test_a_value_the_spec_refuses_is_a_usage_error(monkeypatch, capsys):
    def refuse(self, **changes):  # what Spec's own validation raises for a bad value
        raise ValueError("batch_size must be positive, got 0")
    monkeypatch.setattr(Spec, "replace", refuse)
    assert main(["--task", "1", "--data", "embedded", "--no-progress"]) == 2
    assert capsys.readouterr().err == "compare.py: error: batch_size must be positive, got 0\n"
