"""A protoc plugin that runs one of grpcio-tools' built-in generators (``python``, ``grpc_python``).

buf runs plugins, not compilers: this reads buf's CodeGeneratorRequest on stdin, hands its
descriptors to grpcio-tools' bundled protoc (``--descriptor_set_in``) with ``--<name>_out``, and
answers with the files it wrote. The Python stubs so come from the pinned grpcio-tools, exactly
as ``python -m grpc_tools.protoc`` writes them. Usage (buf.gen.yaml):
``local: [.venv/bin/python, scripts/grpc_tools_plugin.py, grpc_python]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def _default_json_name(name: str) -> str:
    """protoc's default JSON name of a field: underscores dropped, the next letter upper-cased."""
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _without_default_json_names(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    """Clear each field's json_name where it is the default one.

    buf fills json_name in on every field; protoc sets it only where the .proto does, and the
    Python generator embeds the descriptor as given. Cleared, the embedded descriptors are the
    ones ``python -m grpc_tools.protoc`` writes from the .proto files.
    """

    def visit(message: descriptor_pb2.DescriptorProto) -> None:
        for field in [*message.field, *message.extension]:
            if field.json_name == _default_json_name(field.name):
                field.ClearField("json_name")
        for nested in message.nested_type:
            visit(nested)

    for file in files:
        for message in file.message_type:
            visit(message)
        for extension in file.extension:
            if extension.json_name == _default_json_name(extension.name):
                extension.ClearField("json_name")


def generate(
    name: str, request: plugin_pb2.CodeGeneratorRequest
) -> plugin_pb2.CodeGeneratorResponse:
    """The files grpcio-tools' ``name`` generator writes for ``request``'s files to generate."""
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as tmp:
        descriptors = Path(tmp, "descriptors.binpb")
        files = list(request.proto_file)
        _without_default_json_names(files)
        descriptors.write_bytes(descriptor_pb2.FileDescriptorSet(file=files).SerializeToString())
        out = Path(tmp, "out")
        out.mkdir()
        option = f"--{name}_out={request.parameter + ':' if request.parameter else ''}{out}"
        args = ["grpc_tools.protoc", f"--descriptor_set_in={descriptors}", option]
        if protoc.main([*args, *request.file_to_generate]) != 0:
            response.error = f"grpc_tools.protoc --{name}_out failed"
            return response
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            response.file.add(name=path.relative_to(out).as_posix(), content=path.read_text())
    return response


def main() -> None:
    """Read the request from stdin, write the response to stdout."""
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(sys.argv[1], request).SerializeToString())


if __name__ == "__main__":
    main()
