//! The key list's index, held in each keyward process: every key's name, tags, status, expiry,
//! creation, last use and today's cost, with each sort order kept sorted, so a page of any
//! filter and sort is computed here and Redis only reads that page's records.
//!
//! Why in-process: Redis runs one command at a time, so any filter walking a million index
//! entries inside Redis stalls every relay request for that long. Here a query costs this
//! process's CPU only. The index is rebuilt from Redis at start (in small steps) and kept
//! current from a change stream every instance reads (see `service::keys::listing`).

use std::collections::{BTreeSet, HashMap};

use memchr::memmem;

use super::ids::KeyId;
use super::key::KeyStatus;
use super::listing::{ListQuery, SortField};

/// One key's listing fields, as a change or a loaded row carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedKey {
    pub id: KeyId,
    /// Lower-cased, as search matches it.
    pub name: String,
    pub tags: Vec<String>,
    pub active: bool,
    pub expires_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub last_used_at_ms: i64,
}

/// A change to the index, in the order Redis applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexChange {
    /// The key's listing fields now (a create, update, restore, disable...).
    Upsert(IndexedKey),
    /// The key left the list (soft delete or erase).
    Remove(KeyId),
    /// A usage record (or its undo): last use and today's cost after it. `day` is the local
    /// date the cost counts for (`YYYY-MM-DD`, which sorts as dates do).
    Usage {
        id: KeyId,
        last_used_at_ms: i64,
        day: String,
        cost_nanos: i64,
    },
}

/// A key's place in `slots`; the sort orders hold these, not ids, so a walk reads rows directly.
type Slot = u32;

/// One key's row. Sort orders key on `(value, id)`, as Redis's sorted sets break ties by member.
#[derive(Debug, Clone)]
struct Row {
    id: u128,
    name: Box<str>,
    /// Where the name sits in `NameText`.
    name_span: u32,
    tags: Box<[u32]>,
    active: bool,
    /// `i64::MAX` without an expiry.
    expires_at_ms: i64,
    created_at_ms: i64,
    last_used_at_ms: i64,
}

/// What filters and the cost order read of every key, in one dense array by slot, so a
/// count or a walk over a million keys reads 24 bytes a key, not each key's row.
#[derive(Debug, Default, Clone, Copy)]
struct Dense {
    /// `i64::MAX` without an expiry.
    expires_at_ms: i64,
    cost_nanos: i64,
    /// The cost day `cost_nanos` counts for (see `ListingIndex::cost_generation`).
    cost_generation: u32,
    live: bool,
    active: bool,
    /// Bit `t` for each tag id `t` below 64 the key has (higher ids are read from the row).
    tag_bits: u64,
}

/// Whether a key with `tag_bits` (and, for tag ids from 64 up, `row`) has tag `tag`.
fn has_tag(tag_bits: u64, tag: u32, row: impl FnOnce() -> bool) -> bool {
    if tag < 64 {
        tag_bits & (1 << tag) != 0
    } else {
        row()
    }
}

/// Every name in one buffer, `\0`-separated, so a substring search is one pass of a SIMD
/// searcher over the whole text rather than a call per key. Removed names stay as dead spans
/// until they outweigh the live ones, then the text is rebuilt.
#[derive(Debug, Default, Clone)]
struct NameText {
    text: Vec<u8>,
    /// `(start in text, slot)`, by start; `DEAD` for a removed name.
    spans: Vec<(u32, Slot)>,
    dead_bytes: usize,
}

const DEAD: Slot = Slot::MAX;

impl NameText {
    fn push(&mut self, name: &str, slot: Slot) -> u32 {
        let start = self.text.len() as u32;
        self.text.extend_from_slice(name.as_bytes());
        self.text.push(0);
        self.spans.push((start, slot));
        (self.spans.len() - 1) as u32
    }

    fn kill(&mut self, span: u32, name_len: usize) {
        if let Some(entry) = self.spans.get_mut(span as usize) {
            entry.1 = DEAD;
            self.dead_bytes += name_len + 1;
        }
    }

    fn needs_rebuild(&self) -> bool {
        self.dead_bytes > 1 << 20 && self.dead_bytes * 2 > self.text.len()
    }

