//! Prompt assembly for a message no script waits for: the system prompt (with SET CONTEXT
//! values), the knowledge-base passages with their sources, the last `history-limit` turns
//! and the message, trimmed to a token budget by dropping the oldest history first (the
//! system prompt, the passages and the message itself are always kept).

use botstate::services::{ChatMessage, Passage};

/// Tokens of a text, estimated (4 characters a token, the usual rule for English).
pub fn tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4) + 4
}

/// The passages as the model reads them: numbered, each with its source.
pub fn passages_block(passages: &[Passage]) -> String {
    let mut s = String::from(
        "Answer from these passages when they are relevant, and name the source you used. \
         If they do not answer the question, say so.\n",
    );
    for (i, p) in passages.iter().enumerate() {
        let loc = if p.location.is_empty() {
            String::new()
        } else {
            format!(", {}", p.location)
        };
        s.push_str(&format!("\n[{}] ({}{loc})\n{}\n", i + 1, p.source, p.text.trim()));
    }
    s
}

/// The messages for the model. `history` is (role, text), oldest first.
pub fn assemble(
    system: &str,
    passages: &[Passage],
    history: &[(String, String)],
    message: &str,
    budget_tokens: usize,
) -> Vec<ChatMessage> {
    let mut head = system.trim().to_string();
    if !passages.is_empty() {
        if !head.is_empty() {
            head.push_str("\n\n");
        }
        head.push_str(&passages_block(passages));
    }
    let fixed = tokens(&head) + tokens(message);
    let mut left = budget_tokens.saturating_sub(fixed);
    // Newest history first, until the budget is spent.
    let mut kept = Vec::new();
    for (role, text) in history.iter().rev() {
        let t = tokens(text);
        if t > left {
            break;
        }
        left -= t;
        kept.push(ChatMessage::new(role, text.as_str()));
    }
    kept.reverse();
    let mut out = Vec::with_capacity(kept.len() + 2);
    if !head.is_empty() {
        out.push(ChatMessage::new("system", head));
    }
    out.extend(kept);
    out.push(ChatMessage::new("user", message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(text: &str) -> Passage {
        Passage {
            kb: "faq".into(),
            source: "hours.md".into(),
            location: "part 1".into(),
            text: text.into(),
            score: 1.0,
        }
    }

    #[test]
    fn oldest_history_goes_first_and_passages_stay() {
        let history: Vec<(String, String)> = (0..10)
            .map(|i| {
                (
                    if i % 2 == 0 { "user" } else { "assistant" }.to_string(),
                    format!("turn {i} {}", "x".repeat(80)),
                )
            })
            .collect();
        let m = assemble(
            "Be kind.",
            &[passage("We open at 9.")],
            &history,
            "When do you open?",
            200,
        );
        assert_eq!(m.first().unwrap().role, "system");
        assert!(m[0].content.contains("[1] (hours.md, part 1)\nWe open at 9."));
        assert_eq!(m.last().unwrap().content, "When do you open?");
        let kept: Vec<&str> = m[1..m.len() - 1].iter().map(|c| c.content.as_str()).collect();
        assert!(!kept.is_empty() && kept.len() < 10, "{}", kept.len());
        assert!(
            kept.last().unwrap().starts_with("turn 9"),
            "the newest turns are kept"
        );
        let total: usize = m.iter().map(|c| tokens(&c.content)).sum();
        assert!(total <= 200, "{total}");
    }

    #[test]
    fn no_system_message_without_prompt_or_passages() {
        let m = assemble("  ", &[], &[], "hi", 1000);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].role, "user");
    }
}
