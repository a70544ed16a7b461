//! A sorted set that also answers "from the n-th entry on": the listing index's sort orders.
//!
//! Why not `BTreeSet`: a page deep in a list (offset 500,000) walked through a B-tree costs a
//! step per entry passed, each a pointer chase. Here entries sit in sorted blocks of a few
//! hundred, so the n-th entry is found by skipping whole blocks by their length (a few
//! thousand blocks at a million entries), and a walk that must test each entry (a filtered
//! list) reads them as contiguous slices. An insert or a remove moves at most one block's
//! entries (a few KiB).

/// Blocks split above twice this many entries, and merge with a neighbour below a quarter.
const BLOCK: usize = 256;

#[derive(Debug, Clone)]
pub struct RankedSet<K> {
    /// Never empty blocks, each sorted, every entry of a block below every entry of the next.
    blocks: Vec<Vec<K>>,
    len: usize,
}

impl<K> Default for RankedSet<K> {
    fn default() -> Self {
        RankedSet {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<K: Ord> RankedSet<K> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block `key` is in or belongs in: the last whose first entry is not above it.
    fn block_of(&self, key: &K) -> usize {
        self.blocks
            .partition_point(|block| block.first().is_some_and(|first| first <= key))
            .saturating_sub(1)
    }

    /// Adds `key`; `false` when it was there already.
    pub fn insert(&mut self, key: K) -> bool {
        if self.blocks.is_empty() {
            self.blocks.push(vec![key]);
            self.len = 1;
            return true;
        }
        let at_block = self.block_of(&key);
        let block = &mut self.blocks[at_block];
        let Err(at) = block.binary_search(&key) else {
            return false;
        };
        block.insert(at, key);
        self.len += 1;
        if block.len() > 2 * BLOCK {
            // Both halves keep room to grow to a split without a reallocation, and no more
            // (a doubling `Vec` would otherwise hold up to four times its entries).
            let mut upper = Vec::with_capacity(2 * BLOCK + 1);
            upper.extend(block.drain(BLOCK..));
            block.shrink_to(2 * BLOCK + 1);
            self.blocks.insert(at_block + 1, upper);
        }
        true
    }

    /// Takes `key` out; `false` when it was not there.
    pub fn remove(&mut self, key: &K) -> bool {
        if self.blocks.is_empty() {
            return false;
        }
        let at_block = self.block_of(key);
        let block = &mut self.blocks[at_block];
        let Ok(at) = block.binary_search(key) else {
            return false;
        };
        block.remove(at);
        self.len -= 1;
        let left = block.len();
        if left == 0 {
            self.blocks.remove(at_block);
        } else if left < BLOCK / 4
            && self
                .blocks
                .get(at_block + 1)
                .is_some_and(|next| next.len() + left <= 2 * BLOCK)
        {
            let next = self.blocks.remove(at_block + 1);
            self.blocks[at_block].extend(next);
        }
        true
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.len = 0;
    }

    /// Every entry, ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &K> + '_ {
        self.blocks.iter().flatten()
    }

    /// The entries after skipping `skip` of them: ascending from the smallest when `forward`,
    /// else descending from the largest.
    pub fn iter_from(&self, skip: usize, forward: bool) -> Box<dyn Iterator<Item = &K> + '_> {
        let mut left = skip;
        if forward {
            for (at, block) in self.blocks.iter().enumerate() {
                if left < block.len() {
                    let rest = self.blocks[at + 1..].iter().flatten();
                    return Box::new(block[left..].iter().chain(rest));
                }
                left -= block.len();
            }
        } else {
            for (at, block) in self.blocks.iter().enumerate().rev() {
                if left < block.len() {
                    let rest = self.blocks[..at].iter().rev().flat_map(|b| b.iter().rev());
                    return Box::new(block[..block.len() - left].iter().rev().chain(rest));
                }
                left -= block.len();
            }
        }
        Box::new(std::iter::empty())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn holds_the_same_entries_as_a_btree_set_through_splits_and_merges() {
        let mut ranked = RankedSet::default();
        let mut expected = BTreeSet::new();
        // A fixed pseudo-random sequence of inserts, then removes of most of them.
        let mut n: u64 = 7;
        for _ in 0..20_000 {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = (n >> 33) % 5_000;
            assert_eq!(ranked.insert(key), expected.insert(key));
        }
        for _ in 0..15_000 {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = (n >> 33) % 5_000;
            assert_eq!(ranked.remove(&key), expected.remove(&key));
        }
        assert_eq!(ranked.len(), expected.len());
        let all: Vec<u64> = ranked.iter().copied().collect();
        assert_eq!(all, expected.iter().copied().collect::<Vec<_>>());
        assert!(ranked
            .blocks
            .iter()
            .all(|b| !b.is_empty() && b.len() <= 2 * BLOCK));
        for skip in [
            0,
            1,
            BLOCK - 1,
            BLOCK,
            2 * BLOCK + 3,
            all.len() - 1,
            all.len(),
        ] {
            let forward: Vec<u64> = ranked.iter_from(skip, true).copied().collect();
            assert_eq!(forward, all[skip.min(all.len())..], "forward {skip}");
            let backward: Vec<u64> = ranked.iter_from(skip, false).copied().collect();
            let mut expected_backward = all[..all.len() - skip.min(all.len())].to_vec();
            expected_backward.reverse();
            assert_eq!(backward, expected_backward, "backward {skip}");
        }
        assert_eq!(ranked.iter_from(all.len() + 5, true).count(), 0);
        ranked.clear();
        assert!(ranked.is_empty() && ranked.iter().next().is_none());
    }
}
