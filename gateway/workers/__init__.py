"""Background loops: the submitter (outbox of orders still to send) and housekeeping."""
