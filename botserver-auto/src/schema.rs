//! Diesel schema of this crate's own tables (durable dialogs and memory); the bot tables
//! are dynamic and live in [`crate::data`].

diesel::table! {
    dialog_sessions (session_id) {
        session_id -> Text,
        bot_id -> Text,
        user_id -> Text,
        script -> Text,
        pinned -> Text,
        status -> Text,
        wake_at -> Nullable<BigInt>,
        hear -> Nullable<Text>,
        journal -> Text,
        state -> Text,
        outbox -> Text,
        inbox -> Text,
        info -> Text,
        result -> Nullable<Text>,
        turns -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    dialog_scripts (hash) {
        hash -> Text,
        file -> Text,
        source -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    bot_memory (bot_id, scope, mkey) {
        bot_id -> Text,
        scope -> Text,
        mkey -> Text,
        value -> Text,
        expires_at -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    dialog_replies (session_id) {
        session_id -> Text,
        input_id -> Text,
        output -> Text,
        updated_at -> BigInt,
    }
}
