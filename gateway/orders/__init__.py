"""Use-cases: submit, read and list orders; the submission engine they share with workers."""
