"""Service layer: what the prediction API loads from a run and answers with, and its OpenAPI description."""
