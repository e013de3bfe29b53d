"""A run as a process and as a record: session, runner, recorder, worker, history, the run store and its export."""