    /// Slots whose name contains `needle` (already lower-case), each once, in text order.
    fn search(&self, needle: &str) -> Vec<Slot> {
        let mut found = Vec::new();
        if needle.as_bytes().contains(&0) {
            return found;
        }
        // Matches come in text order, so the span they fall in only moves forward; after a
        // match the search goes on from the next name, so a name is found once however often
        // it holds the needle.
        let finder = memmem::Finder::new(needle.as_bytes());
        let (mut span, mut from) = (0usize, 0usize);
        while let Some(found_at) = finder.find(&self.text[from..]) {
            let at = from + found_at;
            // A few steps forward for dense matches, then a binary search for sparse ones.
            let mut steps = 0;
            while steps < 16 && span + 1 < self.spans.len() && self.spans[span + 1].0 as usize <= at
            {
                span += 1;
                steps += 1;
            }
            if steps == 16 {
                span += self.spans[span + 1..].partition_point(|(start, _)| *start as usize <= at);
            }
            let slot = self.spans[span].1;
            if slot != DEAD {
                found.push(slot);
            }
            match self.spans.get(span + 1) {
                Some((next, _)) => from = *next as usize,
                None => break,
            }
        }
        found
    }
}

/// The index itself. Not thread-safe on its own: the service holds it behind a lock.
#[derive(Debug, Default, Clone)]
pub struct ListingIndex {
    slots: Vec<Option<Row>>,
    dense: Vec<Dense>,
    free: Vec<Slot>,
    by_id: HashMap<u128, Slot>,
    by_created: BTreeSet<(i64, u128, Slot)>,
    by_name: BTreeSet<(Box<str>, u128, Slot)>,
    by_last_used: BTreeSet<(i64, u128, Slot)>,
    /// Keys with a cost above zero on `cost_day`.
    by_cost: BTreeSet<(i64, u128, Slot)>,
    /// Every key by id: keys without cost today follow (or precede) the costly ones in id
    /// order, as in a union with the created index at weight 0.
    by_id_order: BTreeSet<(u128, Slot)>,
    /// The day `by_cost` counts, and its generation: a new day bumps the generation, which
    /// zeroes every row's cost at once.
    cost_day: String,
    cost_generation: u32,
    tag_ids: HashMap<Box<str>, u32>,
    tag_names: Vec<Box<str>>,
    /// Keys per tag id.
    tag_counts: Vec<u64>,
    names: NameText,
}

/// Where a listed key's status comes from: disabled wins over expired.
fn status_of(row: &Dense, now_ms: i64) -> KeyStatus {
    if !row.active {
        KeyStatus::Disabled
    } else if row.expires_at_ms <= now_ms {
        KeyStatus::Expired
    } else {
        KeyStatus::Active
    }
}

/// Filtered lists up to this long are sorted on their own (a few ms); longer ones are paged by
/// walking the kept sort order, testing each key.
const SORT_AT_MOST: usize = 20_000;

impl ListingIndex {
    pub fn new() -> ListingIndex {
        ListingIndex::default()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, id: KeyId) -> bool {
        self.by_id.contains_key(&id.as_u128())
    }

    pub fn apply(&mut self, change: IndexChange) {
        match change {
            IndexChange::Upsert(key) => self.upsert(key),
            IndexChange::Remove(id) => self.remove(id),
            IndexChange::Usage {
                id,
                last_used_at_ms,
                day,
                cost_nanos,
            } => self.record_usage(id, last_used_at_ms, &day, cost_nanos),
        }
    }

