//! The key list's index, held in each keyward process: every key's name, tags, status, expiry,
//! creation, last use and today's cost, with each sort order kept sorted, so a page of any
//! filter and sort is computed here and Redis only reads that page's records.
//!
//! Why in-process: Redis runs one command at a time, so any filter walking a million index
//! entries inside Redis stalls every relay request for that long. Here a query costs this
//! process's CPU only. The index is rebuilt from Redis at start (in small steps) and kept
//! current from a change stream every instance reads (see `service::keys::listing`).

use std::collections::HashMap;

use memchr::memmem;

use super::ids::KeyId;
use super::key::KeyStatus;
use super::listing::{ListQuery, SortField};
use super::ranked::RankedSet;

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

/// A set of slots, a bit each. A query decides its filters for every key once, into one of
/// these, so walking a sort order tests one bit a step (a million keys fit in 128 KiB, which
/// stays in cache) instead of reading each key's row at random.
#[derive(Debug, Default, Clone)]
struct SlotSet {
    words: Vec<u64>,
}

impl SlotSet {
    /// An empty set with room for slots below `slots`.
    fn for_slots(slots: usize) -> SlotSet {
        SlotSet {
            words: vec![0; slots.div_ceil(64)],
        }
    }

    fn insert(&mut self, slot: Slot) {
        let word = slot as usize / 64;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (slot % 64);
    }

    fn contains(&self, slot: Slot) -> bool {
        self.words
            .get(slot as usize / 64)
            .is_some_and(|word| (word >> (slot % 64)) & 1 == 1)
    }

    /// Every slot in the set, ascending.
    fn iter(&self) -> impl Iterator<Item = Slot> + '_ {
        self.words.iter().enumerate().flat_map(|(at, word)| {
            let mut bits = *word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                Some(at as Slot * 64 + bit)
            })
        })
    }
}

/// Every name in one buffer, `\0`-separated, so a substring search is one pass of a SIMD
/// searcher over the whole text rather than a call per key. Removed names stay as dead spans
/// until they outweigh the live ones, then the text is rebuilt.
#[derive(Debug, Default, Clone)]
struct NameText {
    text: Vec<u8>,
    /// Where each name starts in `text`, in text order (apart from `owners`, so the search's
    /// binary search reads 4 bytes a name).
    starts: Vec<u32>,
    /// Each name's slot, as `starts` orders them; `DEAD` for a removed name.
    owners: Vec<Slot>,
    dead_bytes: usize,
}

const DEAD: Slot = Slot::MAX;

impl NameText {
    fn push(&mut self, name: &str, slot: Slot) -> u32 {
        let start = self.text.len() as u32;
        self.text.extend_from_slice(name.as_bytes());
        self.text.push(0);
        self.starts.push(start);
        self.owners.push(slot);
        (self.starts.len() - 1) as u32
    }

    fn kill(&mut self, span: u32, name_len: usize) {
        if let Some(owner) = self.owners.get_mut(span as usize) {
            *owner = DEAD;
            self.dead_bytes += name_len + 1;
        }
    }

    fn needs_rebuild(&self) -> bool {
        self.dead_bytes > 1 << 20 && self.dead_bytes * 2 > self.text.len()
    }

    /// Calls `found` with each slot whose name contains `needle` (already lower-case), once
    /// each, in text order.
    fn search(&self, needle: &str, mut found: impl FnMut(Slot)) {
        if needle.as_bytes().contains(&0) {
            return;
        }
        // Matches come in text order, so the name they fall in only moves forward; after a
        // match the search goes on from the next name, so a name is found once however often
        // it holds the needle.
        let finder = memmem::Finder::new(needle.as_bytes());
        let (mut span, mut from) = (0usize, 0usize);
        while let Some(found_at) = finder.find(&self.text[from..]) {
            let at = (from + found_at) as u32;
            // A few steps forward for dense matches, then a binary search for sparse ones.
            let mut steps = 0;
            while steps < 16 && self.starts.get(span + 1).is_some_and(|next| *next <= at) {
                span += 1;
                steps += 1;
            }
            if steps == 16 {
                span += self.starts[span + 1..].partition_point(|start| *start <= at);
            }
            let slot = self.owners[span];
            if slot != DEAD {
                found(slot);
            }
            match self.starts.get(span + 1) {
                Some(next) => from = *next as usize,
                None => break,
            }
        }
    }
}

