"""The HTTP API: Powertools resolvers, problem responses, request schemas and the OpenAPI document."""
