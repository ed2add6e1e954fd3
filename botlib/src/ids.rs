//! Id newtypes, so a `BotId` can never be passed where a `UserId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// An organization (tenant).
    OrgId
);
id_type!(
    /// A user account (or an anonymous chat user).
    UserId
);
id_type!(
    /// A bot package loaded on the server.
    BotId
);
id_type!(
    /// A conversation between one user and one bot on one channel.
    SessionId
);
id_type!(
    /// One message of a conversation.
    MessageId
);

/// Namespace of bot ids derived from bot names.
const BOT_NAMESPACE: Uuid = Uuid::from_u128(0x6b5f_1d2e_9c3a_4b7d_8e0f_a1b2_c3d4_e5f6);

impl BotId {
    /// The id of the bot named `name`: derived (UUID v5), so every instance of a
    /// deployment agrees on it without coordination.
    pub fn for_name(name: &str) -> Self {
        BotId(Uuid::new_v5(&BOT_NAMESPACE, name.to_ascii_lowercase().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_plain_uuid_strings() {
        let id = BotId::new_random();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", id.0));
        let back: BotId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.to_string().parse::<BotId>().unwrap(), id);
    }

    #[test]
    fn bot_ids_derive_from_names_case_insensitively() {
        assert_eq!(BotId::for_name("Sales"), BotId::for_name("sales"));
        assert_ne!(BotId::for_name("sales"), BotId::for_name("support"));
    }

    #[test]
    fn malformed_id_is_an_error() {
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
