"""The database's notion of an active entry is the state machine's."""

import re

from regula.waitlist.models import ACTIVE_STATUS_SQL
from regula.waitlist.states import ACTIVE_STATUSES


def test_active_statuses_in_sql_match_the_state_machine() -> None:
    in_sql = set(re.findall(r"'([a-z_]+)'", ACTIVE_STATUS_SQL))
    assert in_sql == {s.value for s in ACTIVE_STATUSES}
