"""Ember's REST gateway: OpenAI-, TEI- and BEI-compatible JSON in front of the gRPC service.

A gRPC client of the service (it never imports torch or the engines): ``create_app`` builds
the FastAPI app, ``GatewayServer`` / ``serve_gateway`` run it with uvicorn in the caller's
event loop, ``GatewaySettings`` holds its options.
"""
