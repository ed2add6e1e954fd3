//! Reciprocal rank fusion: one ranking out of several (BM25 and vectors), each item scored
//! `Σ 1 / (k + rank)` over the lists it appears in (rank from 1, k = 60), which needs no
//! calibration between BM25 scores and cosine similarities.
//!
//! The fused score is normalised to (0, 1] by dividing by the best score possible with the
//! lists searched (`lists / (k + 1)`; a list searched that found nothing still counts): an
//! item first in every list scores 1, an item first in one of two lists 0.5. So with
//! embeddings, a passage that only one of the two searches found scores at most 0.5, and
//! `kb-min-score` (on that normalised score) can ask for agreement.

use std::collections::HashMap;

/// The rank constant of reciprocal rank fusion.
pub const RRF_K: f32 = 60.0;

/// One fused result.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    /// The item (a chunk id).
    pub id: String,
    /// Normalised fused score, in (0, 1].
    pub score: f32,
    /// Its rank in each list (from 1), `None` where it was absent.
    pub ranks: Vec<Option<usize>>,
}

/// Fuses `lists` (ids, best first; one per search made), keeps items scoring at least `min_score`, returns at
/// most `top_k`, best first (ties: the better best rank, then the id).
pub fn fuse(lists: &[Vec<String>], top_k: usize, min_score: f32) -> Vec<Fused> {
    if lists.iter().all(Vec::is_empty) || top_k == 0 {
        return Vec::new();
    }
    let best = lists.len() as f32 / (RRF_K + 1.0);
    let mut by_id: HashMap<&str, Fused> = HashMap::new();
    for (li, list) in lists.iter().enumerate() {
        for (r, id) in list.iter().enumerate() {
            let e = by_id.entry(id.as_str()).or_insert_with(|| Fused {
                id: id.clone(),
                score: 0.0,
                ranks: vec![None; lists.len()],
            });
            // A list naming an id twice counts its best rank only.
            if e.ranks[li].is_none() {
                e.ranks[li] = Some(r + 1);
                e.score += 1.0 / (RRF_K + (r + 1) as f32);
            }
        }
    }
    let mut out: Vec<Fused> = by_id
        .into_values()
        .map(|mut f| {
            f.score /= best;
            f
        })
        .filter(|f| f.score >= min_score)
        .collect();
    let best_rank = |f: &Fused| f.ranks.iter().flatten().min().copied().unwrap_or(usize::MAX);
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(best_rank(a).cmp(&best_rank(b)))
            .then(a.id.cmp(&b.id))
    });
    out.truncate(top_k);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn items_in_both_lists_win_and_scores_are_normalised() {
        let f = fuse(&[ids(&["a", "b", "c"]), ids(&["c", "a", "d"])], 10, 0.0);
        assert_eq!(
            f.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            vec!["a", "c", "b", "d"]
        );
        assert!(f[0].score <= 1.0 && f[0].score > 0.9);
        assert_eq!(f[0].ranks, vec![Some(1), Some(2)]);
        let one_of_two = fuse(&[ids(&["x"]), vec![]], 10, 0.0);
        assert_eq!(one_of_two[0].score, 0.5, "found by one of two searches");
        assert_eq!(fuse(&[ids(&["x"])], 10, 0.0)[0].score, 1.0);
    }

    #[test]
    fn min_score_and_top_k_apply() {
        let f = fuse(&[ids(&["a", "b", "c"]), ids(&["d"])], 2, 0.0);
        assert_eq!(f.len(), 2);
        let f = fuse(&[ids(&["a", "b"]), ids(&["a"])], 10, 0.6);
        assert_eq!(f.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), vec!["a"]);
        assert!(fuse(&[vec![], vec![]], 5, 0.0).is_empty());
    }
}
