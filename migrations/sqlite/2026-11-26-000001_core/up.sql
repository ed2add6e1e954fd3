-- Secrets at rest, encrypted by the secret manager (ChaCha20-Poly1305, base64).
CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    ciphertext TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