/// The index itself. Not thread-safe on its own: the service holds it behind a lock.
#[derive(Debug, Default, Clone)]
pub struct ListingIndex {
    slots: Vec<Option<Row>>,
    dense: Vec<Dense>,
    free: Vec<Slot>,
    by_id: HashMap<u128, Slot>,
    by_created: RankedSet<(i64, u128, Slot)>,
    by_name: RankedSet<(Box<str>, u128, Slot)>,
    by_last_used: RankedSet<(i64, u128, Slot)>,
    /// Every key by its cost on `cost_day` (0 without one; see `cost_key`): keys without cost
    /// follow (or precede) the costly ones in id order, as in a union with the created index
    /// at weight 0.
    by_cost: RankedSet<(i64, u128, Slot)>,
    /// Every key by id: the cost order of a day this index has no cost for yet.
    by_id_order: RankedSet<(u128, Slot)>,
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

/// Filtered lists up to this long may be sorted on their own (a few ms), when that costs less
/// than walking the kept sort order to the page (see `Order::sorting_is_cheaper`); longer
/// ones are always paged by a walk, testing each key's bit.
const SORT_AT_MOST: usize = 20_000;

/// Walks expected to pass at most this many keys test the tag on each (a random read of its
/// row) rather than deciding every key first (a pass over all of them).
const LAZY_WALK_STEPS: u64 = 20_000;

/// What one comparison of a sort costs in steps of a walk (see `Order::sorting_is_cheaper`).
const STEPS_PER_COMPARISON: u64 = 4;

/// Keys a filter pass decides between two offers of the core (see `Pauses`).
const KEYS_BETWEEN_PAUSES: u32 = 16_384;

/// Offers the core to other threads every `KEYS_BETWEEN_PAUSES` keys of a filter pass. The
/// index's thread runs at a low priority, but once it has a core the scheduler lets it keep it
/// for a time slice; a search over a million names takes 10–16 ms, and the relay's threads
/// waiting for that core showed it in verify's p99. Yielding costs a system call when no other
/// thread is waiting (about 60 a search at a million keys).
struct Pauses {
    keys: u32,
}

impl Pauses {
    fn new() -> Pauses {
        Pauses { keys: 0 }
    }

    fn passed(&mut self, keys: u32) {
        self.keys += keys;
        if self.keys >= KEYS_BETWEEN_PAUSES {
            self.keys = 0;
            std::thread::yield_now();
        }
    }
}

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
        let Some(row) = self.slots[slot as usize].as_mut() else {
            return;
        };
        let (id, old_used) = (row.id, row.last_used_at_ms);
        row.last_used_at_ms = last_used_at_ms;
        self.by_last_used.remove(&(old_used, id, slot));
        self.by_last_used.insert((last_used_at_ms, id, slot));
        if day == self.cost_day {
            let old = self.cost_key(slot, id);
            self.by_cost.remove(&old);
            let dense = &mut self.dense[slot as usize];
            dense.cost_nanos = cost_nanos;
            dense.cost_generation = self.cost_generation;
            let new = self.cost_key(slot, id);
            self.by_cost.insert(new);
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
        let order = Order {
            index: self,
            sort: query.sort,
            descending: query.descending,
            costs_are_today: self.cost_day.as_str() == today,
        };
        let (total, page) = match self.kept(query, now_ms, &order) {
            Kept::None => return (0, Vec::new()),
            Kept::All => (self.len(), order.walk(None, self.len(), query)),
            Kept::Tag(tag, total) => {
                let has = |slot: Slot| {
                    let dense = &self.dense[slot as usize];
                    has_tag(dense.tag_bits, tag, || {
                        self.row(slot).is_some_and(|row| row.tags.contains(&tag))
                    })
                };
                (total, order.walk(Some(&has), total, query))
            }
            Kept::Some(kept, total) if order.sorting_is_cheaper(total, query) => {
                (total, order.sorted_page(&kept, query))
            }
            Kept::Some(kept, total) => {
                let has = |slot: Slot| kept.contains(slot);
                (total, order.walk(Some(&has), total, query))
            }
        };
        (total as u64, self.ids(&page))
    }

