//! In-process cache of what the sale paths need to know about an event: its seat count and
//! each seat's price. Loaded from EventDB once per event and kept for a few minutes, so the hold
//! and confirm paths never query the database for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use onsale_shared::{EventId, SeatIndex};

use crate::db::SharedDatabase;

/// What the sale paths need to know about one event.
#[derive(Debug, Clone)]
pub struct EventInfo {
    pub id: EventId,
    pub name: String,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub seat_count: u32,
    pub currency: String,
    /// Plan category position of each seat, by seat index.
    seat_category: Vec<u16>,
    /// Price of each plan category in cents; `None` when the category is not for sale.
    category_price: Vec<Option<i64>>,
}

impl EventInfo {
    pub fn new(
        id: EventId,
        name: String,
        starts_at: chrono::DateTime<chrono::Utc>,
        currency: String,
        seat_category: Vec<u16>,
        category_price: Vec<Option<i64>>,
    ) -> Self {
        let seat_count = seat_category.len() as u32;
        Self { id, name, starts_at, seat_count, currency, seat_category, category_price }
    }

    /// Builds an event's sale facts from its EventDB rows. `categories` holds `(position, price
    /// in cents, currency)` per plan category, with `None`s where the event does not sell it.
    /// `seat_categories` holds each seat's category position in seat-index order. The currency
    /// is the first one found, or USD when no category is priced.
    pub fn from_rows(
        id: EventId,
        name: String,
        starts_at: chrono::DateTime<chrono::Utc>,
        categories: Vec<(i16, Option<i64>, Option<String>)>,
        seat_categories: Vec<i16>,
    ) -> Self {
        let mut category_price = Vec::new();
        let mut currency = None;
        for (position, price, category_currency) in categories {
            let position = usize::try_from(position).unwrap_or(0);
            if category_price.len() <= position {
                category_price.resize(position + 1, None);
            }
            category_price[position] = price;
            currency = currency.or(category_currency);
        }
        let seat_category = seat_categories.into_iter().map(|c| u16::try_from(c).unwrap_or(u16::MAX)).collect();
        let currency = currency.unwrap_or_else(|| "USD".to_owned()).trim().to_owned();
        Self::new(id, name, starts_at, currency, seat_category, category_price)
    }

    /// The seat's price, or `None` when the seat does not exist or is not for sale.
    pub fn price(&self, seat: SeatIndex) -> Option<i64> {
        let category = *self.seat_category.get(seat.as_usize())?;
        self.category_price.get(usize::from(category)).copied().flatten()
    }
}

/// How long a cached event stays before it is read again (picks up price changes).
const TTL: Duration = Duration::from_secs(300);

struct Entry {
    loaded_at: Instant,
    cell: Arc<OnceCell<Option<Arc<EventInfo>>>>,
}

/// Cache of [`EventInfo`]. Concurrent first requests for one event share a single load.
#[derive(Clone)]
pub struct Catalog {
    db: SharedDatabase,
    /// A std mutex: held only to find or insert an entry, never across an await.
    entries: Arc<Mutex<HashMap<EventId, Entry>>>,
}

impl Catalog {
    pub fn new(db: SharedDatabase) -> Self {
        Self { db, entries: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// The event's sale facts, or `None` when no such event exists.
    pub async fn event(&self, id: EventId) -> Result<Option<Arc<EventInfo>>, sqlx::Error> {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let fresh = entries.get(&id).is_some_and(|entry| entry.loaded_at.elapsed() < TTL);
            if !fresh {
                entries.insert(id, Entry { loaded_at: Instant::now(), cell: Arc::new(OnceCell::new()) });
            }
            entries.get(&id).map(|entry| entry.cell.clone())
        };
        let Some(cell) = cell else {
            return self.load(id).await;
        };
        let result = cell.get_or_try_init(|| self.load(id)).await.cloned();
        if let Ok(None) = &result {
            // Do not remember a miss: the event may be created a moment later.
            self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&id);
        }
        result
    }

    async fn load(&self, id: EventId) -> Result<Option<Arc<EventInfo>>, sqlx::Error> {
        Ok(self.db.event_info(id).await?.map(Arc::new))
    }

    /// Forgets a cached event, so the next request reads it again.
    pub fn invalidate(&self, id: EventId) {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_of_unmapped_category_is_none() {
        let info = EventInfo::new(
            EventId::new(1).unwrap(),
            "x".into(),
            chrono::Utc::now(),
            "USD".into(),
            vec![0, 1, 2],
            vec![Some(100), None],
        );
        assert_eq!(info.price(SeatIndex::new(0).unwrap()), Some(100));
        assert_eq!(info.price(SeatIndex::new(1).unwrap()), None);
        assert_eq!(info.price(SeatIndex::new(2).unwrap()), None);
        assert_eq!(info.price(SeatIndex::new(3).unwrap()), None);
        assert_eq!(info.seat_count, 3);
    }
}
