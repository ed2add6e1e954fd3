//! Tables owned by the auth domain (see `migrations/`). Portable column types only.

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        is_system -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        org_id -> Text,
        username -> Text,
        display_name -> Text,
        email -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        roles -> Text,
        bot_grants -> Text,
        disabled -> Bool,
        anonymous -> Bool,
        oidc_subject -> Nullable<Text>,
        merged_into -> Nullable<Text>,
        failed_logins -> Integer,
        failed_window_start -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    user_totp (user_id) {
        user_id -> Text,
        secret -> Text,
        enabled -> Bool,
        last_step -> BigInt,
    }
}

diesel::table! {
    auth_sessions (id) {
        id -> Text,
        user_id -> Text,
        org_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        session_id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        org_id -> Text,
        user_id -> Text,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        roles -> Text,
        bots -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(users -> organizations (org_id));
diesel::joinable!(auth_sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> auth_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    user_totp,
    auth_sessions,
    refresh_tokens,
    api_keys
);
