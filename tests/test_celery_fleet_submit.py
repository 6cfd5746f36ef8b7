"""The bookkeeping of roles/controller/files/celery_fleet_submit.py: which messages the broker's acks confirm.
submit() itself runs against the real broker in molecule/default (the client's large batch)."""

import pytest
from role_code import load

submit = load("roles/controller/files/celery_fleet_submit.py")


def sent(count: int):
    confirms = submit._Confirms()
    for _ in range(count):
        confirms.published()
    return confirms


def test_one_ack_with_multiple_confirms_every_message_up_to_its_tag():
    confirms = sent(5)
    confirms.ack(3, True)
    assert (confirms.confirmed, list(confirms.waiting)) == (3, [4, 5])
    confirms.ack(5, True)
    assert (confirms.confirmed, len(confirms.waiting)) == (5, 0)


def test_single_acks_out_of_order_confirm_only_an_unbroken_run_from_the_first():
    confirms = sent(4)
    confirms.ack(2, False)
    confirms.ack(4, False)
    assert confirms.confirmed == 0
    confirms.ack(1, False)
    assert (confirms.confirmed, list(confirms.waiting)) == (2, [3, 4])
    confirms.ack(3, False)
    assert (confirms.confirmed, confirms.acked_out_of_order) == (4, set())


@pytest.mark.parametrize(("tag", "multiple", "refused"), [(3, False, 3), (3, True, 2)])
def test_a_nack_names_the_first_message_refused(tag, multiple, refused):
    confirms = sent(4)
    confirms.ack(1, True)
    confirms.nack(tag, multiple)
    assert confirms.refused == refused


def test_the_error_says_how_many_from_the_first_are_queued():
    error = submit.SubmitError("the broker refused message 7", 6)
    assert error.confirmed == 6 and "6 confirmed" in str(error)
