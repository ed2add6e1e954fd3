//! Wire types of the chat protocol (shared/spec/packages.md), compatible with the
//! General Bots web clients.
//!
//! Ids travel as strings on the wire because existing clients send whatever they were
//! given; the chat crate parses them into the id newtypes at the edge.

use serde::{Deserialize, Serialize};

/// `message_type` of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum MessageType {
    /// 1: text typed by the user.
    UserText,
    /// 2: a message from the bot.
    BotResponse,
    /// 3: continue (the client asks the bot to go on).
    Continue,
    /// 4: a suggestion button was clicked; `content` is its key or text.
    SuggestionClicked,
    /// 6: run a tool directly; `content` is the tool's name.
    RunTool,
    /// 7: a system frame, ignored by the server.
    System,
}

impl TryFrom<u8> for MessageType {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Ok(match v {
            1 => MessageType::UserText,
            2 => MessageType::BotResponse,
            3 => MessageType::Continue,
            4 => MessageType::SuggestionClicked,
            6 => MessageType::RunTool,
            7 => MessageType::System,
            other => return Err(format!("unknown message_type {other}")),
        })
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::UserText => 1,
            MessageType::BotResponse => 2,
            MessageType::Continue => 3,
            MessageType::SuggestionClicked => 4,
            MessageType::RunTool => 6,
            MessageType::System => 7,
        }
    }
}

/// Answer of `GET /api/auth?bot_name=`: the ids a client uses to open its socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    pub user_id: String,
    pub session_id: String,
    pub bot_id: String,
    pub bot_name: String,
    pub status: String,
}

/// A frame sent by the client over the socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMessage {
    pub content: String,
    pub message_type: MessageType,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub bot_id: String,
    #[serde(default = "default_channel")]
    pub channel: String,
    /// The client's own id for this message (optional): a message sent again with the same
    /// id (after a reconnect) is stored and answered once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

fn default_channel() -> String {
    "web".into()
}

/// A quick-reply button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The label shown on the button.
    pub text: String,
    /// The key sent back when clicked (defaults to the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// What clicking does: `text`, `key` or `tool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// A frame sent by the server: one message, or one piece of a streamed message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotResponse {
    pub bot_id: String,
    pub user_id: String,
    pub session_id: String,
    pub channel: String,
    pub content: String,
    pub message_type: MessageType,
    /// `false` while a streamed answer is still arriving.
    pub is_complete: bool,
    #[serde(default)]
    pub suggestions: Vec<Suggestion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_name: Option<String>,
    /// The stored message's id (absent on streamed pieces): the `after=` value of
    /// `GET /api/sessions/{id}/messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
}

/// A passage of a knowledge base shown as a source of an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceItem {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub score: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Typed events the server sends beside [`BotResponse`] frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// First frame on a new socket.
    Connected {
        session_id: String,
        user_id: String,
        bot_id: String,
    },
    /// The bot is working on an answer.
    Typing,
    /// Something went wrong with the last message.
    Error { message: String },
    /// The knowledge-base passages behind the last answer.
    Sources { items: Vec<SourceItem> },
    /// A message the same user sent from another socket (another tab or device).
    UserMessage {
        id: i64,
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_frame_parses_the_general_bots_shape() {
        let frame: ClientMessage = serde_json::from_value(json!({
            "content": "hi", "message_type": 1, "session_id": "s", "user_id": "u",
            "bot_id": "b", "channel": "web"
        }))
        .unwrap();
        assert_eq!(frame.message_type, MessageType::UserText);
        assert_eq!(frame.content, "hi");
    }

    #[test]
    fn unknown_message_type_is_rejected() {
        let err = serde_json::from_value::<ClientMessage>(json!({
            "content": "x", "message_type": 5
        }))
        .unwrap_err();
        assert!(err.to_string().contains("unknown message_type 5"), "{err}");
    }

    #[test]
    fn bot_response_serializes_message_type_as_number() {
        let frame = BotResponse {
            bot_id: "b".into(),
            user_id: "u".into(),
            session_id: "s".into(),
            channel: "web".into(),
            content: "hello".into(),
            message_type: MessageType::BotResponse,
            is_complete: true,
            suggestions: vec![Suggestion {
                text: "Yes".into(),
                context: None,
                action: None,
            }],
            context_name: None,
            id: None,
        };
        let v = serde_json::to_value(&frame).unwrap();
        assert_eq!(v["message_type"], 2);
        assert_eq!(v["suggestions"][0]["text"], "Yes");
        assert!(v.get("context_name").is_none());
    }

    #[test]
    fn events_are_tagged_by_type() {
        let v = serde_json::to_value(ServerEvent::Typing).unwrap();
        assert_eq!(v, json!({"type": "typing"}));
        let v = serde_json::to_value(ServerEvent::Error {
            message: "boom".into(),
        })
        .unwrap();
        assert_eq!(v, json!({"type": "error", "message": "boom"}));
    }
}
