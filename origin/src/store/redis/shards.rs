//! Queue shards: one event's waiting room split over several sorted sets in different Redis
//! Cluster slots, so that joins are not bound to the one core of the node that serves the
//! event's slot.
//!
//! Shard 0 uses the event's own hash tag, so a queue of one shard keeps the key names of the
//! table in the module above. The slot space is cut into `shards` equal bands, and shard 0's slot
//! lies in one of them. Shard `k > 0` uses the tag `{<namespace>:e<id>:q<k>.<n>}`, with the
//! smallest `n` whose slot lies in the middle half of the `k`-th band after shard 0's, wrapping
//! around. A cluster created with `redis-cli --cluster create` gives each primary one contiguous
//! range of slots of equal size. With as many shards as primaries, each shard therefore lands on a
//! primary of its own, because the middle half of a band stays clear of its range's edges.
//!
//! A fan always belongs to the same shard (a hash of the fan id), so a second join finds the
//! first. Each shard keeps its own queue, prequeue, admissions, counters, a copy of the queue
//! state and a copy of the admitter lease. Shard 0 keeps the rate and the lease itself.
//!
//! The number of shards of an event is written once into shard 0's queue meta (`shards`, by
//! HSETNX) by the first process that touches the queue, and every process reads it from there.
//! Changing `ONSALE_REDIS_QUEUE_SHARDS` therefore applies to events whose queue has not been
//! used yet and never strands fans in a shard that no process reads.

use onsale_shared::{EventId, FanId};

/// Number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// Upper limit of the shards of one queue.
pub const MAX_QUEUE_SHARDS: u16 = 64;

/// Cluster slot of a key, as `CLUSTER KEYSLOT` computes it: CRC16 (XMODEM) of the hash tag, or
/// of the whole key when it has none.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match key.find('{') {
        Some(open) => match key[open + 1..].find('}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS
}

/// Key names of one shard of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueShard {
    tag: String,
}

impl QueueShard {
    pub(crate) fn with_tag(tag: String) -> Self {
        Self { tag }
    }

    pub fn queue(&self) -> String {
        format!("{}:q", self.tag)
    }
    pub fn prequeue(&self) -> String {
        format!("{}:pq", self.tag)
    }
    pub fn prequeue_closing(&self) -> String {
        format!("{}:pq:closing", self.tag)
    }
    pub fn admission(&self, fan: &FanId) -> String {
        format!("{}:adm:{fan}", self.tag)
    }
    pub fn meta(&self) -> String {
        format!("{}:qmeta", self.tag)
    }
    pub fn lease(&self) -> String {
        format!("{}:lease", self.tag)
    }
    /// Returns the hash tag, braces included.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

/// The shards of one event's queue.
#[derive(Debug, Clone)]
pub struct QueueLayout {
    shards: Vec<QueueShard>,
}

impl QueueLayout {
    /// Lays out `count` shards (clamped to 1..=[`MAX_QUEUE_SHARDS`]) for one event.
    pub fn new(namespace: &str, event: EventId, count: u16) -> Self {
        let count = count.clamp(1, MAX_QUEUE_SHARDS);
        let first = super::EventKeys::new(namespace, event).queue_shard();
        let band = SLOTS / count;
        let first_band = (key_slot(first.tag()) / band).min(count - 1);
        let mut shards = vec![first];
        for k in 1..count {
            let start = ((first_band + k) % count) * band;
            let (low, high) = (start + band / 4, start + band - band / 4);
            let in_band = |slot: u16| (low..high).contains(&slot);
            // About `2 × count` tries find a slot in half a band of 1/count of the space. The bound
            // only guards against a bug; past it, the last tag tried is used.
            let mut tag = String::new();
            for n in 0..100_000u32 {
                tag = format!("{{{namespace}:e{event}:q{k}.{n}}}");
                if in_band(key_slot(&tag)) {
                    break;
                }
            }
            shards.push(QueueShard { tag });
        }
        Self { shards }
    }

    /// Number of shards, at least 1.
    pub fn count(&self) -> usize {
        self.shards.len()
    }

    pub fn shards(&self) -> &[QueueShard] {
        &self.shards
    }

    /// Shard 0, which keeps the queue's rate and the admitter lease.
    pub fn first(&self) -> &QueueShard {
        &self.shards[0]
    }

    /// Index of the shard a fan belongs to.
    pub fn index_of(&self, fan: &FanId) -> usize {
        if self.shards.len() == 1 {
            return 0;
        }
        usize::from(crc16::State::<crc16::ARC>::calculate(fan.as_str().as_bytes())) % self.shards.len()
    }

    pub fn shard(&self, index: usize) -> &QueueShard {
        &self.shards[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64) -> EventId {
        EventId::new(id).unwrap()
    }

    #[test]
    fn key_slot_matches_redis() {
        // Values printed by `redis-cli CLUSTER KEYSLOT`.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("bar"), 5061);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
    }

    #[test]
    fn one_shard_uses_the_event_tag() {
        let layout = QueueLayout::new("onsale", event(42), 1);
        assert_eq!(layout.count(), 1);
        assert_eq!(layout.first().queue(), "{onsale:e42}:q");
        assert_eq!(layout.first().lease(), "{onsale:e42}:lease");
    }

    /// Returns the primary that serves `slot` in a cluster of `primaries` made by `redis-cli
    /// --cluster create`, which gives each primary `16384 / primaries` slots, the last one the
    /// rest.
    fn primary_of(slot: u16, primaries: u16) -> u16 {
        (slot / (SLOTS / primaries)).min(primaries - 1)
    }

    #[test]
    fn shards_land_on_distinct_primaries() {
        for primaries in [2u16, 3, 4, 6] {
            for id in 1..200 {
                let layout = QueueLayout::new("onsale", event(id), primaries);
                let mut used: Vec<u16> =
                    layout.shards().iter().map(|shard| primary_of(key_slot(shard.tag()), primaries)).collect();
                used.sort_unstable();
                used.dedup();
                assert_eq!(used.len(), usize::from(primaries), "event {id}, {primaries} primaries: {used:?}");
            }
        }
    }

    #[test]
    fn real_cluster_ranges_keep_shards_apart() {
        // The ranges `redis-cli --cluster create` gave the 3 primaries of scripts/services.sh.
        let primary = |slot: u16| match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        for id in 1..500 {
            let layout = QueueLayout::new("onsale", event(id), 3);
            let mut used: Vec<u8> = layout.shards().iter().map(|shard| primary(key_slot(shard.tag()))).collect();
            used.sort_unstable();
            used.dedup();
            assert_eq!(used, vec![0, 1, 2], "event {id}");
        }
    }

    #[test]
    fn fans_spread_over_shards_and_stay() {
        let layout = QueueLayout::new("onsale", event(7), 4);
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            let fan = FanId::random();
            let index = layout.index_of(&fan);
            assert_eq!(layout.index_of(&fan), index);
            counts[index] += 1;
        }
        assert!(counts.iter().all(|&n| n > 800), "uneven shards: {counts:?}");
    }

    #[test]
    fn shard_count_is_clamped() {
        assert_eq!(QueueLayout::new("onsale", event(1), 0).count(), 1);
        assert_eq!(QueueLayout::new("onsale", event(1), 1000).count(), usize::from(MAX_QUEUE_SHARDS));
    }
}
