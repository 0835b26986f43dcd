//! EventDB queries: venues, seating plans, seats, events and price categories.
