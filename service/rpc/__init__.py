"""The JSON-RPC endpoint of the original service, `POST /public/rpc`, kept wire-compatible.

Existing clients speak a relaxed JSON-RPC: no `"jsonrpc"` member, `id` 0 for calls and null
for notifications, bodies sent as `application/octet-stream` (or without a content type),
every parameter present with null for "not given", and `_type` tags on objects. Standard
JSON-RPC 2.0 requests and batches are accepted too.

Every method calls the same store functions as the REST routes, under the same roles, so
validation, error codes and the search copy of writes are identical. Errors are always answered
with HTTP 200 and an error object `{code, message, data: {code, type, base_type, ...}}`.

The modules, in the order a request meets them: `endpoint` (the route and its document),
`dispatch` (request checks, batches, the Timeout), `registry` (methods and their parameters),
`methods` (one module per resource) and `protocol` (the error object).
"""
