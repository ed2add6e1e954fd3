//! Integration tests of the knowledge bases: one binary, one module per area.
