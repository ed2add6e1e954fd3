//! Integration tests of the auth domain through its HTTP API, on SQLite and (when
//! configured) PostgreSQL.

mod support;

mod anonymous;
mod api_keys;
mod brute_force;
mod jwt_negative;
mod mfa;
mod oidc;
mod rbac;
mod sessions;
mod tenants;
