//! Retrieval quality on a labelled question set written for this test: twenty help
//! articles among 200 generated catalogue documents, twenty questions, three of which
//! share no word with their article (only synonyms, which the test double's embeddings
//! know). BM25 alone must reach recall@5 ≥ 0.8; with embeddings, fused, strictly more.

use crate::support::{Env, write_corpus};
use botserver_vectordb::testing::TestDoubleEmbedder;
use botstate::services::{KbQuery, KnowledgeBase};
use std::sync::Arc;

const ARTICLES: &[(&str, &str)] = &[
    (
        "refunds.md",
        "# Refunds\n\nYou can return an item within 30 days of delivery for a full refund. The money goes back to the original card within 5 business days.",
    ),
    (
        "shipping.md",
        "# Shipping\n\nOrders ship from our warehouse in Porto. Standard delivery takes 3 to 5 days; express delivery arrives the next day.",
    ),
    (
        "password.md",
        "# Resetting your password\n\nOpen the sign-in page, choose Forgot password and follow the link we email you. The link expires after one hour.",
    ),
    (
        "hours.md",
        "# Opening hours\n\nThe shop opens at nine and closes at six on weekdays; on Saturdays it closes at two. We are closed on Sundays.",
    ),
    (
        "warranty.md",
        "# Warranty\n\nEvery appliance carries a two-year warranty covering manufacturing defects. Damage from drops or water is not covered.",
    ),
    (
        "payment.md",
        "# Payment methods\n\nWe accept credit cards, debit cards, bank transfer and PIX. Cash is accepted only at the counter.",
    ),
    (
        "vehicle-rental.md",
        "# Vehicle rental\n\nCustomers may rent a vehicle for up to fourteen days. A valid driving licence and a deposit are required.",
    ),
    (
        "pets.html",
        "<h1>Animals</h1><p>A dog on a leash is welcome inside. Other animals must stay in a carrier.</p>",
    ),
    (
        "gift-cards.txt",
        "Gift cards are sold in values from 10 to 500 euros and never expire.",
    ),
    (
        "loyalty.md",
        "# Loyalty programme\n\nMembers earn one point per euro spent; 100 points give a 5 euro discount.",
    ),
    (
        "privacy.md",
        "# Personal data\n\nWe keep your personal data while your account is open and delete it within 30 days after you close it.",
    ),
    (
        "contact.md",
        "# Contact us\n\nCall the support line at 0800 123 456 or write to help@example.com.",
    ),
    (
        "size-guide.md",
        "# Clothing sizes\n\nOur shirts run small; choose one size up if you are between two sizes.",
    ),
    (
        "assembly.md",
        "# Furniture assembly\n\nOur technicians assemble furniture at home for a fee of 40 euros.",
    ),
    (
        "recycling.md",
        "# Recycling old appliances\n\nBring your old fridge or washing machine and we dispose of it for free.",
    ),
    (
        "students.md",
        "# Students\n\nStudents get a 10 percent discount with a valid student card.",
    ),
    (
        "parking.md",
        "# Parking\n\nFree parking for two hours in the underground garage below the shop.",
    ),
    (
        "wifi.md",
        "# Wi-Fi\n\nFree wireless internet is available inside; the network name is ShopGuest.",
    ),
    (
        "receipts.md",
        "# Returns without a receipt\n\nItems brought back without a receipt are exchanged for credit only.",
    ),
    (
        "allergies.json",
        r#"{"title": "Food allergies", "text": "The cafe menu marks dishes containing nuts, gluten or milk."}"#,
    ),
];

const QUESTIONS: &[(&str, &str)] = &[
    ("How long do I have to return an item for a refund?", "refunds.md"),
    ("How many days does express delivery take?", "shipping.md"),
    ("I forgot my password, what do I do?", "password.md"),
    ("What time does it close on Saturdays?", "hours.md"),
    ("Is water damage covered?", "warranty.md"),
    ("Do you accept bank transfer?", "payment.md"),
    ("Can I hire an automobile?", "vehicle-rental.md"),
    ("Are puppies permitted?", "pets.html"),
    ("Do gift cards expire?", "gift-cards.txt"),
    ("How many points do I earn per euro?", "loyalty.md"),
    (
        "When is personal data deleted after I close my account?",
        "privacy.md",
    ),
    ("What is the phone number of the support line?", "contact.md"),
    ("Should I pick a bigger size of shirt?", "size-guide.md"),
    ("How much does furniture assembly cost?", "assembly.md"),
    ("Is there a reduction for pupils?", "students.md"),
    ("Is parking free in the garage?", "parking.md"),
    ("What is the wifi network name?", "wifi.md"),
    ("Can I bring something back without a receipt?", "receipts.md"),
    ("Which cafe dishes contain nuts?", "allergies.json"),
    ("Do you dispose of an old washing machine?", "recycling.md"),
];

async fn recall_at_5(kb: &dyn KnowledgeBase, bot: botlib::BotId) -> (f32, Vec<&'static str>) {
    let mut found = 0;
    let mut missed = Vec::new();
    for (q, want) in QUESTIONS {
        let hits = kb
            .search(KbQuery {
                bot,
                kbs: Vec::new(),
                query: q.to_string(),
                top_k: Some(5),
            })
            .await
            .unwrap();
        if hits.iter().any(|h| h.source == *want) {
            found += 1;
        } else {
            missed.push(*q);
        }
    }
    (found as f32 / QUESTIONS.len() as f32, missed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_at_5_is_at_least_0_8_with_bm25_and_higher_fused_with_embeddings() {
    let env = Env::new();
    write_corpus(&env, 200);
    for (path, text) in ARTICLES {
        env.write("help", path, text.as_bytes());
    }
    let llm = Arc::new(TestDoubleEmbedder::new(384).with_synonyms(&[
        ("hire", "rent"),
        ("automobile", "vehicle"),
        ("puppies", "dog"),
        ("permitted", "welcome"),
        ("reduction", "discount"),
        ("pupils", "students"),
    ]));
    let (hybrid, _store) = env.start(llm);
    let r = hybrid.index_bot(&env.bot, None).await.unwrap();
    assert_eq!(r.indexed, 220);

    let (bm25_only, _store2) = env.start(Arc::new(TestDoubleEmbedder::not_configured()));
    let (lexical, missed_lexical) = recall_at_5(bm25_only.as_ref(), env.bot.id).await;
    let (fused, missed_fused) = recall_at_5(hybrid.as_ref(), env.bot.id).await;
    eprintln!(
        "recall@5: BM25 {lexical:.2} (missed {missed_lexical:?}), fused {fused:.2} (missed {missed_fused:?})"
    );
    assert!(
        lexical >= 0.8,
        "BM25 recall@5 {lexical}: missed {missed_lexical:?}"
    );
    assert!(
        fused > lexical,
        "fused {fused} vs BM25 {lexical}: missed {missed_fused:?}"
    );
    assert_eq!(fused, 1.0, "missed {missed_fused:?}");
}