    /// Which keys the query's filters keep. Each key is decided once: a search tests tag and
    /// status only on the names it found (the cheapest filter first: a name scan reads the
    /// text once, whatever the tag and status); without one, one pass over the dense rows
    /// tests both (the tag's bit before the status).
    fn kept(&self, query: &ListQuery, now_ms: i64, order: &Order) -> Kept {
        let tag = match query.tag.as_deref() {
            Some(name) => match self.tag_ids.get(name) {
                Some(tag) => Some(*tag),
                None => return Kept::None,
            },
            None => None,
        };
        if query.status == Some(KeyStatus::Deleted) {
            return Kept::None;
        }
        let search = query.search.as_deref().filter(|q| !q.is_empty());
        if search.is_none() && query.status.is_none() {
            match tag {
                None => return Kept::All,
                // A tag's keys are counted as they change; when the walk to the page is
                // short, testing each key it passes costs less than deciding every key.
                Some(tag) => {
                    let total = self.tag_counts[tag as usize] as usize;
                    if order.walk_steps(total, query) <= LAZY_WALK_STEPS {
                        return Kept::Tag(tag, total);
                    }
                }
            }
        }
        let keeps = |slot: Slot| {
            let dense = &self.dense[slot as usize];
            dense.live
                && tag.is_none_or(|t| {
                    has_tag(dense.tag_bits, t, || {
                        self.row(slot).is_some_and(|row| row.tags.contains(&t))
                    })
                })
                && query.status.is_none_or(|s| status_of(dense, now_ms) == s)
        };
        let mut kept = SlotSet::for_slots(self.slots.len());
        let mut total = 0usize;
        let mut pauses = Pauses::new();
        match search {
            Some(text) => self.names.search(text, |slot| {
                pauses.passed(1);
                if keeps(slot) {
                    kept.insert(slot);
                    total += 1;
                }
            }),
            None => {
                // A word of 64 keys at a time, built in a register and stored once.
                let slots = self.dense.len();
                for (at, word) in kept.words.iter_mut().enumerate() {
                    let first = at * 64;
                    let mut bits = 0u64;
                    for bit in 0..(slots - first).min(64) {
                        if keeps((first + bit) as Slot) {
                            bits |= 1 << bit;
                        }
                    }
                    total += bits.count_ones() as usize;
                    *word = bits;
                    pauses.passed(64);
                }
            }
        }
        Kept::Some(kept, total)
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
            // As `cost_key` orders it: a cost below zero counts as none.
            dense.cost_nanos.max(0)
        } else {
            0
        }
    }

    /// A key's entry in `by_cost`.
    fn cost_key(&self, slot: Slot, id: u128) -> (i64, u128, Slot) {
        (self.cost_today(slot, true), id, slot)
    }

    /// Every cost so far was another day's: the costly keys move back among those without.
    fn start_cost_day(&mut self, day: &str) {
        let costly: Vec<(i64, u128, Slot)> = self
            .by_cost
            .iter()
            .rev()
            .take_while(|entry| entry.0 > 0)
            .copied()
            .collect();
        for (cost, id, slot) in costly {
            self.by_cost.remove(&(cost, id, slot));
            self.by_cost.insert((0, id, slot));
        }
        self.cost_day = day.to_string();
        self.cost_generation = self.cost_generation.wrapping_add(1);
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
        let cost = self.cost_key(slot, id);
        self.by_cost.insert(cost);
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
        let cost = self.cost_key(slot, id);
        self.by_cost.remove(&cost);
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

/// What a query's filters keep.
enum Kept {
    /// No filter: every key.
    All,
    /// A tag nobody has, or a status this index does not list.
    None,
    /// These slots, `.1` of them.
    Some(SlotSet, usize),
    /// Only a tag, held by `.1` keys, tested on each key a walk passes.
    Tag(u32, usize),
}

/// Whether a page starting at `offset` of `total` is nearer the front of its order.
fn from_the_front(offset: usize, total: usize) -> bool {
    offset * 2 <= total
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
    /// The slots of the order after skipping `skip` of them, ascending (`forward`) or
    /// descending.
    fn slots_from(&self, skip: usize, forward: bool) -> Box<dyn Iterator<Item = Slot> + '_> {
        let index = self.index;
        match self.sort {
            SortField::CreatedAt => {
                Box::new(index.by_created.iter_from(skip, forward).map(|e| e.2))
            }
            SortField::Name => Box::new(index.by_name.iter_from(skip, forward).map(|e| e.2)),
            SortField::LastUsedAt => {
                Box::new(index.by_last_used.iter_from(skip, forward).map(|e| e.2))
            }
            SortField::DailyCost if self.costs_are_today => {
                Box::new(index.by_cost.iter_from(skip, forward).map(|e| e.2))
            }
            SortField::DailyCost => {
                Box::new(index.by_id_order.iter_from(skip, forward).map(|e| e.1))
            }
        }
    }

    /// One page of the slots that pass `keeps`, of which there are `total`, walked from the
    /// nearer end. Without a filter (`keeps` is `None`) the walk starts at the page itself.
    fn walk(
        &self,
        keeps: Option<&dyn Fn(Slot) -> bool>,
        total: usize,
        query: &ListQuery,
    ) -> Vec<Slot> {
        let offset = query.offset as usize;
        if offset >= total || query.count == 0 {
            return Vec::new();
        }
        let take = (query.count as usize).min(total - offset);
        let forward = from_the_front(offset, total);
        // Kept slots to pass before the page, counted from the end the walk starts at.
        let before = if forward {
            offset
        } else {
            total - offset - take
        };
        let direction = forward != self.descending;
        let mut page: Vec<Slot> = match keeps {
            None => self.slots_from(before, direction).take(take).collect(),
            Some(keeps) => self
                .slots_from(0, direction)
                .filter(|slot| keeps(*slot))
                .skip(before)
                .take(take)
                .collect(),
        };
        if !forward {
            page.reverse();
        }
        page
    }

    /// Whether sorting the `total` kept keys costs less than walking the order to the page.
    /// A walk passes about `len / total` keys for each kept one it reaches, when the kept keys
    /// are spread over the order (clustered ones can cost up to the whole order, which a
    /// million keys walk in a few ms); a sort makes about `total × log2(total)` comparisons,
    /// each reading two rows at random, worth `STEPS_PER_COMPARISON` walk steps.
    fn sorting_is_cheaper(&self, total: usize, query: &ListQuery) -> bool {
        if total == 0 || total > SORT_AT_MOST {
            return false;
        }
        let comparisons = total as u64 * u64::from(total.ilog2().max(1));
        comparisons.saturating_mul(STEPS_PER_COMPARISON) < self.walk_steps(total, query)
    }

    /// About how many keys a walk to the page passes when the `total` kept ones are spread
    /// evenly over the order: `len / total` for each kept key it reaches.
    fn walk_steps(&self, total: usize, query: &ListQuery) -> u64 {
        if total == 0 {
            return 0;
        }
        let offset = (query.offset as usize).min(total);
        let reached = if from_the_front(offset, total) {
            offset + (query.count as usize).min(total - offset)
        } else {
            total - offset
        };
        (reached as u64).saturating_mul(self.index.len() as u64) / total as u64
    }

    /// One page of the kept slots, sorted on their own.
    fn sorted_page(&self, kept: &SlotSet, query: &ListQuery) -> Vec<Slot> {
        let mut matched: Vec<Slot> = kept.iter().collect();
        self.sort(&mut matched);
        page_of(&matched, query.offset, query.count).to_vec()
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
    fn a_new_day_puts_the_day_befores_costly_keys_back_in_id_order() {
        let mut index = sample();
        index.record_usage(KeyId::from_u128(2), 700, "2026-01-02", 50);
        index.record_usage(KeyId::from_u128(4), 800, "2026-01-02", 5);
        index.record_usage(KeyId::from_u128(1), 900, "2026-01-03", 7);
        // A late record of the day before moves the last use, not today's cost.
        index.record_usage(KeyId::from_u128(3), 950, "2026-01-02", 90);
        let (_, ids) = index.list(&query(SortField::DailyCost, true), 1_000, "2026-01-03");
        let ids: Vec<u128> = ids.into_iter().map(KeyId::as_u128).collect();
        assert_eq!(ids, [1, 5, 4, 3, 2]);
        assert_eq!(
            numbers(&index, &query(SortField::LastUsedAt, true)).1[..2],
            [3, 1]
        );
        // A cost back to zero leaves the costly keys.
        index.record_usage(KeyId::from_u128(1), 990, "2026-01-03", 0);
        let (_, ids) = index.list(&query(SortField::DailyCost, false), 1_000, "2026-01-03");
        let ids: Vec<u128> = ids.into_iter().map(KeyId::as_u128).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
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
    fn slot_sets_hold_what_was_inserted() {
        let mut set = SlotSet::for_slots(10);
        for slot in [0, 63, 64, 200, 63] {
            set.insert(slot);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 63, 64, 200]);
        assert!(set.contains(200) && !set.contains(9) && !set.contains(5_000));
    }

    /// An index full of ties: names, creation times, last uses and costs repeat, so every
    /// order falls back on ids.
    fn tied() -> ListingIndex {
        let mut index = ListingIndex::new();
        for n in 0..3_000u128 {
            let tags: &[&str] = match n % 4 {
                0 => &["even", "four"],
                2 => &["even"],
                _ => &[],
            };
            // Ids far from creation order, so id order is not slot order.
            let id = (n * 7_919) % 3_001;
            index.upsert(IndexedKey {
                active: n % 9 != 4,
                expires_at_ms: (n % 11 == 0).then_some(500),
                created_at_ms: (n / 7) as i64,
                last_used_at_ms: (n % 5) as i64,
                ..key(id, &format!("key-{}", n % 40), tags)
            });
            if n % 3 == 0 {
                index.record_usage(KeyId::from_u128(id), 9, "2026-01-02", (n % 4) as i64);
            }
        }
        // Some keys leave and come back, so slots are reused out of order.
        for n in (0..3_000u128).step_by(13) {
            index.remove(KeyId::from_u128((n * 7_919) % 3_001));
        }
        for n in (0..3_000u128).step_by(26) {
            index.upsert(key((n * 7_919) % 3_001, "back", &["even"]));
        }
        index
    }

    #[test]
    fn every_page_is_the_same_walked_or_sorted_with_ties_broken_by_id() {
        let index = tied();
        for sort in [
            SortField::CreatedAt,
            SortField::Name,
            SortField::LastUsedAt,
            SortField::DailyCost,
        ] {
            for descending in [false, true] {
                for (search, tag, status) in [
                    (None, None, None),
                    (Some("key-1"), None, None),
                    (Some("e"), None, None),
                    (None, Some("four"), None),
                    (None, None, Some(KeyStatus::Expired)),
                    (Some("key"), Some("even"), Some(KeyStatus::Active)),
                ] {
                    let mut q = query(sort, descending);
                    q.search = search.map(str::to_string);
                    q.tag = tag.map(str::to_string);
                    q.status = status;
                    let order = Order {
                        index: &index,
                        sort,
                        descending,
                        costs_are_today: true,
                    };
                    let kept = match index.kept(&q, 1_000, &order) {
                        Kept::Some(kept, _) => kept,
                        Kept::Tag(tag, _) => {
                            let mut tagged = SlotSet::default();
                            (0..index.slots.len() as Slot)
                                .filter(|s| {
                                    index.row(*s).is_some_and(|row| row.tags.contains(&tag))
                                })
                                .for_each(|s| tagged.insert(s));
                            tagged
                        }
                        Kept::All => {
                            let mut every = SlotSet::default();
                            (0..index.slots.len() as Slot)
                                .filter(|s| index.row(*s).is_some())
                                .for_each(|s| every.insert(s));
                            every
                        }
                        Kept::None => unreachable!("every filter here keeps some keys"),
                    };
                    let mut all: Vec<Slot> =
                        kept.iter().filter(|s| index.row(*s).is_some()).collect();
                    order.sort(&mut all);
                    let total = all.len();
                    let (listed_total, _) = numbers(&index, &q);
                    assert_eq!(listed_total as usize, total);
                    let mut offsets: Vec<usize> = (0..total).step_by(97).collect();
                    offsets.extend([total.saturating_sub(50), total.saturating_sub(1), total]);
                    for offset in offsets {
                        q.offset = offset as u64;
                        q.count = 50;
                        let has = |slot: Slot| kept.contains(slot);
                        let walked = order.walk(Some(&has), total, &q);
                        let sorted = order.sorted_page(&kept, &q);
                        let end = (offset + 50).min(total);
                        let context =
                            format!("{sort:?} {descending} {search:?} {tag:?} {status:?} {offset}");
                        assert_eq!(walked, all[offset.min(end)..end], "{context}");
                        assert_eq!(sorted, walked, "{context}");
                        let listed: Vec<u128> = numbers(&index, &q).1;
                        let expected: Vec<u128> = walked
                            .iter()
                            .map(|s| index.row(*s).map_or(0, |r| r.id))
                            .collect();
                        assert_eq!(listed, expected, "{context}");
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