    /// Sets a key's fields; a key already here keeps today's cost.
    pub fn upsert(&mut self, key: IndexedKey) {
        let id = key.id.as_u128();
        let (cost_nanos, cost_generation) = match self.take(id) {
            Some(old) => (old.cost_nanos, old.cost_generation),
            None => (0, self.cost_generation),
        };
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.dense.push(Dense::default());
                (self.slots.len() - 1) as Slot
            }
        };
        let tags: Box<[u32]> = key.tags.iter().map(|t| self.intern_tag(t)).collect();
        let name: Box<str> = key.name.into();
        let name_span = self.names.push(&name, slot);
        let row = Row {
            id,
            name,
            name_span,
            tags,
            active: key.active,
            expires_at_ms: key.expires_at_ms.unwrap_or(i64::MAX),
            created_at_ms: key.created_at_ms,
            last_used_at_ms: key.last_used_at_ms,
        };
        self.dense[slot as usize] = Dense {
            expires_at_ms: row.expires_at_ms,
            cost_nanos,
            cost_generation,
            live: true,
            active: row.active,
            tag_bits: row
                .tags
                .iter()
                .filter(|t| **t < 64)
                .fold(0, |bits, t| bits | (1 << *t)),
        };
        self.place(slot, row);
        if self.names.needs_rebuild() {
            self.rebuild_names();
        }
    }

    pub fn remove(&mut self, id: KeyId) {
        self.take(id.as_u128());
    }

    /// Last use and today's cost after a usage record; a record of an earlier day than the one
    /// counted moves only the last use.
    pub fn record_usage(&mut self, id: KeyId, last_used_at_ms: i64, day: &str, cost_nanos: i64) {
        if day > self.cost_day.as_str() {
            self.start_cost_day(day);
        }
        let Some(&slot) = self.by_id.get(&id.as_u128()) else {
            return;
        };
        let current = self.cost_generation;
        let Some(row) = self.slots[slot as usize].as_mut() else {
            return;
        };
        let dense = &mut self.dense[slot as usize];
        let old_used = row.last_used_at_ms;
        let old_cost = (dense.cost_generation == current).then_some(dense.cost_nanos);
        row.last_used_at_ms = last_used_at_ms;
        let same_day = day == self.cost_day;
        if same_day {
            dense.cost_nanos = cost_nanos;
            dense.cost_generation = current;
        }
        let id = row.id;
        self.by_last_used.remove(&(old_used, id, slot));
        self.by_last_used.insert((last_used_at_ms, id, slot));
        if same_day {
            if let Some(old) = old_cost.filter(|c| *c > 0) {
                self.by_cost.remove(&(old, id, slot));
            }
            if cost_nanos > 0 {
                self.by_cost.insert((cost_nanos, id, slot));
            }
        }
    }

    /// Every tag in use with its number of keys, most used first (then by name).
    pub fn tags(&self) -> Vec<(String, u64)> {
        let mut tags: Vec<(String, u64)> = self
            .tag_counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (self.tag_names[i].to_string(), *n))
            .collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        tags
    }

    /// Active keys whose expiry has passed at `now_ms`.
    pub fn expired_active(&self, now_ms: i64) -> Vec<KeyId> {
        self.dense
            .iter()
            .enumerate()
            .filter(|(_, d)| d.live && status_of(d, now_ms) == KeyStatus::Expired)
            .filter_map(|(slot, _)| self.row(slot as Slot))
            .map(|row| KeyId::from_u128(row.id))
            .collect()
    }

    /// How many keys match the query and one page of them. `today` is the local date whose
    /// cost `dailyCost` sorts by. A `Deleted` status is not listed here (the deleted index is
    /// its own list) and matches nothing.
    pub fn list(&self, query: &ListQuery, now_ms: i64, today: &str) -> (u64, Vec<KeyId>) {
        let costs_are_today = self.cost_day.as_str() == today;
        let tag = match query.tag.as_deref() {
            Some(name) => match self.tag_ids.get(name) {
                Some(tag) => Some(*tag),
                None => return (0, Vec::new()),
            },
            None => None,
        };
        if query.status == Some(KeyStatus::Deleted) {
            return (0, Vec::new());
        }
        let keeps = |slot: Slot| {
            let dense = &self.dense[slot as usize];
            dense.live
                && query.status.is_none_or(|s| status_of(dense, now_ms) == s)
                && tag.is_none_or(|t| {
                    has_tag(dense.tag_bits, t, || {
                        self.row(slot).is_some_and(|row| row.tags.contains(&t))
                    })
                })
        };
        let search = query.search.as_deref().filter(|q| !q.is_empty());
        let candidates: Option<Vec<Slot>> = search.map(|text| self.names.search(text));
        let order = Order {
            index: self,
            sort: query.sort,
            descending: query.descending,
            costs_are_today,
        };
        match candidates {
            Some(slots) => {
                let mut matched: Vec<Slot> = slots.into_iter().filter(|s| keeps(*s)).collect();
                let total = matched.len();
                if total <= SORT_AT_MOST {
                    order.sort(&mut matched);
                    let page = page_of(&matched, query.offset, query.count);
                    (total as u64, self.ids(page))
                } else {
                    let mut chosen = vec![false; self.slots.len()];
                    for slot in &matched {
                        chosen[*slot as usize] = true;
                    }
                    let page = order.walk(|slot| chosen[slot as usize], total, query);
                    (total as u64, self.ids(&page))
                }
            }
            None if tag.is_none() && query.status.is_none() => {
                let page = order.walk(|_| true, self.len(), query);
                (self.len() as u64, self.ids(&page))
            }
            None => {
                let total = match (tag, query.status) {
                    (Some(tag), None) => self.tag_counts[tag as usize] as usize,
                    _ => (0..self.dense.len() as Slot).filter(|s| keeps(*s)).count(),
                };
                let page = order.walk(keeps, total, query);
                (total as u64, self.ids(&page))
            }
        }
    }

    fn ids(&self, slots: &[Slot]) -> Vec<KeyId> {
        slots
            .iter()
            .filter_map(|s| self.row(*s))
            .map(|row| KeyId::from_u128(row.id))
            .collect()
    }

    fn row(&self, slot: Slot) -> Option<&Row> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    fn cost_today(&self, slot: Slot, costs_are_today: bool) -> i64 {
        let dense = &self.dense[slot as usize];
        if costs_are_today && dense.cost_generation == self.cost_generation {
            dense.cost_nanos
        } else {
            0
        }
    }

    fn start_cost_day(&mut self, day: &str) {
        self.cost_day = day.to_string();
        self.cost_generation = self.cost_generation.wrapping_add(1);
        self.by_cost.clear();
    }

    fn intern_tag(&mut self, tag: &str) -> u32 {
        if let Some(id) = self.tag_ids.get(tag) {
            return *id;
        }
        let id = self.tag_names.len() as u32;
        self.tag_names.push(tag.into());
        self.tag_counts.push(0);
        self.tag_ids.insert(tag.into(), id);
        id
    }

    fn place(&mut self, slot: Slot, row: Row) {
        let id = row.id;
        self.by_id.insert(id, slot);
        self.by_id_order.insert((id, slot));
        self.by_created.insert((row.created_at_ms, id, slot));
        self.by_name.insert((row.name.clone(), id, slot));
        self.by_last_used.insert((row.last_used_at_ms, id, slot));
        let dense = self.dense[slot as usize];
        if dense.cost_generation == self.cost_generation && dense.cost_nanos > 0 {
            self.by_cost.insert((dense.cost_nanos, id, slot));
        }
        for tag in row.tags.iter() {
            self.tag_counts[*tag as usize] += 1;
        }
        self.slots[slot as usize] = Some(row);
    }

    /// Takes a key's row out of every order; its slot is free again.
    fn take(&mut self, id: u128) -> Option<Dense> {
        let slot = self.by_id.remove(&id)?;
        let row = self.slots[slot as usize].take()?;
        let dense = self.dense[slot as usize];
        self.dense[slot as usize].live = false;
        self.free.push(slot);
        self.by_id_order.remove(&(id, slot));
        self.by_created.remove(&(row.created_at_ms, id, slot));
        self.by_name.remove(&(row.name.clone(), id, slot));
        self.by_last_used.remove(&(row.last_used_at_ms, id, slot));
        if dense.cost_generation == self.cost_generation && dense.cost_nanos > 0 {
            self.by_cost.remove(&(dense.cost_nanos, id, slot));
        }
        for tag in row.tags.iter() {
            self.tag_counts[*tag as usize] -= 1;
        }
        self.names.kill(row.name_span, row.name.len());
        Some(dense)
    }

    fn rebuild_names(&mut self) {
        let mut names = NameText::default();
        for (slot, row) in self.slots.iter_mut().enumerate() {
            if let Some(row) = row {
                row.name_span = names.push(&row.name, slot as Slot);
            }
        }
        self.names = names;
    }
}

