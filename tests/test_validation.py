"""The common checks: each accepts what it names, refuses a bool as a number, and fails as one line naming the
setting, the bad value and what is accepted."""

import math

import numpy as np
import pytest

from siren_inr.errors import SirenInrError
from siren_inr.validation import (check_choice, check_flag, check_fraction, check_int, check_number,
                                  check_positive_int, check_positive_number)


@pytest.mark.parametrize(("check", "value", "message"), [
    (lambda v: check_positive_int("num_epochs", v, 10), 0, "num_epochs=0; accepted: a positive integer up to 10"),
    (lambda v: check_positive_int("num_epochs", v), True, "num_epochs=True; accepted: a positive integer"),
    (lambda v: check_positive_int("n", v, optional=True), 2.0, "n=2.0; accepted: null or a positive integer"),
    (lambda v: check_int("seed", v, 0, 9), -1, "seed=-1; accepted: an integer from 0 to 9"),
    (lambda v: check_int("qat_steps", v, 0), "3", "qat_steps='3'; accepted: an integer >= 0"),
    (lambda v: check_positive_number("optim.lr", v), math.nan, "optim.lr=nan; accepted: a positive finite number"),
    (lambda v: check_positive_number("optim.lr", v), False, "optim.lr=False; accepted: a positive finite number"),
    (lambda v: check_number("optim.lr_min", v, 0), -1.0, "optim.lr_min=-1.0; accepted: a finite number >= 0"),
    (lambda v: check_number("omega", v, 0, 1000, low_open=True), 0, "omega=0; accepted: a number in (0, 1000]"),
    (lambda v: check_fraction("share", v), 1.5, "share=1.5; accepted: a number from 0 to 1"),
    (lambda v: check_choice("progress", v, ("auto", "none")), "bar", "progress='bar'; accepted: auto, none"),
    (lambda v: check_choice("levels", v, (1, 2)), True, "levels=True; accepted: 1, 2"),
    (lambda v: check_flag("track", v), "maybe", "track='maybe'; accepted: true or false"),
])
def test_a_bad_value_is_one_line_naming_the_setting_and_what_is_accepted(check, value, message):
    with pytest.raises(SirenInrError) as caught:
        check(value)
    assert str(caught.value) == message


def test_good_values_are_returned_as_given():
    assert check_positive_int("n", np.int64(3)) == 3
    assert check_positive_int("n", None, optional=True) is None
    assert check_int("n", 0, 0) == 0
    assert check_positive_number("lr", 1) == 1
    assert check_fraction("share", 0.0) == 0.0
    assert check_choice("mode", "fp16", ("uniform", "fp16")) == "fp16"
    assert check_flag("batch_images", None, optional=True) is None
