/**
 * Descriptors, built at run time, of the two protos the client needs beyond ember.v1 that no
 * npm package ships as protoc-gen-es v2 code: grpc.health.v1's Check and google.rpc.ErrorInfo.
 * Names, field numbers and types are those of the published .proto files, so they read and write
 * the same bytes.
 */
import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import type { GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";

const optional = Label.OPTIONAL;

const registry = createFileRegistry(
  create(FileDescriptorSetSchema, {
    file: [
      {
        name: "grpc/health/v1/health.proto",
        package: "grpc.health.v1",
        syntax: "proto3",
        messageType: [
          {
            name: "HealthCheckRequest",
            field: [
              {
                name: "service",
                number: 1,
                type: Type.STRING,
                label: optional,
                jsonName: "service",
              },
            ],
          },
          {
            name: "HealthCheckResponse",
            field: [
              {
                name: "status",
                number: 1,
                type: Type.ENUM,
                label: optional,
                typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus",
                jsonName: "status",
              },
            ],
            enumType: [
              {
                name: "ServingStatus",
                value: [
                  { name: "UNKNOWN", number: 0 },
                  { name: "SERVING", number: 1 },
                  { name: "NOT_SERVING", number: 2 },
                  { name: "SERVICE_UNKNOWN", number: 3 },
                ],
              },
            ],
          },
        ],
        service: [
          {
            name: "Health",
            method: [
              {
                name: "Check",
                inputType: ".grpc.health.v1.HealthCheckRequest",
                outputType: ".grpc.health.v1.HealthCheckResponse",
              },
            ],
          },
        ],
      },
      {
        name: "google/rpc/error_details.proto",
        package: "google.rpc",
        syntax: "proto3",
        messageType: [
          {
            name: "ErrorInfo",
            field: [
              { name: "reason", number: 1, type: Type.STRING, label: optional, jsonName: "reason" },
              { name: "domain", number: 2, type: Type.STRING, label: optional, jsonName: "domain" },
              {
                name: "metadata",
                number: 3,
                type: Type.MESSAGE,
                label: Label.REPEATED,
                typeName: ".google.rpc.ErrorInfo.MetadataEntry",
                jsonName: "metadata",
              },
            ],
            nestedType: [
              {
                name: "MetadataEntry",
                field: [
                  { name: "key", number: 1, type: Type.STRING, label: optional, jsonName: "key" },
                  {
                    name: "value",
                    number: 2,
                    type: Type.STRING,
                    label: optional,
                    jsonName: "value",
                  },
                ],
                options: { mapEntry: true },
              },
            ],
          },
        ],
      },
    ],
  }),
);

function lookup<T>(found: T | undefined, name: string): T {
  if (found === undefined) {
    throw new Error(`${name} is missing from the runtime registry`);
  }
  return found;
}

/** google.rpc.ErrorInfo, as the client reads it from a status's details. */
export type ErrorInfo = Message<"google.rpc.ErrorInfo"> & {
  reason: string;
  domain: string;
  metadata: { [key: string]: string };
};

type HealthCheckRequest = Message<"grpc.health.v1.HealthCheckRequest"> & { service: string };
type HealthCheckResponse = Message<"grpc.health.v1.HealthCheckResponse"> & { status: number };

/** google.rpc.ErrorInfo's descriptor, for ConnectError.findDetails. */
export const ErrorInfoSchema = lookup(
  registry.getMessage("google.rpc.ErrorInfo"),
  "google.rpc.ErrorInfo",
) as unknown as GenMessage<ErrorInfo>;

/** grpc.health.v1.Health's descriptor (its Check method). */
export const HealthService = lookup(
  registry.getService("grpc.health.v1.Health"),
  "grpc.health.v1.Health",
) as unknown as GenService<{
  check: {
    methodKind: "unary";
    input: GenMessage<HealthCheckRequest>;
    output: GenMessage<HealthCheckResponse>;
  };
}>;