fn page_of(slots: &[Slot], offset: u64, count: u64) -> &[Slot] {
    let start = (offset as usize).min(slots.len());
    let end = start.saturating_add(count as usize).min(slots.len());
    &slots[start..end]
}

/// One sort order over the index.
struct Order<'a> {
    index: &'a ListingIndex,
    sort: SortField,
    descending: bool,
    costs_are_today: bool,
}

impl Order<'_> {
    /// Every slot in the order, ascending (`forward`) or descending.
    fn slots(&self, forward: bool) -> Box<dyn Iterator<Item = Slot> + '_> {
        fn run<'a, I>(items: I, forward: bool) -> Box<dyn Iterator<Item = Slot> + 'a>
        where
            I: DoubleEndedIterator<Item = Slot> + 'a,
        {
            if forward {
                Box::new(items)
            } else {
                Box::new(items.rev())
            }
        }
        let index = self.index;
        match self.sort {
            SortField::CreatedAt => run(index.by_created.iter().map(|e| e.2), forward),
            SortField::Name => run(index.by_name.iter().map(|e| e.2), forward),
            SortField::LastUsedAt => run(index.by_last_used.iter().map(|e| e.2), forward),
            SortField::DailyCost => {
                let costly: Box<dyn Iterator<Item = Slot> + '_> = if self.costs_are_today {
                    run(index.by_cost.iter().map(|e| e.2), forward)
                } else {
                    Box::new(std::iter::empty())
                };
                let today = self.costs_are_today;
                let free = run(index.by_id_order.iter().map(|e| e.1), forward)
                    .filter(move |slot| index.cost_today(*slot, today) == 0);
                if forward {
                    Box::new(free.chain(costly))
                } else {
                    Box::new(costly.chain(free))
                }
            }
        }
    }

    /// One page of the slots that pass `keeps`, of which there are `total`: walked from the
    /// nearer end, so a page deep in the list costs at most half a walk.
    fn walk(&self, keeps: impl Fn(Slot) -> bool, total: usize, query: &ListQuery) -> Vec<Slot> {
        let offset = query.offset as usize;
        if offset >= total || query.count == 0 {
            return Vec::new();
        }
        let take = (query.count as usize).min(total - offset);
        let passing = |slot: &Slot| keeps(*slot);
        if offset * 2 <= total {
            self.slots(!self.descending)
                .filter(passing)
                .skip(offset)
                .take(take)
                .collect()
        } else {
            let skip_from_end = total - offset - take;
            let mut page: Vec<Slot> = self
                .slots(self.descending)
                .filter(passing)
                .skip(skip_from_end)
                .take(take)
                .collect();
            page.reverse();
            page
        }
    }

    /// Sorts slots into this order (ascending or descending as asked).
    fn sort(&self, slots: &mut [Slot]) {
        let index = self.index;
        let row = |slot: &Slot| index.row(*slot);
        let value = |slot: Slot, r: &Row| -> i64 {
            match self.sort {
                SortField::CreatedAt => r.created_at_ms,
                SortField::LastUsedAt => r.last_used_at_ms,
                SortField::DailyCost => index.cost_today(slot, self.costs_are_today),
                SortField::Name => 0,
            }
        };
        slots.sort_unstable_by(|a_slot, b_slot| {
            let (Some(a), Some(b)) = (row(a_slot), row(b_slot)) else {
                return std::cmp::Ordering::Equal;
            };
            let ascending = if self.sort == SortField::Name {
                a.name.cmp(&b.name).then(a.id.cmp(&b.id))
            } else {
                value(*a_slot, a)
                    .cmp(&value(*b_slot, b))
                    .then(a.id.cmp(&b.id))
            };
            if self.descending {
                ascending.reverse()
            } else {
                ascending
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128, name: &str, tags: &[&str]) -> IndexedKey {
        IndexedKey {
            id: KeyId::from_u128(n),
            name: name.to_lowercase(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            active: true,
            expires_at_ms: None,
            created_at_ms: n as i64 * 10,
            last_used_at_ms: 0,
        }
    }

    fn query(sort: SortField, descending: bool) -> ListQuery {
        ListQuery {
            sort,
            descending,
            offset: 0,
            count: 100,
            tag: None,
            status: None,
            search: None,
        }
    }

    fn numbers(index: &ListingIndex, query: &ListQuery) -> (u64, Vec<u128>) {
        let (total, ids) = index.list(query, 1_000, "2026-01-02");
        (total, ids.into_iter().map(KeyId::as_u128).collect())
    }

    fn sample() -> ListingIndex {
        let mut index = ListingIndex::new();
        index.upsert(key(1, "Alpha prod", &["prod"]));
        index.upsert(key(2, "beta staging", &["staging"]));
        index.upsert(IndexedKey {
            active: false,
            ..key(3, "Gamma prod", &["prod", "eu"])
        });
        index.upsert(IndexedKey {
            expires_at_ms: Some(500),
            ..key(4, "delta", &[])
        });
        index.upsert(key(5, "epsilon PRODUCTION", &["prod"]));
        index
    }

    #[test]
    fn sorts_by_every_field_both_ways() {
        let index = sample();
        assert_eq!(
            numbers(&index, &query(SortField::CreatedAt, true)).1,
            [5, 4, 3, 2, 1]
        );
        assert_eq!(
            numbers(&index, &query(SortField::Name, false)).1,
            [1, 2, 4, 5, 3]
        );
        assert_eq!(
            numbers(&index, &query(SortField::Name, true)).1,
            [3, 5, 4, 2, 1]
        );
    }

    #[test]
    fn filters_combine_with_search_and_paging() {
        let index = sample();
        let mut q = query(SortField::Name, false);
        q.search = Some("prod".into());
        assert_eq!(numbers(&index, &q), (3, vec![1, 5, 3]));
        q.search = None;
        q.tag = Some("prod".into());
        q.status = Some(KeyStatus::Active);
        assert_eq!(numbers(&index, &q), (2, vec![1, 5]));
        q.tag = None;
        q.status = Some(KeyStatus::Expired);
        assert_eq!(numbers(&index, &q), (1, vec![4]));
        q.status = Some(KeyStatus::Disabled);
        assert_eq!(numbers(&index, &q), (1, vec![3]));
        q.status = None;
        q.tag = Some("nope".into());
        assert_eq!(numbers(&index, &q), (0, vec![]));
        let mut page = query(SortField::Name, false);
        page.offset = 4;
        page.count = 2;
        assert_eq!(numbers(&index, &page), (5, vec![3]));
        page.offset = 3;
        page.descending = true;
        assert_eq!(numbers(&index, &page), (5, vec![2, 1]));
    }

    #[test]
    fn daily_cost_puts_keys_without_cost_in_id_order() {
        let mut index = sample();
        index.record_usage(KeyId::from_u128(2), 700, "2026-01-02", 50);
        index.record_usage(KeyId::from_u128(4), 800, "2026-01-02", 5);
        assert_eq!(
            numbers(&index, &query(SortField::DailyCost, true)).1,
            [2, 4, 5, 3, 1]
        );
        assert_eq!(
            numbers(&index, &query(SortField::DailyCost, false)).1,
            [1, 3, 5, 4, 2]
        );
        assert_eq!(
            numbers(&index, &query(SortField::LastUsedAt, true)).1[..2],
            [4, 2]
        );
        // The next day every cost is zero again.
        let (_, next_day) = index.list(&query(SortField::DailyCost, true), 1_000, "2026-01-03");
        assert_eq!(next_day[0], KeyId::from_u128(5));
        // An update keeps the cost; a removal drops it.
        index.upsert(key(2, "renamed", &[]));
        assert_eq!(numbers(&index, &query(SortField::DailyCost, true)).1[0], 2);
        index.remove(KeyId::from_u128(2));
        assert_eq!(
            numbers(&index, &query(SortField::DailyCost, true)).1,
            [4, 5, 3, 1]
        );
    }

    #[test]
    fn renames_move_search_and_tags_follow_updates() {
        let mut index = sample();
        index.upsert(key(1, "zeta", &[]));
        let mut q = query(SortField::Name, false);
        q.search = Some("alpha".into());
        assert_eq!(numbers(&index, &q).0, 0);
        q.search = Some("zet".into());
        assert_eq!(numbers(&index, &q).1, [1]);
        assert_eq!(
            index.tags(),
            [
                ("prod".to_string(), 2),
                ("staging".to_string(), 1),
                ("eu".to_string(), 1)
            ]
        );
        assert_eq!(index.expired_active(1_000), [KeyId::from_u128(4)]);
    }

    /// The same list computed the obvious way, for `large_lists_page_the_same_walked_or_sorted`.
    fn expected(
        sort: SortField,
        descending: bool,
        search: Option<&str>,
        tag: Option<&str>,
    ) -> Vec<u128> {
        let name = |n: u128| format!("team-{n} word{}", n % 7);
        let used = |n: u128| if n.is_multiple_of(5) { n as i64 } else { 0 };
        let value = |n: u128| match sort {
            SortField::CreatedAt => n as i64 * 10,
            SortField::LastUsedAt => used(n),
            SortField::DailyCost => used(n).min(1) * (n % 11) as i64,
            SortField::Name => 0,
        };
        let mut all: Vec<u128> = (0..25_000u128)
            .filter(|n| search.is_none_or(|q| name(*n).contains(q)))
            .filter(|n| tag.is_none() || n % 3 == 0)
            .collect();
        all.sort_by(|a, b| {
            let by = if sort == SortField::Name {
                name(*a).cmp(&name(*b))
            } else {
                value(*a).cmp(&value(*b))
            };
            by.then(a.cmp(b))
        });
        if descending {
            all.reverse();
        }
        all
    }

    #[test]
    fn large_lists_page_the_same_walked_or_sorted() {
        let mut index = ListingIndex::new();
        for n in 0..25_000u128 {
            let tags: &[&str] = if n % 3 == 0 { &["third"] } else { &[] };
            index.upsert(key(n, &format!("team-{n} word{}", n % 7), tags));
        }
        for n in (0..25_000u128).step_by(5) {
            index.record_usage(KeyId::from_u128(n), n as i64, "2026-01-02", (n % 11) as i64);
        }
        for sort in [
            SortField::CreatedAt,
            SortField::Name,
            SortField::LastUsedAt,
            SortField::DailyCost,
        ] {
            for descending in [false, true] {
                for (search, tag) in [
                    (Some("word3"), None),
                    (Some("team-1"), None),
                    (None, Some("third")),
                    (Some("team"), None),
                ] {
                    let mut q = query(sort, descending);
                    q.search = search.map(str::to_string);
                    q.tag = tag.map(str::to_string);
                    q.count = 25_000;
                    let (total, all) = numbers(&index, &q);
                    assert_eq!(
                        all,
                        expected(sort, descending, search, tag),
                        "{sort:?} {descending} {search:?} {tag:?}"
                    );
                    assert_eq!(total as usize, all.len());
                    for offset in [0, 37, total / 2 + 3, total.saturating_sub(10)] {
                        q.offset = offset;
                        q.count = 50;
                        let (_, page) = numbers(&index, &q);
                        let end = (offset as usize + 50).min(all.len());
                        assert_eq!(
                            page,
                            all[offset as usize..end],
                            "{sort:?} {descending} {search:?} {tag:?} {offset}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn tags_past_the_64th_filter_too() {
        let mut index = ListingIndex::new();
        for n in 0..70u128 {
            index.upsert(key(n, &format!("k{n}"), &[&format!("t{n}"), "all"]));
        }
        for n in [0u128, 63, 64, 69] {
            let mut q = query(SortField::CreatedAt, false);
            q.tag = Some(format!("t{n}"));
            assert_eq!(numbers(&index, &q), (1, vec![n]));
            q.status = Some(KeyStatus::Active);
            assert_eq!(numbers(&index, &q), (1, vec![n]));
        }
    }

    #[test]
    fn dead_names_are_not_found_and_the_text_is_rebuilt() {
        let mut index = ListingIndex::new();
        for round in 0..40 {
            for n in 0..2_000u128 {
                index.upsert(key(
                    n,
                    &format!("round{round} key-{n} {}", "x".repeat(20)),
                    &[],
                ));
            }
        }
        let mut q = query(SortField::Name, false);
        q.search = Some("round0 ".into());
        assert_eq!(numbers(&index, &q).0, 0);
        q.search = Some("round39 key-1999".into());
        assert_eq!(numbers(&index, &q).1, [1999]);
        assert!(index.names.text.len() < 4 << 20);
    }
}
