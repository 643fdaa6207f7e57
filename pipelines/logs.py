"""The pipeline's log lines as JSON objects naming the Dagster run, job, step and partition
they were made in (the instance's `python_logs` handler, deploy/dagster.yaml), so that a log
store finds every line of one run, or of one video's runs, without parsing Dagster's text."""

from __future__ import annotations

import logging

from reelflow import logs

# The attribute Dagster puts its run context on, in each record its handlers receive.
DAGSTER_META = "dagster_meta"
PARTITION_TAG = "dagster/partition"


class JsonFormatter(logs.JsonFormatter):
    """Run id, job, step, partition and Dagster event type, when the record is Dagster's."""

    def context(self, record: logging.LogRecord) -> dict[str, object]:
        meta = getattr(record, DAGSTER_META, None)
        if not isinstance(meta, dict):
            return {}
        event = meta.get("dagster_event")
        fields = {
            "run_id": meta.get("run_id"),
            "job": meta.get("job_name"),
            "step_key": meta.get("step_key"),
            "partition": (meta.get("job_tags") or {}).get(PARTITION_TAG),
            "event": event.event_type_value if event is not None else None,
        }
        return {name: value for name, value in fields.items() if value is not None}

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, DAGSTER_META, None)
        if isinstance(meta, dict) and meta.get("orig_message") is not None:
            # Dagster's message repeats the job, run and step in text: the fields hold them.
            record = logging.makeLogRecord({**record.__dict__, "msg": meta["orig_message"]})
            record.args = None
        return super().format(record)
