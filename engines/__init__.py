"""Model execution for Ember: loading model folders, tokenizers, forward passes, pooling and heads.

Nothing here imports generated protobuf code or the gRPC server; the service layer drives an
:class:`~ember.engines.base.Engine` through plain Python and numpy types.
"""
