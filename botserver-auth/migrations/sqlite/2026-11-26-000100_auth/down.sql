DROP TABLE api_keys;
DROP TABLE refresh_tokens;
DROP TABLE auth_sessions;
DROP TABLE user_totp;
DROP TABLE users;
DROP TABLE organizations;
