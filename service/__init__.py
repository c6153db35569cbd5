"""Ember's gRPC service: servicers, conversion, admission, tokenization pool, scheduler,
errors, interceptors, health, reflection, settings and the ``ember`` command line."""
