"""The tolerance with which nbval compares the smoke copies' numbers (tests/nbval_numbers.py)."""

import nbformat
from nbval.plugin import IPyNbCell

import nbval_numbers
from nbval_numbers import same_within_tolerance


def test_numbers_that_differ_between_machines_read_as_the_same():
    assert same_within_tolerance("autoencoder 1.3729 (epoch 2 of 2)", "autoencoder 1.3727 (epoch 2 of 2)")
    assert same_within_tolerance("| 6.36 | 47.69 | 1.33 |", "| 6.35 | 47.75 | 1.33 |")
    assert same_within_tolerance("within +0.82  between -0.28", "within +0.83  between -0.29")


def test_other_numbers_counts_and_text_do_not():
    assert not same_within_tolerance("vertex 6.36 mm", "vertex 6.52 mm")  # 2.5 %
    assert not same_within_tolerance("identified 0.65", "identified 0.70")
    assert not same_within_tolerance("(epoch 2 of 2)", "(epoch 3 of 2)")  # integers exactly
    assert not same_within_tolerance("2 captures", "2.0 captures")
    assert not same_within_tolerance("encoder 5.47 mm", "decoder 5.47 mm")
    assert not same_within_tolerance("a 1.00 b", "a 1.00 b 2.00")


def test_nbval_compares_through_the_tolerance():
    nbval_numbers.install()  # conftest installs it too; twice is once
    assert getattr(IPyNbCell.compare_outputs, "_tolerant", False)
    ref = [nbformat.v4.new_output("stream", name="stdout", text="loss 1.3729\n")]
    close = [nbformat.v4.new_output("stream", name="stdout", text="loss 1.3727\n")]
    far = [nbformat.v4.new_output("stream", name="stdout", text="loss 1.5000\n")]
    nbval_numbers.align(close, ref)
    nbval_numbers.align(far, ref)
    assert close[0]["text"] == "loss 1.3729\n" and far[0]["text"] == "loss 1.5000\n"
