"""Which deferred tasks the plugin's listener cancels the remote run of (plugin/remote_cancel.py);
the listener at work, with the triggerer stopped, is in tests/integration/test_databricks_e2e.py."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from airflow.models.trigger import Trigger
from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger
from sqlalchemy import Column, Integer, create_engine
from sqlalchemy.orm import Session, declarative_base

from airflow_mlpipe.hooks.databricks import CALLER
from airflow_mlpipe.plugin.remote_cancel import _rebuilt, after_commit, cancel_remote_run, is_step_wait
from airflow_mlpipe.triggers.adla import AdlaJobTrigger


def databricks_wait(caller: str) -> DatabricksExecutionTrigger:
    return DatabricksExecutionTrigger(run_id=7, databricks_conn_id="mlpipe_databricks_x", caller=caller)


def test_the_waits_of_databricks_and_adla_steps_are_cancelled():
    step = Trigger.from_object(databricks_wait(CALLER))
    assert is_step_wait(step.classpath, step.kwargs)
    adla = Trigger.from_object(AdlaJobTrigger("job-1", "mlpipe_adla_x"))
    assert is_step_wait(adla.classpath, adla.kwargs)


def test_another_operators_databricks_wait_is_left_to_that_operator():
    other = Trigger.from_object(databricks_wait("DatabricksSubmitRunOperator"))
    assert not is_step_wait(other.classpath, other.kwargs)
    assert _rebuilt(other) is None
    assert not is_step_wait("airflow.providers.standard.triggers.temporal.DateTimeTrigger", {})


def test_the_wait_is_rebuilt_from_its_row_with_the_run_to_cancel():
    rebuilt = _rebuilt(Trigger.from_object(databricks_wait(CALLER)))
    assert isinstance(rebuilt, DatabricksExecutionTrigger)
    assert (rebuilt.run_id, rebuilt.databricks_conn_id) == (7, "mlpipe_databricks_x")
    adla = _rebuilt(Trigger.from_object(AdlaJobTrigger("job-1", "mlpipe_adla_x", 2.0)))
    assert isinstance(adla, AdlaJobTrigger)
    assert (adla.job_id, adla.adla_conn_id, adla.polling_period_seconds) == ("job-1", "mlpipe_adla_x", 2.0)
    assert _rebuilt(None) is None  # the row is gone: the triggerer cleaned it up, nothing to cancel


def test_a_task_sdk_task_instance_is_not_looked_up():
    # in a worker, the listener gets the task SDK's task instance: no database, nothing to cancel
    worker_ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", trigger_id=3)
    assert cancel_remote_run(worker_ti) is None


Base = declarative_base()


class Row(Base):
    __tablename__ = "row"
    id = Column(Integer, primary_key=True)


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_the_cancel_starts_only_once_the_state_change_is_committed(outcome):
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    ran = threading.Event()
    with Session(engine) as session:
        row = Row(id=1)
        session.add(row)
        session.flush()
        thread = threading.Thread(target=ran.set)
        after_commit(session, thread, "d/r/t")
        assert thread.ident is None  # nothing runs while the change is uncommitted
        getattr(session, outcome)()
        session.add(Row(id=2))
        session.commit()  # a later commit of the same session does not start a dropped cancel
    if outcome == "commit":
        thread.join(5)
        assert ran.is_set()
    else:
        assert thread.ident is None and not ran.is_set()
