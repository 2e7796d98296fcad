//! Character trigrams of titles, for title similarity: computed once per title and compared
//! by a merge of two sorted lists, with no allocation per comparison.

/// A title's character trigrams — lowercased, non-alphanumerics as spaces, words joined by one
/// space and padded with one on each side, so robust to numbers and word order — each packed
/// into a `u64` (three 21-bit code points), sorted and unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trigrams(Vec<u64>);

impl Trigrams {
    /// The trigrams of `title`.
    pub fn of(title: &str) -> Self {
        let lowered = title.to_lowercase();
        let mut chars = vec![' '];
        for word in lowered
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            if chars.len() > 1 {
                chars.push(' ');
            }
            chars.extend(word.chars());
        }
        chars.push(' ');
        let mut packed: Vec<u64> = chars
            .windows(3)
            .map(|w| (u64::from(w[0]) << 42) | (u64::from(w[1]) << 21) | u64::from(w[2]))
            .collect();
        packed.sort_unstable();
        packed.dedup();
        Self(packed)
    }

    /// Shared trigrams over the trigrams of both (Jaccard), in [0, 1]; 0 when both are empty.
    pub fn similarity(&self, other: &Self) -> f64 {
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j, mut shared) = (0, 0, 0usize);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        let union = a.len() + b.len() - shared;
        if union == 0 {
            0.0
        } else {
            shared as f64 / union as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_jaccard_over_padded_lowercase_trigrams() {
        // " ab " has the trigrams " ab" and "ab "; " ab cd " has those and "b c", " cd", "cd ".
        let ab = Trigrams::of("AB");
        assert_eq!(ab.0.len(), 2);
        assert!((ab.similarity(&Trigrams::of("ab -- cd")) - 2.0 / 5.0).abs() < 1e-9);
        assert_eq!(ab.similarity(&Trigrams::of("ab")), 1.0);
        assert_eq!(Trigrams::of("").similarity(&Trigrams::of("!!")), 0.0);
    }
}
